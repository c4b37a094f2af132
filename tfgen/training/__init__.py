"""The training harness: strategy, checkpoints, callbacks, runner.

Names are imported on first use: `tfgen.training.workdir`'s cheap checks
(used by the CLI before TensorFlow is loaded) must not pull in the runner.
"""

from tfgen._lazy import lazy_attributes

_EXPORTS = {
    "TrainingDiverged": "tfgen.training.runner",
    "train": "tfgen.training.runner",
    "TrainingInterrupted": "tfgen.training.interrupts",
    "load_workdir": "tfgen.training.workdir",
}


__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)


__all__ = sorted(_EXPORTS)
