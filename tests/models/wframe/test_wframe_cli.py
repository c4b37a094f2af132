"""wFRAME through the harness: `tfgen train` (metrics.csv, resume keeps each
step once), and tools/frame_compare.py (FRAME vs wFRAME curves)."""

import csv
import json
import os

import numpy as np
import pytest
import yaml

from model_testing import tiny_run_yaml
from repo_paths import REPO, load_tool

ROOT = REPO


def load_frame_compare():
    return load_tool("frame_compare")


def tiny_wframe_yaml(tmp_path, steps=3, **model):
    from tfgen import config as config_lib

    raw = yaml.safe_load(tiny_run_yaml(train={"steps": steps, "batch_size": 4, "checkpoint_every": 2},
                                       data={"image_size": 16}))
    raw["model"] = {"name": "wframe", **config_lib.tiny_overrides("wframe"), "learning_rate": 1e-5, **model}
    path = tmp_path / "wframe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def in_process_train(config, workdir, overrides):
    from tfgen import config as config_lib
    from tfgen.training.runner import train

    train(config_lib.load_config(config, overrides), workdir, log=lambda *_: None)


def test_train_writes_metrics_csv_and_a_resume_writes_each_step_once(tmp_path):
    from tfgen import config as config_lib
    from tfgen.training.runner import train

    path = tiny_wframe_yaml(tmp_path, steps=4)
    workdir = str(tmp_path / "run")
    train(config_lib.load_config(path, ["train.steps=3"]), workdir, log=lambda *_: None)
    # As if the interrupted run had logged past its last checkpoint (step 2).
    with open(os.path.join(workdir, "metrics.csv")) as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "step" and "response_distance" in rows[0] and "energy_observed" in rows[0]
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]
    ckpts = os.path.join(workdir, "checkpoints")
    for name in os.listdir(ckpts):  # keep only the step-2 checkpoint
        if name.startswith("ckpt-3"):
            os.remove(os.path.join(ckpts, name))
    with open(os.path.join(ckpts, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n')
    summary = train(config_lib.load_config(path), workdir, log=lambda *_: None)
    assert summary["start_step"] == 2 and summary["end_step"] == 4
    with open(os.path.join(workdir, "metrics.csv")) as f:
        steps = [int(r[0]) for r in list(csv.reader(f))[1:]]
    assert steps == [1, 2, 3, 4]


def test_curve_summary_measures_the_last_half_by_medians():
    from tfgen.models.wframe.compare import curve_summary

    steps = np.arange(1, 21, dtype=float)
    energy = np.where(steps > 10, np.where(steps % 2 == 0, 1.0, -1.0), 0.0)
    metrics = {"step": steps, "response_distance": 10.0 / steps, "energy_observed": energy * 4.0 + 100.0,
               "energy_synthesized": np.full(20, 3.0)}
    s = curve_summary(metrics)
    assert s["iterations"] == 20 and s["final_response_distance"] == pytest.approx(0.5)
    # The last half alternates 96/104: every change is 8 at a level of ~100.
    assert s["energy_observed_relative_change"] == pytest.approx(8.0 / 100.0)
    assert s["energy_observed_spike_fraction"] == 0.0 and s["energy_synthesized_relative_change"] == 0.0
    assert not s["collapsed"] and s["all_finite"]


def test_one_spike_does_not_decide_the_instability_but_a_collapse_is_found():
    from tfgen.models.wframe.compare import curve_summary

    steps = np.arange(1, 101, dtype=float)
    rng = np.random.default_rng(0)
    steady = 1000.0 + rng.normal(0, 10, 100)
    spiky = steady.copy()
    spiky[70] = 1e12
    base = {"step": steps, "response_distance": 5.0 / np.sqrt(steps), "energy_synthesized": steady}
    calm, spiked = (curve_summary({**base, "energy_observed": e}) for e in (steady, spiky))
    # A moment-based spread jumps by 10 orders of magnitude; the medians barely move.
    assert spiked["energy_observed_last_half_std"] > 1e9 * calm["energy_observed_last_half_std"]
    assert spiked["energy_observed_relative_change"] == pytest.approx(calm["energy_observed_relative_change"],
                                                                      rel=0.2)
    assert spiked["energy_observed_spike_fraction"] == pytest.approx(2 / 49)  # up to the spike and back
    # R that falls and then climbs back to 5x its best: collapsed; a NaN anywhere too.
    rising = np.concatenate([np.linspace(5, 1, 50), np.linspace(1, 5, 50)])
    assert curve_summary({**base, "energy_observed": steady, "response_distance": rising})["collapsed"]
    broken = steady.copy()
    broken[-1] = np.nan
    assert curve_summary({**base, "energy_observed": broken})["collapsed"]
    assert not calm["collapsed"]


def test_frame_compare_trains_both_and_draws_the_curves(tmp_path):
    tool = load_frame_compare()
    root = tmp_path / "cmp"
    report = tool.compare(tiny_wframe_yaml(tmp_path), str(root), train=in_process_train)
    frame_cfg = yaml.safe_load(open(root / "frame" / "config.yaml"))
    wframe_cfg = yaml.safe_load(open(root / "wframe" / "config.yaml"))
    assert frame_cfg["model"]["beta"] == 0.0 and wframe_cfg["model"]["beta"] == 6e-4
    assert set(report["runs"]) == {"frame", "wframe"}
    for s in report["runs"].values():
        assert s["iterations"] == 3 and np.isfinite(s["final_response_distance"])
    from PIL import Image

    image = np.asarray(Image.open(report["curves_png"]))
    assert image.ndim == 3 and image.shape[1] > 3 * 300
    # Two coloured curves in each panel, not a blank canvas.
    assert (np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)) > 100).sum() > 50
    assert json.loads((root / "compare.json").read_text())["runs"]["frame"]["iterations"] == 3
    chains = np.asarray(Image.open(report["chains_png"]))
    assert chains.shape[0] > 2 * 16 and chains.min() < 128  # two captioned rows of chain grids
    assert (root / "compare.md").read_text().count("\n") == 4


def test_sweep_trains_each_lambda_and_seed_and_tabulates_every_run(tmp_path):
    tool = load_frame_compare()
    root = tmp_path / "sweep"
    calls = []

    def train(config, workdir, overrides):
        calls.append((workdir, overrides))
        in_process_train(config, workdir, overrides)

    report = tool.sweep(tiny_wframe_yaml(tmp_path, steps=2), str(root), [1e-5, 1e-4], [1], train=train)
    assert len(calls) == 4
    cfg = yaml.safe_load(open(root / "lr0.0001" / "seed1" / "frame" / "config.yaml"))
    assert cfg["model"]["learning_rate"] == 1e-4 and cfg["model"]["beta"] == 0.0 and cfg["train"]["seed"] == 1
    assert set(report["runs"]) == {"1e-05", "0.0001"}
    assert report["table"].count("\n") == 2 + 4
    # More seeds at one λ: the table gains them, earlier runs are kept.
    report = tool.sweep(tiny_wframe_yaml(tmp_path, steps=2), str(root), [1e-4], [1, 2], train=train)
    assert len(calls) == 4 + 4
    assert set(report["runs"]["0.0001"]["wframe"]) == {"1", "2"}
    assert "(n=2)" in report["table"] and (root / "lr0.0001" / "seed1" / "chains_over_time.png").exists()
    assert json.loads((root / "sweep.json").read_text())["first_collapse"].keys() == {"frame", "wframe"}


def test_benchmark_times_the_langevin_loop_eager_graph_and_xla():
    bench = load_tool("benchmark")
    from tfgen import config as config_lib

    config = config_lib.config_from_dict({"model": {"name": "wframe", **config_lib.tiny_overrides("wframe")},
                                          "train": {"batch_size": 4}})
    out = bench.time_langevin(config, (16, 16, 1), rounds=1, batch=4, peak_gflops=100.0)
    assert out["steps"] == 3 and out["chains"] == 4
    for key in ("eager_ms", "graph_ms", "xla_ms", "graph_speedup_over_eager", "xla_speedup_over_graph",
                "gflop_per_loop", "graph_gflops", "graph_fraction_of_matmul_peak"):
        assert out[key] > 0, key


def test_evaluate_scores_synthesized_images_and_reports_response_distance(tmp_path):
    from tfgen import config as config_lib
    from tfgen.evaluation.report import evaluate_workdir
    from tfgen.training.runner import train

    workdir = str(tmp_path / "run")
    train(config_lib.load_config(tiny_wframe_yaml(tmp_path, steps=2)), workdir, log=lambda *_: None)
    report = evaluate_workdir(workdir, num_samples=16)
    assert np.isfinite(report["fid"]) and report["response_distance"] > 0
    assert {"energy_observed", "energy_synthesized"} <= set(report)
