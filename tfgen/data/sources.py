"""Real datasets: tensorflow-datasets (never downloaded) and image folders.

Both loaders return a `tf.data.Dataset` of dicts, one example at a time, in a
fixed order (so an example's position in the split is a stable index):

* ``"image"``: uint8 [H, W, C] (sizes may vary between examples),
* ``"label"``: int64 scalar, only when the dataset has integer class labels.

Anything that is not available locally raises `DatasetNotFoundError` whose
message says how to prepare it; nothing here ever attempts a download.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf

from tfgen.data.catalog import CATALOG, get_spec
from tfgen.errors import ConfigError, DatasetNotFoundError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
# Subfolder names recognised as splits of an image folder.
SPLIT_DIRS = ("train", "test", "val", "valid", "validation")


# ---------------------------------------------------------------------------
# tensorflow-datasets
# ---------------------------------------------------------------------------

def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _not_prepared_message(name: str, where: str, manual_dir: Optional[str]) -> str:
    spec = get_spec(name)
    how = spec.prepare if spec else (
        "tfgen never downloads. On a machine with internet run `python -c \"import "
        f"tensorflow_datasets as tfds; tfds.builder('{name}', data_dir='DIR')"
        ".download_and_prepare()\"`, copy DIR here and set data.data_dir to it.")
    manual = ""
    if manual_dir:
        manual = (f" A manual_dir ({manual_dir}) was given; tfds only reads it while "
                  "preparing, so prepare with `download_and_prepare(download_config="
                  "tfds.download.DownloadConfig(manual_dir=...))` and point data.data_dir at "
                  "the result.")
    return f"Dataset '{name}' is not prepared in {where}. {how}{manual}"


def tfds_builder(name: str, data_dir: Optional[str] = None):
    """The tfds builder of `name` (no I/O beyond reading local metadata).

    Raises:
      DatasetNotFoundError: tensorflow-datasets has no dataset of that name.
    """
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        known = ", ".join(n for n, s in CATALOG.items())
        raise DatasetNotFoundError(
            f"Unknown dataset '{name}': it is neither built in nor a tensorflow-datasets name. "
            f"Supported: {known} (or any other tensorflow-datasets image dataset).") from None


def _split_names(builder) -> List[str]:
    try:
        return list(builder.info.splits.keys())
    except Exception:  # noqa: BLE001 - unprepared/mocked builders may lack split info
        return []


def _base_split(split: str) -> str:
    """'train[:90%]' -> 'train' (tfds slicing syntax)."""
    return split.split("[", 1)[0].strip()


def resolve_split(name: str, split: str, available: Sequence[str]) -> str:
    """Maps a requested split onto the dataset's splits.

    A missing 'test' falls back to 'validation' (LSUN has no test split);
    any other missing split is a config error listing what exists. When the
    available splits are unknown (not prepared, or mocked) the split is kept.
    """
    base = _base_split(split)
    if not available or base in available or "+" in split:
        return split
    if base == "test" and "validation" in available:
        log.warning("%s has no 'test' split; using 'validation' instead", name)
        return split.replace("test", "validation", 1)
    raise ConfigError(
        f"data split '{split}': dataset '{name}' has splits {', '.join(available)}; set "
        "data.train_split / data.test_split to one of them (slices like 'train[:90%]' work).")


def _label_key(name: str, builder) -> Optional[str]:
    """The integer class-label feature, if any (catalog first, else 'label')."""
    import tensorflow_datasets as tfds

    spec = get_spec(name)
    key = spec.label_key if spec is not None else "label"
    if key is None:
        return None
    features = builder.info.features
    feature = features[key] if key in features.keys() else None
    if isinstance(feature, tfds.features.ClassLabel):
        return key
    return None


def load_tfds(name: str, split: str, *, data_dir: Optional[str] = None,
              manual_dir: Optional[str] = None) -> tf.data.Dataset:
    """Loads a prepared tensorflow-datasets split without downloading anything.

    Args:
      name: tfds name, e.g. 'cifar10', 'celeb_a', 'lsun/bedroom'.
      split: split name or tfds slice ('train', 'test', 'train[:90%]', ...).
        A missing 'test' falls back to 'validation'.
      data_dir: where prepared datasets live (None: tfds default,
        ~/tensorflow_datasets or $TFDS_DATA_DIR).
      manual_dir: directory of manually downloaded files; passed to tfds as
        `download_and_prepare_kwargs={'download_config': DownloadConfig(
        manual_dir=...)}`. Since tfgen loads with `download=False`, tfds only
        uses it if something prepares the dataset; it also shows up in the
        not-prepared message.

    Returns:
      A `tf.data.Dataset` of dicts in the split's stored order (files not
      shuffled): "image" uint8 [H, W, C] (H, W may vary per example) and, for
      datasets with class labels, "label" int64 scalar.

    Raises:
      DatasetNotFoundError: unknown name, or not prepared under `data_dir`.
      ConfigError: the split does not exist in the prepared dataset.
    """
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir)
    features = builder.info.features
    if "image" not in features.keys():
        raise DatasetNotFoundError(
            f"Dataset '{name}' has no 'image' feature; tfgen reads image datasets only.")
    split = resolve_split(name, split, _split_names(builder))
    label_key = _label_key(name, builder)
    # Skip decoding of images we drop (e.g. CUB's segmentation masks).
    decoders = {k: tfds.decode.SkipDecoding() for k, f in features.items()
                if k != "image" and isinstance(f, tfds.features.Image)}
    dp_kwargs = None
    if manual_dir:
        dp_kwargs = {"download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)}
    where = os.fspath(builder.data_dir_root)
    try:
        ds = tfds.load(
            name, split=split, data_dir=data_dir, download=False, shuffle_files=False,
            decoders=decoders or None, try_gcs=False,
            download_and_prepare_kwargs=dp_kwargs,
            read_config=tfds.ReadConfig(shuffle_seed=0, try_autocache=False))
    except (AssertionError, FileNotFoundError, tf.errors.NotFoundError, OSError) as e:
        # tfds signals "not prepared" with an AssertionError; missing or
        # partial files surface as NotFound/OS errors.
        log.debug("tfds.load(%s) failed: %s", name, _one_line(e))
        raise DatasetNotFoundError(_not_prepared_message(name, where, manual_dir)) from None
    except ValueError as e:
        # Unknown split names (e.g. a typo in a slice) come back as ValueError.
        raise ConfigError(f"data split '{split}' of '{name}': {_one_line(e)[:300]}") from None

    def select(ex):
        out = {"image": ex["image"]}
        if label_key is not None:
            out["label"] = tf.cast(ex[label_key], tf.int64)
        return out

    return ds.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# ---------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FolderIndex:
    """The files of one split of an image folder.

    Attributes:
      root: folder the files were collected from.
      files: sorted paths of every image under `root`.
      labels: int per file (index into `classes`), or None when unlabelled.
      classes: sorted class-folder names (empty when unlabelled).
      channels: 1 when the first image is grayscale, else 3.
    """

    root: str
    files: Tuple[str, ...]
    labels: Optional[Tuple[int, ...]]
    classes: Tuple[str, ...]
    channels: int


def _list_images(root: str) -> List[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in filenames
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    return sorted(found)


def _image_channels(path: str) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return 1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    except Exception:  # noqa: BLE001 - undecodable files fail later, in TF, with a path
        return 3


def index_folder(path: Optional[str], split: str) -> FolderIndex:
    """Finds the images of `split` under `path` (see `load_folder`).

    Raises:
      DatasetNotFoundError: `path` is unset, missing, has no images, or has
        split subfolders but not this one.
    """
    if not path:
        raise DatasetNotFoundError(
            "Dataset 'folder' needs data.path: the folder that holds your images.")
    path = os.path.expanduser(path)
    if not os.path.isdir(path):
        raise DatasetNotFoundError(f"Image folder {path} does not exist (data.path).")
    root = os.path.join(path, split)
    if not os.path.isdir(root):
        present = [d for d in SPLIT_DIRS if os.path.isdir(os.path.join(path, d))]
        if present:
            raise DatasetNotFoundError(
                f"Image folder {path} has split folders {', '.join(present)} but no '{split}'; "
                f"create {root} or set data.train_split / data.test_split to an existing one.")
        root = path
    files = _list_images(root)
    if not files:
        raise DatasetNotFoundError(
            f"Image folder {root} contains no {'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} "
            "images (searched recursively).")
    rel = [os.path.relpath(f, root) for f in files]
    in_subfolders = all(os.sep in r for r in rel)
    labels, classes = None, ()
    if in_subfolders:
        firsts = [r.split(os.sep, 1)[0] for r in rel]
        classes = tuple(sorted(set(firsts)))
        lookup = {c: i for i, c in enumerate(classes)}
        labels = tuple(lookup[f] for f in firsts)
    return FolderIndex(root=root, files=tuple(files), labels=labels, classes=classes,
                       channels=_image_channels(files[0]))


def load_folder(path: Optional[str], split: str) -> tf.data.Dataset:
    """Reads a folder of PNG/JPEG/BMP images (DeepFashion, or your own).

    Layouts (searched recursively, files in sorted path order):

    * ``path/<split>/**/*.{png,jpg,jpeg,bmp}`` when ``path/<split>`` exists;
    * otherwise every image under ``path`` (all splits then read the same
      images), unless ``path`` has other split folders (train, test, val,
      valid, validation), which is an error.

    When every image sits in a subfolder of the split root, the first
    subfolder name is its class: sorted class names map to 0, 1, 2, ...

    Args:
      path: the root folder.
      split: split name (a subfolder name).

    Returns:
      `tf.data.Dataset` of dicts: "image" uint8 [H, W, C] (C is 1 if the
      first image is grayscale, else 3; every image is decoded to that many
      channels) and, for class subfolders, "label" int64 scalar.

    Raises:
      DatasetNotFoundError: missing or empty folder (the message names it).
    """
    index = index_folder(path, split)
    channels = index.channels
    files = tf.constant(list(index.files))

    def decode(file):
        data = tf.io.read_file(file)
        # BMP cannot be decoded to one channel: decode RGB, then convert.
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        if channels == 1:
            gray = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
            image = tf.cast(tf.clip_by_value(tf.round(gray), 0.0, 255.0), tf.uint8)
        image.set_shape([None, None, channels])
        return image

    if index.labels is None:
        ds = tf.data.Dataset.from_tensor_slices(files)
        return ds.map(lambda f: {"image": decode(f)},
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    labels = tf.constant(index.labels, tf.int64)
    ds = tf.data.Dataset.from_tensor_slices((files, labels))
    return ds.map(lambda f, y: {"image": decode(f), "label": y},
                  num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
