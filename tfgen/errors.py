"""Errors a user can cause.

Anything raised as a `TfgenError` is reported by the CLI as one line on stderr
with exit code 2 (no traceback): a bad config, a dataset that is not prepared,
an unknown work directory. Programming errors stay ordinary exceptions.
"""


class TfgenError(Exception):
    """Base class of every error that a user's input can cause."""


class ConfigError(TfgenError):
    """A config file or override is invalid (unknown key, wrong type, range)."""


class DatasetNotFoundError(TfgenError):
    """A named dataset is not available locally; the message says how to prepare it."""


class WorkdirError(TfgenError):
    """A work directory is missing, empty, or holds no usable checkpoint."""


class WeightsNotFoundError(TfgenError):
    """Pretrained weights (InceptionV3, VGG16) are neither given nor cached."""


class BadImageError(TfgenError):
    """An image-folder file cannot be used (corrupt, unsupported pixel format, too small)."""


class StudyError(TfgenError):
    """Work directories that cannot be studied together (shapes, classes, datasets), or a bad study option."""


class WorkerError(TfgenError):
    """A multi-worker cluster that cannot run: a worker missing at the start, or one lost during training."""
