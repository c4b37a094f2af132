"""The work directory of a run, and loading a trained model back from it.

Layout::

    <workdir>/config.yaml        resolved experiment config
    <workdir>/model.json         the model's get_config() (shapes included)
    <workdir>/checkpoints/       periodic training checkpoints (resume)
    <workdir>/final/model*       final weights (what sample/export/evaluate read)
    <workdir>/logs/train         TensorBoard scalars
    <workdir>/metrics.csv        the same scalars as a table (step, metrics...)
    <workdir>/curves.png         those scalars as loss curves, redrawn with each sample grid
    <workdir>/logs/images        TensorBoard image grids
    <workdir>/samples/*.png      sample grids
    <workdir>/status.json        last step reached and whether training finished
    <workdir>/train.lock         held (flock) by the process training in it
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import weakref
from typing import Any, NamedTuple, Optional

from tfgen import config as config_lib
from tfgen.errors import WorkdirError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.json"
STATUS_FILE = "status.json"
LOCK_FILE = "train.lock"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"
FINAL_INFO = "info.json"  # beside the final weights: the step they are from

_LOADED = weakref.WeakKeyDictionary()  # model -> where load_workdir read its weights


def write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def read_status(workdir: str) -> dict:
    path = os.path.join(workdir, STATUS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


class WorkdirLock:
    """An exclusive lock on a work directory for as long as one process trains in it.

    `fcntl.flock` on `<workdir>/train.lock`, which also records the holder's
    PID and host. The kernel drops the lock when its process dies, however it
    dies, so a lock file left by a killed run is simply taken over. Where
    `fcntl` is missing (Windows) the lock is a no-op.

    Raises (on enter):
      WorkdirError: another process holds the lock; the message names it.
    """

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        self._fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # no flock: nothing to hold
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise WorkdirError(f"{os.path.dirname(self.path)}: already being trained by {holder}; wait for it to "
                               f"finish (or stop it), or choose another --workdir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock; the file stays (harmless)
            self._fd = None
        return False


def recorded_digit_source(workdir: str):
    """The digit source a run recorded in status.json (None: none recorded, or not a digit dataset)."""
    return (read_status(workdir).get("data") or {}).get("digit_source")


def final_step(workdir: str):
    """The step of the weights in `final/`, from its info.json (None: no final weights, or no step recorded)."""
    final = os.path.join(workdir, FINAL_DIR)
    if not os.path.exists(os.path.join(final, "model.index")):
        return None
    try:
        with open(os.path.join(final, FINAL_INFO)) as f:
            return json.load(f).get("step")
    except (OSError, ValueError):
        return None


def check_workdir_target(workdir: str) -> None:
    """Refuses a training work directory that exists as something other than a folder (no TensorFlow).

    Raises:
      WorkdirError: `workdir` is a file (or another non-directory).
    """
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"--workdir {workdir}: exists and is not a directory")


def check_workdir(workdir: str) -> None:
    """Cheap checks (no TensorFlow) that `workdir` holds a run, before anything heavy is imported.

    Raises:
      WorkdirError: the directory is missing or is not a tfgen work directory.
    """
    if not os.path.isdir(workdir):
        raise WorkdirError(f"{workdir}: no such work directory")
    if not (os.path.exists(os.path.join(workdir, CONFIG_FILE)) and os.path.exists(os.path.join(workdir, MODEL_FILE))):
        raise WorkdirError(f"{workdir}: not a tfgen work directory (no {CONFIG_FILE}/{MODEL_FILE}); "
                           f"create one with `tfgen train CONFIG --workdir {workdir}`")


def _restore_newest(workdir: str, model) -> dict:
    """Reads the newest weights of a run that verify into `model`: final/ or a later checkpoint.

    final/ unless training went on past it (a finished run extended with more
    steps, then interrupted): the newest state wins. Weights that fail to
    verify or to restore are passed over, and named in the returned
    {"path", "step", "skipped": [...]}.

    Raises:
      WorkdirError: no weights verify (or there are none yet).
    """
    # Only when a run is loaded: the CLI's cheap checks import this module without TensorFlow or numpy.
    import tensorflow as tf

    from tfgen.training import checkpoint_files

    skipped = []

    def check(prefix, read):
        reason = checkpoint_files.verify_and_restore(prefix, read)
        if reason is not None:
            skipped.append(f"{prefix}: {reason}")
        return reason

    def read_checkpoint(prefix):
        tf.train.Checkpoint(model=model).restore(prefix).expect_partial().assert_existing_objects_matched()

    def read_final(prefix):
        tf.train.Checkpoint(model=model).read(prefix).expect_partial().assert_existing_objects_matched()

    final = os.path.join(workdir, FINAL_DIR, "model")
    step_of_final = final_step(workdir)
    has_final = os.path.exists(final + ".index")
    if has_final and step_of_final is None:  # runs finalised before the step was recorded beside the weights
        step_of_final = read_status(workdir).get("step")
    checkpoints = checkpoint_files.present(os.path.join(workdir, CHECKPOINT_DIR))
    newest_checkpoint = checkpoints[0].step if checkpoints else None
    if has_final and (newest_checkpoint is None or (step_of_final is not None and step_of_final >= newest_checkpoint)):
        if check(final, read_final) is None:
            return {"path": final, "step": step_of_final, "skipped": skipped}
    choice = checkpoint_files.newest_verified(os.path.join(workdir, CHECKPOINT_DIR),
                                              lambda prefix: check(prefix, read_checkpoint))
    if choice.chosen is not None:
        return {"path": choice.chosen.prefix, "step": choice.chosen.step, "skipped": skipped}
    if has_final and not any(s.startswith(final + ":") for s in skipped) and check(final, read_final) is None:
        # final/ older than a checkpoint, but every checkpoint is damaged.
        return {"path": final, "step": step_of_final, "skipped": skipped}
    if skipped:
        raise WorkdirError(f"{workdir}: no trained weights verify ({'; '.join(skipped)})")
    raise WorkdirError(f"{workdir}: no checkpoint yet (training has not saved one); run `tfgen train` on it first")


def load_workdir(workdir: str):
    """Rebuilds the trained model of a work directory.

    Returns:
      (config, model): the resolved `Config` (``data.digit_source: auto``
      pinned to the source the run recorded in status.json) and the model
      with its trained weights: the newest that verify, final weights if
      training finished, else the newest good checkpoint (`_restore_newest`).
      `loaded_from(model)` says which: {"path", "step", "skipped"}.

    Raises:
      WorkdirError: the directory is missing, holds no run, its model.json is
        unreadable, or no weights verify.
    """
    # The models only when a run is loaded: the checks above stay cheap for the
    # CLI (start-up time).
    from tfgen.models import get_model_class

    check_workdir(workdir)
    config = config_lib.load_config(os.path.join(workdir, CONFIG_FILE))
    recorded = recorded_digit_source(workdir)
    if recorded and config.data.digit_source == "auto":
        # The digits the run trained on, even if "auto" would pick others here now.
        config.data = dataclasses.replace(config.data, digit_source=recorded)
    model_path = os.path.join(workdir, MODEL_FILE)
    try:
        with open(model_path) as f:
            model_config = json.load(f)
        if not isinstance(model_config, dict):
            raise ValueError(f"a JSON {type(model_config).__name__}, not an object")
    except (OSError, ValueError) as e:  # truncated by a full disk or a kill during an old-style write
        raise WorkdirError(f"{model_path}: unreadable ({e}); `tfgen train` with this run's config on {workdir} "
                           f"rewrites it") from None
    model_config["xla"] = False  # serving and sampling: plain graph functions
    model = get_model_class(config.model.name).from_config(model_config)
    loaded = _restore_newest(workdir, model)
    _LOADED[model] = loaded  # kept beside the model: an attribute would be tracked by Keras
    return config, model


class LoadedRun(NamedTuple):
    """A trained run, loaded: what a study or evaluation is handed.

    Attributes:
      workdir: the work directory.
      config: its resolved `Config` (see `load_workdir`).
      model: the model with its trained weights.
      step: the training step of those weights (None if unknown).
    """

    workdir: str
    config: Any
    model: Any
    step: Optional[int]


def load_run(workdir: str) -> LoadedRun:
    """`load_workdir` as a `LoadedRun`, with the step of the weights it read.

    Raises:
      WorkdirError: as `load_workdir`.
    """
    config, model = load_workdir(workdir)
    return LoadedRun(workdir, config, model, loaded_from(model).get("step"))


def loaded_from(model) -> dict:
    """{"path", "step"} of the weights `load_workdir` read into `model` ({} if it did not)."""
    return dict(_LOADED.get(model, {}))
