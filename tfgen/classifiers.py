"""Small supervised image classifiers: the domain classifier and the loop that fits them.

* `FeatureExtractor`: the interface of networks that give features (for
  FID) and class probabilities (for IS), with batching and input checks.
* `DomainClassifier`: a small CNN trained on the labelled training split of
  the dataset being modelled; its 128-d penultimate layer gives offline
  "FID" features and its softmax a "contextual" Inception score (LR-GAN's
  domain-specific score for datasets where ImageNet classes mean nothing).
* `fit_classifier`: the cross-entropy loop shared by the domain classifier,
  LR-GAN's Adversarial Accuracy classifiers and wFRAME's learned filter bank.

A primitive: methods (a learned filter bank, Adversarial Accuracy) and
evaluation both use it. Caching per dataset is `tfgen.cache`'s.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import sys
import time
from typing import Any, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfgen.errors import TfgenError
from tfgen.ops.batching import map_batches
from tfgen.progress import ProgressDisplay

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BATCH_SIZE", "DomainClassifier", "FeatureExtractor", "as_images", "build_domain_classifier_model",
           "fit_classifier", "train_domain_classifier"]

DEFAULT_BATCH_SIZE = 64


def as_images(images) -> np.ndarray:
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
        x = as_images(images)
        if not len(x):
            empty = np.zeros([0, 0], np.float32)
            return empty, empty
        feats, probs = map_batches(lambda b: tuple(self._forward(b)), x, batch_size=batch_size)
        return feats.astype(np.float32), probs.astype(np.float32)

    def features(self, images, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Feature vectors, float32 [N, D], of images float32 [N, H, W, C] in [-1, 1]."""
        return self.features_and_probabilities(images, batch_size)[0]

    def probabilities(self, images, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Class probabilities, float32 [N, K] (rows sum to 1), of images in [-1, 1]."""
        return self.features_and_probabilities(images, batch_size)[1]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, feature_dim={self.feature_dim}, num_classes={self.num_classes})"


# Bumped when the architecture or training recipe changes, so that cached
# classifiers trained by an older recipe are not silently reused.
CLASSIFIER_VERSION = 1
_MODEL_FILE = "model.keras"
_META_FILE = "metadata.json"
FEATURE_LAYER = "features"
PROBS_LAYER = "probabilities"


ARCHITECTURES = ("cnn", "discriminator")


def build_domain_classifier_model(image_shape, num_classes: int, seed: int = 0,
                                  width: int = 32, architecture: str = "cnn") -> keras.Model:
    """The domain classifier's CNN (untrained).

    `architecture: discriminator` builds LR-GAN's classifier instead (see
    `_discriminator_classifier`).

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
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if architecture == "discriminator":
        return _discriminator_classifier(image_shape, num_classes, seed)
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


def _discriminator_classifier(image_shape, num_classes: int, seed: int, base_filters: int = 64) -> keras.Model:
    """LR-GAN §5.1's classifier for its contextual Inception score.

    "The discriminator with its top removed plus two FC layers": DCGAN's
    discriminator trunk (4x4 stride-2 convolutions doubling from
    `base_filters` down to a 4x4 map, batch norm after all but the first,
    LeakyReLU 0.2), flattened, a 128-d FC layer whose LeakyReLU output is
    named "features" (the FID features), dropout, and a K-way softmax FC named
    "probabilities". The paper gives no FC width; 128 matches the CNN's.
    """
    size, channels = int(image_shape[0]), int(image_shape[-1])
    stages = int(np.log2(size / 4))
    if size != int(image_shape[1]) or size < 8 or 4 * 2 ** stages != size:
        raise ValueError(f"the discriminator classifier needs square power-of-two images >= 8, got {image_shape}")
    common = dict(dtype="float32")

    def init(i):
        # DCGAN's N(0, 0.02) for the convolutions; Glorot for the FC layers.
        return keras.initializers.RandomNormal(0.0, 0.02, seed=seed * 100 + i)

    inputs = keras.Input(shape=(size, size, channels), name="images")
    x = inputs
    filters = base_filters
    for i in range(stages):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init(i),
                                name=f"down{i}", **common)(x)
        if i > 0:
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"down{i}_bn", **common)(x)
        x = keras.layers.LeakyReLU(0.2, name=f"down{i}_lrelu", **common)(x)
        filters *= 2
    x = keras.layers.Flatten(name="flatten", **common)(x)
    features = keras.layers.Dense(128, kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 100 + 10),
                                  name="fc", **common)(x)
    features = keras.layers.LeakyReLU(0.2, name=FEATURE_LAYER, **common)(features)
    x = keras.layers.Dropout(0.3, seed=seed, name="dropout", **common)(features)
    probs = keras.layers.Dense(num_classes, activation="softmax",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 100 + 11),
                               name=PROBS_LAYER, **common)(x)
    return keras.Model(inputs, probs, name="discriminator_classifier")


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
                            log_every: int = 100, architecture: str = "cnn") -> DomainClassifier:
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
      architecture: "cnn" or "discriminator" (`build_domain_classifier_model`).

    Returns:
      A `DomainClassifier` whose metadata holds num_classes, steps,
      batch_size, seed, accuracy (validation, or None), train_accuracy
      (on up to 2000 training images), num_train, num_val and train_seconds.
    """
    x = as_images(images)
    y = np.asarray(labels).astype(np.int32).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {y.shape[0]} labels")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}), got [{y.min()}, {y.max()}]")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("give both val_images and val_labels, or neither")

    model = build_domain_classifier_model(x.shape[1:], num_classes, seed=seed, width=width,
                                          architecture=architecture)
    # Cosine decay to zero: the last steps settle the weights (and the batch
    # norm statistics that inference uses), which matters for short runs.
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    bs = min(batch_size, x.shape[0])
    running, seconds = fit_classifier(model, x, y, steps=steps, batch_size=bs,
                                      optimizer=keras.optimizers.Adam(schedule), seed=seed, log_every=log_every,
                                      what="domain classifier")
    rng = np.random.default_rng(seed + 1)

    clf = DomainClassifier(model, {
        "version": CLASSIFIER_VERSION,
        "architecture": architecture,
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
