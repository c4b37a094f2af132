"""Crash-safe training and determinism, through the real command line.

* a run killed with SIGKILL after its first checkpoint resumes from it when
  the same command is run again, and does not start over;
* with train.deterministic two runs give bit-identical weights, and a run
  that was killed and resumed ends bit-identical to an uninterrupted one;
* the model's persistent state (noise seed) is restored with the weights.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from cli_testing import tfgen
from model_testing import tiny_run_yaml

CONFIG = tiny_run_yaml(train={"steps": 40, "checkpoint_every": 5, "log_every": 5, "image_every": 1000,
                                "num_grid_images": 4, "deterministic": True}, data={"num_test": 64})


def command(cfg, workdir, *extra):
    return [sys.executable, "-m", "tfgen", "train", str(cfg), "--workdir", str(workdir), *extra]


def run(cfg, workdir, *extra):
    """`tfgen train` in a fresh process (what a kill interrupts)."""
    proc = subprocess.run(command(cfg, workdir, *extra), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def run_here(cfg, workdir, *extra):
    """`tfgen train` in this process: the same command where no process is killed."""
    return tfgen("train", cfg, "--workdir", workdir, *extra).stdout


def final_weights(workdir):
    reader = tf.train.load_checkpoint(os.path.join(str(workdir), "final", "model"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "model/" in k}


def assert_identical(a, b):
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.slow
def test_kill_resume_and_determinism(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)

    run(cfg, tmp_path / "a")
    run(cfg, tmp_path / "b")
    reference = final_weights(tmp_path / "a")
    assert_identical(reference, final_weights(tmp_path / "b"))  # bit-identical runs

    # Kill a run (SIGKILL: no chance to clean up) once it has written a checkpoint.
    killed = tmp_path / "killed"
    proc = subprocess.Popen(command(cfg, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = killed / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    while not index.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert index.exists(), "the run never wrote a checkpoint"
    assert not (killed / "final").exists(), "the run finished before it could be killed"

    out = run(cfg, killed)  # the same command again
    assert "resuming from step" in out
    resumed_from = int(out.split("resuming from step ")[1].split()[0])
    assert 5 <= resumed_from < 40
    assert_identical(reference, final_weights(killed))  # as if never interrupted


@pytest.mark.slow
def test_resume_with_more_steps_matches_one_long_run(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    run_here(cfg, tmp_path / "long", "--set", "train.steps=12")
    run_here(cfg, tmp_path / "split", "--set", "train.steps=6")
    out = run_here(cfg, tmp_path / "split", "--set", "train.steps=12")
    assert "resuming from step 6" in out
    assert_identical(final_weights(tmp_path / "long"), final_weights(tmp_path / "split"))


def test_noise_seed_state_is_checkpointed(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    run_here(cfg, tmp_path / "r", "--set", "train.steps=5")
    reader = tf.train.load_checkpoint(str(tmp_path / "r" / "checkpoints"))
    seeds = [k for k in reader.get_variable_to_shape_map() if k.startswith("state/noise_seed")]
    assert seeds, "noise seed state missing from the checkpoint"
    # DCGAN draws one noise batch per step (the generator step reuses the discriminator step's fakes).
    assert reader.get_tensor(seeds[0])[1] == 5
    run_here(cfg, tmp_path / "fresh", "--set", "train.steps=5", "--set", "model.generator_batch=fresh")
    reader = tf.train.load_checkpoint(str(tmp_path / "fresh" / "checkpoints"))
    assert reader.get_tensor(seeds[0])[1] == 2 * 5  # fresh noise for the generator step: two draws


def test_debris_of_an_interrupted_write_does_not_block_resume(tmp_path):
    """A kill during a save leaves temporary or partial files next to the last
    complete checkpoint; the `checkpoint` index still names that one, and the
    same command resumes from it."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(CONFIG)
    run_here(cfg, tmp_path / "r", "--set", "train.steps=5")
    ckpts = tmp_path / "r" / "checkpoints"
    # What a write killed half-way leaves: a temp shard folder and a data file without its index.
    (ckpts / "ckpt-10_temp").mkdir()
    (ckpts / "ckpt-10_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\x00" * 100)
    (ckpts / "ckpt-10.data-00000-of-00001").write_bytes(b"truncated")
    out = run_here(cfg, tmp_path / "r", "--set", "train.steps=8")
    assert "resuming from step 5" in out
    assert (ckpts / "ckpt-8.index").exists()
