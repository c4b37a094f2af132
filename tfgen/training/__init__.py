"""The training harness: strategy, checkpoints, callbacks, runner.

Names are imported on first use: `tfgen.training.workdir`'s cheap checks
(used by the CLI before TensorFlow is loaded) must not pull in the runner.
"""

import importlib

_EXPORTS = {
    "TrainingDiverged": "tfgen.training.runner",
    "train": "tfgen.training.runner",
    "TrainingInterrupted": "tfgen.training.interrupts",
    "load_workdir": "tfgen.training.workdir",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tfgen.training' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
