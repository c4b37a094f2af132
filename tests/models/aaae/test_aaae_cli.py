"""AAAE end to end through the command line: TensorBoard views (interpolation,
manipulation, code picture, code histograms, the losses), every exported
signature reloaded without tfgen, the evaluation (held-out reconstruction
MSE, code Fréchet distance), `tfgen interpolate` and `tfgen manipulate`."""

import json

import numpy as np
import pytest
import yaml

from export_testing import reload_without_tfgen
from model_testing import tiny_run_yaml
from cli_testing import tfgen


def _train_run(root):
    from tfgen import config as config_lib

    raw = yaml.safe_load(tiny_run_yaml(data={"image_size": 16}))
    raw["model"] = {"name": "aaae", **config_lib.tiny_overrides("aaae")}
    cfg = root / "aaae.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    tfgen("train", str(cfg), "--workdir", str(root / "run"))


@pytest.fixture(scope="module")
def run(trained_once, tmp_path_factory):
    """(a folder for this module's outputs, the shared read-only work directory)."""
    return tmp_path_factory.mktemp("aaae_cli"), trained_once("aaae_cli", _train_run) / "run"


def test_tensorboard_and_pngs(run):
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    _, workdir = run
    acc = event_accumulator.EventAccumulator(str(workdir / "logs" / "images"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"images/samples", "images/real_vs_reconstruction", "images/interpolation", "images/manipulation",
            "images/codes", "codes/dim0/encoded", "codes/dim0/approximated"} <= tags
    hist = tf.make_ndarray(acc.Tensors("codes/dim0/encoded")[-1].tensor_proto)
    assert hist[:, 2].sum() == 16  # the 16 preview images' codes
    scalars = event_accumulator.EventAccumulator(str(workdir / "logs" / "train"), size_guidance={"tensors": 0})
    scalars.Reload()
    logged = {t.split("/")[-1] for t in scalars.Tags()["tensors"]}
    assert {"reconstruction_mse", "d_loss", "critic_loss", "gradient_penalty", "wasserstein",
            "approximator_loss"} <= logged, logged
    for name in ("step_0000004.png", "interpolation_step_0000004.png", "manipulation_step_0000004.png",
                 "codes_step_0000004.png", "real_vs_reconstruction_step_0000004.png"):
        assert (workdir / "samples" / name).exists(), name


def test_export_serves_every_use(run):
    root, workdir = run
    out = root / "export"
    tfgen("export", str(workdir), "--out", str(out))
    images = [3, 16, 16, 1]
    r = reload_without_tfgen(out, {
        "generate": {"z": [3, 8]}, "encode": {"images": images}, "decode": {"codes": [3, 8]},
        "reconstruct": {"images": images}, "interpolate": {"images_a": images, "images_b": images, "steps": {"int": 5}},
    })
    assert r["signatures"] == ["decode", "encode", "generate", "interpolate", "reconstruct", "serving_default"]
    assert r["generate"] == {"images": images} and r["decode"] == {"images": images}
    assert r["encode"] == {"codes": [3, 8]} and r["reconstruct"] == {"reconstructions": images}
    assert r["interpolate"] == {"images": [3, 5, 16, 16, 1]}
    lo, hi = r["interpolate_range"]["images"]
    assert -1.0 <= lo <= hi <= 1.0
    docs = json.loads((out / "signatures.json").read_text())["signatures"]
    assert "steps: int32 scalar" in docs["interpolate"]


def test_evaluate_reports_reconstruction_and_code_match(run, tmp_path):
    _, workdir = run
    out = tmp_path / "eval.json"
    tfgen("evaluate", str(workdir), "--out", str(out), env={"TFGEN_CACHE_DIR": str(tmp_path / "cache")})
    scores = json.loads(out.read_text())
    assert 0.0 < scores["reconstruction_mse"] < 4.0 and np.isfinite(scores["fid"])
    assert scores["reconstruction_mse_01"] == pytest.approx(scores["reconstruction_mse"] / 4.0)
    baselines = scores["reconstruction_baselines"]  # what the MSE is worth: image-blind predictors
    assert {"mean_image", "random_image", "nearest_image"} <= set(baselines)
    assert 0.0 < baselines["mean_image"] < baselines["random_image"]
    assert scores["code_frechet_distance"] >= 0.0 and scores["code_frechet_distance_standard_normal"] > 0.0


def test_interpolate_and_manipulate_commands(run, tmp_path):
    from PIL import Image

    _, workdir = run
    png, report = tmp_path / "interp.png", tmp_path / "interp.json"
    tfgen("interpolate", str(workdir), "--num", "3", "--steps", "4", "--out", str(png), "--json", str(report))
    r = json.loads(report.read_text())
    assert len(r["pairs"]) == 3 and r["steps"] == 4 and r["mean_frame_gap"] >= 0.0
    assert Image.open(png).size == (6 * 17 + 1, 3 * 17 + 1)  # a, 4 decodes, b per row

    png, report = tmp_path / "three.png", tmp_path / "three.json"
    tfgen("manipulate", str(workdir), "--attribute", "label=3", "--num", "2", "--scales", "0", "1", "3",
          "--out", str(png), "--json", str(report))
    r = json.loads(report.read_text())
    assert r["with_attribute"] > 0 and r["without_attribute"] > 0 and r["scales"] == [0.0, 1.0, 3.0]
    assert r["mean_squared_change"][0] == 0.0 and r["direction_norm"] > 0.0
    assert Image.open(png).size == (4 * 17 + 1, 2 * 17 + 1)

    bad = tfgen("manipulate", str(workdir), "--attribute", "Smiling", check=False)
    assert bad.returncode == 2 and "label=N" in bad.stderr and "Traceback" not in bad.stderr
