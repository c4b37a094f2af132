"""Checkpoints of a whole training state, and resume.

A checkpoint holds the model (all sub-networks), every optimizer (slots,
iteration counts, learning rates), the model's persistent state (noise seed,
latent banks, chains) and the global step. The data position is not stored:
the input pipeline is a deterministic function of `train.seed`, so a resumed
run skips the batches already consumed.

Resume reads the newest checkpoint that verifies (every tensor reads back
and is finite; see `checkpoint_files`), skipping and setting aside damaged
ones, and rebuilds a missing or garbage state file from the files present.

Atomicity: TensorFlow writes a checkpoint's data and index files under
temporary names and renames them, then rewrites the small `checkpoint` index
file atomically, so a run killed at any moment (SIGKILL included) leaves the
previous checkpoint loadable and named as the latest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

import tensorflow as tf

from tfgen.errors import WorkdirError
from tfgen.training import checkpoint_files
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
        self.keep = keep
        self.manager = self._make_manager()
        self.final_path = os.path.join(workdir, FINAL_DIR, "model")

    def _make_manager(self) -> tf.train.CheckpointManager:
        """The manager of the checkpoint directory, even over a state file that is not text.

        TensorFlow reads garbage text in the state file as "no checkpoint", but
        raises on bytes that are not UTF-8. The chief moves such a file aside
        (`checkpoint.unreadable`; `restore_latest` rebuilds it); a non-chief,
        which never saves here, manages an empty scratch directory instead.
        """
        try:
            return tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.keep)
        except UnicodeDecodeError:
            state = os.path.join(self.directory, checkpoint_files.STATE_FILE)
            if not self.is_chief:
                return tf.train.CheckpointManager(self.checkpoint, tempfile.mkdtemp(prefix="tfgen-worker-"),
                                                  max_to_keep=1)
            os.replace(state, state + ".unreadable")
            return tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.keep)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def restore_latest(self, log: Callable[[str], None] = print) -> int:
        """Restores the newest checkpoint that verifies; returns its step (0 if there is none).

        Every checkpoint on disk is a candidate, newest first, whatever the
        state file says (a missing or garbage state file is rebuilt from the
        files, not read as "no checkpoint"). A candidate that fails to verify
        (`checkpoint_files.verify`) or to restore is skipped with a log line
        naming it and why; on the chief its files are moved to
        `checkpoints/unreadable/`, so the save of that step later cannot
        overwrite them and rotation cannot delete them. Debris of killed saves
        (`ckpt-N_temp/`) is removed.

        Raises:
          WorkdirError: checkpoints exist but none verifies (nothing is moved:
            the run cannot continue from them, and starting over beside them
            is the user's decision).
        """
        if self.is_chief:
            checkpoint_files.remove_debris(self.directory)

        def check(prefix):
            return checkpoint_files.verify_and_restore(
                prefix, lambda p: self.checkpoint.restore(p).assert_existing_objects_matched())

        choice = checkpoint_files.newest_verified(self.directory, check)
        if choice.chosen is None:
            if choice.skipped:
                raise WorkdirError(
                    f"{self.directory}: no checkpoint verifies ("
                    + "; ".join(f"{os.path.basename(c.prefix)}: {r}" for c, r in choice.skipped)
                    + "); move the folder away to start again from step 0")
            return int(self.step.numpy())
        for found, reason in choice.skipped:
            moved = checkpoint_files.set_aside(self.directory, found) if self.is_chief else None
            log(f"tfgen: skipped checkpoint {found.prefix}: {reason}" + (f"; moved to {moved}" if moved else ""))
        if self.is_chief and (choice.skipped or
                              checkpoint_files.state_file_names(self.directory) != choice.chosen.prefix):
            if not choice.skipped:
                log(f"tfgen: the checkpoint state file in {self.directory} was missing, unreadable or stale; "
                    f"rebuilt from the checkpoint files")
            checkpoint_files.write_state_file(self.directory, choice.chosen, choice.older)
            # The manager read the old state file when it was made: a new one reads the rebuilt file.
            self.manager = self._make_manager()
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
