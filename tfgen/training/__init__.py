"""The training harness: strategy, checkpoints, callbacks, runner."""

from tfgen.training.runner import TrainingDiverged, train
from tfgen.training.workdir import load_workdir

__all__ = ["TrainingDiverged", "load_workdir", "train"]
