"""tools/sweep.py: one config trained and evaluated at several values of one setting."""

import json
import os

import pytest
import yaml

from model_testing import tiny_run_yaml
from repo_paths import REPO, load_tool

ROOT = REPO


def load_sweep():
    return load_tool("sweep")


def test_markdown_table_formats_missing_scores():
    sweep = load_sweep()
    rows = [{"value": "0.1", "scores": {"fid": 12.3456, "reconstruction_mse": 0.01}},
            {"value": "1", "scores": {"fid": 3.0}}]
    table = sweep.markdown_table("model.adversarial_weight", rows, ["reconstruction_mse", "fid", "absent"])
    assert table.splitlines() == ["| model.adversarial_weight | reconstruction_mse | fid |", "|---|---|---|",
                                  "| 0.1 | 0.01 | 12.35 |", "| 1 | - | 3 |"]


@pytest.mark.slow
def test_sweep_trains_and_scores_each_value(tmp_path):
    from tfgen import config as config_lib

    sweep = load_sweep()
    raw = yaml.safe_load(tiny_run_yaml(train={"steps": 2}, data={"image_size": 16},
                                       eval={"num_samples": 32, "classifier_steps": 10}))
    raw["model"] = {"name": "aaae", **config_lib.tiny_overrides("aaae")}
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    root = tmp_path / "runs"
    assert sweep.main([str(cfg), "--key", "model.adversarial_weight", "--values", "0.5", "2.0",
                       "--root", str(root), "--parallel", "2"]) == 0
    report = json.loads((root / "sweep.json").read_text())
    assert [r["value"] for r in report["runs"]] == ["0.5", "2.0"]
    for run in report["runs"]:
        used = yaml.safe_load(open(os.path.join(run["workdir"], "config.yaml")))
        assert used["model"]["adversarial_weight"] == float(run["value"])
        assert run["scores"]["step"] == 2 and run["scores"]["reconstruction_mse"] > 0
    assert (root / "sweep.md").read_text().count("\n") == 4


def test_key_must_name_its_section(tmp_path, capsys):
    sweep = load_sweep()
    with pytest.raises(SystemExit) as e:
        sweep.main(["c.yaml", "--key", "adversarial_weight", "--values", "1", "--root", str(tmp_path)])
    assert e.value.code == 2 and "SECTION.FIELD" in capsys.readouterr().err
