"""Checkpoints of a whole training state, and resume.

A checkpoint holds the model (all sub-networks), every optimizer (slots and
iteration counts) and the global step. `tf.train.CheckpointManager` writes
the data files first and the `checkpoint` index last, so a run killed
mid-write still resumes from the previous complete checkpoint.
"""

from __future__ import annotations

import os

import tensorflow as tf

CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"


class TrainingState:
    """The model, its optimizers and the global step, checkpointed together.

    Args:
      model: a compiled `GenerativeModel` (optimizers built).
      workdir: the run's work directory.
      keep: checkpoints to keep.
    """

    def __init__(self, model, workdir: str, keep: int = 3):
        self.model = model
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=model, step=self.step, **model.optimizers_by_name())
        self.directory = os.path.join(workdir, CHECKPOINT_DIR)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=keep)
        self.final_path = os.path.join(workdir, FINAL_DIR, "model")

    def restore_latest(self) -> int:
        """Restores the newest checkpoint if any; returns the step it was at (0 if none)."""
        latest = self.manager.latest_checkpoint
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self, step: int) -> str:
        self.step.assign(step)
        return self.manager.save(checkpoint_number=step)

    def save_final(self) -> str:
        """Writes the model weights alone (no optimizer state): what export and sampling read."""
        return tf.train.Checkpoint(model=self.model).write(self.final_path)
