"""Creates the tf.distribute strategy in one place."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfgen.errors import ConfigError


def gpu_count() -> int:
    return len(tf.config.list_logical_devices("GPU"))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy for `train.strategy`.

    auto: MirroredStrategy when more than one GPU is visible, else the default
    strategy. one_device: the first GPU, or the CPU. mirrored: all local GPUs
    (or all logical CPUs when there is no GPU, which tests use).
    """
    if name == "multi_worker":  # before anything initialises TensorFlow's runtime (listing devices does)
        return _multi_worker()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    raise ConfigError(f"train.strategy: unknown strategy '{name}'")


def _multi_worker() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy from the TF_CONFIG environment variable.

    TF_CONFIG (as TensorFlow documents it) names every worker's host:port and
    this process's task, e.g.
    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.
    Every worker runs the same `tfgen train` command with the same work
    directory path; worker 0 (or "chief") writes it.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError("train.strategy: multi_worker needs the TF_CONFIG environment variable "
                          '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                          '"task": {"type": "worker", "index": 0}})')
    try:
        spec = json.loads(raw)
        spec["cluster"], spec["task"]["type"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"TF_CONFIG is not valid: {raw[:200]!r}; it needs 'cluster' and 'task' "
                          "{'type', 'index'}") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process owns the work directory (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy.extended, "_cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def resolve_xla(setting: str, replicas: int = 1, sync_batch_norm: bool = False) -> bool:
    """Whether to XLA-compile the inner loss/gradient functions.

    auto: on for GPUs, off on CPU (graph mode measured faster there), and off
    when several replicas synchronize batch norm: its cross-replica all-reduce
    cannot run inside an XLA cluster.

    Raises:
      ConfigError: xla "on" together with synchronized batch norm on several replicas.
    """
    conflict = replicas > 1 and sync_batch_norm
    if setting == "on":
        if conflict:
            raise ConfigError("train.xla: 'on' cannot be combined with train.sync_batch_norm on "
                              f"{replicas} replicas (the batch-norm all-reduce cannot run inside XLA); "
                              "set train.sync_batch_norm=false or train.xla=off")
        return True
    if setting == "off":
        return False
    return gpu_count() > 0 and not conflict
