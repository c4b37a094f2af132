"""LR-GAN's studies through the command line: `tfgen neighbours` (nearest
training images, memorisation), `tfgen pair` (Hungarian pairs of two runs)
and `tfgen adversarial` (Adversarial Accuracy and Divergence of one
generator per class), and the one-line errors of runs that do not fit."""

import json

import numpy as np
import pytest

from model_testing import tiny_run_yaml
from cli_testing import last_json, tfgen

TILE = 16 + 1  # 16 px images, 1 px padding
LABEL = 12  # caption strip of labelled_blocks
GAP = 4  # white pixels between blocks


def _train_runs(root):
    cfg = root / "tiny.yaml"
    cfg.write_text(tiny_run_yaml(data={"image_size": 16}))
    for c in (0, 1):
        tfgen("train", str(cfg), "--workdir", str(root / f"class_{c}"), "--set", f"data.classes=[{c}]")
    tfgen("train", str(cfg), "--workdir", str(root / "all_32"), "--set", "data.image_size=32", "--set", "train.steps=2")


@pytest.fixture(scope="module")
def runs(trained_once, tmp_path_factory):
    """Two tiny DCGAN runs on digit 0 and digit 1 (16 px, 4 steps) and one 32 px run on every class."""
    root = trained_once("lrgan_studies", _train_runs)
    workdirs = {0: root / "class_0", 1: root / "class_1", "all_32": root / "all_32"}
    # Outputs and the classifier cache go to this module's own folder.
    out = tmp_path_factory.mktemp("studies")
    return out, workdirs, {"TFGEN_CACHE_DIR": str(out / "cache")}


def test_neighbours_png_and_json(runs):
    from PIL import Image

    root, workdirs, env = runs
    out, js = root / "neighbours.png", root / "neighbours.json"
    proc = tfgen("neighbours", str(workdirs[0]), "--num", "16", "--out", str(out), "--json", str(js),
                 "--max-reference", "20", env=env)
    # Two blocks of 4 x 4 tiles side by side, captions above.
    assert Image.open(out).size == (2 * (4 * TILE + 1) + GAP, LABEL + 4 * TILE + 1)
    report = json.loads(js.read_text())
    assert report == last_json(proc.stdout)
    assert report["model"] == "dcgan" and report["step"] == 4 and report["num"] == 16
    mem = report["memorisation"]
    assert set(mem) == {"mean_nn_distance_samples", "mean_nn_distance_test", "ratio", "num_samples",
                        "num_test", "num_reference"}
    assert mem["num_reference"] == 20  # capped; class 0 of 256 rendered digits has more
    assert 1 <= mem["num_test"] <= 64 and mem["num_samples"] == mem["num_test"]
    assert np.isfinite(mem["ratio"]) and mem["ratio"] > 0
    index, distance = report["nearest_training_index"], report["nearest_distance"]
    assert len(index) == len(distance) == 16
    assert all(0 <= i < mem["num_reference"] for i in index)
    assert all(d >= 0 and np.isfinite(d) for d in distance)


def test_pair_png_and_json(runs):
    from PIL import Image

    root, workdirs, env = runs
    out, js = root / "pair.png", root / "pair.json"
    proc = tfgen("pair", str(workdirs[0]), str(workdirs[1]), "--num", "9", "--out", str(out),
                 "--json", str(js), env=env)
    assert Image.open(out).size == (2 * (3 * TILE + 1) + GAP, LABEL + 3 * TILE + 1)
    report = json.loads(js.read_text())
    assert report == last_json(proc.stdout)
    assert report["num"] == 9 and report["models"] == ["dcgan", "dcgan"]
    assert report["captions"] == ["class_0", "class_1"]  # same model: the work directories' names
    assert report["extractor"].startswith("domain")
    assert sorted(report["index_a"]) == list(range(9)) and sorted(report["index_b"]) == list(range(9))
    distance = report["distance"]
    assert distance == sorted(distance) and distance[0] >= 0
    assert np.isfinite(report["mean_cost"]) and report["mean_cost"] == pytest.approx(np.mean(distance))


def test_adversarial_json(runs):
    root, workdirs, env = runs
    out = root / "adversarial.json"
    proc = tfgen("adversarial", str(workdirs[0]), str(workdirs[1]), "--num-per-class", "20",
                 "--max-validation", "40", "--out", str(out), env=env)
    report = json.loads(out.read_text())
    assert report == last_json(proc.stdout)
    assert report["classes"] == [0, 1] and report["workdirs"] == [str(workdirs[0]), str(workdirs[1])]
    assert 0.0 <= report["accuracy_real_classifier"] <= 1.0
    assert 0.0 <= report["accuracy_generated_classifier"] <= 1.0
    assert report["adversarial_divergence"] >= 0.0 and np.isfinite(report["adversarial_divergence"])
    assert report["num_generated"] == 40 and report["num_validation"] == 40
    assert report["num_real"] > 40  # digits 0 and 1 of the 256 rendered training images
    assert report["num_classes"] == 10 and report["classifier_steps"] == 30
    assert report["validation"] == "train"


def test_studies_user_errors_are_one_line_exit_2(runs):
    root, workdirs, env = runs
    cases = [
        (["adversarial", str(workdirs[0]), str(workdirs["all_32"])], "exactly one class"),
        (["adversarial", str(workdirs[0]), str(workdirs[0])], "both trained on class 0"),
        (["pair", str(workdirs[0]), str(workdirs["all_32"]), "--out", str(root / "x.png")],
         "makes 16x16x1 images but"),
        (["neighbours", str(root / "nowhere")], "no such work directory"),
    ]
    for args, needle in cases:
        proc = tfgen(*args, env=env, check=False)
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        err_lines = [line for line in proc.stderr.splitlines() if line.startswith("tfgen: error:")]
        assert len(err_lines) == 1 and needle in err_lines[0], (args, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
