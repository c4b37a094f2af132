"""Checkpoints as files on disk: which are present, which verify, and the state file.

TensorFlow names the newest checkpoint in a small text file
(`checkpoints/checkpoint`, "the state file"); if that file is missing or
garbage, `tf.train.latest_checkpoint` answers None and a run would start over
beside (and later over) its own checkpoints. Here the checkpoint files
themselves are the record: `present` lists them, `verify` reads one back
whole, `write_state_file` rewrites the state file from what verified.

A checkpoint verifies when its index and data files read back in full (each
tensor's CRC-32C is checked on read, so a flipped byte fails), and every
floating-point tensor in it — weights, optimizer slots, batch-norm
statistics, persistent model state — is finite.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import NamedTuple, Optional

import numpy as np

PREFIX = "ckpt"
STATE_FILE = "checkpoint"
UNREADABLE_DIR = "unreadable"  # checkpoints that failed to verify are moved here, never deleted
_INDEX = re.compile(rf"^{PREFIX}-(\d+)\.index$")
_DEBRIS = re.compile(rf"^{PREFIX}-\d+_temp$")  # the shard folder of a save that was killed


class Found(NamedTuple):
    """One checkpoint on disk: its step and path prefix (`<dir>/ckpt-N`)."""

    step: int
    prefix: str


def present(directory: str) -> list:
    """Every checkpoint whose index file is in `directory`, newest first ([] if none or no directory)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = [Found(int(m.group(1)), os.path.join(directory, m.group(0)[:-len(".index")]))
             for m in map(_INDEX.match, names) if m]
    return sorted(found, reverse=True)


def verify(prefix: str) -> Optional[str]:
    """Reads the checkpoint at `prefix` back whole.

    Returns:
      None if it verifies; otherwise why not, as a short phrase (an
      unreadable index, a missing or truncated data file, a checksum
      mismatch, or the name of a non-finite tensor).
    """
    import tensorflow as tf  # lazy: the command line's cheap checks import this module's siblings

    try:
        reader = tf.train.load_checkpoint(prefix)
        for key, dtype in sorted(reader.get_variable_to_dtype_map().items()):
            value = reader.get_tensor(key)
            if dtype.is_floating and not np.all(np.isfinite(value)):
                return f"{key.split('/.ATTRIBUTES')[0]} is not finite"
    except Exception as e:  # noqa: BLE001 — IndexError, DataLossError, OpError, ValueError: all mean "unreadable"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return f"unreadable ({type(e).__name__}: {first[:160]})"
    return None


def verify_and_restore(prefix: str, restore) -> Optional[str]:
    """`verify(prefix)`, then `restore(prefix)` into a model; None if both succeed, else why not."""
    import tensorflow as tf

    reason = verify(prefix)
    if reason is None:
        try:
            restore(prefix)
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            reason = f"does not restore into this model ({str(e).splitlines()[0][:160]})"
    return reason


class Choice(NamedTuple):
    """The newest checkpoint that verifies, and the newer ones that did not.

    Attributes:
      chosen: a `Found`, or None if no checkpoint verifies (or none exists).
      skipped: [(Found, reason), ...] newest first, every one newer than `chosen`.
      older: the checkpoints older than `chosen` (not read), newest first.
    """

    chosen: Optional[Found]
    skipped: list
    older: list


def newest_verified(directory: str, check=verify) -> Choice:
    """Walks the checkpoints in `directory` from the newest until one verifies."""
    found = present(directory)
    skipped = []
    for i, candidate in enumerate(found):
        reason = check(candidate.prefix)
        if reason is None:
            return Choice(candidate, skipped, found[i + 1:])
        skipped.append((candidate, reason))
    return Choice(None, skipped, [])


def state_file_names(directory: str) -> Optional[str]:
    """The checkpoint prefix the state file names as newest (None: no state file, or unreadable)."""
    import tensorflow as tf

    try:
        return tf.train.latest_checkpoint(directory)
    except Exception:  # noqa: BLE001 — a garbage state file is the case this module exists for
        return None


def write_state_file(directory: str, newest: Found, older: list) -> None:
    """Rewrites the state file to name `newest` (and `older`, for rotation), atomically.

    The format is TensorFlow's `CheckpointState` text proto with paths relative
    to `directory`, as `tf.train.CheckpointManager` writes it.
    """
    kept = sorted([newest, *older])
    # With a save time each (the index file's) after `last_preserved_timestamp`
    # the manager's rotation goes on as before; without them it would keep
    # every listed checkpoint forever.
    times = [os.path.getmtime(c.prefix + ".index") for c in kept]
    lines = [f'model_checkpoint_path: "{os.path.basename(newest.prefix)}"']
    lines += [f'all_model_checkpoint_paths: "{os.path.basename(c.prefix)}"' for c in kept]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in times]
    lines += [f"last_preserved_timestamp: {min(times) - 1.0!r}"]
    path = os.path.join(directory, STATE_FILE)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def set_aside(directory: str, found: Found) -> str:
    """Moves one checkpoint's files into `<directory>/unreadable/` (a later save of the same step cannot
    overwrite them); returns the folder."""
    target = os.path.join(directory, UNREADABLE_DIR)
    os.makedirs(target, exist_ok=True)
    base = os.path.basename(found.prefix)
    for name in os.listdir(directory):
        if name == base + ".index" or name.startswith(base + ".data-"):
            destination = os.path.join(target, name)
            if os.path.exists(destination):  # set aside before (a second damaged save of this step): keep both
                destination += f".{len(os.listdir(target))}"
            os.replace(os.path.join(directory, name), destination)
    return target


def remove_debris(directory: str) -> list:
    """Deletes the `ckpt-N_temp/` shard folders of saves that were killed; returns their names.

    Only while no save can be running (the work directory's lock is held).
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    debris = [n for n in names if _DEBRIS.match(n) and os.path.isdir(os.path.join(directory, n))]
    for name in debris:
        shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    return debris
