"""Checkpoints of a whole training state, and resume.

A checkpoint holds the model (all sub-networks), every optimizer (slots,
iteration counts, learning rates), the model's persistent state (noise seed,
latent banks, chains) and the global step. The data position is not stored:
the input pipeline is a deterministic function of `train.seed`, so a resumed
run skips the batches already consumed.

Atomicity: TensorFlow writes a checkpoint's data and index files under
temporary names and renames them, then rewrites the small `checkpoint` index
file atomically, so a run killed at any moment (SIGKILL included) leaves the
previous checkpoint loadable and named as the latest.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf

from tfgen.training.workdir import CHECKPOINT_DIR, FINAL_DIR, FINAL_INFO, write_json  # noqa: F401 (re-exported)


def _write_and_discard(write) -> None:
    """A non-chief worker's save: every worker takes part in writing (reads of
    synchronized variables may all-reduce), but only the chief keeps files."""
    scratch = tempfile.mkdtemp(prefix="tfgen-worker-")
    try:
        write(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class TrainingState:
    """The model, its optimizers, its persistent state and the global step.

    Args:
      model: a compiled `GenerativeModel` (optimizers built).
      workdir: the run's work directory.
      keep: checkpoints to keep.
      is_chief: whether this worker owns the work directory. Under
        MultiWorkerMirroredStrategy every worker must take part in a save;
        the others write to a temporary directory that is deleted at once.
    """

    def __init__(self, model, workdir: str, keep: int = 3, is_chief: bool = True):
        self.model = model
        self.is_chief = is_chief
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            model=model, step=self.step, **model.optimizers_by_name(),
            state=tf.train.Checkpoint(**model.persistent_state()))
        self.directory = os.path.join(workdir, CHECKPOINT_DIR)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=keep)
        self.final_path = os.path.join(workdir, FINAL_DIR, "model")

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if any; returns the step it was at (0 if none)."""
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self, step: int) -> str:
        self.step.assign(step)
        if self.is_chief:
            return self.manager.save(checkpoint_number=step)
        _write_and_discard(lambda scratch: tf.train.CheckpointManager(
            self.checkpoint, scratch, max_to_keep=1).save(checkpoint_number=step))
        return ""

    def save_final(self) -> str:
        """Writes the model weights alone (no optimizer state): what export and sampling read."""
        weights = tf.train.Checkpoint(model=self.model)
        if self.is_chief:
            path = weights.write(self.final_path)
            write_json(os.path.join(os.path.dirname(self.final_path), FINAL_INFO), {"step": int(self.step.numpy())})
            return path
        _write_and_discard(lambda scratch: weights.write(os.path.join(scratch, "model")))
        return ""
