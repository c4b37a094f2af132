"""Errors a user can cause, and the storage failures that are the machine's, not the program's.

Anything raised as a `TfgenError` is reported by the CLI as one line on stderr
with exit code 2 (no traceback): a bad config, a dataset that is not prepared,
an unknown work directory. Programming errors stay ordinary exceptions.
"""

import errno

# A full disk, a read-only or forbidden folder, a failing device: the same
# command works once the machine is fixed, so each is reported as one line.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}
_STORAGE_PHRASES = ("No space left on device", "Disk quota exceeded", "Read-only file system",
                    "Permission denied", "Input/output error")


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


def storage_problem(error: BaseException):
    """What a storage failure was, as "PATH: reason" (None: `error` is not one).

    Python's own writes raise `OSError` with an errno; TensorFlow's (checkpoint
    saves, summaries) raise its own error types whose message carries the
    operating system's phrase. TensorFlow is not imported here.
    """
    if isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    if type(error).__module__.startswith("tensorflow"):
        text = str(error)
        for phrase in _STORAGE_PHRASES:
            if phrase in text:
                # TensorFlow's message: "{{function_node ...}} PATH; No space left on device [Op:SaveV2]".
                before = text.split(phrase)[0].rstrip("; :").split()
                path = before[-1] if before else ""
                return f"{path}: {phrase}" if path.startswith("/") else phrase
    return None
