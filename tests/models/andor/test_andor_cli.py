"""AND-OR network through the harness: a killed-and-resumed run continues
with its latent bank (bit-identical to an uninterrupted run), the tree and
basis pictures and Markdown land in the work directory, `tfgen evaluate`
reports reconstruction MSE and the NCC score, and the benchmark times the
Langevin loop."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml

from model_testing import tiny_run_yaml
from repo_paths import REPO, load_tool

ROOT = REPO


def tiny_andor_yaml(tmp_path, steps=4, deterministic=False, **model):
    from tfgen import config as config_lib

    raw = yaml.safe_load(tiny_run_yaml(train={"steps": steps, "batch_size": 8, "checkpoint_every": 2,
                                              "image_every": 2, "deterministic": deterministic},
                                       data={"num_train": 64, "num_test": 32}))
    raw["model"] = {"name": "andor", **config_lib.tiny_overrides("andor"), **model}
    path = tmp_path / "andor.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def run(cfg, workdir, *extra):
    proc = subprocess.run([sys.executable, "-m", "tfgen", "train", cfg, "--workdir", str(workdir), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def checkpoint_tensors(path, needle):
    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if needle in k}


@pytest.mark.slow
def test_resumed_run_continues_from_its_latent_bank(tmp_path):
    cfg = tiny_andor_yaml(tmp_path, steps=6, deterministic=True)
    run(cfg, tmp_path / "long")
    run(cfg, tmp_path / "split", "--set", "train.steps=3")
    banks_at_3 = checkpoint_tensors(str(tmp_path / "split" / "checkpoints"), "latent_bank")
    assert banks_at_3, "latent bank missing from the checkpoint"
    out = run(cfg, tmp_path / "split")
    assert "resuming from step 3" in out
    long = checkpoint_tensors(os.path.join(str(tmp_path / "long"), "final", "model"), "model/")
    split = checkpoint_tensors(os.path.join(str(tmp_path / "split"), "final", "model"), "model/")
    assert long.keys() == split.keys()
    banks = [k for k in long if "latent_bank" in k]
    assert banks
    for k in long:
        np.testing.assert_array_equal(long[k], split[k], err_msg=k)
    # The bank moved between step 3 and the end: the resumed run trained it on.
    bank_3 = next(v for v in banks_at_3.values() if v.ndim == 2)
    assert not np.array_equal(bank_3, long[banks[0]])


def test_workdir_has_tree_pictures_markdown_and_evaluate_reports_reconstruction_and_ncc(tmp_path):
    from tfgen import config as config_lib
    from tfgen.evaluation.report import evaluate_workdir
    from tfgen.training.runner import train

    workdir = str(tmp_path / "run")
    train(config_lib.load_config(tiny_andor_yaml(tmp_path, steps=2)), workdir, log=lambda *_: None)
    samples = os.listdir(os.path.join(workdir, "samples"))
    for name in ("and_or_tree_step_0000002.png", "and_or_tree_step_0000002.md",
                 "most_used_basis_step_0000002.png", "step_0000002.png"):
        assert name in samples, samples
    text = open(os.path.join(workdir, "samples", "and_or_tree_step_0000002.md")).read()
    assert "- layer 3 (8x8)" in text
    events = [f for f in os.listdir(os.path.join(workdir, "logs")) if "tfevents" in f] or \
        [f for d, _, fs in os.walk(os.path.join(workdir, "logs")) for f in fs if "tfevents" in f]
    assert events
    report = evaluate_workdir(workdir, num_samples=16)
    assert report["reconstruction_mse"] > 0 and 0 < report["ncc_score"] <= 1
    assert np.isfinite(report["fid"])


def test_benchmark_times_the_latent_langevin_loop():
    bench = load_tool("benchmark")
    from tfgen import config as config_lib

    config = config_lib.config_from_dict({"model": {"name": "andor", **config_lib.tiny_overrides("andor"),
                                                    "latent_bank_size": 16}, "train": {"batch_size": 4}})
    out = bench.time_langevin(config, (32, 32, 1), rounds=1, batch=4, peak_gflops=100.0)
    assert out["steps"] == 2 and out["chains"] == 4
    for key in ("eager_ms", "graph_ms", "xla_ms", "graph_speedup_over_eager", "xla_speedup_over_graph"):
        assert out[key] > 0, key
    # The fraction of peak is the loop's FLOP count over its time, per mode.
    for mode in ("eager", "graph", "xla"):
        achieved = out["gflop_per_loop"] / (out[f"{mode}_ms"] / 1000)
        assert out[f"{mode}_gflops"] == pytest.approx(achieved)
        assert out[f"{mode}_fraction_of_matmul_peak"] == pytest.approx(achieved / 100.0)


def test_langevin_loop_flops_count_every_step():
    """The loop's static count unrolls it: each further Langevin step adds the same FLOPs (a while
    loop's body is counted once, whatever its trip count)."""
    bench = load_tool("benchmark")
    from tfgen import config as config_lib

    def count(steps):
        config = config_lib.config_from_dict({"model": {"name": "andor", **config_lib.tiny_overrides("andor"),
                                                        "latent_bank_size": 16, "langevin_steps": steps},
                                              "train": {"batch_size": 4}})
        return bench.langevin_loop_gflops(config, (32, 32, 1), 4)

    counts = [count(s) for s in (2, 4, 8)]
    per_step = (counts[1] - counts[0]) / 2
    assert per_step > 0
    assert counts[2] - counts[1] == pytest.approx(4 * per_step, rel=0.02)
    assert counts[0] == pytest.approx(2 * per_step, rel=0.25)  # the loop is its steps, little else
