"""wFRAME through the harness: `tfgen train` (metrics.csv, resume keeps each
step once), and tools/frame_compare.py (FRAME vs wFRAME curves)."""

import csv
import importlib.util
import json
import os

import numpy as np
import pytest
import yaml

from model_testing import tiny_run_yaml
from repo_paths import REPO

ROOT = REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("tfgen_tools_frame_compare",
                                                  os.path.join(ROOT, "tools", "frame_compare.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_curve_summary_measures_the_last_half():
    tool = load_tool()
    steps = np.arange(1, 11, dtype=float)
    metrics = {"step": steps, "response_distance": 10.0 / steps,
               "energy_observed": np.array([0, 0, 0, 0, 0, 1, -1, 1, -1, 1], float),
               "energy_synthesized": np.full(10, 3.0)}
    s = tool.curve_summary(metrics)
    assert s["iterations"] == 10 and s["final_response_distance"] == pytest.approx(1.0)
    assert s["energy_observed_last_half_variance"] == pytest.approx(np.var([1, -1, 1, -1, 1]))
    assert s["energy_observed_last_half_mean_abs_change"] == pytest.approx(2.0)
    assert s["energy_synthesized_last_half_std"] == 0.0


def test_frame_compare_trains_both_and_draws_the_curves(tmp_path):
    tool = load_tool()
    root = tmp_path / "cmp"
    report = tool.compare(tiny_wframe_yaml(tmp_path), str(root), train=in_process_train)
    frame_cfg = yaml.safe_load(open(root / "frame" / "config.yaml"))
    wframe_cfg = yaml.safe_load(open(root / "wframe" / "config.yaml"))
    assert frame_cfg["model"]["beta"] == 0.0 and wframe_cfg["model"]["beta"] == 60.0
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


def test_benchmark_times_the_langevin_loop_eager_graph_and_xla():
    spec = importlib.util.spec_from_file_location("tfgen_tools_benchmark", os.path.join(ROOT, "tools", "benchmark.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from tfgen import config as config_lib

    config = config_lib.config_from_dict({"model": {"name": "wframe", **config_lib.tiny_overrides("wframe")},
                                          "train": {"batch_size": 4}})
    out = bench.time_langevin(config, (16, 16, 1), rounds=1, batch=4)
    assert out["steps"] == 3 and out["chains"] == 4
    for key in ("eager_ms", "graph_ms", "xla_ms", "graph_speedup_over_eager", "xla_speedup_over_graph"):
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
