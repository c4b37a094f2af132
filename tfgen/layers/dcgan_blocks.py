"""DCGAN generator and discriminator (Radford et al. 2016), as reusable blocks.

Every (fractionally-strided) convolution is 4x4 with stride 2, so the depth
adapts to the image size (LR-GAN §5, Table 2): the generator starts from a
4x4 map with `8 * base_filters` channels and halves the channels at every
doubling; the discriminator doubles from `base_filters` at every halving
until 4x4, then a 4x4 valid convolution gives one logit. For 32x32 with
base 64 this is G: (512)4c-(256)4c2s-(128)4c2s-(C)4c2s and
D: (64)4c2s-(128)4c2s-(256)4c2s-(1)4c, the shapes LR-GAN's appendix lists.

LR-GAN reuses both: its background generator is a `DCGANGenerator` with half
the filters, its foreground trunk is `DCGANGenerator.trunk`, and DCGAN is
LR-GAN with one timestep.

Initialisation (`weight_init`): "dcgan" is the DCGAN paper's, every weight
from N(0, 0.02) and batch-norm scales from N(1, 0.02); "reference" is what
the LR-GAN authors' PyTorch code ran with, since it leaves its DCGAN
initialiser commented out: PyTorch's defaults of the time (before 1.2),
weights from U(+-1/sqrt(fan_in)) with fan_in = input channels x kernel
area (`FanInUniform`), batch-norm scales from U(0, 1), shifts 0.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from tfgen.ops import conv_grads


def _plain(layer) -> bool:
    """A 'same', channels-last, equal-stride, undilated convolution: the form conv_grads computes."""
    return (layer.padding == "same" and layer.data_format == "channels_last"
            and layer.strides[0] == layer.strides[1] and tuple(layer.dilation_rate) == (1, 1))


def _matmul_filter_gradient(layer, small_map_shape) -> bool:
    """Whether a StridedConv2D(Transpose) takes conv_grads' filter-gradient path: a plain convolution
    with a static smaller map where the mode picks the product."""
    return (_plain(layer) and None not in small_map_shape
            and conv_grads.use_patch_filter_gradient(layer.filter_gradient, layer.compute_dtype,
                                                     small_map_shape[0] * small_map_shape[1]))


@keras.saving.register_keras_serializable(package="tfgen")
class StridedConv2D(layers.Conv2D):
    """Keras' Conv2D (stride s, 'same') whose filter gradient, or whole forward pass, may be matrix products.

    `filter_gradient` (tfgen.ops.conv_grads.FILTER_GRADIENTS): "auto" uses
    the product where it was measured faster (bfloat16 on a CPU, outputs of
    at most 8x8), "native" TensorFlow's kernel, "matmul" always the product.
    `forward` (the same three settings): "auto" computes the convolution as
    one product on gathered patches (`tfgen.ops.conv_grads.patch_conv2d`,
    gradients by autodiff) where that was measured faster, float32 outputs
    of at most 2x2 with C_in x C_out >= 512 x 512 on a CPU (AAAE's last
    encoder stage at Table III's widths); "native" Keras' op; "matmul"
    always (slow at large maps). Weights are Keras' Conv2D's.
    """

    def __init__(self, *args, filter_gradient: str = "auto", forward: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.filter_gradient = conv_grads.check_filter_gradient(filter_gradient)
        self.forward = conv_grads.check_filter_gradient(forward, "forward")

    def convolution_op(self, inputs, kernel):
        s = self.strides[0]
        out = [None if n is None else -(-n // s) for n in inputs.shape[1:3]]  # 'same': ceil(side / stride)
        if (_plain(self) and None not in out
                and conv_grads.use_patch_forward(self.forward, self.compute_dtype, out[0] * out[1],
                                                 inputs.shape[-1] * self.filters)):
            return conv_grads.patch_conv2d(inputs, kernel, s)
        if _matmul_filter_gradient(self, out):
            return conv_grads.conv2d_same(inputs, kernel, s)
        return super().convolution_op(inputs, kernel)

    def get_config(self):
        return {**super().get_config(), "filter_gradient": self.filter_gradient, "forward": self.forward}


@keras.saving.register_keras_serializable(package="tfgen")
class StridedConv2DTranspose(layers.Conv2DTranspose):
    """Keras' Conv2DTranspose (stride s, 'same') whose filter gradient, or forward pass, may be matrix products.

    `filter_gradient` as StridedConv2D's (the smaller map is the input).
    `forward` (the same three settings): "auto" computes the forward pass as
    one matrix product and an overlap-add
    (`tfgen.ops.conv_grads.conv2d_transpose_small`, TensorFlow's kernels for
    its gradients) where that was measured faster, at most
    `SMALL_OUTPUT_CHANNELS` output channels on a CPU (the image, appearance
    and mask heads); "native" Keras' op; "matmul" always the product.
    Weights are Keras' Conv2DTranspose's.
    """

    def __init__(self, *args, filter_gradient: str = "auto", forward: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.filter_gradient = conv_grads.check_filter_gradient(filter_gradient)
        self.forward = conv_grads.check_filter_gradient(forward, "forward")

    def call(self, inputs):
        s = self.strides[0]
        small = list(inputs.shape[1:3])
        if self.output_padding is not None or None in small:
            return super().call(inputs)
        square = self.kernel_size[0] == self.kernel_size[1]
        if square and _plain(self) and conv_grads.use_overlap_add_forward(self.forward, self.filters):
            outputs = conv_grads.conv2d_transpose_small(inputs, self.kernel, s)
        elif _matmul_filter_gradient(self, small):
            output_shape = [tf.shape(inputs)[0], inputs.shape[1] * s, inputs.shape[2] * s, self.filters]
            outputs = conv_grads.conv2d_transpose_same(inputs, self.kernel, output_shape, s)
        else:
            return super().call(inputs)
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs if self.activation is None else self.activation(outputs)

    def get_config(self):
        return {**super().get_config(), "filter_gradient": self.filter_gradient, "forward": self.forward}


def num_stages(image_size: int) -> int:
    """Stride-2 stages between a 4x4 map and `image_size` (a power of two >= 8)."""
    n = math.log2(image_size / 4)
    if image_size < 8 or n != int(n):
        raise ValueError(f"DCGAN blocks need a power-of-two image size >= 8, got {image_size}")
    return int(n)


WEIGHT_INITS = ("dcgan", "reference")


@keras.saving.register_keras_serializable(package="tfgen")
class FanInUniform(keras.initializers.Initializer):
    """U(-1/sqrt(n), 1/sqrt(n)) with n the fan-in: PyTorch's default (before 1.2)
    for linear, convolution and transposed-convolution weights.

    n is input features (a dense kernel [in, out]) or input channels times the
    kernel area: Keras stores a convolution kernel [k, k, in, out] and a
    transposed one [k, k, out, in], so `transposed` says which axis is the
    input. `fan_in` overrides n (a dense layer standing for a convolution:
    DCGAN's z -> 4x4 projection is a 4x4 transposed convolution of a 1x1
    input, n = latent_dim x 16).
    """

    def __init__(self, transposed: bool = False, fan_in=None, seed=None):
        self.transposed, self.fan_in, self.seed = bool(transposed), fan_in, seed

    def __call__(self, shape, dtype=None):
        if self.fan_in is not None:
            n = int(self.fan_in)
        elif len(shape) == 2:
            n = int(shape[0])
        else:
            area = int(math.prod(shape[:-2]))
            n = area * int(shape[-1] if self.transposed else shape[-2])
        bound = 1.0 / math.sqrt(n)
        return keras.random.uniform(shape, -bound, bound, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"transposed": self.transposed, "fan_in": self.fan_in, "seed": self.seed}


def _check_init(weight_init: str) -> str:
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
    return weight_init


def kernel_init(weight_init: str = "dcgan", transposed: bool = False, fan_in=None):
    """A kernel initialiser of the scheme (see the module docstring)."""
    if _check_init(weight_init) == "dcgan":
        return keras.initializers.RandomNormal(0.0, 0.02)
    return FanInUniform(transposed=transposed, fan_in=fan_in)


def batch_norm(name, synchronized, weight_init: str = "dcgan"):
    # PyTorch's momentum 0.1 is Keras' 0.9; gamma ~ N(1, 0.02) as in DCGAN, or
    # U(0, 1) as PyTorch before 1.2 (the LR-GAN authors' runs).
    # synchronized: statistics over the global batch across replicas, so that
    # N replicas train exactly like one device.
    gamma = (keras.initializers.RandomNormal(1.0, 0.02) if _check_init(weight_init) == "dcgan"
             else keras.initializers.RandomUniform(0.0, 1.0))
    return layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5, gamma_initializer=gamma, synchronized=synchronized, name=name)


def generator_trunk(image_size: int, base_filters: int, sync_batch_norm: bool = False, name: str = "trunk",
                    weight_init: str = "dcgan", latent_dim=None):
    """A vector -> the generator's last hidden map, [batch, image_size/2, image_size/2, filters].

    `latent_dim`, the input's length, gives the projection's fan-in under the
    "reference" initialisation (that of a 4x4 transposed convolution of it).

    Returns:
      (keras.Sequential, channels of its output map).
    """
    n = num_stages(image_size)
    top = base_filters * 8
    # z -> 4x4 map: a dense layer is exactly the 4x4 transposed convolution
    # of a 1x1 input that DCGAN uses, and faster.
    projection_fan_in = None if latent_dim is None else 16 * latent_dim
    trunk = [
        layers.Dense(4 * 4 * top, use_bias=False, name="project",
                     kernel_initializer=kernel_init(weight_init, fan_in=projection_fan_in)),
        layers.Reshape((4, 4, top)),
        batch_norm("project_bn", sync_batch_norm, weight_init),
        layers.ReLU(),
    ]
    filters = top
    for i in range(n - 1):
        filters //= 2
        trunk += [
            StridedConv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=kernel_init(weight_init, transposed=True), name=f"up{i}"),
            batch_norm(f"up{i}_bn", sync_batch_norm, weight_init),
            layers.ReLU(),
        ]
    return keras.Sequential(trunk, name=name), filters


def discriminator_trunk(image_size: int, base_filters: int, sync_batch_norm: bool = False, name: str = "trunk",
                        weight_init: str = "dcgan"):
    """An image -> a 4x4 feature map: 4x4 stride-2 convolutions doubling the
    channels, batch norm after all but the first, LeakyReLU 0.2.

    Returns:
      (keras.Sequential mapping [batch, image_size, image_size, C] to
      [batch, 4, 4, channels], channels).
    """
    trunk = []
    filters = base_filters
    for i in range(num_stages(image_size)):
        trunk.append(StridedConv2D(filters, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=kernel_init(weight_init), name=f"down{i}"))
        if i > 0:  # DCGAN: no batch norm on the discriminator's input layer.
            trunk.append(batch_norm(f"down{i}_bn", sync_batch_norm, weight_init))
        trunk.append(layers.LeakyReLU(0.2))
        filters *= 2
    return keras.Sequential(trunk, name=name), filters // 2


def to_image_layer(channels: int, name: str, weight_init: str = "dcgan"):
    """The last 4x4 stride-2 transposed convolution (hidden map -> full-size output).

    A StridedConv2DTranspose: with 1-4 channels its forward pass is a matrix
    product and an overlap-add on a CPU (`forward: auto`, 2-3x faster there).
    float32 under any policy: images and masks leave the network in float32
    (tfgen.models.precision).
    """
    return StridedConv2DTranspose(channels, 4, strides=2, padding="same", name=name,
                                  kernel_initializer=kernel_init(weight_init, transposed=True),
                                  dtype="float32")


@keras.saving.register_keras_serializable(package="tfgen")
class DCGANGenerator(keras.Model):
    """Maps a latent vector to an image.

    Args:
      image_size: output height and width (power of two >= 8).
      channels: output channels (1 or 3).
      latent_dim: length of z.
      base_filters: channels of the last hidden map; the 4x4 map has 8x this.
      output_activation: "tanh" (images in [-1, 1]) or "sigmoid" (masks).
      sync_batch_norm: batch statistics over the global batch under a strategy.
      weight_init: "dcgan" or "reference" (see the module docstring).

    Call:
      z: float32 [batch, latent_dim] -> images float32
      [batch, image_size, image_size, channels], in [-1, 1] with tanh.
    """

    def __init__(self, image_size=32, channels=3, latent_dim=100, base_filters=64,
                 output_activation="tanh", sync_batch_norm=False, weight_init="dcgan", **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.channels = channels
        self.latent_dim = latent_dim
        self.base_filters = base_filters
        self.output_activation = output_activation
        self.sync_batch_norm = sync_batch_norm
        self.weight_init = weight_init
        self.trunk, self.trunk_channels = generator_trunk(image_size, base_filters, sync_batch_norm,
                                                          weight_init=weight_init, latent_dim=latent_dim)
        self.head = keras.Sequential([
            to_image_layer(channels, "to_image", weight_init),
            layers.Activation(output_activation, dtype="float32"),
        ], name="head")

    def build(self, input_shape):
        self.trunk.build(input_shape)
        self.head.build(self.trunk.compute_output_shape(input_shape))
        self.built = True

    def features(self, z, training=False):
        """The last hidden map, [batch, image_size/2, image_size/2, trunk_channels]."""
        return self.trunk(z, training=training)

    def call(self, z, training=False):
        return self.head(self.trunk(z, training=training), training=training)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "latent_dim": self.latent_dim, "base_filters": self.base_filters,
                "output_activation": self.output_activation, "sync_batch_norm": self.sync_batch_norm,
                "weight_init": self.weight_init}


@keras.saving.register_keras_serializable(package="tfgen")
class DCGANDiscriminator(keras.Model):
    """Maps an image to one real/fake logit.

    Args:
      image_size: input height and width (power of two >= 8).
      channels: input channels.
      base_filters: channels after the first convolution (doubling after).
      sync_batch_norm: batch statistics over the global batch under a strategy.
      weight_init: "dcgan" or "reference" (see the module docstring).

    Call:
      images float32 [batch, image_size, image_size, channels] in [-1, 1]
      -> logits float32 [batch] (any real value).
    """

    def __init__(self, image_size=32, channels=3, base_filters=64, sync_batch_norm=False, weight_init="dcgan",
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.channels = channels
        self.base_filters = base_filters
        self.sync_batch_norm = sync_batch_norm
        self.weight_init = weight_init
        self.trunk, self.feature_channels = discriminator_trunk(image_size, base_filters, sync_batch_norm,
                                                                weight_init=weight_init)
        self.head = keras.Sequential([
            # float32 under any policy: the losses' log-sigmoids read float32 logits (tfgen.models.precision).
            layers.Conv2D(1, 4, padding="valid", kernel_initializer=kernel_init(weight_init), name="to_logit",
                          dtype="float32"),
            layers.Flatten(dtype="float32"),
        ], name="head")

    def build(self, input_shape):
        self.trunk.build(input_shape)
        self.head.build(self.trunk.compute_output_shape(input_shape))
        self.built = True

    def features(self, images, training=False):
        """The 4x4 feature map before the logit, [batch, 4, 4, feature_channels]."""
        return self.trunk(images, training=training)

    def call(self, images, training=False):
        return self.head(self.trunk(images, training=training), training=training)[:, 0]

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "base_filters": self.base_filters, "sync_batch_norm": self.sync_batch_norm,
                "weight_init": self.weight_init}
