"""Real datasets: tensorflow-datasets (never downloaded) and image folders.

Both loaders return a `tf.data.Dataset` of dicts, one example at a time, in a
fixed order (so an example's position in the split is a stable index):

* ``"image"``: uint8 [H, W, C] (sizes may vary between examples),
* ``"label"``: int64 scalar, only when the dataset has integer class labels.
* ``"attributes"``: int32 [A] of 0/1, only for tfds datasets with binary
  attributes (CelebA; names from `tfds_attribute_names`).

Anything that is not available locally raises `DatasetNotFoundError` whose
message says how to prepare it; nothing here ever attempts a download. Image
folders are checked file by file when listed: files TensorFlow cannot decode,
or that are too small, are skipped with one warning or raise `BadImageError`
(``data.on_bad_image``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
from typing import Dict, List, Optional, Sequence, Set, Tuple

import tensorflow as tf

from tfgen.config import DataConfig
from tfgen.data.catalog import CATALOG, get_spec
from tfgen.errors import BadImageError, ConfigError, DatasetNotFoundError

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


def _attribute_keys(builder) -> List[str]:
    """Sorted names of a dataset's binary attributes (CelebA's 40), or []."""
    import tensorflow_datasets as tfds

    features = builder.info.features
    if "attributes" not in features.keys() or not isinstance(features["attributes"], tfds.features.FeaturesDict):
        return []
    return sorted(features["attributes"].keys())


def tfds_attribute_names(name: str, data_dir: Optional[str] = None) -> List[str]:
    """Names, in order, of the "attributes" array `load_tfds` gives (e.g. CelebA's 40); [] if none."""
    return _attribute_keys(tfds_builder(name, data_dir))


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
      shuffled): "image" uint8 [H, W, C] (H, W may vary per example); for
      datasets with class labels, "label" int64 scalar; for datasets with
      binary attributes (CelebA), "attributes" int32 [A] in 0/1, ordered as
      `tfds_attribute_names`.

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

    names = _attribute_keys(builder)

    def select(ex):
        out = {"image": ex["image"]}
        if label_key is not None:
            out["label"] = tf.cast(ex[label_key], tf.int64)
        if names and "attributes" in ex:
            out["attributes"] = tf.stack([tf.cast(ex["attributes"][k], tf.int32) for k in names])
        return out

    return ds.map(select, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


# ---------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------

# What `index_folder` and `load_folder` do when no policy is given: read from
# `DataConfig`'s fields, so that direct calls match a config file's defaults.
_DATA_FIELDS = {f.name: f for f in dataclasses.fields(DataConfig)}
DEFAULT_ON_BAD_IMAGE: str = _DATA_FIELDS["on_bad_image"].default
DEFAULT_MIN_IMAGE_SIZE: int = _DATA_FIELDS["min_image_size"].default
_BAD_IMAGE_POLICIES = tuple(_DATA_FIELDS["on_bad_image"].metadata["choices"])
# How many bad files a warning or an error names (the rest are counted).
_EXAMPLES = 3


@dataclasses.dataclass(frozen=True)
class FolderIndex:
    """The usable files of one split of an image folder.

    Attributes:
      root: folder the files were collected from.
      files: sorted paths of every usable image under `root`.
      labels: int per file (index into `classes`), or None when unlabelled.
      classes: sorted class-folder names (empty when unlabelled). They come
        from the folder layout, so a class whose every image was skipped
        keeps its number.
      channels: 1 when every usable image is grayscale, else 3.
      skipped: (path, what is wrong) of each image left out, sorted by path.
    """

    root: str
    files: Tuple[str, ...]
    labels: Optional[Tuple[int, ...]]
    classes: Tuple[str, ...]
    channels: int
    skipped: Tuple[Tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True)
class _FileCheck:
    """What one scan learnt about one file.

    Attributes:
      problem: why TensorFlow cannot decode the file, or None when it can.
      width: image width in pixels (0 when unknown).
      height: image height in pixels (0 when unknown).
      gray: the image has one colour channel (plus alpha, perhaps).
    """

    problem: Optional[str]
    width: int = 0
    height: int = 0
    gray: bool = False


# Scan results by absolute path, with the (mtime_ns, size) they were made for:
# a second listing of a large folder (dataset_info, then make_dataset for each
# split) only stats the files and re-checks the ones that changed.
_SCANS: Dict[str, Tuple[Tuple[int, int], _FileCheck]] = {}
# Bad-file sets already reported, so that each is warned about once per process.
_WARNED: Set[Tuple[str, int, Tuple[str, ...]]] = set()
_SCAN_LOCK = threading.Lock()


def clear_folder_cache() -> None:
    """Forgets every cached folder scan and warning (the next listing re-reads all files)."""
    with _SCAN_LOCK:
        _SCANS.clear()
        _WARNED.clear()


def _leads_back(folder: str, top: str, visited: Set[str]) -> bool:
    """Whether `folder` is one already read, the root `top` itself or a folder above it."""
    target = os.path.realpath(folder)
    return target in visited or target == top or top.startswith(target + os.sep)


def _list_images(root: str) -> List[str]:
    """Every image file under `root`, each once.

    Linked folders are followed (a folder of images linked in from elsewhere
    is part of the dataset), but each real folder is read once and a link to
    `root` itself or to a folder above it is not followed: a link to "." listed
    every image again per level until the path grew too long (41 times), a link
    to ".." pulled in the sibling folders.
    """
    top = os.path.realpath(root)
    visited = set()
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and not _leads_back(os.path.join(dirpath, d), top, visited))
        found.extend(os.path.join(dirpath, f) for f in filenames
                     if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
    return sorted(found)


def _decodable_formats() -> Tuple[str, ...]:
    """PIL format names that `tf.io.decode_image` reads in this TensorFlow."""
    formats = ("PNG", "JPEG", "BMP", "GIF")
    # WebP arrived in decode_image together with tf.io.decode_webp.
    return formats + (("WEBP",) if hasattr(tf.io, "decode_webp") else ())


def _bmp_problem(path: str, mode: str) -> Optional[str]:
    """Why TensorFlow's BMP decoder cannot read `path` correctly, or None.

    PIL reads every BMP variant, TensorFlow only uncompressed 8-, 24- and
    32-bit ones (1, 3 or 4 channels); it fails on the others at decode time,
    mid-training, or (8-bit colour palettes) silently returns palette indices.
    """
    with open(path, "rb") as f:
        head = f.read(34)
    if len(head) < 34:
        return "truncated BMP header"
    header_size = int.from_bytes(head[14:18], "little")
    if header_size < 40:
        return ("OS/2 BMP (TensorFlow reads only Windows BMPs); save it as a 24-bit BMP or a PNG")
    bits = int.from_bytes(head[28:30], "little")
    compression = int.from_bytes(head[30:34], "little")
    if bits not in (8, 24, 32):
        return (f"unsupported channel count: {bits}-bit BMP (TensorFlow decodes 8-, 24- and 32-bit BMPs, "
                "i.e. 1, 3 or 4 channels); save it as a 24-bit BMP or a PNG")
    if compression not in (0, 3):  # BI_RGB, BI_BITFIELDS: raw pixels TensorFlow can read
        return "compressed (RLE/JPEG/PNG-in-BMP) BMP, which TensorFlow cannot decode; save it as a PNG"
    if bits == 8 and mode == "P":
        return ("8-bit colour-palette BMP (TensorFlow would read the palette indices as gray levels); "
                "save it as a 24-bit BMP or a PNG")
    return None


def _check_image(path: str) -> _FileCheck:
    """Opens `path` with PIL and checks that TensorFlow can decode all of it.

    Cheap by design (a folder may hold tens of thousands of images): PNGs are
    verified chunk by chunk (CRCs up to IEND, no inflating), JPEGs are decoded
    at 1/8 scale (which still reads the whole entropy-coded stream, so a
    truncated file is caught), the other formats are loaded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, mode, (width, height) = im.format, im.mode, im.size
            if fmt not in _decodable_formats():
                return _FileCheck(f"{fmt} data, which TensorFlow cannot decode (use PNG, JPEG or BMP)")
            bands = len(im.getbands())
            if not 1 <= bands <= 4:
                return _FileCheck(f"unsupported channel count: {bands} ({mode} pixels)")
            if fmt == "BMP":
                problem = _bmp_problem(path, mode)
                if problem:
                    return _FileCheck(problem)
            if fmt == "PNG":
                im.verify()
            else:
                if fmt == "JPEG":
                    im.draft("RGB", (1, 1))
                im.load()
    except UnidentifiedImageError:
        return _FileCheck("corrupt or not an image: no image format recognises its contents")
    except Image.DecompressionBombError as e:  # a sound file, but too many pixels to decode safely
        return _FileCheck(f"too large to decode safely ({_one_line(e)})")
    except OSError as e:
        if e.errno is not None:  # the file system's error, not PIL's "truncated" and friends
            return _FileCheck(f"cannot be read: {e.strerror or _one_line(e)}")
        return _FileCheck(f"corrupt image: {_one_line(e)}")
    except Exception as e:  # noqa: BLE001 - PIL plugins raise many kinds on malformed files
        return _FileCheck(f"corrupt image: {type(e).__name__}: {_one_line(e)}")
    return _FileCheck(None, width, height, gray=Image.getmodebase(mode) == "L")


def _scan(files: Sequence[str]) -> List[_FileCheck]:
    """Checks every file, reusing cached results of files that did not change."""
    results: List[Optional[_FileCheck]] = [None] * len(files)
    stamps = []
    for i, f in enumerate(files):
        try:
            st = os.stat(f)
        except OSError as e:  # e.g. a dangling symlink
            results[i] = _FileCheck(f"cannot be read: {e.strerror or _one_line(e)}")
            continue
        stamps.append((i, f, (st.st_mtime_ns, st.st_size)))
    todo = []
    with _SCAN_LOCK:
        for i, f, key in stamps:
            cached = _SCANS.get(os.path.abspath(f))
            if cached is not None and cached[0] == key:
                results[i] = cached[1]
            else:
                todo.append((i, f, key))
    if todo:
        # Threads overlap the file reads (and PIL's C decoders drop the GIL).
        workers = min(8, 2 * (os.cpu_count() or 1), max(1, len(todo) // 64))
        if workers > 1:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                checks = list(pool.map(_check_image, [f for _, f, _ in todo]))
        else:
            checks = [_check_image(f) for _, f, _ in todo]
        with _SCAN_LOCK:
            for (i, f, key), check in zip(todo, checks):
                results[i] = check
                _SCANS[os.path.abspath(f)] = (key, check)
    return results  # type: ignore[return-value]


def _examples(bad: Sequence[Tuple[str, str]], root: str) -> str:
    shown = "; ".join(f"{os.path.relpath(f, root)} ({why})" for f, why in bad[:_EXAMPLES])
    more = len(bad) - _EXAMPLES
    return shown + (f"; and {more} more" if more > 0 else "")


def index_folder(path: Optional[str], split: str, *, on_bad_image: str = DEFAULT_ON_BAD_IMAGE,
                 min_image_size: int = DEFAULT_MIN_IMAGE_SIZE) -> FolderIndex:
    """Finds and checks the images of `split` under `path` (see `load_folder`).

    Every file is checked once here (PIL, cheap; results cached in memory by
    path, modification time and size), so that a bad file is found when the
    folder is listed, never mid-training. A file is bad when it cannot be
    read, is corrupt or truncated, is not a format TensorFlow decodes, has a
    pixel format TensorFlow cannot turn into 1 or 3 channels, or has a
    shorter side below `min_image_size`.

    Args:
      path: the root folder (``data.path``).
      split: split name (a subfolder name).
      on_bad_image: "skip": leave bad files out, with one logged warning
        that counts them and names a few; "error": raise `BadImageError`.
      min_image_size: smallest allowed shorter side, in pixels.

    Raises:
      DatasetNotFoundError: `path` is unset, missing, has no images, or has
        split subfolders but not this one.
      BadImageError: a bad file with on_bad_image="error", or no usable
        image at all (either policy).
      ConfigError: an unknown `on_bad_image`.
    """
    if on_bad_image not in _BAD_IMAGE_POLICIES:
        raise ConfigError(f"data.on_bad_image: {on_bad_image!r} is not one of {list(_BAD_IMAGE_POLICIES)}")
    if not path:
        raise DatasetNotFoundError(
            "Dataset 'folder' needs data.path: the folder that holds your images.")
    path = os.path.expanduser(path)
    if os.path.isfile(path):
        raise DatasetNotFoundError(f"data.path {path} is a file; the 'folder' dataset needs the folder that "
                                   f"holds your images (its parent, {os.path.dirname(path) or '.'}?)")
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

    # Classes follow the layout of every listed file, so labels do not shift
    # when the files that are usable change.
    rel = [os.path.relpath(f, root) for f in files]
    in_subfolders = all(os.sep in r for r in rel)
    lookup = {}
    classes: Tuple[str, ...] = ()
    if in_subfolders:
        classes = tuple(sorted({r.split(os.sep, 1)[0] for r in rel}))
        lookup = {c: i for i, c in enumerate(classes)}

    kept, labels, bad, gray = [], [], [], []
    for f, r, check in zip(files, rel, _scan(files)):
        problem = check.problem
        if problem is None and min(check.width, check.height) < min_image_size:
            problem = (f"too small: {check.width}x{check.height} pixels, shorter side below "
                       f"data.min_image_size={min_image_size}")
        if problem is not None:
            bad.append((f, problem))
            continue
        kept.append(f)
        gray.append(check.gray)
        if in_subfolders:
            labels.append(lookup[r.split(os.sep, 1)[0]])

    if not kept:
        raise BadImageError(
            f"Image folder {root}: none of its {len(files)} images can be used: "
            f"{_examples(bad, root)}. Fix or remove them (see data.min_image_size).")
    if bad and on_bad_image == "error":
        first, why = bad[0]
        others = f" ({len(bad) - 1} more bad images: {_examples(bad[1:], root)})" if len(bad) > 1 else ""
        raise BadImageError(
            f"Image folder {root}: bad image {first}: {why}{others}. Fix or remove it, or set "
            "data.on_bad_image: skip to leave bad images out.")
    if bad:
        key = (root, min_image_size, tuple(f for f, _ in bad))
        with _SCAN_LOCK:
            first_time = key not in _WARNED
            _WARNED.add(key)
        if first_time:
            log.warning("Image folder %s: skipped %d of %d images that cannot be used: %s. "
                        "Set data.on_bad_image: error to stop on them instead.",
                        root, len(bad), len(files), _examples(bad, root))
    return FolderIndex(root=root, files=tuple(kept), labels=tuple(labels) if in_subfolders else None,
                       classes=classes, channels=1 if all(gray) else 3, skipped=tuple(bad))


def folder_dataset(index: FolderIndex) -> tf.data.Dataset:
    """The `tf.data.Dataset` of an indexed folder (see `load_folder` for its elements)."""
    channels = index.channels
    files = tf.constant(list(index.files))

    def decode(file):
        data = tf.io.read_file(file)
        # BMP cannot be decoded to one channel: decode RGB (alpha dropped,
        # gray replicated, palettes expanded), then convert.
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


def load_folder(path: Optional[str], split: str, *, on_bad_image: str = DEFAULT_ON_BAD_IMAGE,
                min_image_size: int = DEFAULT_MIN_IMAGE_SIZE) -> tf.data.Dataset:
    """Reads a folder of PNG/JPEG/BMP images (DeepFashion, or your own).

    Layouts (searched recursively, files in sorted path order):

    * ``path/<split>/**/*.{png,jpg,jpeg,bmp}`` when ``path/<split>`` exists;
    * otherwise every image under ``path`` (all splits then read the same
      images), unless ``path`` has other split folders (train, test, val,
      valid, validation), which is an error.

    When every image sits in a subfolder of the split root, the first
    subfolder name is its class: sorted class names map to 0, 1, 2, ...

    Files are checked when listed (see `index_folder`): bad ones are skipped
    with one warning, or rejected, as `on_bad_image` says. RGBA and
    gray+alpha images lose their alpha channel.

    Args:
      path: the root folder.
      split: split name (a subfolder name).
      on_bad_image: "skip" or "error" (``data.on_bad_image``).
      min_image_size: smallest allowed shorter side (``data.min_image_size``).

    Returns:
      `tf.data.Dataset` of dicts: "image" uint8 [H, W, C] (C is 1 if every
      usable image is grayscale, else 3; every image is decoded to that many
      channels) and, for class subfolders, "label" int64 scalar.

    Raises:
      DatasetNotFoundError: missing or empty folder (the message names it).
      BadImageError: a bad file with on_bad_image="error" (the message names
        it and what is wrong), or no usable image at all.
    """
    return folder_dataset(index_folder(path, split, on_bad_image=on_bad_image,
                                       min_image_size=min_image_size))
