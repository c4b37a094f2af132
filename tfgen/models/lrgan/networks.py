"""LR-GAN's networks (§4, Table 2): the layered recursive generator, its pose head, the conditional image encoder.

* `PoseHead`: T_f, the linear layer from the LSTM state to the six affine
  parameters, bounded (`pose_bound`: the authors' clamp with a straight-through
  gradient, their clamp, or a smooth squash).
* `LayeredRecursiveGenerator`: LSTM noise -> background G_b, then per step
  the foreground trunk G_f^c with appearance (G_f^i) and mask (G_f^m) heads,
  warped by the spatial transformer and pasted (Eq. 4).
* `ImageEncoder`: conditional LR-GAN's encoder of images (or residuals).

The train steps are in model.py (LRGAN) and conditional.py (ConditionalLRGAN).
"""

from __future__ import annotations

from typing import Any, Dict

import keras
import tensorflow as tf
from keras import layers

from tfgen.layers import DCGANGenerator, discriminator_trunk, generator_trunk, to_image_layer
from tfgen.layers.dcgan_blocks import FanInUniform, batch_norm
from tfgen.models.lrgan.config import LRGANConfig
from tfgen.ops import spatial_transform


def _clip(u, low, high):
    """The authors' clamp: zero gradient wherever `u` is outside [low, high]."""
    return tf.clip_by_value(u, low, high)


def _straight_through_clip(u, low, high):
    """The clamp's value with the identity's gradient.

    A pose parameter pushed to its bound stays there (the value is the
    clamp's), but a later gradient pointing back into the range moves it at
    once: the clamp's zero gradient froze such a parameter for good. The
    pre-activation may wander past the bound meanwhile; it returns at the
    rate it left.
    """
    return u + tf.stop_gradient(tf.clip_by_value(u, low, high) - u)


class PoseHead(keras.layers.Layer):
    """T_f: a linear layer from y_t to the six affine parameters, bounded.

    Output theta [batch, 2, 3] = [[s_x, r_xy, t_x], [r_yx, s_y, t_y]] mapping
    normalized output coordinates to source coordinates.
    """

    def __init__(self, min_scale: float, max_shear: float, max_translation: float, bound: str, **kwargs):
        # float32 under any policy: a bf16 scale near 2 moves in steps of 0.008 (tfgen.models.precision).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.min_scale, self.max_shear, self.max_translation, self.bound = (
            min_scale, max_shear, max_translation, bound)
        # Start at the largest centred object: scale s, no shear, no shift.
        start = -4.0 if bound == "smooth" else min_scale  # smooth: s + s*sigmoid(-4) = 1.018 s
        self.dense = layers.Dense(6, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant([start, 0, 0, 0, start, 0]),
                                  name="affine", dtype="float32")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, y):
        u = self.dense(y)
        scale_u = tf.gather(u, [0, 4], axis=1)
        shear_u = tf.gather(u, [1, 3], axis=1)
        shift_u = tf.gather(u, [2, 5], axis=1)
        s = self.min_scale
        if self.bound in ("clamp", "straight_through"):
            clip = _clip if self.bound == "clamp" else _straight_through_clip
            scale = clip(scale_u, s, 2 * s)
            shear = clip(shear_u, -self.max_shear, self.max_shear)
            shift = clip(shift_u, -self.max_translation, self.max_translation)
        else:
            scale = s + s * tf.sigmoid(scale_u)
            shear = self.max_shear * tf.tanh(shear_u)
            shift = self.max_translation * tf.tanh(shift_u)
        row0 = tf.stack([scale[:, 0], shear[:, 0], shift[:, 0]], axis=1)
        row1 = tf.stack([shear[:, 1], scale[:, 1], shift[:, 1]], axis=1)
        return tf.stack([row0, row1], axis=1)


def _torch_linear_init():
    # PyTorch's default for nn.Linear (the authors' code leaves its linear layers there): U(+-1/sqrt(fan_in)).
    return keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_in", distribution="uniform")


def _noise_lstm(hidden_dim: int, weight_init: str) -> layers.LSTMCell:
    """The LSTM over the timesteps' noise. "dcgan": Keras' defaults (Glorot input
    kernel, orthogonal recurrent kernel, forget-gate bias 1); "reference":
    PyTorch's nn.LSTMCell default, every weight and bias U(+-1/sqrt(hidden))
    (PyTorch sums two such biases; Keras has one)."""
    if weight_init == "dcgan":
        return layers.LSTMCell(hidden_dim, name="noise_lstm")
    uniform = FanInUniform(fan_in=hidden_dim)
    return layers.LSTMCell(hidden_dim, kernel_initializer=uniform, recurrent_initializer=uniform,
                           bias_initializer=FanInUniform(fan_in=hidden_dim), unit_forget_bias=False,
                           name="noise_lstm")


def _layer_embedding(image_size: int, hidden_dim: int, sync_batch_norm: bool, name: str,
                     weight_init: str = "dcgan") -> keras.Sequential:
    """P^c then E^c: a trunk's [B, S/2, S/2, C] map -> [B, hidden_dim] in (-1, 1).

    The authors' code: average pooling 4x4 / stride 2 / zero padding 1 (the
    zeros counted, as PyTorch's AvgPool2d does), batch norm and LeakyReLU 0.2,
    repeated until the map is 2x2; then FC + batch norm + tanh. Their one
    encoder serves the background and the foregrounds alike (their channel
    floor of 64 gives both trunks 64 channels at 64x64); here the background's
    trunk has half the foreground's channels, so each has its own.
    """
    stack = []
    size = image_size // 2
    while size > 2:
        stack += [layers.ZeroPadding2D(1), layers.AveragePooling2D(4, strides=2, padding="valid"),
                  batch_norm(f"pool{size}_bn", sync_batch_norm, weight_init), layers.LeakyReLU(0.2)]
        size //= 2
    stack += [layers.Flatten(), layers.Dense(hidden_dim, kernel_initializer=_torch_linear_init(), name="embed"),
              batch_norm("embed_bn", sync_batch_norm, weight_init), layers.Activation("tanh")]
    return keras.Sequential(stack, name=name)


class LayeredRecursiveGenerator(keras.Model):
    """z [batch, T * latent_dim] -> layers of the composed image.

    `call` returns the final composite [batch, H, W, C] in [-1, 1];
    `layers_of(z)` returns every layer (see there).
    """

    def __init__(self, image_size: int, channels: int, cfg: LRGANConfig, sync_batch_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.image_size, self.channels = image_size, channels
        self.timesteps, self.noise_dim = cfg.timesteps, cfg.latent_dim
        sync, init = sync_batch_norm, cfg.weight_init
        if self.timesteps == 1:  # exactly DCGAN: no LSTM, a full-width generator on z
            self.background = DCGANGenerator(image_size, channels, cfg.latent_dim, cfg.g_filters,
                                             sync_batch_norm=sync, weight_init=init, name="background")
            return
        self.lstm = _noise_lstm(cfg.hidden_dim, init)
        bg_input = cfg.hidden_dim if cfg.background_input == "lstm" else cfg.latent_dim
        self.background = DCGANGenerator(image_size, channels, bg_input, max(1, cfg.g_filters // 2),
                                         sync_batch_norm=sync, weight_init=init, name="background")
        self.foreground_trunk, trunk_channels = generator_trunk(image_size, cfg.g_filters, sync,
                                                                name="foreground_trunk", weight_init=init,
                                                                latent_dim=cfg.hidden_dim)
        self.trunk_channels = trunk_channels
        self.appearance = keras.Sequential([to_image_layer(channels, "to_appearance", init),
                                            layers.Activation("tanh", dtype="float32")],
                                           name="appearance")
        if cfg.use_mask:  # the no-mask ablation has no mask head at all (nothing to train)
            self.mask = keras.Sequential([to_image_layer(1, "to_mask", init),
                                                      layers.Activation("sigmoid", dtype="float32")],
                                         name="mask")
        if cfg.use_transform:
            self.pose = PoseHead(cfg.min_object_scale, cfg.max_shear, cfg.max_translation, cfg.pose_bound,
                                 name="pose")
        if self.timesteps > 2:
            # P^c, E^c of the previous layer's trunk features: the background's for the first
            # foreground, the previous foreground's after it (as the authors' code).
            self.background_embedding = _layer_embedding(image_size, cfg.hidden_dim, sync, "background_embedding",
                                                         init)
            self.object_embedding = _layer_embedding(image_size, cfg.hidden_dim, sync, "object_embedding", init)
            # E^l: [h_t, embedding] -> y_t, FC + BN + tanh (tanh keeps y_t in the LSTM state's range).
            self.context_embedding = keras.Sequential([
                layers.Dense(cfg.hidden_dim, kernel_initializer=_torch_linear_init(), name="combine"),
                batch_norm("combine_bn", sync, init), layers.Activation("tanh")], name="context_embedding")

    def build(self, input_shape):
        cfg = self.cfg
        if self.timesteps == 1:
            self.background.build((None, cfg.latent_dim))
            self.built = True
            return
        self.lstm.build((None, cfg.latent_dim))
        bg_input = cfg.hidden_dim if cfg.background_input == "lstm" else cfg.latent_dim
        self.background.build((None, bg_input))
        self.foreground_trunk.build((None, cfg.hidden_dim))
        half = self.image_size // 2
        self.appearance.build((None, half, half, self.trunk_channels))
        if cfg.use_mask:
            self.mask.build((None, half, half, self.trunk_channels))
        if cfg.use_transform:
            self.pose.build((None, cfg.hidden_dim))
        if self.timesteps > 2:
            self.background_embedding.build((None, half, half, self.background.trunk_channels))
            self.object_embedding.build((None, half, half, self.trunk_channels))
            self.context_embedding.build((None, 2 * cfg.hidden_dim))
        self.built = True

    def layers_of(self, z=None, training=False, images=None, encoder=None) -> Dict[str, Any]:
        """Every layer of the composition.

        Args:
          z: float32 [batch, T * latent_dim], the timesteps' noise side by side.
          training: batch-norm mode.
          images, encoder: the conditional model (§6.8) instead of `z`: the
            code of timestep t is `encoder(images - x_{t-1})`, the residual
            of the real images [batch, H, W, C] after the canvas so far (the
            images themselves for the background, t = 0).

        Returns:
          dict with "background" [B, H, W, C] and, per foreground timestep
          (lists of length T - 1): "foregrounds" f_t [B, H, W, C] in [-1, 1],
          "masks" m_t [B, H, W, 1] in [0, 1], "warped_foregrounds" ST(f_t),
          "warped_masks" ST(m_t), "transforms" a_t [B, 2, 3], "composites" x_t;
          and "image", the final composite [B, H, W, C] in [-1, 1].
        """
        if encoder is None:
            zs = tf.unstack(tf.reshape(z, [-1, self.timesteps, self.noise_dim]), axis=1)
            code = lambda t, canvas: zs[t]  # noqa: E731
            batch = tf.shape(z)[0]
        else:
            code = lambda t, canvas: encoder(images if canvas is None else images - canvas,  # noqa: E731
                                             training=training)
            batch = tf.shape(images)[0]
        out = {k: [] for k in ("foregrounds", "masks", "warped_foregrounds", "warped_masks", "transforms",
                               "composites")}
        if self.timesteps == 1:
            out["background"] = out["image"] = self.background(code(0, None), training=training)
            return out
        zeros = tf.zeros([batch, self.cfg.hidden_dim], tf.float32)
        z0 = code(0, None)
        h, state = self.lstm(z0, [zeros, zeros], training=training)
        # The background's trunk features are kept: for T > 2 they condition the first foreground.
        background_features = self.background.features(h if self.cfg.background_input == "lstm" else z0,
                                                       training=training)
        canvas = self.background.head(background_features, training=training)
        out["background"] = canvas
        previous = None
        for t in range(1, self.timesteps):
            h, state = self.lstm(code(t, canvas), state, training=training)
            if self.timesteps == 2:
                y = h
            else:
                embedded = (self.background_embedding(background_features, training=training) if previous is None
                            else self.object_embedding(previous, training=training))
                y = self.context_embedding(tf.concat([h, embedded], axis=1), training=training)
            shared = self.foreground_trunk(y, training=training)  # s_t
            f = self.appearance(shared, training=training)
            m = self.mask(shared, training=training) if self.cfg.use_mask else tf.ones_like(f[..., :1])
            if self.cfg.use_transform:
                theta = self.pose(y)
            else:
                theta = tf.tile(tf.constant([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), [batch, 1, 1])
            # Appearance and mask share one grid: warp them in one pass.
            warped = spatial_transform(tf.concat([f, m], axis=-1), theta)
            f_hat, m_hat = warped[..., :self.channels], warped[..., self.channels:]
            canvas = m_hat * f_hat + (1.0 - m_hat) * canvas  # Eq. 4
            for key, value in zip(out, (f, m, f_hat, m_hat, theta, canvas)):
                out[key].append(value)
            previous = shared
        out["image"] = canvas
        return out

    def call(self, z, training=False):
        return self.layers_of(z, training=training)["image"]


@keras.saving.register_keras_serializable(package="tfgen")
class ImageEncoder(keras.Model):
    """E: images (or residuals) [batch, S, S, C] in about [-2, 2] -> codes [batch, code_dim].

    The DCGAN discriminator's convolutional trunk down to 4x4, then a linear
    layer (codes are unbounded, like the noise they replace).
    """

    def __init__(self, image_size: int, code_dim: int, base_filters: int = 64, sync_batch_norm: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.image_size, self.code_dim, self.base_filters = image_size, code_dim, base_filters
        self.sync_batch_norm = sync_batch_norm
        self.trunk, _ = discriminator_trunk(image_size, base_filters, sync_batch_norm)
        self.to_code = keras.Sequential([layers.Flatten(), layers.Dense(code_dim, name="code")], name="to_code")

    def build(self, input_shape):
        self.trunk.build(input_shape)
        self.to_code.build(self.trunk.compute_output_shape(input_shape))
        self.built = True

    def call(self, images, training=False):
        return self.to_code(self.trunk(images, training=training))

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "code_dim": self.code_dim,
                "base_filters": self.base_filters, "sync_batch_norm": self.sync_batch_norm}
