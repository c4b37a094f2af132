"""Bad input, everywhere a user can send it.

Every case here is something a user can do by hand: a broken config, a
dataset that is not there or holds broken images, a wrong work directory, a
bad tensor sent to an exported model. Each must end in ONE clear message and a
non-zero exit (the CLI: one line ``tfgen: error: ...`` on stderr, exit code 2,
no traceback), and must never damage a work directory.

The CLI runs in this process (`cli_testing.run_in_process`: its working
directory, environment and streams swapped for the call, an escaping
exception shown as a traceback), so no case pays for a second TensorFlow
start-up; the cases in SUBPROCESS_CASES run as a user runs them
(``python -m tfgen`` in a subprocess), to keep the real process's exit code
and stderr under test. The cases run from module-scoped fixtures, in two
waves; the tests then check one result each.
"""

import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from cli_testing import run_in_process
from model_testing import tiny_run_yaml

PY = sys.executable

TINY = tiny_run_yaml(train={"steps": 2})


def folder_config(path, on_bad_image="skip"):
    """TINY on an image folder (32x32 after resizing)."""
    data = f"data:\n  name: folder\n  path: {path}\n  on_bad_image: {on_bad_image}\n  shuffle_buffer: 64\n"
    start = TINY.index("\ndata:\n") + 1
    end = TINY.index("\ntrain:\n") + 1
    return TINY[:start] + data + TINY[end:]


# Cases that also run as a real process: a config error (before TensorFlow) and one after training.
SUBPROCESS_CASES = {"invalid_yaml", "export_untrained"}


def run_tfgen(args, cwd, subprocess_run=False):
    """`tfgen ARGS` in `cwd`: work directories and caches never land in the repo or ~."""
    cache = {"TFGEN_CACHE_DIR": os.path.join(str(cwd), "cache")}
    if subprocess_run:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **cache}
        return subprocess.run([PY, "-m", "tfgen", *args], capture_output=True, text=True, timeout=300,
                              cwd=str(cwd), env=env)
    return run_in_process(args, cwd=cwd, env=cache)


def run_many(jobs, cwd):
    """Runs {name: args}, the subprocess cases beside the in-process ones; returns {name: result}."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        futures = {name: pool.submit(run_tfgen, args, cwd, True) for name, args in jobs.items()
                   if name in SUBPROCESS_CASES}
        results = {name: run_tfgen(args, cwd) for name, args in jobs.items() if name not in SUBPROCESS_CASES}
        results.update({name: f.result() for name, f in futures.items()})
    return results


def assert_user_error(proc, *needles):
    """Exit 2, no traceback, and one `tfgen: error:` line, the last one, holding every needle."""
    report = f"exit {proc.returncode}; stderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 2, report
    assert "Traceback" not in proc.stderr, report
    lines = proc.stderr.rstrip().splitlines()
    errors = [line for line in lines if line.startswith("tfgen: error:")]
    assert len(errors) == 1, report
    # Nothing after it: a message that spans several lines fails here.
    assert lines[-1] == errors[0], report
    for needle in needles:
        assert needle in errors[0], (needle, report)
    return errors[0]


def tree_hashes(root):
    """{relative path: sha256} of every file under `root`."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def write_images(folder, count, size=(24, 24)):
    """`count` gray PNGs of different levels."""
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        Image.new("L", size, (37 * i) % 256).save(os.path.join(folder, f"img{i:03d}.png"))


def truncate(path, keep=0.5):
    """Cuts a file to `keep` of its length, as an interrupted copy or download does."""
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep)])


# ---------------------------------------------------------------------------
# Wave 1: every case that needs nothing but files, run together
# ---------------------------------------------------------------------------

# id -> (what to do, words the one error line must hold; "{root}" is the tmp dir)
CONFIG_CASES = {
    "unknown_key": ("unknown_key.yaml", ["unknown_key.yaml", "train.stepz: unknown key"]),
    "wrong_type": ("wrong_type.yaml", ["wrong_type.yaml", "train.batch_size: expected an integer, got 'sixteen'"]),
    "out_of_range": ("out_of_range.yaml", ["out_of_range.yaml", "model.beta1: 1.5 is above the maximum 1.0"]),
    "bad_choice": ("bad_choice.yaml", ["bad_choice.yaml", "data.on_bad_image: 'ignore' is not one of"]),
    "missing_file": ("missing.yaml", ["missing.yaml: config file not found"]),
    "unknown_model": ("unknown_model.yaml", ["unknown_model.yaml", "model.name: unknown model 'gan9000'", "dcgan"]),
    "override_without_equals": ("tiny.yaml --set train.steps", ["--set 'train.steps': expected key=value"]),
    "override_wrong_type": ("tiny.yaml --set train.steps=[1,2]", ["train.steps: expected an integer"]),
    "folder_missing": ("folder_missing.yaml", ["Image folder {root}/no_such_folder does not exist (data.path)"]),
    "folder_path_unset": ("folder_unset.yaml", ["Dataset 'folder' needs data.path"]),
}

DATA_CASES = {
    "tfds_missing": ("tfds_missing.yaml", ["Dataset 'cifar10' is not prepared in {root}/empty_tfds",
                                           "download_and_prepare", "data.data_dir"]),
    "folder_corrupt_error": ("corrupt_error.yaml", ["bad image {root}/corrupt/img_trunc.png: corrupt",
                                                    "on_bad_image: skip"]),
    "folder_channels": ("channels.yaml", ["bad image {root}/channels/onebit.bmp: unsupported channel count: "
                                          "1-bit BMP"]),
    "folder_too_small": ("too_small.yaml", ["bad image {root}/small/thin.png: too small: 30x4 pixels",
                                            "data.min_image_size=8"]),
    "folder_all_bad": ("all_bad.yaml", ["Image folder {root}/allbad: none of its 2 images can be used"]),
    "folder_empty": ("empty_folder.yaml", ["Image folder {root}/empty contains no png/jpg/jpeg/bmp images"]),
}


def _wave1_files(root):
    """Writes every config and image folder the first wave reads under `root`."""
    (root / "tiny.yaml").write_text(TINY)
    (root / "unknown_key.yaml").write_text(TINY.replace("steps: 2", "steps: 2\n  stepz: 5"))
    (root / "wrong_type.yaml").write_text(TINY.replace("batch_size: 16", "batch_size: sixteen"))
    (root / "out_of_range.yaml").write_text(TINY.replace("d_filters: 8", "d_filters: 8\n  beta1: 1.5"))
    (root / "bad_choice.yaml").write_text(TINY.replace("shuffle_buffer: 256", "on_bad_image: ignore"))
    (root / "unknown_model.yaml").write_text(TINY.replace("name: dcgan", "name: gan9000"))
    (root / "folder_missing.yaml").write_text(folder_config(root / "no_such_folder"))
    (root / "folder_unset.yaml").write_text(TINY.replace("name: multidigit", "name: folder"))
    (root / "tfds_missing.yaml").write_text(
        TINY.replace("name: multidigit", f"name: cifar10\n  data_dir: {root / 'empty_tfds'}"))
    (root / "empty_tfds").mkdir()

    write_images(root / "corrupt", 20)
    shutil.copy(root / "corrupt" / "img000.png", root / "corrupt" / "img_trunc.png")
    truncate(root / "corrupt" / "img_trunc.png")
    (root / "corrupt_error.yaml").write_text(folder_config(root / "corrupt", "error"))

    write_images(root / "channels", 20)
    Image.new("1", (24, 24), 1).save(root / "channels" / "onebit.bmp")
    Image.new("LA", (24, 24), (90, 128)).save(root / "channels" / "gray_alpha.png")  # fine: converted
    Image.new("RGBA", (24, 24), (9, 8, 7, 0)).save(root / "channels" / "rgba.png")  # fine: converted
    (root / "channels.yaml").write_text(folder_config(root / "channels", "error"))

    write_images(root / "small", 20)
    Image.new("L", (30, 4), 200).save(root / "small" / "thin.png")
    (root / "too_small.yaml").write_text(folder_config(root / "small", "error"))

    (root / "allbad").mkdir()
    (root / "allbad" / "a.png").write_text("not a png")
    Image.new("L", (3, 3), 1).save(root / "allbad" / "b.png")
    (root / "all_bad.yaml").write_text(folder_config(root / "allbad", "skip"))

    (root / "empty").mkdir()
    (root / "empty" / "README.txt").write_text("images go here")
    (root / "empty_folder.yaml").write_text(folder_config(root / "empty"))

    # The folder of the training run that skips bad files.
    write_images(root / "mixed", 20)
    shutil.copy(root / "mixed" / "img001.png", root / "mixed" / "broken.png")
    truncate(root / "mixed" / "broken.png")
    (root / "mixed" / "fake.jpg").write_text("<html>404 not found</html>")
    Image.new("L", (5, 40), 10).save(root / "mixed" / "sliver.png")
    (root / "mixed.yaml").write_text(folder_config(root / "mixed", "skip"))

    (root / "invalid.yaml").write_text("model:\n  name: dcgan\n  g_filters: [8\n")
    (root / "list.yaml").write_text("- model\n- data\n")
    (root / "notes.txt").write_text("my notes\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Runs every CLI case of this module, in two waves of parallel subprocesses.

    Returns:
      (root, {case id: CompletedProcess}, extra facts recorded between waves).
    """
    root = tmp_path_factory.mktemp("bad_input")
    _wave1_files(root)
    # The two real trainings first: the short error cases then fill the gaps.
    jobs = {
        "trained": ["train", "tiny.yaml", "--workdir", "runs/trained"],
        "mixed_skip": ["train", "mixed.yaml", "--workdir", "runs/mixed"],
    }
    for case, (spec, _) in {**CONFIG_CASES, **DATA_CASES}.items():
        config, *rest = spec.split()
        jobs[case] = ["train", config, *rest, "--workdir", f"runs/{case}"]
    jobs.update({
        "sample_unknown": ["sample", "runs/nowhere", "--out", "s.png"],
        "export_unknown": ["export", "runs/nowhere", "--out", "e"],
        "evaluate_unknown": ["evaluate", "runs/nowhere", "--out", "v.json"],
        "sample_num_zero": ["sample", "runs/nowhere", "--num", "0", "--out", "s.png"],
        "sample_num_negative": ["sample", "runs/nowhere", "--num", "-3", "--out", "s.png"],
        "invalid_yaml": ["train", "invalid.yaml", "--workdir", "runs/invalid_yaml"],
        "override_on_list_yaml": ["train", "list.yaml", "--set", "train.steps=1", "--workdir", "runs/list"],
        "evaluate_num_samples_zero": ["evaluate", "runs/nowhere", "--num-samples", "0", "--out", "v.json"],
        "workdir_is_a_file": ["train", "tiny.yaml", "--workdir", "notes.txt"],
    })
    results = run_many(jobs, root)
    for name in ("trained", "mixed_skip"):
        assert results[name].returncode == 0, results[name].stderr[-3000:]

    # Wave 2: cases that need a trained work directory.
    trained = root / "runs" / "trained"
    facts = {"trained_before": tree_hashes(trained)}
    untrained = root / "runs" / "untrained"
    untrained.mkdir()
    for name in ("config.yaml", "model.json"):
        shutil.copy(trained / name, untrained / name)
    shutil.copytree(trained, root / "runs" / "victim")
    facts["victim_before"] = tree_hashes(root / "runs" / "victim")
    mixed = root / "runs" / "mixed"
    facts["mixed_before"] = tree_hashes(mixed)
    # The data went bad after training: every good image is gone, only broken ones remain.
    for name in os.listdir(root / "mixed"):
        if name.startswith("img"):
            os.remove(root / "mixed" / name)
    jobs = {
        "export": ["export", "runs/trained", "--out", "exported"],
        "resume_other_model": ["train", "tiny.yaml", "--workdir", "runs/trained", "--set", "model.g_filters=16"],
        "export_untrained": ["export", "runs/untrained", "--out", "never"],
        "export_over_workdir": ["export", "runs/victim", "--out", "runs/victim"],
        "mixed_data_gone_bad": ["train", "mixed.yaml", "--workdir", "runs/mixed", "--set", "train.steps=4"],
        "sample_out_is_a_directory": ["sample", "runs/trained", "--num", "4", "--out", "runs"],
        "corrected_after_failure": ["train", "corrupt_error.yaml", "--workdir", "runs/folder_corrupt_error",
                                    "--set", "data.on_bad_image=skip"],
    }
    results.update(run_many(jobs, root))
    assert results["export"].returncode == 0, results["export"].stderr[-3000:]
    facts["trained_after"] = tree_hashes(trained)
    facts["victim_after"] = tree_hashes(root / "runs" / "victim") if (root / "runs" / "victim").is_dir() else {}
    facts["mixed_after"] = tree_hashes(mixed)
    return root, results, facts


def names_z(msg):
    """Whether an error message names the input z (ours: "input 'z'"; TensorFlow's: "tensor z ")."""
    return "input 'z'" in msg or "tensor z " in msg


def _needles(root, words):
    return [w.format(root=root) for w in words]


# ---------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_errors(world, case):
    root, results, _ = world
    assert_user_error(results[case], *_needles(root, CONFIG_CASES[case][1]))
    # A config error is found before anything is written.
    if case not in ("folder_missing", "folder_path_unset"):
        assert not (root / "runs" / case).exists()


def test_invalid_yaml_is_one_line(world):
    _, results, _ = world
    assert_user_error(results["invalid_yaml"], "invalid.yaml: not valid YAML", "line ")


def test_invalid_yaml_is_rejected(world):
    _, results, _ = world
    proc = results["invalid_yaml"]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "tfgen: error: invalid.yaml: not valid YAML" in proc.stderr


def test_override_on_non_mapping_config(world):
    _, results, _ = world
    assert_user_error(results["override_on_list_yaml"], "list.yaml", "expected a mapping")


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_dataset_errors(world, case):
    root, results, _ = world
    line = assert_user_error(results[case], *_needles(root, DATA_CASES[case][1]))
    if case in ("folder_corrupt_error", "folder_channels", "folder_too_small"):
        # Their folder has one bad file; gray+alpha and RGBA images are converted, not bad.
        assert "more bad images" not in line, line


def test_folder_bad_images_skipped_with_one_warning(world):
    root, results, _ = world
    proc = results["mixed_skip"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if "cannot be used" in line]
    assert len(warnings) == 1, proc.stderr[-3000:]  # one warning, not one per file or per listing
    assert f"Image folder {root / 'mixed'}: skipped 3 of 23 images" in warnings[0]
    for name in ("broken.png (corrupt", "fake.jpg (corrupt or not an image", "sliver.png (too small: 5x40"):
        assert name in warnings[0]
    assert "tfgen: error" not in proc.stderr
    assert '"end_step": 2' in proc.stdout  # and it trained


def test_failed_resume_on_bad_data_keeps_checkpoints_and_status(world):
    root, results, facts = world
    assert_user_error(results["mixed_data_gone_bad"], f"Image folder {root / 'mixed'}: none of its 3 images")
    before, after = facts["mixed_before"], facts["mixed_after"]
    kept = [p for p in before if p.startswith(("checkpoints", "final")) or p == "status.json"]
    assert "status.json" in kept and any(p.startswith("checkpoints") for p in kept)
    assert {p: after.get(p) for p in kept} == {p: before[p] for p in kept}


def test_failed_resume_on_bad_data_keeps_config(world):
    _, _, facts = world
    assert facts["mixed_after"] == facts["mixed_before"]


def test_corrected_config_trains_after_failed_first_run(world):
    _, results, _ = world
    proc = results["corrected_after_failure"]
    assert proc.returncode == 0, proc.stderr[-3000:]


# ---------------------------------------------------------------------------
# CLI and work directories
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["sample_unknown", "export_unknown", "evaluate_unknown"])
def test_unknown_work_directory(world, case):
    _, results, _ = world
    assert_user_error(results[case], "runs/nowhere: no such work directory")


@pytest.mark.parametrize("case", ["sample_num_zero", "sample_num_negative"])
def test_sample_num_must_be_positive(world, case):
    root, results, _ = world
    assert_user_error(results[case], "--num must be at least 1")
    assert not (root / "s.png").exists()


def test_export_untrained_work_directory(world):
    root, results, _ = world
    assert_user_error(results["export_untrained"], "runs/untrained: no checkpoint yet", "tfgen train")
    assert not (root / "never").exists()


def test_resume_with_other_model_refused_and_untouched(world):
    _, results, facts = world
    assert_user_error(results["resume_other_model"], "runs/trained: holds a run with a different 'model' section")
    assert facts["trained_after"] == facts["trained_before"]  # every file byte-identical


def test_export_over_its_work_directory_refused(world):
    _, results, facts = world
    assert_user_error(results["export_over_workdir"], "--out")
    assert facts["victim_after"] == facts["victim_before"]


def test_evaluate_num_samples_zero(world):
    _, results, _ = world
    assert_user_error(results["evaluate_num_samples_zero"], "--num-samples")


# ---------------------------------------------------------------------------
# Serving signatures of an exported SavedModel
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def generate(world):
    import tensorflow as tf

    root, _, _ = world
    return tf.saved_model.load(str(root / "exported")).signatures["generate"]


def _serving_error(generate, z):
    import tensorflow as tf

    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError)) as e:
        generate(z=z)
    # TensorFlow escapes the quotes of assertion messages.
    return " ".join(str(e.value).replace("\\'", "'").split())


def test_serving_accepts_good_input(generate):
    import tensorflow as tf

    images = generate(z=tf.random.normal([3, 100]))["images"]
    assert images.shape == (3, 32, 32, 1)
    assert -1.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1.0


def test_serving_wrong_latent_size(generate):
    import tensorflow as tf

    msg = _serving_error(generate, tf.zeros([4, 7]))
    assert "input 'z' must be float32 [batch, 100]; wrong size on axis 1" in msg


def test_serving_wrong_rank(generate):
    import tensorflow as tf

    msg = _serving_error(generate, tf.zeros([100]))
    assert names_z(msg) and "100" in msg


def test_serving_wrong_dtype_rejected(generate):
    import tensorflow as tf

    msg = _serving_error(generate, tf.zeros([4, 100], tf.float64))
    assert "float" in msg and "double" in msg


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_serving_non_finite_input(generate, value):
    import tensorflow as tf

    z = tf.tensor_scatter_nd_update(tf.zeros([4, 100]), [[2, 5]], [value])  # one bad entry suffices
    msg = _serving_error(generate, z)
    assert "input 'z' contains NaN or Inf" in msg


def test_serving_wrong_input_name(generate):
    import tensorflow as tf

    with pytest.raises(TypeError) as e:
        generate(x=tf.zeros([4, 100]))
    assert "'z'" in str(e.value)


def test_workdir_that_is_a_file(world):
    root, results, _ = world
    assert_user_error(results["workdir_is_a_file"], "notes.txt")
    assert (root / "notes.txt").read_text() == "my notes\n"


def test_sample_out_is_a_directory(world):
    root, results, _ = world
    assert_user_error(results["sample_out_is_a_directory"], "--out")
    assert not (root / "runs.tmp.png").exists()
