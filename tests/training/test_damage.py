"""Damaged work directories: resume and loading use the newest state that verifies, and lose nothing.

Each case starts from one trained run (checkpoints at steps 2, 4, 6; final/
at 6), copies it, damages the copy the way a full disk, a bad sector or a
kill does, and runs the same command again:

* a damaged newest checkpoint (truncated data, a flipped byte, a zero-byte
  index, a deleted data file) is skipped with its reason, set aside in
  checkpoints/unreadable/ (never overwritten by the next save of its step),
  and training resumes from the one before;
* a missing or garbage state file is rebuilt from the checkpoint files, not
  read as "no checkpoint" (the run used to restart at step 0 over them);
* no checkpoint that verifies: one line, nothing moved;
* sample/export/evaluate read the newest weights that verify and name what
  they skipped; a truncated model.json is one line;
* a config that cannot build leaves nothing that refuses the corrected one.
"""

import os
import shutil

import pytest
import tensorflow as tf

from cli_testing import tfgen
from model_testing import tiny_run_yaml
from tfgen.training import checkpoint_files

CONFIG = tiny_run_yaml(train={"steps": 6, "checkpoint_every": 2, "keep_checkpoints": 3, "image_every": 1000,
                              "num_grid_images": 4, "deterministic": True}, data={"num_test": 64})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    cfg = root / "cfg.yaml"
    cfg.write_text(CONFIG)
    tfgen("train", cfg, "--workdir", root / "run")
    assert sorted(c.step for c in checkpoint_files.present(str(root / "run" / "checkpoints"))) == [2, 4, 6]
    return cfg, root / "run"


@pytest.fixture
def copy(trained, tmp_path):
    cfg, run = trained
    shutil.copytree(run, tmp_path / "run")
    return cfg, tmp_path / "run"


def data_file(ckpts, step):
    return ckpts / f"ckpt-{step}.data-00000-of-00001"


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_a_byte(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


DAMAGE = {
    "truncated data": lambda c: truncate(data_file(c, 6)),
    "flipped byte": lambda c: flip_a_byte(data_file(c, 6)),
    "zero-byte index": lambda c: (c / "ckpt-6.index").write_bytes(b""),
    "deleted data": lambda c: data_file(c, 6).unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_newest_checkpoint_is_skipped_and_kept_aside(copy, damage):
    cfg, run = copy
    ckpts = run / "checkpoints"
    DAMAGE[damage](ckpts)
    damaged = sorted(p.name for p in ckpts.glob("ckpt-6.*"))
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8")
    assert "skipped checkpoint" in proc.stdout and "ckpt-6" in proc.stdout, proc.stdout
    assert "resuming from step 4" in proc.stdout
    # The damaged files are kept, out of the way of the new save of step 6.
    assert sorted(p.name for p in (ckpts / checkpoint_files.UNREADABLE_DIR).iterdir()) == damaged
    assert checkpoint_files.verify(str(ckpts / "ckpt-8")) is None
    assert checkpoint_files.verify(str(ckpts / "ckpt-6")) is None  # written again, from step 4
    assert tf.train.latest_checkpoint(str(ckpts)).endswith("ckpt-8")


def test_resume_from_a_skipped_checkpoint_ends_where_an_undamaged_run_ends(copy, trained, tmp_path):
    """Resuming at step 4 instead of 6 replays steps 5-6 exactly (deterministic run)."""
    cfg, run = copy
    truncate(data_file(run / "checkpoints", 6))
    damaged = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8").stdout
    shutil.copytree(trained[1], tmp_path / "intact")
    intact = tfgen("train", cfg, "--workdir", tmp_path / "intact", "--set", "train.steps=8").stdout
    sha = [line for line in damaged.splitlines() if "weights_sha256" in line]
    assert sha and sha == [line for line in intact.splitlines() if "weights_sha256" in line]


@pytest.mark.parametrize("state", ["missing", "garbage", "stale"])
def test_the_state_file_is_rebuilt_from_the_checkpoint_files(copy, state):
    cfg, run = copy
    ckpts = run / "checkpoints"
    path = ckpts / checkpoint_files.STATE_FILE
    if state == "missing":
        path.unlink()
    elif state == "garbage":
        path.write_bytes(b"\x00\xffnot a proto {{{")
    else:  # names an older checkpoint than the newest on disk
        path.write_text('model_checkpoint_path: "ckpt-2"\nall_model_checkpoint_paths: "ckpt-2"\n')
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8")
    assert "resuming from step 6" in proc.stdout, proc.stdout
    assert "rebuilt from the checkpoint files" in proc.stdout
    assert tf.train.latest_checkpoint(str(ckpts)).endswith("ckpt-8")
    # Rotation carried on from the rebuilt list: the oldest went, the rest verify.
    assert sorted(c.step for c in checkpoint_files.present(str(ckpts))) == [4, 6, 8]


def test_no_checkpoint_verifies_is_one_line_and_moves_nothing(copy):
    cfg, run = copy
    ckpts = run / "checkpoints"
    for step in (2, 4, 6):
        truncate(data_file(ckpts, step))
    before = sorted(os.listdir(ckpts))
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8", check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("tfgen: error: ") and "Traceback" not in proc.stderr
    assert "no checkpoint verifies" in proc.stderr and "ckpt-2" in proc.stderr
    assert sorted(os.listdir(ckpts)) == before


def test_debris_of_killed_saves_is_removed(copy):
    cfg, run = copy
    ckpts = run / "checkpoints"
    (ckpts / "ckpt-8_temp").mkdir()
    (ckpts / "ckpt-8_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\x00" * 64)
    tfgen("train", cfg, "--workdir", run, "--set", "train.steps=7")
    assert not (ckpts / "ckpt-8_temp").exists()


# ---------------------------------------------------------------------------
# sample / export / evaluate
# ---------------------------------------------------------------------------

def test_a_truncated_final_falls_back_to_the_newest_checkpoint(copy, tmp_path):
    cfg, run = copy
    truncate(run / "final" / "model.data-00000-of-00001")
    proc = tfgen("sample", run, "--num", "4", "--out", tmp_path / "s.png")
    assert "skipped" in proc.stderr and "final" in proc.stderr
    assert "using the weights of step 6" in proc.stderr and "ckpt-6" in proc.stderr
    assert (tmp_path / "s.png").exists()


def test_a_damaged_newest_checkpoint_is_passed_over_when_sampling(copy, tmp_path):
    cfg, run = copy
    tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8", "--set", "train.checkpoint_every=1")
    shutil.rmtree(run / "final")  # as if killed before final/
    flip_a_byte(data_file(run / "checkpoints", 8))
    proc = tfgen("sample", run, "--num", "4", "--out", tmp_path / "s.png")
    assert "skipped" in proc.stderr and "ckpt-8" in proc.stderr
    assert "using the weights of step 7" in proc.stderr


def test_no_weights_that_verify_is_one_line_for_sampling(copy, tmp_path):
    cfg, run = copy
    truncate(run / "final" / "model.data-00000-of-00001")
    for step in (2, 4, 6):
        (run / "checkpoints" / f"ckpt-{step}.index").write_bytes(b"")
    proc = tfgen("sample", run, "--num", "4", "--out", tmp_path / "s.png", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("tfgen: error: ") and "Traceback" not in proc.stderr
    assert "no trained weights verify" in proc.stderr


def test_a_truncated_model_json_is_one_line(copy, tmp_path):
    cfg, run = copy
    text = (run / "model.json").read_text()
    (run / "model.json").write_text(text[: len(text) // 2])
    proc = tfgen("export", run, "--out", tmp_path / "sm", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "model.json: unreadable" in proc.stderr
    # The fix the message names: train on it again (nothing to train; model.json rewritten).
    tfgen("train", cfg, "--workdir", run)
    tfgen("sample", run, "--num", "4", "--out", tmp_path / "s.png")


# ---------------------------------------------------------------------------
# A failed start leaves nothing that blocks the corrected command
# ---------------------------------------------------------------------------

def test_a_config_that_cannot_build_leaves_nothing_behind(trained, tmp_path):
    cfg, _ = trained
    run = tmp_path / "new"
    proc = tfgen("train", cfg, "--workdir", run, "--set", "data.image_size=48", check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("tfgen: error: ") and "Traceback" not in proc.stderr
    assert "power-of-two" in proc.stderr
    assert not (run / "config.yaml").exists()
    tfgen("train", cfg, "--workdir", run, "--set", "train.steps=2")
    assert (run / "final" / "model.index").exists()


# ---------------------------------------------------------------------------
# Storage failures: one line, the newest checkpoint kept
# ---------------------------------------------------------------------------

def test_a_full_disk_during_training_is_one_line_and_keeps_the_checkpoint(copy, monkeypatch):
    """The disk fills during the save of step 8: TensorFlow's own error (as measured on a full tmpfs) is
    raised there, since a real full disk needs privileges a test does not have."""
    from tfgen.training.checkpoints import TrainingState

    cfg, run = copy
    real_save = TrainingState.save

    def save(self, step):
        if step >= 8:
            raise tf.errors.ResourceExhaustedError(None, None, (
                f"{{{{function_node __wrapped__SaveV2}}}} {run}/checkpoints/ckpt-{step}_temp/part-00000-of-00001"
                f".data-00000-of-00001.tempstate1; No space left on device [Op:SaveV2]"))
        return real_save(self, step)

    monkeypatch.setattr(TrainingState, "save", save)
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=10", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("tfgen: error: ")]
    assert "ckpt-8_temp/part-00000-of-00001.data-00000-of-00001.tempstate1: No space left on device" in line
    assert f"the newest checkpoint kept is {run}/checkpoints/ckpt-6;" in line
    monkeypatch.undo()  # space freed: the same command resumes
    assert "resuming from step 6" in tfgen("train", cfg, "--workdir", run, "--set", "train.steps=10").stdout


def test_a_read_only_work_directory_is_one_line(copy, monkeypatch):
    """As root nothing is read-only, so the operating system's answer is injected where the lock file opens."""
    import errno

    from tfgen.training import workdir as workdir_lib

    cfg, run = copy
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(run)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(workdir_lib.os, "open", read_only)
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=8", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tfgen: error: {run}/train.lock: Read-only file system; the newest checkpoint kept is "
        f"{run}/checkpoints/ckpt-6; fix the storage and run the same command to resume")


@pytest.mark.parametrize("message,expected", [
    # What TensorFlow raised when a checkpoint save filled a 600 KB tmpfs (measured):
    ("{{function_node __wrapped__SaveV2_dtypes_80_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
     "/w/checkpoints/ckpt-2_temp/part-00000-of-00001.data-00000-of-00001.tempstate72; No space left on device "
     "[Op:SaveV2]", "/w/checkpoints/ckpt-2_temp/part-00000-of-00001.data-00000-of-00001.tempstate72: "
                    "No space left on device"),
    ("Read-only file system", "Read-only file system"),
    ("something else went wrong", None),
])
def test_tensorflow_storage_errors_are_recognised(message, expected):
    from tfgen.errors import storage_problem

    assert storage_problem(tf.errors.ResourceExhaustedError(None, None, message)) == expected


def test_programming_errors_are_not_storage_problems():
    from tfgen.errors import storage_problem

    assert storage_problem(OSError(2, "No such file or directory", "/x")) is None
    assert storage_problem(ValueError("No space left on device")) is None


def test_sigterm_during_start_up_says_so(trained, tmp_path):
    """SIGTERM before training's own handler (imports, data) used to end the process without a word."""
    import signal
    import subprocess
    import sys
    import time

    cfg, _ = trained
    proc = subprocess.Popen([sys.executable, "-m", "tfgen", "train", str(cfg), "--workdir", str(tmp_path / "w")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)  # inside TensorFlow's import or the data's preparation
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1].startswith(("tfgen: stopped by SIGTERM", "tfgen: interrupted by SIGTERM"))
    assert "Traceback" not in err


def test_a_start_that_saved_nothing_does_not_block_the_corrected_config(trained, tmp_path):
    """learning_rate 1e8 diverges at step 1 before any checkpoint; the corrected rate was refused
    ("holds a run with a different 'model' section")."""
    cfg, _ = trained
    run = tmp_path / "r"
    proc = tfgen("train", cfg, "--workdir", run, "--set", "model.learning_rate=1e8", check=False)
    assert proc.returncode == 2 and "training stopped" in proc.stderr, proc.stderr[-2000:]
    assert (run / "config.yaml").exists() and not list((run / "checkpoints").glob("ckpt-*.index"))
    proc = tfgen("train", cfg, "--workdir", run, "--set", "train.steps=2")
    assert "starting afresh" in proc.stdout
    assert "100000000" not in (run / "config.yaml").read_text()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]  # the diverged start's rows are gone
