"""What the machine has, and the settings whose "auto" picks an op's form for it."""

from __future__ import annotations

import contextlib
import functools
from typing import Sequence

import tensorflow as tf


@functools.lru_cache(maxsize=None)
def has_gpu() -> bool:
    """Whether TensorFlow sees a GPU (asked once per process)."""
    return bool(tf.config.list_physical_devices("GPU"))


class AutoChoice:
    """A setting with fixed choices, one of them "auto", whose "auto" a benchmark can override.

    Ops read their setting while a function is traced; `means(mode)` makes
    "auto" mean `mode` for everything traced inside it, so two forms of the
    same model can be built and timed side by side.
    """

    def __init__(self, choices: Sequence[str]):
        self.choices = tuple(choices)
        self._auto = ["auto"]

    def check(self, mode: str, what: str) -> str:
        """`mode` if it is one of the choices, else a one-line ValueError naming `what`."""
        if mode not in self.choices:
            raise ValueError(f"{what} must be one of {self.choices}, got {mode!r}")
        return mode

    def resolve(self, mode: str, what: str) -> str:
        """`mode` checked, with "auto" replaced by what `means` set while tracing (itself by default)."""
        return self._auto[-1] if self.check(mode, what) == "auto" else mode

    @contextlib.contextmanager
    def means(self, mode: str, what: str = "mode"):
        self._auto.append(self.check(mode, what))
        try:
            yield
        finally:
            self._auto.pop()
