"""Pre-learned convolutional filter banks: the features of FRAME and wFRAME.

FRAME with CNN filters (Lu, Zhu & Wu 2016; wFRAME, Cai et al. 2019, Eq. 3)
learns only the weights θ of an energy built on filters someone else
learned. `FilterBank` holds such filters as frozen convolutions and maps an
image to the responses of its top layer (before the top ReLU; the energy
applies it). Three sources, chosen by `model.filter_bank`:

* ``vgg16``: the first four conv layers of VGG-16 with ImageNet weights
  (conv1_1, conv1_2, max-pool, conv2_1, conv2_2: 128 filters at half the
  image side), read through `keras.applications` from a local file or the
  Keras cache. This package never downloads; a missing file raises
  `WeightsNotFoundError` saying where to put it.
* ``learned``: the same layout (two 3x3 conv layers, max-pool, two more),
  narrower, taken from a small classifier that tfgen trains on the labelled
  training split of the built-in dataset being modelled (offline) and caches
  under `<cache root>/filter_banks/<key>/`.
* ``random``: He-normal random filters. Only ever used when asked for by
  name (tests, ablations); the model logs a warning when it is.

Chain units. Every bank reads images in *centred pixel units*: 0..255 pixel
values minus the bank's mean pixel (VGG's per-channel ImageNet mean; the
training data's mean pixel for a learned bank; 127.5 for random filters). This is the space in which FRAME's
Langevin chains live (the UCLA FRAME code's convention), so the paper's
step sizes δ and learning rates λ keep their meaning across banks, and the
chains' starting point 0 is the mean image. `to_units` / `to_image`
convert from / to tfgen's [-1, 1] images.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgen.cache import cache_provenance, cached_per_dataset, dataset_cache_key
from tfgen.classifiers import fit_classifier
from tfgen.errors import TfgenError
from tfgen.pretrained import keras_cache_path, resolve_weights_file

logger = logging.getLogger(__name__)

VGG16_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG16_WEIGHTS_FILE
# keras.applications.vgg16.preprocess_input ("caffe" mode) subtracts this mean
# from BGR pixels; listed here in RGB order.
VGG16_MEAN_RGB = (123.68, 116.779, 103.939)
VGG16_LAYERS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2")
_BANK_VERSION = 3


# ---------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------

class FilterBank(keras.layers.Layer):
    """Frozen conv filters: centred-pixel images -> top-layer responses.

    The layout is VGG's first two blocks: conv, ReLU, conv, ReLU, 2x2
    max-pool, conv, ReLU, conv (the top layer's responses are returned
    before their ReLU). Padding "same", stride 1.

    Args:
      kernels: per conv layer, float32 [3, 3, c_in, c_out] (the first layer's
        c_in is 3 for VGG).
      biases: per conv layer, float32 [c_out].
      mean: the mean pixel subtracted in centred units, one value per input
        channel of the first layer (RGB order).
      bgr: feed channels reversed (VGG's Caffe weights expect BGR).
      description: a human-readable name of the filters' origin, for logs.
      pool_after: indices of the conv layers followed by max-pooling.

    Call:
      x float32 [batch, H, W, C] in centred pixel units (C 1 or 3; gray is
      repeated when the filters expect colour) -> responses float32
      [batch, H / 2, W / 2, num_filters] (one pool with the default layout).
    """

    def __init__(self, kernels: Sequence, biases: Sequence, mean: Sequence[float], bgr: bool = False,
                 description: str = "", pool_after: Sequence[int] = (1,), **kwargs):
        super().__init__(trainable=False, **kwargs)
        if len(kernels) != len(biases) or not kernels:
            raise ValueError("give one bias vector per kernel, and at least one kernel")
        self._init_kernels = [np.asarray(k, np.float32) for k in kernels]
        self._init_biases = [np.asarray(b, np.float32) for b in biases]
        self.mean = [float(m) for m in mean]
        self.bgr = bool(bgr)
        self.description = str(description)
        self.pool_after = tuple(int(i) for i in pool_after)
        in_channels = self._init_kernels[0].shape[2]
        if len(self.mean) != in_channels:
            raise ValueError(f"mean has {len(self.mean)} values, the first layer reads {in_channels} channels")
        for i, (k, b) in enumerate(zip(self._init_kernels, self._init_biases)):
            # Attributes, not list items: TensorFlow checkpoints track variables
            # through attributes, and a restored model gets its filters back.
            setattr(self, f"kernel{i}", self.add_weight(name=f"kernel{i}", shape=k.shape, trainable=False,
                                                        initializer=keras.initializers.Constant(k)))
            setattr(self, f"bias{i}", self.add_weight(name=f"bias{i}", shape=b.shape, trainable=False,
                                                      initializer=keras.initializers.Constant(b)))
        self.built = True  # every weight exists; nothing depends on the input shape

    @property
    def kernels(self) -> List[tf.Variable]:
        return [getattr(self, f"kernel{i}") for i in range(len(self._init_kernels))]

    @property
    def biases(self) -> List[tf.Variable]:
        return [getattr(self, f"bias{i}") for i in range(len(self._init_kernels))]

    @property
    def num_filters(self) -> int:
        return int(self._init_kernels[-1].shape[-1])

    @property
    def in_channels(self) -> int:
        return int(self._init_kernels[0].shape[2])

    def response_shape(self, image_shape: Sequence[int]) -> List[int]:
        """[h, w, num_filters] of the responses for images [H, W, C]."""
        h, w = int(image_shape[0]), int(image_shape[1])
        for _ in self.pool_after:
            h, w = -(-h // 2), -(-w // 2)
        return [h, w, self.num_filters]

    def call(self, x):
        channels = x.shape[-1]
        # Centred units are relative to *this* bank's mean: convert to the
        # filters' own input (raw pixels minus their mean).
        if channels == 1 and self.in_channels == 3:
            gray_mean = float(np.mean(self.mean))
            x = tf.repeat(x + gray_mean, 3, axis=-1) - tf.constant(self.mean, x.dtype)
        elif channels != self.in_channels:
            raise ValueError(f"the filters read {self.in_channels} channels, got images with {channels}")
        if self.bgr:
            x = x[..., ::-1]
        last = len(self.kernels) - 1
        for i, (k, b) in enumerate(zip(self.kernels, self.biases)):
            x = tf.nn.conv2d(x, k, strides=1, padding="SAME") + b
            if i < last:
                x = tf.nn.relu(x)
            if i in self.pool_after and i < last:
                x = tf.nn.max_pool2d(x, 2, 2, padding="SAME")
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.response_shape(input_shape[1:]))

    # Unit conversions --------------------------------------------------------
    def channel_mean(self, channels: int) -> tf.Tensor:
        """The mean pixel of images with `channels` channels, [channels]."""
        if channels == len(self.mean):
            return tf.constant(self.mean, tf.float32)
        return tf.fill([channels], float(np.mean(self.mean)))

    def to_units(self, images: tf.Tensor) -> tf.Tensor:
        """[-1, 1] images -> centred pixel units (same shape)."""
        return 127.5 * (images + 1.0) - self.channel_mean(images.shape[-1])

    def to_image(self, units: tf.Tensor) -> tf.Tensor:
        """Centred pixel units -> [-1, 1] images, clipped (same shape)."""
        return tf.clip_by_value((units + self.channel_mean(units.shape[-1])) / 127.5 - 1.0, -1.0, 1.0)

    def get_config(self):
        # The filter values are weights (checkpointed); the config records the
        # layout so that an identical, empty bank can be built to restore into.
        return {**super().get_config(), "shapes": [list(k.shape) for k in self._init_kernels],
                "mean": self.mean, "bgr": self.bgr, "description": self.description,
                "pool_after": list(self.pool_after)}


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------

def vgg16_weights_cache_path() -> str:
    """Where `keras.applications.VGG16(weights="imagenet", include_top=False)` caches its weights."""
    return keras_cache_path(VGG16_WEIGHTS_FILE)


def resolve_vgg16_weights(path: Optional[str]) -> str:
    """The VGG-16 weights file to read; raises `WeightsNotFoundError` when there is none."""
    return resolve_weights_file(path, VGG16_WEIGHTS_FILE, what="VGG-16 ImageNet weights", url=VGG16_WEIGHTS_URL,
                                setting="model.filter_bank_path",
                                alternative="use model.filter_bank=learned, which trains its own filters on a "
                                            "labelled built-in dataset.")


def vgg16_filter_bank(path: Optional[str] = None, name: str = "filter_bank") -> FilterBank:
    """The first four conv layers of VGG-16 (ImageNet), from a local weights file.

    Args:
      path: a VGG-16 weights file without the classification top (Keras'
        `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`, or a
        `.weights.h5` saved from `VGG16(weights=None, include_top=False)`).
        None reads the Keras cache.

    Raises:
      WeightsNotFoundError: no file.
      TfgenError: the file does not hold VGG-16 weights.
    """
    path = resolve_vgg16_weights(path)
    # Built without weights so that Keras never tries to download.
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    try:
        vgg.load_weights(path)
    except (ValueError, OSError, KeyError, TypeError) as e:
        raise TfgenError(f"{path}: cannot be loaded as VGG-16 weights without the top "
                         f"({type(e).__name__}: {e})") from None
    kernels, biases = [], []
    for layer_name in VGG16_LAYERS:
        k, b = vgg.get_layer(layer_name).get_weights()
        kernels.append(k)
        biases.append(b)
    return FilterBank(kernels, biases, VGG16_MEAN_RGB, bgr=True, description=f"VGG-16 ImageNet {path}",
                      name=name)


def random_filter_bank(channels: int, widths: Sequence[int] = (32, 32, 64, 64), seed: int = 0,
                       name: str = "filter_bank") -> FilterBank:
    """He-normal random filters in the bank layout (tests and ablations only)."""
    rng = np.random.default_rng(seed)
    kernels, biases, c_in = [], [], channels
    for width in widths:
        kernels.append(rng.normal(0.0, np.sqrt(2.0 / (9 * c_in)), size=(3, 3, c_in, width)).astype(np.float32))
        biases.append(np.zeros(width, np.float32))
        c_in = width
    return FilterBank(kernels, biases, [127.5] * channels, description=f"random (seed {seed})", name=name)


# -- learned offline: a small classifier's conv layers ------------------------

def build_filter_classifier(image_shape, num_classes: int, widths: Sequence[int] = (32, 32, 64, 64),
                            seed: int = 0) -> keras.Model:
    """VGG's first two blocks, narrower, with a classification head (untrained).

    Input: centred pixel units / 127.5, i.e. [-1, 1] images minus the data's
    mean pixel in that range (the division is folded into the first kernel
    when the bank is made). Layers conv0..conv3 are 3x3 "same" with ReLU,
    max-pool after conv1, then global average pooling of conv3's ReLU and a
    softmax.
    """
    inputs = keras.Input(shape=tuple(int(s) for s in image_shape), name="images")
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}",
                                kernel_initializer=keras.initializers.HeNormal(seed=seed * 10 + i))(x)
        if i == 1:
            x = keras.layers.MaxPooling2D(2, padding="same", name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed=seed * 10 + 9))(x)
    return keras.Model(inputs, outputs, name="filter_classifier")


def train_filter_classifier(images, labels, num_classes: int, *, steps: int, batch_size: int = 64,
                            seed: int = 0, learning_rate: float = 1e-3) -> Dict[str, object]:
    """Trains `build_filter_classifier` with Adam; returns its conv weights and stats.

    Args:
      images: float32 [N, H, W, C] in [-1, 1].
      labels: int [N].

    Returns:
      {"kernels": [4 arrays], "biases": [4 arrays], "mean": the data's mean
      pixel per channel on the 0..255 scale, "train_accuracy": float,
      "seconds": float}. The classifier is trained on the images minus
      their mean pixel, and the first kernel is divided by 127.5, so that
      the bank reads centred pixel units (u = 127.5 (x + 1) − mean).
    """
    x = np.asarray(images, np.float32)
    y = np.asarray(labels).astype(np.int32).reshape(-1)
    mean = 127.5 * (x.reshape(-1, x.shape[-1]).mean(axis=0) + 1.0)
    x = x - (mean / 127.5 - 1.0)  # = centred units / 127.5
    model = build_filter_classifier(x.shape[1:], num_classes, seed=seed)
    _, seconds = fit_classifier(model, x, y, steps=steps, batch_size=min(batch_size, len(x)),
                                optimizer=keras.optimizers.Adam(learning_rate), seed=seed, log_every=200,
                                what="filter bank classifier")
    rng = np.random.default_rng(seed + 1)
    sub = rng.permutation(len(x))[:2000]
    predictions = np.argmax(model.predict(x[sub], batch_size=256, verbose=0), axis=-1)
    kernels, biases = [], []
    for i in range(4):
        k, b = model.get_layer(f"conv{i}").get_weights()
        kernels.append(k / 127.5 if i == 0 else k)
        biases.append(b)
    return {"kernels": kernels, "biases": biases, "mean": [float(m) for m in mean],
            "train_accuracy": float(np.mean(predictions == y[sub])), "seconds": round(seconds, 2)}


def learned_bank_key(data, steps: int, seed: int) -> str:
    """Cache folder name of a learned bank: dataset name plus a hash of what defines it."""
    return dataset_cache_key(data, steps=steps, seed=seed, version=_BANK_VERSION)


def save_bank_arrays(folder: str, kernels, biases, metadata: Dict[str, object]) -> None:
    os.makedirs(folder, exist_ok=True)
    arrays = {f"kernel{i}": k for i, k in enumerate(kernels)}
    arrays.update({f"bias{i}": b for i, b in enumerate(biases)})
    np.savez(os.path.join(folder, "filters.npz"), **arrays)
    with open(os.path.join(folder, "bank.json"), "w") as f:
        json.dump(metadata, f, indent=2)


def load_learned_bank(folder: str, name: str = "filter_bank") -> FilterBank:
    """A learned bank from its cache folder (`filters.npz`, `bank.json`)."""
    folder = os.path.expanduser(folder)
    npz, meta_path = os.path.join(folder, "filters.npz"), os.path.join(folder, "bank.json")
    if not (os.path.isfile(npz) and os.path.isfile(meta_path)):
        raise TfgenError(f"{folder}: not a learned filter bank (needs filters.npz and bank.json); "
                         "leave model.filter_bank_path empty to train one for the configured dataset")
    with open(meta_path) as f:
        meta = json.load(f)
    with np.load(npz) as arrays:
        n = len([k for k in arrays.files if k.startswith("kernel")])
        kernels = [arrays[f"kernel{i}"] for i in range(n)]
        biases = [arrays[f"bias{i}"] for i in range(n)]
    accuracy = meta.get("train_accuracy")
    return FilterBank(kernels, biases, meta["mean"], name=name,
                      description=f"learned on {meta.get('dataset')} (classifier train accuracy "
                                  f"{accuracy:.3f}) {folder}" if accuracy is not None else f"learned {folder}")


def _bank_folder(folder: str) -> str:
    """`folder` when it holds a learned bank's files (else raises): the cache's loader."""
    if not os.path.isfile(os.path.join(folder, "filters.npz")):
        raise TfgenError(f"{folder}: no filters.npz")
    return folder


def _bank_provenance(folder: str):
    with open(os.path.join(folder, "bank.json")) as f:
        return json.load(f).get("provenance")


def learned_bank_for(data, *, steps: int = 1500, seed: int = 0, cache_dir: Optional[str] = None) -> str:
    """The folder of the learned bank for a dataset, trained once and then read from the cache.

    Trains `build_filter_classifier` on the labelled training split of
    `data` (all classes, whatever `data.classes` says: every per-class model
    shares one bank) and keeps its conv weights in
    `<cache root>/filter_banks/<key>/` (`tfgen.cache.cached_per_dataset`).

    Raises:
      TfgenError: the dataset has no labels.
    """
    def train(labelled, folder):
        result = train_filter_classifier(labelled.train["image"], labelled.train["label"], labelled.num_classes,
                                         steps=steps, seed=seed)
        save_bank_arrays(folder, result["kernels"], result["biases"],
                         {"dataset": labelled.data.name, "provenance": cache_provenance(labelled.data, labelled.train),
                          "steps": steps, "seed": seed, "num_classes": labelled.num_classes,
                          "mean": result["mean"],
                          "train_accuracy": result["train_accuracy"], "train_seconds": result["seconds"],
                          "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "version": _BANK_VERSION})

    _, folder = cached_per_dataset(
        "filter_banks", data, learned_bank_key(data, steps, seed), load=_bank_folder, provenance=_bank_provenance,
        train=train, cache_dir=cache_dir, what="filter bank", with_test=False,
        no_labels=("no labels to learn a filter bank from; use model.filter_bank=vgg16 "
                   "(needs the ImageNet weights file)"))
    return folder


def empty_filter_bank(config: Dict[str, object], name: str = "filter_bank") -> FilterBank:
    """A zero bank with the layout of `FilterBank.get_config()` (to restore weights into)."""
    shapes = config["shapes"]
    return FilterBank([np.zeros(s, np.float32) for s in shapes], [np.zeros(s[-1], np.float32) for s in shapes],
                      config["mean"], bgr=config["bgr"], description=config.get("description", ""),
                      pool_after=config.get("pool_after", (1,)), name=name)


__all__ = ["FilterBank", "VGG16_LAYERS", "VGG16_MEAN_RGB", "VGG16_WEIGHTS_FILE", "build_filter_classifier",
           "empty_filter_bank", "learned_bank_for", "learned_bank_key", "load_learned_bank",
           "random_filter_bank", "resolve_vgg16_weights", "save_bank_arrays", "train_filter_classifier",
           "vgg16_filter_bank", "vgg16_weights_cache_path"]
