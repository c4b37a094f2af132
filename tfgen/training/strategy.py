"""Creates the tf.distribute strategy in one place."""

from __future__ import annotations

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


def resolve_xla(setting: str) -> bool:
    """XLA default per device: on for GPUs, off on CPU (graph mode measured faster there)."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    return gpu_count() > 0
