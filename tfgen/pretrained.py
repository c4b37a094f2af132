"""Pretrained Keras weights from local files only (InceptionV3 for FID/IS,
VGG-16 for FRAME's filters). tfgen never downloads: a missing file is a
`WeightsNotFoundError` that says where to put it."""

from __future__ import annotations

import os
from typing import Optional

from tfgen.errors import WeightsNotFoundError


def keras_cache_path(filename: str) -> str:
    """Where `keras.applications` caches `filename`.

    Mirrors Keras' own rule, read at call time: `$KERAS_HOME/models/`, else
    `~/.keras/models/` (or `/tmp/.keras/models/` when the home directory is
    not writable).
    """
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    return os.path.join(os.path.expanduser(home), "models", filename)


def resolve_weights_file(given: Optional[str], filename: str, *, what: str, url: str, setting: str,
                         alternative: str) -> str:
    """The weights file to read: `given` if set (it must exist), else the Keras cache.

    Args:
      given: a path from the config, or None / "".
      filename: the file's name in the Keras cache.
      what: the weights, for the message ("InceptionV3 ImageNet weights").
      url: where to fetch the file on a machine with internet access.
      setting: the config key that takes a path ("eval.inception_weights").
      alternative: what to use instead, as a sentence ending the message.

    Raises:
      WeightsNotFoundError: neither file exists.
    """
    cache = keras_cache_path(filename)
    if given:
        path = os.path.expanduser(given)
        if os.path.isfile(path):
            return path
        problem = f"the given file {path} does not exist"
    elif os.path.isfile(cache):
        return cache
    else:
        problem = f"no file given ({setting}) and none in the Keras cache at {cache}"
    raise WeightsNotFoundError(
        f"{what} not found: {problem}. tfgen never downloads; fetch {url} on a machine with internet "
        f"access and copy it to {cache} (or pass its path as {setting}), or {alternative}")


__all__ = ["keras_cache_path", "resolve_weights_file"]
