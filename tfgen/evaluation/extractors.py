"""Networks that turn images into features (for FID) and class probabilities (for IS).

Two extractors share one interface, `FeatureExtractor`:

* `InceptionExtractor`: InceptionV3 with ImageNet weights, the network the
  FID and Inception score were defined with. The weights are read from a
  local file only (this package never downloads); `WeightsNotFoundError`
  says where to put them.
* `DomainClassifier` (`tfgen.classifiers`): a small CNN trained by tfgen on
  the labelled training split of the dataset being modelled, for offline
  "FID" features and a "contextual" Inception score. Numbers from
  different extractors, or from classifiers trained differently, are not
  comparable with each other.

`domain_classifier_for` trains a classifier once per dataset configuration and
keeps it in tfgen's cache (`tfgen.cache`) so that every `evaluate` run scores
with the same network.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

# TensorFlow and Keras are heavy; this module is only imported when an
# extractor is actually needed (see tfgen/evaluation/__init__.py).
import keras
import numpy as np
import tensorflow as tf

from tfgen.cache import (
    cache_provenance,
    cached_per_dataset,
    dataset_cache_key,
    default_cache_dir,
    image_fields,
)
from tfgen.classifiers import (
    CLASSIFIER_VERSION,
    DEFAULT_BATCH_SIZE,
    DomainClassifier,
    FeatureExtractor,
    build_domain_classifier_model,
    train_domain_classifier,
)
from tfgen.errors import TfgenError
from tfgen.pretrained import keras_cache_path, resolve_weights_file

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BATCH_SIZE",
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
# Domain classifier, cached per dataset
# ---------------------------------------------------------------------------

def classifier_cache_key(data, *, steps: int, seed: int = 0, architecture: str = "cnn") -> str:
    """Folder name of the cached classifier for a data config and training recipe.

    The CNN's keys are those written before the architecture was a choice
    (its classifiers stay cached); another architecture is marked in the name.
    """
    key = dataset_cache_key(data, steps=steps, seed=seed, version=CLASSIFIER_VERSION)
    return key if architecture == "cnn" else f"{key}-{architecture}"


def domain_classifier_for(data, *, steps: int, seed: int = 0, cache_dir: Optional[str] = None,
                          architecture: str = "cnn") -> DomainClassifier:
    """The domain classifier of a dataset, trained once and then read from the cache.

    Trains on `load_arrays(data, data.train_split)` (every class), measures
    accuracy on `load_arrays(data, data.test_split)`, and keeps the result
    in `<cache root>/classifiers/<key>/` (`tfgen.cache.cached_per_dataset`;
    the key is `classifier_cache_key(data, steps=steps, seed=seed)`).

    Args:
      data: a `tfgen.config.DataConfig` of a labelled dataset.
      steps: training steps (eval.classifier_steps).
      seed: training seed.
      cache_dir: cache root override (eval.cache_dir).
      architecture: eval.domain_classifier ("cnn" or "discriminator").

    Raises:
      TfgenError: the dataset has no labels (or cannot be loaded).
    """
    # The key ignores data.classes; the cache trains on every class.
    key = classifier_cache_key(data, steps=steps, seed=seed, architecture=architecture)

    def train(labelled, folder):
        test = labelled.test
        clf = train_domain_classifier(
            labelled.train["image"], labelled.train["label"], labelled.num_classes, steps=steps, seed=seed,
            val_images=test.get("image"), val_labels=test.get("label"), architecture=architecture)
        clf.metadata.update({"dataset": labelled.data.name, "data": image_fields(labelled.data), "key": key,
                             "provenance": cache_provenance(labelled.data, labelled.train),
                             "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        clf.save(folder)

    clf, _ = cached_per_dataset(
        "classifiers", data, key, load=DomainClassifier.load, provenance=lambda c: c.metadata.get("provenance"),
        train=train, cache_dir=cache_dir, what="domain classifier",
        no_labels=("the dataset has no labels, so no domain classifier can be trained; use "
                   "eval.extractor=inception (needs the ImageNet weights file)"))
    clf.name = f"domain:{data.name}" + ("" if architecture == "cnn" else f":{architecture}")
    return clf
