"""Weight-normalised convolution (Salimans & Kingma 2016), w = g * v / ||v||."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["WeightNormConv2D"]


@keras.saving.register_keras_serializable(package="tfgen")
class WeightNormConv2D(keras.layers.Layer):
    """Convolution with weight normalisation (Salimans & Kingma 2016).

    The kernel is w = g * v / ||v||, the norm taken per output channel over
    (height, width, input channels): g sets each filter's norm, v only its
    direction. g starts at 1 (unit-norm filters, which roughly keep the
    input's scale); the paper's data-dependent initialisation is not used.

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

    def kernel(self) -> tf.Tensor:
        """The effective kernel g * v / ||v||, [k, k, c_in, filters]."""
        norm = tf.sqrt(tf.reduce_sum(tf.square(self.v), axis=[0, 1, 2]) + 1e-12)
        return self.v * (self.g / norm)

    def call(self, x):
        y = tf.nn.conv2d(x, self.kernel(), strides=self.strides, padding=self.padding.upper())
        return y + self.bias

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
