"""Semi-supervised HALI end to end: one tiny trained run (16x16 digits, 32 of
256 training images labelled) shared by the tests below: the semi-supervised
metrics and the TensorBoard panels of training, `tfgen probe` (§7.1) and
`tfgen evaluate`'s hierarchy scores (per-level reconstruction, §5.2's label
preservation, §7.2's test errors)."""

import json

import numpy as np
import pytest
import yaml

from model_testing import tiny_run_yaml
from cli_testing import last_json, run_cli, tfgen


def _train_run(root):
    from tfgen import config as config_lib

    raw = yaml.safe_load(tiny_run_yaml(data={"image_size": 16}))
    raw["model"] = {"name": "hali", **config_lib.tiny_overrides("hali"), "labelled_examples": 32}
    cfg = root / "hali.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    summary = last_json(tfgen("train", str(cfg), "--workdir", str(root / "run")).stdout)
    (root / "summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def run(trained_once):
    """(the shared, read-only work directory, the summary `tfgen train` printed)."""
    root = trained_once("hali_cli", _train_run)
    return root / "run", json.loads((root / "summary.json").read_text())


def test_training_metrics_and_panels(run):
    from tensorboard.backend.event_processing import event_accumulator

    workdir, summary = run
    metrics = summary["metrics"]
    assert np.isfinite(metrics["supervised_loss"]) and metrics["supervised_loss"] > 0.0
    assert 0.0 <= metrics["train_accuracy"] <= 1.0
    images = event_accumulator.EventAccumulator(str(workdir / "logs" / "images"), size_guidance={"tensors": 0})
    images.Reload()
    assert {f"images/{name}" for name in ("samples", "real_vs_reconstructions", "inpainting", "latent_variations",
                                          "innovation", "innovation_tensor")} <= set(images.Tags()["tensors"])
    scalars = event_accumulator.EventAccumulator(str(workdir / "logs" / "train"), size_guidance={"tensors": 0})
    scalars.Reload()
    logged = {t.split("/")[-1] for t in scalars.Tags()["tensors"]}
    assert {"recon_mse_1", "recon_mse_2", "perceptual_1", "perceptual_2", "supervised_loss",
            "train_accuracy"} <= logged, logged
    for name in ("latent_variations", "innovation", "inpainting"):
        assert (workdir / "samples" / f"{name}_step_0000004.png").exists(), name


def test_probe_command(run, tmp_path, capsys):
    workdir, _ = run
    out = tmp_path / "probe.json"
    code, stdout, _ = run_cli("probe", workdir, "--max-train", 200, "--max-test", 100, "--json", out)
    assert code == 0
    report = json.loads(out.read_text())
    assert json.loads(stdout) == report
    assert report["num_train"] == 200 and report["num_test"] == 100 and report["levels"] == 2
    label = report["targets"]["label"]
    assert label["num_classes"] == 10 and label["chance_balanced_accuracy"] == pytest.approx(0.1, abs=0.02)
    assert set(label["features"]) == set(report["summary"]) == {"z1", "z2", "z1_z2"}
    dims = {name: f["dim"] for name, f in label["features"].items()}
    assert dims == {"z1": 256, "z2": 8, "z1_z2": 264}  # z1 4x8x8 flattened, z2 8, both
    for scores in label["features"].values():
        assert 0.0 <= scores["balanced_accuracy"] <= 1.0 and 0.0 <= scores["accuracy"] <= 1.0
    code, _, err = run_cli("probe", workdir, "--max-train", 1)
    assert code == 2 and err.startswith("tfgen: error: --max-train must be at least 2")


def test_evaluate_reports_the_hierarchy(run, tmp_path, capsys, monkeypatch):
    workdir, _ = run
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "eval.json"
    code, _, _ = run_cli("evaluate", workdir, "--out", out)
    assert code == 0
    scores = json.loads(out.read_text())
    for level in (1, 2):
        assert scores[f"recon_mse_{level}"] > 0.0 and scores[f"perceptual_{level}"] >= 0.0
        assert 0.0 <= scores[f"label_accuracy_{level}"] <= 1.0 and 0.0 <= scores[f"label_agreement_{level}"] <= 1.0
    # §5.2 next to the classifier's own accuracy on the real images: the extractor evaluate trained,
    # cached (one entry) and handed to HALI's extras.
    assert 0.0 <= scores["label_accuracy_real"] <= 1.0
    assert scores["label_classifier"] == "domain:multidigit"
    assert len(list((tmp_path / "cache" / "classifiers").iterdir())) == 1
    # §7.2: the head's errors on the 64 evaluated test images.
    assert scores["semisupervised_num_test"] == 64
    assert 0 <= scores["semisupervised_test_errors"] <= 64
    assert scores["semisupervised_test_error_rate"] == pytest.approx(scores["semisupervised_test_errors"] / 64)
