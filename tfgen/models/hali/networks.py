"""The networks of HALI (Belghazi et al., 2018) and of ALI, its one-level case.

Built from the generic layers of `tfgen.layers`: `GaussianConditional` (the
Markov transitions, z = mean + exp(log_sigma) * eps as in the ALI reference
code), `WeightNormConv2D` (the discriminator's convolutions, §4),
`InputNoise` and `ExampleDropout` (§4's regularisers: Gaussian noise of std
0.2 on the inputs; dropout); and one of HALI's own:

* `ResidualBlock`: two 3x3 convolutions with batch norm and a skip
  connection (He et al. 2015), used by the encoder and decoder (§4).

Networks (Appendix A.1, adapted to any power-of-two image size through
`z1_stride` = image size / z1 size): `HALIEncoder` x -> z1 -> z2,
`HALIDecoder` z2 -> z1 -> x, `HALIDiscriminator` on (x, z1, z2). With
`levels=1` the stochastic z1 layer is removed and the same trunks compose
deterministically: encoder x -> z, decoder z -> x, discriminator on (x, z),
which is ALI (Dumoulin et al. 2017) with HALI's networks.

Randomness: every stochastic layer owns its seed generators. Draws in
training mode are *per example* and replica-aware: each replica draws the
noise of the whole global batch and keeps its slice, so example k gets the
same noise however a batch is split over replicas (one device and
MirroredStrategy train identically; see `GenerativeModel.per_example_normal`).
The training streams are model state (`HALI.persistent_state` checkpoints
them). Sampling outside training (`GaussianConditional` with `training=False`,
e.g. drawing images for TensorBoard or serving) uses a second stream, so
drawing pictures never changes the noise training sees.
"""

from __future__ import annotations

import math
from typing import List

import keras
import tensorflow as tf
from keras import layers

from tfgen.layers.stochastic import (  # noqa: F401
    EVAL_SEED_OFFSET,
    ExampleDropout,
    GaussianConditional,
    InputNoise,
    StochasticLayer,
    reparameterize,
    stochastic_layers,
)
from tfgen.layers.weight_norm import WeightNormConv2D, initialize_sequential

LEAK = 0.1  # slope of every LeakyReLU: the paper gives none; ALI's reference code uses 0.1


def _init():
    # The ALI reference code initialises every weight from N(0, 0.01).
    return keras.initializers.RandomNormal(0.0, 0.01)


def _bn(name: str, synchronized: bool):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name)


def _log2_exact(value: int, what: str) -> int:
    n = math.log2(value) if value > 0 else -1
    if n < 0 or n != int(n):
        raise ValueError(f"{what} must be a power of two, got {value}")
    return int(n)


# ---------------------------------------------------------------------------
# Convolutions
# ---------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="tfgen")
class ResidualBlock(keras.layers.Layer):
    """y = LeakyReLU(x + BN(conv(LeakyReLU(BN(conv(x)))))), channels kept.

    Call: x float32 [batch, h, w, c] -> [batch, h, w, c].
    """

    def __init__(self, kernel_size: int = 3, sync_batch_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.sync_batch_norm = bool(sync_batch_norm)

    def build(self, input_shape):
        c = int(input_shape[-1])
        k = self.kernel_size
        self.conv1 = layers.Conv2D(c, k, padding="same", use_bias=False, kernel_initializer=_init(), name="conv1")
        self.bn1 = _bn("bn1", self.sync_batch_norm)
        self.conv2 = layers.Conv2D(c, k, padding="same", use_bias=False, kernel_initializer=_init(), name="conv2")
        self.bn2 = _bn("bn2", self.sync_batch_norm)
        for layer in (self.conv1, self.bn1, self.conv2, self.bn2):
            layer.build(input_shape)
        self.built = True

    def call(self, x, training=False):
        h = tf.nn.leaky_relu(self.bn1(self.conv1(x), training=training), LEAK)
        h = self.bn2(self.conv2(h), training=training)
        return tf.nn.leaky_relu(x + h, LEAK)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "sync_batch_norm": self.sync_batch_norm}


def _conv_bn(filters, kernel, strides, name, sync, padding="same"):
    """conv (no bias) -> batch norm -> LeakyReLU."""
    return [layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                          kernel_initializer=_init(), name=name),
            _bn(f"{name}_bn", sync), layers.LeakyReLU(LEAK)]


def _conv_plain(filters, kernel, name):
    """conv (bias, no batch norm) -> LeakyReLU, as the table's layers without BN."""
    return [layers.Conv2D(filters, kernel, padding="same", kernel_initializer=_init(), name=name),
            layers.LeakyReLU(LEAK)]


class Geometry:
    """Sizes and widths shared by the three networks.

    Args:
      image_size: images are image_size x image_size (power of two).
      z1_stride: image_size / z1's side (power of two); 2 gives the paper's
        16x16 z1 at 32x32, 4 its 16x16 z1 at 64x64.
      filters: the encoder's and decoder's channels at full resolution;
        they double at every halving (at most 8x).
    """

    def __init__(self, image_size: int, z1_stride: int, filters: int):
        self.image_size = int(image_size)
        self.z1_stride = int(z1_stride)
        self.filters = int(filters)
        self.image_halvings = _log2_exact(self.z1_stride, "z1_stride")
        self.z1_size = self.image_size // self.z1_stride
        if self.z1_size * self.z1_stride != self.image_size or self.z1_size < 4:
            raise ValueError(f"image size {image_size} with z1_stride {z1_stride} gives a z1 side of "
                             f"{image_size / z1_stride:g}; it must be a power of two >= 4")
        # z1 (z1_size square) down to a 4x4 map, then a 4x4 valid convolution to 1x1.
        self.z1_halvings = _log2_exact(self.z1_size, "z1's side") - 2
        self.top_filters = 8 * self.filters

    def width(self, halvings: int) -> int:
        """Channels after `halvings` halvings of the image: filters * 2^halvings, capped at 8x."""
        return min(self.filters * 2 ** halvings, self.top_filters)


# ---------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="tfgen")
class HALIEncoder(keras.Model):
    """Markovian inference network x -> z1 -> z2 (levels=2) or x -> z (levels=1).

    Appendix A.1 (adapted): x -> [input noise] conv -> per halving
    (stride-2 conv BN, residual block) -> residual, conv BN, residual, conv
    -> Gaussian layer z1 (a map); z1 -> conv BN -> per halving to 4x4
    (stride-2 conv BN) -> residual -> 4x4 valid conv BN -> Gaussian layer z2
    (a vector). With levels=1 the first Gaussian layer is removed.

    Args:
      image_size, channels: image geometry (square images).
      levels: 2 (HALI) or 1 (ALI).
      latent_dim: length of z2 (the top level).
      z1_channels: channels of z1.
      z1_stride: image side / z1 side.
      filters: channels at full resolution (doubling per halving, at most 8x).
      input_noise: std of the Gaussian noise added to x in training.
      sync_batch_norm: batch statistics over the global batch under a strategy.
      seed: seed of the layer's noise streams.

    Call:
      images float32 [batch, S, S, C] in [-1, 1] -> list over levels of
      (z, mean, log_sigma): z1 [batch, S/z1_stride, S/z1_stride, z1_channels]
      then z2 [batch, latent_dim]; with `sample=False` every z is its mean and
      each level is computed from the mean of the level below.
    """

    def __init__(self, image_size=32, channels=3, levels=2, latent_dim=256, z1_channels=64, z1_stride=2,
                 filters=64, input_noise=0.2, sync_batch_norm=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels, self.levels = int(image_size), int(channels), int(levels)
        self.latent_dim, self.z1_channels, self.z1_stride = int(latent_dim), int(z1_channels), int(z1_stride)
        self.filters, self.input_noise = int(filters), float(input_noise)
        self.sync_batch_norm, self.seed = bool(sync_batch_norm), int(seed)
        geo = Geometry(self.image_size, self.z1_stride, self.filters)
        sync = self.sync_batch_norm

        x_trunk = [InputNoise(self.input_noise, seed=self.seed, name="input_noise"),
                   *_conv_plain(geo.width(0), 3, "conv_in")]
        for i in range(geo.image_halvings):
            x_trunk += [*_conv_bn(geo.width(i + 1), 4, 2, f"down{i}", sync),
                        ResidualBlock(sync_batch_norm=sync, name=f"down{i}_res")]
        w1 = geo.width(geo.image_halvings)
        x_trunk += [ResidualBlock(sync_batch_norm=sync, name="res_a"), *_conv_bn(w1, 3, 1, "mid", sync),
                    ResidualBlock(sync_batch_norm=sync, name="res_b"), *_conv_plain(w1, 3, "conv_out")]
        self.x_trunk = keras.Sequential(x_trunk, name="x_trunk")

        z1_trunk = [*_conv_bn(w1, 3, 1, "conv_in", sync)]
        for i in range(geo.z1_halvings):
            z1_trunk += _conv_bn(geo.width(geo.image_halvings + i + 1), 4, 2, f"down{i}", sync)
        z1_trunk += [ResidualBlock(sync_batch_norm=sync, name="res"),
                     *_conv_bn(geo.top_filters, 4, 1, "to_vector", sync, padding="valid"), layers.Flatten()]
        self.z1_trunk = keras.Sequential(z1_trunk, name="z1_trunk")

        if self.levels == 2:
            self.to_z1 = GaussianConditional(self.z1_channels, seed=self.seed + 1, name="to_z1")
        self.to_z2 = GaussianConditional(self.latent_dim, seed=self.seed + 2, name="to_z2")

    def encode_z1(self, images, training=False, sample=True):
        """images -> (z1, mean, log_sigma), each [batch, z1_side, z1_side, z1_channels] (levels=2)."""
        return self.to_z1(self.x_trunk(images, training=training), training=training, sample=sample)

    def encode_top(self, bottom, training=False, sample=True):
        """z1 (levels=2) or images (levels=1) -> (z2, mean, log_sigma), each [batch, latent_dim]."""
        h = bottom if self.levels == 2 else self.x_trunk(bottom, training=training)
        return self.to_z2(self.z1_trunk(h, training=training), training=training, sample=sample)

    def call(self, images, training=False, sample=True):
        if self.levels == 1:
            return [self.encode_top(images, training=training, sample=sample)]
        z1 = self.encode_z1(images, training=training, sample=sample)
        return [z1, self.encode_top(z1[0], training=training, sample=sample)]

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "levels": self.levels, "latent_dim": self.latent_dim, "z1_channels": self.z1_channels,
                "z1_stride": self.z1_stride, "filters": self.filters, "input_noise": self.input_noise,
                "sync_batch_norm": self.sync_batch_norm, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfgen")
class HALIDecoder(keras.Model):
    """Markovian generator z2 -> z1 -> x (levels=2) or z -> x (levels=1).

    Appendix A.1 (adapted): z2 -> dense to a 4x4 map BN (the 4x4 transposed
    convolution of a 1x1 input) -> per doubling to z1's side (bilinear
    upsampling, conv BN, residual block) -> conv -> Gaussian layer z1; z1 ->
    conv BN, residual -> per doubling (bilinear upsampling, conv BN,
    residual) -> conv BN -> conv, tanh. With levels=1 the Gaussian layer is
    removed and the two trunks compose.

    Args: as `HALIEncoder` (no input noise).

    Call:
      z2 float32 [batch, latent_dim] -> (images [batch, S, S, C] in [-1, 1],
      latents): latents is [z1, z2] (levels=2; z1 sampled from p(z1 | z2), or
      its mean with `sample=False`) or [z2] (levels=1), as the discriminator
      takes them.
    """

    def __init__(self, image_size=32, channels=3, levels=2, latent_dim=256, z1_channels=64, z1_stride=2,
                 filters=64, sync_batch_norm=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels, self.levels = int(image_size), int(channels), int(levels)
        self.latent_dim, self.z1_channels, self.z1_stride = int(latent_dim), int(z1_channels), int(z1_stride)
        self.filters, self.sync_batch_norm, self.seed = int(filters), bool(sync_batch_norm), int(seed)
        geo = Geometry(self.image_size, self.z1_stride, self.filters)
        sync = self.sync_batch_norm
        w1 = geo.width(geo.image_halvings)

        top = geo.width(geo.image_halvings + geo.z1_halvings)
        z2_trunk = [layers.Dense(4 * 4 * top, use_bias=False, kernel_initializer=_init(), name="project"),
                    layers.Reshape((4, 4, top)), _bn("project_bn", sync), layers.LeakyReLU(LEAK)]
        for i in range(geo.z1_halvings):
            z2_trunk += [layers.UpSampling2D(interpolation="bilinear", name=f"up{i}"),
                         *_conv_bn(geo.width(geo.image_halvings + geo.z1_halvings - i - 1), 3, 1, f"up{i}_conv", sync),
                         ResidualBlock(sync_batch_norm=sync, name=f"up{i}_res")]
        z2_trunk += _conv_plain(w1, 3, "conv_out")
        self.z2_trunk = keras.Sequential(z2_trunk, name="z2_trunk")

        z1_trunk = [*_conv_bn(w1, 3, 1, "conv_in", sync), ResidualBlock(sync_batch_norm=sync, name="res")]
        for i in range(geo.image_halvings):
            z1_trunk += [layers.UpSampling2D(interpolation="bilinear", name=f"up{i}"),
                         *_conv_bn(geo.width(geo.image_halvings - i - 1), 3, 1, f"up{i}_conv", sync),
                         ResidualBlock(sync_batch_norm=sync, name=f"up{i}_res")]
        z1_trunk += [*_conv_bn(geo.width(0), 3, 1, "conv_out", sync),
                     layers.Conv2D(self.channels, 3, padding="same", kernel_initializer=_init(), name="to_image"),
                     layers.Activation("tanh")]
        self.z1_trunk = keras.Sequential(z1_trunk, name="z1_trunk")

        if self.levels == 2:
            self.to_z1 = GaussianConditional(self.z1_channels, seed=self.seed + 1, name="to_z1")

    def decode_z1(self, z2, training=False, sample=True, noise=None):
        """z2 [batch, latent_dim] -> (z1, mean, log_sigma) of p(z1 | z2) (levels=2)."""
        return self.to_z1(self.z2_trunk(z2, training=training), training=training, sample=sample, noise=noise)

    def decode_image(self, bottom, training=False):
        """z1 (levels=2) or z2 (levels=1) -> images [batch, S, S, C] in [-1, 1] (deterministic)."""
        h = bottom if self.levels == 2 else self.z2_trunk(bottom, training=training)
        return self.z1_trunk(h, training=training)

    def call(self, z2, training=False, sample=True):
        if self.levels == 1:
            return self.decode_image(z2, training=training), [z2]
        z1, _, _ = self.decode_z1(z2, training=training, sample=sample)
        return self.decode_image(z1, training=training), [z1, z2]

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "levels": self.levels, "latent_dim": self.latent_dim, "z1_channels": self.z1_channels,
                "z1_stride": self.z1_stride, "filters": self.filters, "sync_batch_norm": self.sync_batch_norm,
                "seed": self.seed}


# Where the discriminator drops out (HALIConfig.dropout_layers).
DROPOUT_LAYERS = ("every_third", "every", "before_latents", "none")
# How the discriminator's convolutions are normalised (HALIConfig.d_normalization).
NORMALIZATIONS = ("weight_norm", "batch_norm")


@keras.saving.register_keras_serializable(package="tfgen")
class HALIDiscriminator(keras.Model):
    """D(x, z1, z2) (levels=2) or D(x, z) (levels=1): one logit per triple.

    Appendix A.1 (adapted): an x branch of weight-normalised convolutions
    (stride 1 and stride 2) down to z1's side; the z1 join concatenates its
    features with z1 along channels and continues with weight-normalised
    convolutions down to 4x4 and a 4x4 valid convolution to a vector; the
    joint head concatenates that vector with z2 and applies two hidden
    layers and a linear output (the table's 1x1 convolutions on 1x1 maps,
    i.e. dense layers, without weight norm). Every layer's input goes
    through Gaussian noise, in training only. No batch norm (unless
    `normalization="batch_norm"`, ALI's reference). With levels=1
    the join takes the x features alone. Dropout (`dropout_layers`):
    `every_third` (default; HALI §4 "dropout every 3 layers", as the
    improved-GAN discriminator its appendix copies: `input_dropout` on the
    layers fed an input, x or the z1 concatenation, `dropout` before every
    third layer counted from x to the logit); `every` (before every layer,
    as tfgen shipped before: D learned much more slowly); `before_latents`
    (every_third's rates, but only on layers whose input holds no latent:
    the x branch, and with levels 1 the join; dropping latent entries or
    the features they feed hides the x-z pairing from D); `none`.

    Args:
      image_size, channels, levels, latent_dim, z1_channels, z1_stride: as
        the encoder's.
      filters: channels of the x branch's first layer (doubling per halving,
        at most 8x); the head has 16x.
      dropout, input_dropout: dropout rates.
      input_noise: std of the Gaussian noise on every input.
      seed: seed of the noise streams.
      latent_branch: "none" (the top latent joins the head as it is, HALI's
        table) or "ali" (ALI's own D(x) / D(z) / D(x, z) structure: the top
        latent first goes through a D(z) branch of two dense layers of
        8 x filters units with LeakyReLU, `input_dropout` on its input and
        `dropout` between, as ALI's reference discriminator has; its
        layers draw their noise after every other layer's).
      normalization: "weight_norm" (the table's weight-normalised
        convolutions) or "batch_norm" (ALI's reference discriminator:
        plain convolutions, batch norm after every one but the first; the
        caller then judges real and generated pairs in one call, so the
        statistics mix both, as ALI's code does).
      sync_batch_norm: synchronise batch statistics across replicas.

    Call:
      [images [batch, S, S, C], (z1 [batch, s1, s1, z1_channels],)
      z2 [batch, latent_dim]] -> logits float32 [batch] (any real value).
    """

    def __init__(self, image_size=32, channels=3, levels=2, latent_dim=256, z1_channels=64, z1_stride=2,
                 filters=64, dropout=0.5, input_dropout=0.2, input_noise=0.2, seed=0, dropout_layers="every_third",
                 latent_branch="none", normalization="weight_norm", sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.channels, self.levels = int(image_size), int(channels), int(levels)
        self.latent_dim, self.z1_channels, self.z1_stride = int(latent_dim), int(z1_channels), int(z1_stride)
        self.filters, self.dropout, self.input_dropout = int(filters), float(dropout), float(input_dropout)
        self.input_noise, self.seed = float(input_noise), int(seed)
        if dropout_layers not in DROPOUT_LAYERS:
            raise ValueError(f"dropout_layers must be one of {DROPOUT_LAYERS}, got {dropout_layers!r}")
        self.dropout_layers = dropout_layers
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.normalization, self.sync_batch_norm = normalization, bool(sync_batch_norm)
        geo = Geometry(self.image_size, self.z1_stride, self.filters)
        seeds = iter(range(self.seed, self.seed + 1000))
        position = iter(range(1000))  # the layers' order from x to the logit

        def rate_at(rate, fed_an_input, sees_latents):
            # Every layer keeps its dropout layer (rate 0 where none): the noise
            # streams keep their order whatever the placement.
            i = next(position)
            if self.dropout_layers == "none" or (self.dropout_layers == "before_latents" and sees_latents):
                return 0.0
            if fed_an_input:
                return self.input_dropout
            return rate if self.dropout_layers == "every" or i % 3 == 0 else 0.0

        def layer(filters, kernel, strides, rate, name, padding="same", fed_an_input=False, sees_latents=False):
            out = [ExampleDropout(rate_at(rate, fed_an_input, sees_latents), seed=next(seeds),
                                  name=f"{name}_dropout")]
            if self.normalization == "weight_norm":
                out.append(WeightNormConv2D(filters, kernel, strides, padding, name=name))
            elif name == "x_conv0":
                # ALI's reference: the first convolution has a bias and no batch norm.
                out.append(layers.Conv2D(filters, kernel, strides, padding, name=name))
            else:
                out += [layers.Conv2D(filters, kernel, strides, padding, use_bias=False, name=name),
                        _bn(f"{name}_bn", self.sync_batch_norm)]
            return out + [layers.LeakyReLU(LEAK)]

        def dense(units, rate, name, activation=True):
            # Glorot (Keras' default), not N(0, 0.01): three such layers start the
            # logits near 1e-3 and, in a smoke run, D had not moved in 300 steps.
            out = [ExampleDropout(rate_at(rate, False, True), seed=next(seeds), name=f"{name}_dropout"),
                   layers.Dense(units, name=name)]
            return out + [layers.LeakyReLU(LEAK)] if activation else out

        self.x_noise = InputNoise(self.input_noise, seed=next(seeds), name="x_noise")
        x_branch = layer(geo.width(0), 3, 1, self.input_dropout, "x_conv0", fed_an_input=True)
        for i in range(geo.image_halvings):
            x_branch += layer(geo.width(i + 1), 4, 2, self.dropout, f"x_down{i}")
        w1 = geo.width(geo.image_halvings)
        x_branch += layer(w1, 3, 1, self.dropout, "x_conv1") + layer(w1, 3, 1, self.dropout, "x_conv2")
        self.x_branch = keras.Sequential(x_branch, name="x_branch")

        if self.levels == 2:
            self.z1_noise = InputNoise(self.input_noise, seed=next(seeds), name="z1_noise")
        z1 = self.levels == 2  # the join is fed the z1 concatenation (with levels 1, x's features alone)
        join = layer(geo.width(geo.image_halvings + 1), 3, 1, self.input_dropout, "join_conv0",
                     fed_an_input=z1, sees_latents=z1)
        for i in range(geo.z1_halvings):
            join += layer(geo.width(geo.image_halvings + i + 2), 4, 2, self.dropout, f"join_down{i}",
                          sees_latents=z1)
        join += layer(geo.top_filters, 3, 1, self.dropout, "join_conv1", sees_latents=z1)
        join += layer(geo.top_filters, 4, 1, self.dropout, "join_to_vector", padding="valid",
                      sees_latents=z1) + [layers.Flatten()]
        self.join = keras.Sequential(join, name="z1_join")

        self.z2_noise = InputNoise(self.input_noise, seed=next(seeds), name="z2_noise")
        units = 16 * self.filters
        self.hidden = keras.Sequential(dense(units, self.dropout, "joint0") + dense(units, self.dropout, "joint1"),
                                       name="joint_hidden")
        self.to_logit = keras.Sequential(dense(1, self.dropout, "logit", activation=False), name="to_logit")
        if latent_branch not in ("none", "ali"):
            raise ValueError(f"latent_branch must be 'none' or 'ali', got {latent_branch!r}")
        self.latent_branch = latent_branch
        self.z_branch = None
        if latent_branch == "ali":
            # Built last: the other layers keep their noise seeds and dropout positions.
            off = self.dropout_layers in ("none", "before_latents")
            z_units = 8 * self.filters
            self.z_branch = keras.Sequential([
                ExampleDropout(0.0 if off else self.input_dropout, seed=next(seeds), name="z_dense0_dropout"),
                layers.Dense(z_units, name="z_dense0"), layers.LeakyReLU(LEAK),
                ExampleDropout(0.0 if off else self.dropout, seed=next(seeds), name="z_dense1_dropout"),
                layers.Dense(z_units, name="z_dense1"), layers.LeakyReLU(LEAK)], name="z_branch")

    def features(self, inputs, training=False):
        """The penultimate layer's activations (the input of the logit layer), [batch, 16 * filters].

        The embedding of Eq. 8's perceptual distance.
        """
        images, *latents = inputs
        h = self.x_branch(self.x_noise(images, training=training), training=training)
        if self.levels == 2:
            h = tf.concat([h, self.z1_noise(latents[0], training=training)], axis=-1)
        h = self.join(h, training=training)
        z = self.z2_noise(latents[-1], training=training)
        if self.z_branch is not None:
            z = self.z_branch(z, training=training)
        h = tf.concat([h, z], axis=-1)
        return self.hidden(h, training=training)

    def call(self, inputs, training=False):
        return self.to_logit(self.features(inputs, training=training), training=training)[:, 0]

    def weight_norm_layers(self) -> List[WeightNormConv2D]:
        """The weight-normalised convolutions, in the order `data_init` initialises them."""
        return [layer for part in (self.x_branch, self.join) for layer in part.layers
                if isinstance(layer, WeightNormConv2D)]

    def data_init(self, batches, training=True) -> List[tf.Tensor]:
        """Salimans & Kingma's data-dependent initialisation pass, not assigned.

        Every weight-normalised convolution is initialised on the output of
        the (already initialised) layers before it, with the moments of all
        `batches` together; noise and dropout in `training` mode (the
        references initialise in training mode), drawn for each batch apart
        as a training step's separate calls draw them (so N replicas get
        what one device gets).

        Args:
          batches: a list of `call` inputs (e.g. the (x, E(x)) and the
            (G(z), z) pairs).

        Returns:
          [g, bias, g, bias, ...] in `weight_norm_layers()` order.
        """
        updates = []
        hs = initialize_sequential(self.x_branch, [self.x_noise(b[0], training=training) for b in batches],
                                   updates, training)
        if self.levels == 2:
            hs = [tf.concat([h, self.z1_noise(b[1], training=training)], axis=-1) for h, b in zip(hs, batches)]
        initialize_sequential(self.join, hs, updates, training)
        return [value for _, value in updates]

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "channels": self.channels,
                "levels": self.levels, "latent_dim": self.latent_dim, "z1_channels": self.z1_channels,
                "z1_stride": self.z1_stride, "filters": self.filters, "dropout": self.dropout,
                "input_dropout": self.input_dropout, "input_noise": self.input_noise, "seed": self.seed,
                "dropout_layers": self.dropout_layers, "latent_branch": self.latent_branch,
                "normalization": self.normalization, "sync_batch_norm": self.sync_batch_norm}


__all__ = ["DROPOUT_LAYERS", "EVAL_SEED_OFFSET", "NORMALIZATIONS", "ExampleDropout", "GaussianConditional", "Geometry", "HALIDecoder",
           "HALIDiscriminator", "HALIEncoder", "InputNoise", "LEAK", "ResidualBlock", "StochasticLayer",
           "WeightNormConv2D", "reparameterize", "stochastic_layers"]
