"""Weight-normalised convolution (Salimans & Kingma 2016), w = g * v / ||v||,
with the paper's data-dependent initialisation."""

from __future__ import annotations

from typing import List, Tuple

import keras
import tensorflow as tf

__all__ = ["WeightNormConv2D", "initialize_sequential", "is_fresh"]


@keras.saving.register_keras_serializable(package="tfgen")
class WeightNormConv2D(keras.layers.Layer):
    """Convolution with weight normalisation (Salimans & Kingma 2016).

    The kernel is w = g * v / ||v||, the norm taken per output channel over
    (height, width, input channels): g sets each filter's norm, v only its
    direction. g starts at 1 and the bias at 0; `data_init` gives the
    paper's data-dependent initialisation (§3.2), which the improved-GAN
    discriminator that HALI's appendix copies uses: on a first batch, with
    t = conv(x, v / ||v||) and its per-channel mean m and standard deviation
    s, g = scale / s and bias = -m * scale / s, so that every pre-activation
    starts with mean 0 and standard deviation `scale` on real data. Without
    it, unit-norm filters shrink the activations layer by layer (a stack of
    nine WN + LeakyReLU layers took the std from 0.37 to 0.0085).

    Call: x float32 [batch, h, w, c_in] -> [batch, h', w', filters].
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, padding: str = "same", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = int(filters), int(kernel_size), int(strides)
        self.padding = padding.lower()

    def build(self, input_shape):
        k, c_in = self.kernel_size, int(input_shape[-1])
        self.v = self.add_weight(name="v", shape=(k, k, c_in, self.filters),
                                 initializer=keras.initializers.RandomNormal(0.0, 0.05))
        self.g = self.add_weight(name="g", shape=(self.filters,), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.built = True

    def _direction(self) -> tf.Tensor:
        norm = tf.sqrt(tf.reduce_sum(tf.square(self.v), axis=[0, 1, 2]) + 1e-12)
        return self.v / norm

    def kernel(self) -> tf.Tensor:
        """The effective kernel g * v / ||v||, [k, k, c_in, filters]."""
        return self._direction() * self.g

    def _conv(self, x, kernel):
        return tf.nn.conv2d(x, kernel, strides=self.strides, padding=self.padding.upper())

    def call(self, x):
        return self._conv(x, self.kernel()) + self.bias

    def data_init(self, xs, scale: float = 1.0) -> Tuple[List[tf.Tensor], tf.Tensor, tf.Tensor]:
        """The data-dependent initialisation on batches `xs`, without assigning it.

        The moments are those of all the batches together (equal sizes). A
        caller keeps kinds of input (e.g. real and generated pairs) in
        separate batches so that per-example noise layers draw for each as a
        training step does. Called in a replica context of a strategy with
        several replicas, the moments are averaged over the replicas (every
        replica and worker then gets the same g and bias).

        Args:
          xs: this layer's input batches, each [batch, h, w, c_in].
          scale: the pre-activations' standard deviation after init.

        Returns:
          (outputs, each [batch, h', w', filters], with the new g and bias;
          g [filters]; bias [filters]).
        """
        if not self.built:
            self.build(xs[0].shape)
        ts = [self._conv(x, self._direction()) for x in xs]
        mean = tf.add_n([tf.reduce_mean(t, axis=[0, 1, 2]) for t in ts]) / len(ts)
        square = tf.add_n([tf.reduce_mean(tf.square(t), axis=[0, 1, 2]) for t in ts]) / len(ts)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            mean, square = ctx.all_reduce("mean", [mean, square])
        std = tf.sqrt(tf.maximum(square - tf.square(mean), 0.0) + 1e-8)
        g = scale / std
        bias = -mean * g
        return [t * g + bias for t in ts], g, bias

    def compute_output_shape(self, input_shape):
        def out(n):
            if n is None:
                return None
            if self.padding == "same":
                return -(-n // self.strides)
            return (n - self.kernel_size) // self.strides + 1

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding}


def initialize_sequential(model: keras.Sequential, xs, updates: List, training: bool = True) -> List[tf.Tensor]:
    """Runs `model` on batches `xs` layer by layer, data-initialising its weight-normalised layers.

    Each WN layer is initialised on the output of the layers before it (as
    already initialised), as Salimans & Kingma's pass does, with the moments
    of all batches together; every other layer is called on each batch
    apart (per-example noise draws as in a step that makes one call each).

    Args:
      model: a `keras.Sequential`.
      xs: its input batches (a list).
      updates: a list that receives (variable, new value) pairs to assign.
      training: the mode of the other layers (noise, dropout) in the pass.

    Returns:
      The outputs, one per batch, with every WN layer initialised.
    """
    xs = list(xs)
    for layer in model.layers:
        if isinstance(layer, WeightNormConv2D):
            xs, g, bias = layer.data_init(xs)
            updates += [(layer.g, g), (layer.bias, bias)]
        else:
            xs = [layer(x, training=training) for x in xs]
    return xs


def is_fresh(layers) -> bool:
    """Whether every WN layer among `layers` still has g = 1 and bias = 0 (never initialised nor trained)."""
    wn = [layer for layer in layers if isinstance(layer, WeightNormConv2D) and layer.built]
    return bool(wn) and all(bool(tf.reduce_all(layer.g == 1.0)) and bool(tf.reduce_all(layer.bias == 0.0))
                            for layer in wn)
