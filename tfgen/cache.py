"""One per-dataset cache: what tfgen trains once per dataset and keeps (domain classifiers, learned filter banks).

An entry lives in `<root>/<kind>/<key>/`: the root is a config's cache_dir,
else `$TFGEN_CACHE_DIR`, else `~/.cache/tfgen`; the key is the dataset name
plus a hash of the image-defining data fields, the training steps and seed,
and the recipe's version (`dataset_cache_key`). Entries are written under a
temporary name and renamed (`publish_cache_folder`), so a crash or a
concurrent run never leaves half an entry; each records what it was trained
on (`cache_provenance`), and one trained on other digits is not used
(`provenance_mismatch`). `cached_per_dataset` is the whole get-or-train.

Free of TensorFlow: the entries are read and written by the callers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from tfgen.data.digits import DIGIT_DATASETS, digit_source_of
from tfgen.errors import TfgenError

logger = logging.getLogger(__name__)

__all__ = ["LabelledData", "cache_provenance", "cached_per_dataset", "dataset_cache_key", "default_cache_dir",
           "image_fields", "provenance_mismatch", "publish_cache_folder"]


# DataConfig fields that change which images (and labels) the classifier is
# trained on. Loader settings (shuffle_buffer, cache, with_index, num_test,
# test_split, manual_dir) do not, so they do not invalidate the cache. The
# list is what it was before the digit sources changed, so entries of every
# dataset whose images did not change keep their keys: "source" holds the
# resolved digit source of the digit datasets and "auto" for all others.
_IMAGE_FIELDS = ("name", "image_size", "channels", "num_objects", "num_train", "source",
                 "seed", "data_dir", "path", "crop", "train_split")
_PICTURE_FIELDS = ("images", "patch_size")  # texture and photos only


def default_cache_dir() -> str:
    """tfgen's cache root: `$TFGEN_CACHE_DIR`, else `~/.cache/tfgen`."""
    return os.path.expanduser(os.environ.get("TFGEN_CACHE_DIR") or os.path.join("~", ".cache", "tfgen"))


def image_fields(data) -> Dict[str, Any]:
    """The DataConfig fields that decide a dataset's training images, as a JSON-able dict (part of a key)."""
    fields = {}
    for name in _IMAGE_FIELDS:
        value = "auto" if name == "source" else getattr(data, name, None)
        if name in ("data_dir", "path") and value:
            # Same folder, same images, whatever the working directory.
            value = os.path.abspath(os.path.expanduser(value))
        fields[name] = value
    source = digit_source_of(data)
    if source is not None:
        fields["source"] = source
        if source != "tfds":
            fields["data_dir"] = None  # only tfds reads it
    if data.name in ("texture", "photos"):
        fields.update({name: getattr(data, name) for name in _PICTURE_FIELDS})
        fields["images"] = list(fields["images"])
    return fields


def cache_provenance(data, train: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """What a cached classifier or filter bank was trained on: dataset, digit source, distinct source images.

    Args:
      data: the DataConfig it was trained for.
      train: the training arrays it saw.
    """
    # tfgen.data.pipeline imports TensorFlow: only when an entry is written.
    from tfgen.data.pipeline import distinct_source_images

    return {"dataset": data.name, "digit_source": digit_source_of(data),
            "source_images": distinct_source_images(data.name, train)}


def provenance_mismatch(recorded: Optional[Dict[str, Any]], data) -> Optional[str]:
    """Why a cache entry must not serve `data` (a different dataset or digit source), or None.

    Entries written before provenance was recorded have none: they are not
    trusted for digit datasets, whose default source has changed.
    """
    if not recorded:
        return "it records no data provenance" if data.name in DIGIT_DATASETS else None
    if recorded.get("dataset") != data.name:
        return f"it was trained on {recorded.get('dataset')!r}, not {data.name!r}"
    source = digit_source_of(data)
    if recorded.get("digit_source") != source:
        return f"it was trained on digits from {recorded.get('digit_source')}, but the data now come from {source}"
    return None


def dataset_cache_key(data, *, steps: int, seed: int, version: int) -> str:
    """Folder name of something trained once per dataset and cached (a domain
    classifier, a learned filter bank): a readable dataset name plus a hash of
    the image-defining DataConfig fields, the training steps and seed, and the
    recipe's version."""
    payload = {"data": image_fields(data), "steps": int(steps), "seed": int(seed), "version": int(version)}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(data.name))[:40]
    return f"{safe_name}-{digest}"


def publish_cache_folder(tmp: str, final: str) -> bool:
    """Moves a fully written cache folder `tmp` to `final`, atomically.

    Returns True when `tmp` became `final`, False when another process had
    published `final` first (then `tmp` is deleted and theirs is kept, so
    every run uses the same entry).

    Raises:
      OSError: the move failed and there is no `final` either.
    """
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
        os.rename(tmp, final)
        return True
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.isdir(final):
            return False
        raise


def _data_api():
    """(load_arrays, dataset_info) of `tfgen.data`, imported on first use.

    Imported late because the data loaders pull in TensorFlow (start-up
    time); a function so that tests can substitute a small labelled dataset.
    """
    # tfgen.data's loaders import TensorFlow: only when an entry is trained (start-up time).
    from tfgen.data import dataset_info, load_arrays

    return load_arrays, dataset_info


@dataclasses.dataclass
class LabelledData:
    """The labelled splits an entry is trained on.

    Attributes:
      data: the DataConfig (with every class: see `cached_per_dataset`).
      train: the training split's arrays ("image", "label", ...).
      test: the test split's arrays, {} when it has no labels.
      num_classes: classes of the dataset.
    """

    data: Any
    train: Dict[str, np.ndarray]
    test: Dict[str, np.ndarray]
    num_classes: int


def cached_per_dataset(kind: str, data, key: str, *, load: Callable[[str], Any],
                       provenance: Callable[[Any], Optional[Dict[str, Any]]],
                       train: Callable[[LabelledData, str], None], no_labels: str,
                       cache_dir: Optional[str] = None, what: str = "entry",
                       with_test: bool = True) -> Tuple[Any, str]:
    """Something trained once per dataset: read from the cache, else trained, written and published.

    The entry is `<root>/<kind>/<key>/`. One that cannot be read, or was
    trained on other data (`provenance_mismatch`), is deleted and trained
    anew, with a warning. Training sees the labelled training split of every
    class, whatever `data.classes` says (a run restricted to some classes,
    one generator per class, shares the whole dataset's entry), and writes
    into a temporary folder that is then renamed; when another process
    published the same entry first, theirs is used.

    Args:
      kind: the cache's sub-folder ("classifiers", "filter_banks").
      data: the DataConfig.
      key: the entry's folder name (`dataset_cache_key`).
      load: folder -> the entry (raises when the folder is not a valid entry).
      provenance: entry -> the provenance it recorded (None: none recorded).
      train: (labelled data, empty folder) -> None; writes the entry there,
        recording `cache_provenance(data, labelled.train)`.
      no_labels: the error's text when the dataset has no labels.
      cache_dir: cache root override (a config's cache_dir).
      what: the entry's name in log lines.
      with_test: also load the test split (for a validation accuracy).

    Returns:
      (entry, folder).

    Raises:
      TfgenError: the dataset has no labels (`no_labels`).
    """
    if getattr(data, "classes", None):
        data = dataclasses.replace(data, classes=[])
    root = os.path.expanduser(cache_dir) if cache_dir else default_cache_dir()
    parent = os.path.join(root, kind)
    final = os.path.join(parent, key)
    if os.path.isdir(final):
        try:
            entry = load(final)
            reason = provenance_mismatch(provenance(entry), data)
        except Exception as e:  # noqa: BLE001 - a damaged cache entry is retrained, not fatal
            entry, reason = None, f"it cannot be read ({type(e).__name__}: {e})"
        if not reason:
            logger.info("using cached %s %s", what, final)
            return entry, final
        logger.warning("not using cached %s %s: %s; training a new one", what, final, reason)
        shutil.rmtree(final, ignore_errors=True)

    load_arrays, dataset_info = _data_api()
    train_arrays = load_arrays(data, data.train_split)
    if "label" not in train_arrays:
        raise TfgenError(f"data.name={data.name}: {no_labels}")
    num_classes = getattr(dataset_info(data), "num_classes", None) or int(np.max(train_arrays["label"])) + 1
    test = load_arrays(data, data.test_split) if with_test else {}
    if "label" not in test:
        test = {}  # train without a validation accuracy rather than fail
    logger.info("training a %s for %s (%d images, %d classes)", what, data.name, len(train_arrays["label"]),
                num_classes)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=parent)
    try:
        train(LabelledData(data, train_arrays, test, int(num_classes)), tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    publish_cache_folder(tmp, final)  # False: another process finished first, and theirs is used
    logger.info("cached %s at %s", what, final)
    return load(final), final
