"""Layers that draw noise, per example and replica-aware, with separate training and evaluation streams.

* `StochasticLayer`: the base: a training stream (model state, checkpointed)
  and an evaluation stream, so drawing pictures never changes the noise
  training sees. Training draws are per example (`tfgen.ops.replicas`):
  example k gets the same noise however the global batch is split.
* `GaussianConditional`: a conditional isotropic Gaussian, z = mean +
  exp(log_sigma) * eps by reparameterisation (HALI's and ALI's Markov
  transitions); deterministic mode returns the mean.
* `InputNoise`: additive Gaussian noise in training; `ExampleDropout`:
  dropout from the layer's own per-example stream.
"""

from __future__ import annotations

from typing import List

import keras
import tensorflow as tf
from keras import layers

from tfgen.ops.replicas import per_example_draw

EVAL_SEED_OFFSET = 7919  # the evaluation stream of a layer seeded s starts from s + this

__all__ = ["EVAL_SEED_OFFSET", "ExampleDropout", "GaussianConditional", "InputNoise", "StochasticLayer",
           "reparameterize", "stochastic_layers"]


def _shape_of(x: tf.Tensor) -> List:
    """Static dimensions where known, dynamic ones as scalar tensors."""
    dynamic = tf.shape(x)
    return [d if d is not None else dynamic[i] for i, d in enumerate(x.shape.as_list())]


class StochasticLayer(keras.layers.Layer):
    """A layer that draws noise: a training stream and an evaluation stream.

    Args:
      seed: integer seed of the training stream (the evaluation stream
        starts from `seed + EVAL_SEED_OFFSET`).
    """

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.train_seed = keras.random.SeedGenerator(self.seed, name="train_seed")
        self.eval_seed = keras.random.SeedGenerator(self.seed + EVAL_SEED_OFFSET, name="eval_seed")

    def normal_like(self, x: tf.Tensor, training: bool) -> tf.Tensor:
        """N(0, 1) noise shaped like `x`: per example from the training stream, or the evaluation stream."""
        if training:
            return per_example_draw(lambda s: keras.random.normal(s, seed=self.train_seed), _shape_of(x))
        return keras.random.normal(tuple(_shape_of(x)), seed=self.eval_seed)

    def uniform_like(self, x: tf.Tensor) -> tf.Tensor:
        """U[0, 1) noise shaped like `x`, per example, from the training stream."""
        return per_example_draw(lambda s: keras.random.uniform(s, seed=self.train_seed), _shape_of(x))

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgen")
class InputNoise(StochasticLayer):
    """Additive Gaussian noise in training, identity otherwise (§4: std 0.2).

    Call: x [batch, ...] -> x + stddev * N(0, 1) when training, else x.
    """

    def __init__(self, stddev: float = 0.2, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = float(stddev)

    def call(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x
        return x + self.stddev * self.normal_like(x, training=True)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


@keras.saving.register_keras_serializable(package="tfgen")
class ExampleDropout(StochasticLayer):
    """Inverted dropout with per-example, replica-aware masks.

    Keras' `Dropout` would hand every replica the same mask; this one keeps
    N replicas identical to one device.

    Call: x [batch, ...] -> x * keep / (1 - rate) in training, x otherwise,
    where keep ~ Bernoulli(1 - rate) per element.
    """

    def __init__(self, rate: float, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        keep = self.uniform_like(x) >= self.rate
        return tf.where(keep, x / (1.0 - self.rate), tf.zeros_like(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


# ---------------------------------------------------------------------------
# The Gaussian transition
# ---------------------------------------------------------------------------

def reparameterize(mean: tf.Tensor, log_sigma: tf.Tensor, eps: tf.Tensor) -> tf.Tensor:
    """z = mean + exp(log_sigma) * eps: a differentiable sample of N(mean, diag(exp(log_sigma)^2))
    when eps ~ N(0, I). All three tensors share one shape."""
    return mean + tf.exp(log_sigma) * eps


@keras.saving.register_keras_serializable(package="tfgen")
class GaussianConditional(StochasticLayer):
    """q(z | h) or p(z | h) = N(mean(h), diag(exp(log_sigma(h))^2)).

    A linear head (a 1x1 convolution for feature maps, a dense layer for
    vectors) outputs 2 * channels numbers: the first half is the mean, the
    second the log standard deviation (as in the ALI reference code, the
    net outputs log sigma and sigma = exp(log sigma), so sigma > 0 with no
    constraint on the net).

    Args:
      channels: size of z's last axis.
      seed: seed of the noise streams.
      init_stddev: the head's weights start from N(0, init_stddev^2) (0.01:
        the ALI reference code's initialisation).

    Call:
      features: float32 [batch, h, w, c] (z is a map [batch, h, w, channels])
        or [batch, c] (z is a vector [batch, channels]).
      training: training-mode noise (per-example training stream).
      sample: False returns the mean as the sample (deterministic mode).
      noise: optional eps, shaped like z, used instead of a draw.

    Returns:
      (z, mean, log_sigma), each shaped like z; means and samples unbounded.
    """

    def __init__(self, channels: int, seed: int = 0, init_stddev: float = 0.01, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.channels = int(channels)
        self.init_stddev = float(init_stddev)

    def build(self, input_shape):
        init = keras.initializers.RandomNormal(0.0, self.init_stddev)
        if len(input_shape) == 4:
            self.head = layers.Conv2D(2 * self.channels, 1, kernel_initializer=init, name="head")
        else:
            self.head = layers.Dense(2 * self.channels, kernel_initializer=init, name="head")
        self.head.build(input_shape)
        self.built = True

    def params(self, features):
        """features -> (mean, log_sigma)."""
        out = self.head(features)
        return out[..., :self.channels], out[..., self.channels:]

    def call(self, features, training=False, sample=True, noise=None):
        mean, log_sigma = self.params(features)
        if not sample:
            return mean, mean, log_sigma
        eps = noise if noise is not None else self.normal_like(mean, training=bool(training))
        return reparameterize(mean, log_sigma, eps), mean, log_sigma

    def compute_output_shape(self, input_shape):
        shape = (*input_shape[:-1], self.channels)
        return shape, shape, shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "init_stddev": self.init_stddev}


def stochastic_layers(model: keras.layers.Layer) -> List[StochasticLayer]:
    """Every `StochasticLayer` inside `model`, in a stable (construction) order."""
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, StochasticLayer)]
