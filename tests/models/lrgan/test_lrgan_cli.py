"""LR-GAN end to end through the command line: layered PNGs and TensorBoard
views (per-timestep grids, captioned layers, contextual grid, pose
histograms), every exported signature reloaded without tfgen, and the
evaluation extras (pose statistics, the conditional model's mask IoU)."""

import json

import numpy as np
import pytest
import yaml

from export_testing import reload_without_tfgen
from model_testing import tiny_run_yaml
from cli_testing import tfgen

RUNS = {
    "lrgan": {"name": "lrgan", "timesteps": 3},
    "conditional_lrgan": {"name": "conditional_lrgan", "timesteps": 2},
}


def _train_runs(root):
    from tfgen import config as config_lib

    for key, model in RUNS.items():
        raw = yaml.safe_load(tiny_run_yaml(data={"image_size": 16}))
        raw["model"] = {**config_lib.tiny_overrides(model["name"]), **model}
        cfg = root / f"{key}.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        tfgen("train", str(cfg), "--workdir", str(root / key))


@pytest.fixture(scope="module")
def runs(trained_once, tmp_path_factory):
    """(a folder for this module's outputs, {run: its work directory}); the runs are shared, read-only."""
    root = trained_once("lrgan_cli", _train_runs)
    return tmp_path_factory.mktemp("lrgan_cli"), {key: root / key for key in RUNS}


def test_layered_pngs_are_written(runs):
    from PIL import Image

    _, workdirs = runs
    samples = workdirs["lrgan"] / "samples"
    for name in ("step_0000004.png", "layers_step_0000004.png", "contextual_step_0000004.png"):
        assert (samples / name).exists(), sorted(p.name for p in samples.iterdir())
    # Captioned blocks, T = 3: background + 5 blocks per foreground timestep, 16 px tiles in 8 rows.
    width, height = Image.open(samples / "layers_step_0000004.png").size
    assert width > 11 * 2 * 17 and height > 8 * 17
    conditional = workdirs["conditional_lrgan"] / "samples"
    assert (conditional / "layers_step_0000004.png").exists()
    assert (conditional / "real_vs_reconstruction_step_0000004.png").exists()


def test_tensorboard_has_layer_grids_and_pose_histograms(runs):
    from tensorboard.backend.event_processing import event_accumulator

    _, workdirs = runs
    acc = event_accumulator.EventAccumulator(str(workdirs["lrgan"] / "logs" / "images"),
                                             size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    for t in (1, 2):
        for block in ("foreground", "mask", "carved", "transformed", "composite"):
            assert f"images/t{t}/{block}" in tags
        for param in ("s_x", "s_y", "t_x", "t_y", "r_x", "r_y"):
            assert f"pose/t{t}/{param}" in tags
    assert {"images/background", "images/layers", "images/contextual", "images/samples"} <= tags
    import tensorflow as tf

    # A histogram summary holds [bins, 3] (left edge, right edge, count) over the 1024 fixed samples.
    hist = tf.make_ndarray(acc.Tensors("pose/t1/s_x")[-1].tensor_proto)
    assert hist.shape[1] == 3 and hist[:, 2].sum() == 1024
    # Scales live in [s, 2s] with s = 1.2.
    assert hist[:, 0].min() >= 1.2 - 1e-4 and hist[:, 1].max() <= 2.4 + 1e-4


def test_lrgan_export_serves_layers(runs):
    root, workdirs = runs
    out = root / "lrgan_export"
    tfgen("export", str(workdirs["lrgan"]), "--out", str(out))
    z_dim = 3 * 8
    r = reload_without_tfgen(out, {"generate": ["z", [5, z_dim]], "generate_layers": ["z", [5, z_dim]]})
    assert r["signatures"] == ["generate", "generate_layers", "serving_default"]
    assert r["generate"] == {"images": [5, 16, 16, 1]}
    assert r["generate_layers"] == {
        "backgrounds": [5, 16, 16, 1], "images": [5, 16, 16, 1],
        "foregrounds": [5, 2, 16, 16, 1], "warped_foregrounds": [5, 2, 16, 16, 1], "composites": [5, 2, 16, 16, 1],
        "masks": [5, 2, 16, 16, 1], "warped_masks": [5, 2, 16, 16, 1], "transforms": [5, 2, 2, 3]}
    lo, hi = r["generate_layers_range"]["masks"]
    assert 0.0 <= lo <= hi <= 1.0
    lo, hi = r["generate_layers_range"]["transforms"]
    assert -1.0 - 1e-6 <= lo and hi <= 2 * 1.2 + 1e-6  # shifts in +-1, scales in [s, 2s]


def test_conditional_export_decomposes(runs):
    root, workdirs = runs
    out = root / "conditional_export"
    tfgen("export", str(workdirs["conditional_lrgan"]), "--out", str(out))
    images = [4, 16, 16, 1]
    r = reload_without_tfgen(out, {"decompose": ["images", images], "reconstruct": ["images", images]})
    assert r["signatures"] == ["decompose", "generate", "generate_layers", "reconstruct", "serving_default"]
    assert r["decompose"] == {
        "backgrounds": images, "reconstructions": images,
        "foregrounds": [4, 1, 16, 16, 1], "warped_foregrounds": [4, 1, 16, 16, 1], "composites": [4, 1, 16, 16, 1],
        "masks": [4, 1, 16, 16, 1], "warped_masks": [4, 1, 16, 16, 1], "transforms": [4, 1, 2, 3]}
    assert r["reconstruct"] == {"reconstructions": images}
    docs = json.loads((out / "signatures.json").read_text())["signatures"]
    assert "decompose(images: float32 [batch, 16, 16, 1]" in docs["decompose"]


def test_evaluate_reports_poses_and_mask_iou(runs, tmp_path):
    _, workdirs = runs
    env = {"TFGEN_CACHE_DIR": str(tmp_path / "cache")}
    scores = {}
    for key, workdir in workdirs.items():
        out = tmp_path / f"{key}.json"
        tfgen("evaluate", str(workdir), "--out", str(out), env=env)
        scores[key] = json.loads(out.read_text())
    poses = scores["lrgan"]["pose_t2"]
    assert set(poses) == {"s_x", "s_y", "t_x", "t_y", "r_x", "r_y"}
    assert 1.2 <= poses["s_x"]["min"] <= poses["s_x"]["max"] <= 2.4
    assert sum(poses["t_x"]["counts"]) == 1024
    cond = scores["conditional_lrgan"]
    assert 0.0 <= cond["mask_iou"] <= 1.0 and 0.0 < cond["mask_iou_full_canvas"] < 1.0
    assert np.isfinite(cond["reconstruction_mse"]) and "pose_t1" in cond
