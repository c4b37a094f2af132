"""Runs one experiment: strategy -> data -> model in scope -> fit -> checkpoints.

The runner never knows a method by name; it asks the registry for the model
and the model for its optimizers, panels and sub-networks.
"""

from __future__ import annotations

import os
import time
from typing import Callable

import keras
import tensorflow as tf

from tfgen import config as config_lib
from tfgen.errors import ConfigError, TfgenError
from tfgen.training import callbacks as cb
from tfgen.training.checkpoints import TrainingState
from tfgen.training.strategy import make_strategy, resolve_xla
from tfgen.training.workdir import CONFIG_FILE, MODEL_FILE, STATUS_FILE, write_json

FIXED_LATENT_SEED = 20161115  # the fixed-noise grid is the same in every run


class TrainingDiverged(TfgenError):
    """A loss became NaN or Inf; the last good checkpoint was kept."""


def _check_same_experiment(workdir: str, config: config_lib.Config) -> None:
    """Refuses to resume a work directory with a different model or dataset."""
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return
    old = config_lib.load_config(path)
    for section in ("model", "data"):
        if getattr(old, section) != getattr(config, section):
            raise ConfigError(
                f"{workdir}: holds a run with a different '{section}' section; "
                f"resume it with the same config or choose another --workdir")


def train(config: config_lib.Config, workdir: str, log: Callable[[str], None] = print) -> dict:
    """Trains (or resumes) the configured model in `workdir`.

    Returns:
      Summary dict: start_step, end_step, seconds, last metrics, samples png.

    Raises:
      TrainingDiverged: a loss became non-finite (last good checkpoint kept).
    """
    import tfgen.models  # noqa: F401  (registers the models)
    from tfgen.data import dataset_info, make_dataset
    from tfgen.models import build_model

    tc = config.train
    os.makedirs(workdir, exist_ok=True)
    _check_same_experiment(workdir, config)
    config_lib.save_config(config, os.path.join(workdir, CONFIG_FILE))

    keras.utils.set_random_seed(tc.seed)
    strategy = make_strategy(tc.strategy)
    xla = resolve_xla(tc.xla)
    info = dataset_info(config.data)
    log(f"tfgen: {config.model.name} on {config.data.name} {info.image_shape}, "
        f"{strategy.num_replicas_in_sync} replica(s), xla={'on' if xla else 'off'}, workdir={workdir}")

    with strategy.scope():
        model = build_model(config, info.image_shape, num_classes=info.num_classes, xla=xla)
        model.compile()
        state = TrainingState(model, workdir, keep=tc.keep_checkpoints)
        start = state.restore_latest()
    write_json(os.path.join(workdir, MODEL_FILE), model.get_config())
    if start:
        log(f"tfgen: resuming from step {start} ({state.manager.latest_checkpoint})")

    summary = {"start_step": start, "end_step": start, "seconds": 0.0, "metrics": {}, "samples_png": None}
    if start >= tc.steps:
        log(f"tfgen: already trained to step {start} (train.steps={tc.steps}); nothing to do")
        return summary

    train_ds = make_dataset(config.data, config.data.train_split, tc.batch_size, training=True, seed=tc.seed)
    preview = make_dataset(config.data, config.data.test_split, tc.num_grid_images, training=False)
    real_batch = next(iter(preview))
    fixed_latent = model.sample_latent(tc.num_grid_images, seed=FIXED_LATENT_SEED)

    counter = cb.StepCounter(start)
    guard = cb.NonFiniteGuard(counter)
    logdir = os.path.join(workdir, "logs")
    images = cb.ImageLogger(os.path.join(logdir, "images"), os.path.join(workdir, "samples"), counter, guard,
                            tc.image_every, fixed_latent, real_batch)
    checkpointer = cb.Checkpointer(state, counter, guard, tc.checkpoint_every)
    callbacks = [counter, guard,
                 cb.ScalarLogger(os.path.join(logdir, "train"), counter, guard, tc.log_every, tc.batch_size),
                 images, checkpointer]

    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=1, steps_per_epoch=tc.steps - start, callbacks=callbacks, shuffle=False,
                        verbose=tc.verbose)
    seconds = time.perf_counter() - t0
    end = counter.step
    write_json(os.path.join(workdir, STATUS_FILE),
               {"step": end if not guard.failure else checkpointer.last_saved or start,
                "finished": end >= tc.steps and not guard.failure, "failure": guard.failure})
    if guard.failure:
        kept = state.manager.latest_checkpoint or "none (no checkpoint was written yet)"
        raise TrainingDiverged(f"training stopped: {guard.failure}; last good checkpoint kept: {kept}")
    if checkpointer.last_saved != end:
        state.save(end)
    state.save_final()
    metrics = {k: float(v[-1]) for k, v in history.history.items()}
    summary.update(end_step=end, seconds=seconds, metrics=metrics, samples_png=images.last_png)
    log(f"tfgen: trained steps {start}..{end} in {seconds:.1f}s; samples: {images.last_png}")
    return summary

