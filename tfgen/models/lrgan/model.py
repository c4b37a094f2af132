"""LR-GAN: layered recursive GAN (Yang, Kannan, Batra & Parikh, ICLR 2017).

The generator composes an image recursively (§4, appendix Algorithm 1):
noise vectors z_0..z_{T-1} run through an LSTM; its first state h^0 feeds
the background generator G_b (half the foreground's channels), and every
later state feeds the foreground generator, whose shared trunk G_f^c yields
an appearance f_t (G_f^i, tanh) and a one-channel mask m_t (G_f^m, sigmoid),
while a linear pose head T_f predicts an affine transform a_t. Appearance and
mask are warped by the same grid and pasted (Eq. 4):

    x_t = ST(m_t, a_t) * ST(f_t, a_t) + (1 - ST(m_t, a_t)) * x_{t-1}

From the third timestep on, the previous foreground's trunk features are
pooled and embedded (P_f^c, E_f^c) and joined with the LSTM state through the
non-linear embedding E_f^l. `timesteps` counts the background too (2 for
MNIST-ONE, CIFAR-10 and CUB; 3 for MNIST-TWO); `timesteps: 1` is exactly
DCGAN (no LSTM, full-width generator). Training is DCGAN's: one
discriminator step, one non-saturating generator step, Adam 2e-4 / beta1 0.5.

Pose (see `PoseHead`): the matrix maps output to source coordinates, so an
object covers 1/scale of the canvas. Scales lie in [s, 2s] with s =
`min_object_scale` (1.2; 2 for MNIST-TWO), the off-diagonal rotation/shear
terms in +-`max_shear`, translations in +-`max_translation`, as the
authors' code bounds them. Their code clamps, which has zero gradient once a
value leaves its range; `pose_bound: smooth` (default) squashes instead
(s + s*sigmoid, tanh) so the gradient stays alive; `clamp` reproduces theirs.
Weights start at zero and the bias at the largest, centred object.

Ablations (§5.5, §5.6): `use_transform: false` pastes every foreground with
the identity pose; `use_mask: false` pastes the warped appearance without
alpha (its mask is the warped canvas extent).

Background input: the paper feeds G_b the LSTM's first state h^0 (default,
`background_input: lstm`); the authors' code feeds it the raw z_0 (`noise`).
"""

from __future__ import annotations

from typing import Any, Dict

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from tfgen.layers import DCGANGenerator, generator_trunk, to_image_layer
from tfgen.models.dcgan.model import DCGAN
from tfgen.models.lrgan.config import LRGANConfig
from tfgen.models.lrgan.metrics import POSE_PARAMETERS, pose_statistics
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.ops import spatial_transform
from tfgen.viz import labelled_blocks


class PoseHead(keras.layers.Layer):
    """T_f: a linear layer from y_t to the six affine parameters, bounded.

    Output theta [batch, 2, 3] = [[s_x, r_xy, t_x], [r_yx, s_y, t_y]] mapping
    normalized output coordinates to source coordinates.
    """

    def __init__(self, min_scale: float, max_shear: float, max_translation: float, bound: str, **kwargs):
        super().__init__(**kwargs)
        self.min_scale, self.max_shear, self.max_translation, self.bound = (
            min_scale, max_shear, max_translation, bound)
        # Start at the largest centred object: scale s, no shear, no shift.
        start = min_scale if bound == "clamp" else -4.0  # smooth: s + s*sigmoid(-4) = 1.018 s
        self.dense = layers.Dense(6, kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant([start, 0, 0, 0, start, 0]),
                                  name="affine")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, y):
        u = self.dense(y)
        scale_u = tf.gather(u, [0, 4], axis=1)
        shear_u = tf.gather(u, [1, 3], axis=1)
        shift_u = tf.gather(u, [2, 5], axis=1)
        s = self.min_scale
        if self.bound == "clamp":
            scale = tf.clip_by_value(scale_u, s, 2 * s)
            shear = tf.clip_by_value(shear_u, -self.max_shear, self.max_shear)
            shift = tf.clip_by_value(shift_u, -self.max_translation, self.max_translation)
        else:
            scale = s + s * tf.sigmoid(scale_u)
            shear = self.max_shear * tf.tanh(shear_u)
            shift = self.max_translation * tf.tanh(shift_u)
        row0 = tf.stack([scale[:, 0], shear[:, 0], shift[:, 0]], axis=1)
        row1 = tf.stack([shear[:, 1], scale[:, 1], shift[:, 1]], axis=1)
        return tf.stack([row0, row1], axis=1)


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
        sync = sync_batch_norm
        if self.timesteps == 1:  # exactly DCGAN: no LSTM, a full-width generator on z
            self.background = DCGANGenerator(image_size, channels, cfg.latent_dim, cfg.g_filters,
                                             sync_batch_norm=sync, name="background")
            return
        self.lstm = layers.LSTMCell(cfg.hidden_dim, name="noise_lstm")
        bg_input = cfg.hidden_dim if cfg.background_input == "lstm" else cfg.latent_dim
        self.background = DCGANGenerator(image_size, channels, bg_input, max(1, cfg.g_filters // 2),
                                         sync_batch_norm=sync, name="background")
        self.foreground_trunk, trunk_channels = generator_trunk(image_size, cfg.g_filters, sync,
                                                                name="foreground_trunk")
        self.trunk_channels = trunk_channels
        self.appearance = keras.Sequential([to_image_layer(channels, "to_appearance"), layers.Activation("tanh")],
                                           name="appearance")
        if cfg.use_mask:  # the no-mask ablation has no mask head at all (nothing to train)
            self.mask = keras.Sequential([to_image_layer(1, "to_mask"), layers.Activation("sigmoid")],
                                         name="mask")
        if cfg.use_transform:
            self.pose = PoseHead(cfg.min_object_scale, cfg.max_shear, cfg.max_translation, cfg.pose_bound,
                                 name="pose")
        if self.timesteps > 2:
            pool = (image_size // 2) // 4  # the trunk's map pooled to 4x4
            self.object_embedding = keras.Sequential([  # E_f^c o P_f^c
                layers.AveragePooling2D(pool), layers.Flatten(),
                layers.Dense(cfg.hidden_dim, name="embed_object"), layers.ReLU()], name="object_embedding")
            # E_f^l: tanh keeps y_t in the LSTM state's range.
            self.context_embedding = layers.Dense(cfg.hidden_dim, activation="tanh", name="context_embedding")

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
        canvas = self.background(h if self.cfg.background_input == "lstm" else z0, training=training)
        out["background"] = canvas
        previous = None
        for t in range(1, self.timesteps):
            h, state = self.lstm(code(t, canvas), state, training=training)
            y = h if previous is None else self.context_embedding(
                tf.concat([h, self.object_embedding(previous, training=training)], axis=1))
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


@register("lrgan", LRGANConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class LRGAN(DCGAN):
    """LR-GAN: the layered recursive generator with DCGAN's discriminator and training."""

    @property
    def latent_dim(self) -> int:
        return int(self.model_config.timesteps * self.model_config.latent_dim)

    def make_generator(self) -> keras.Model:
        h, _, c = self.image_shape
        return LayeredRecursiveGenerator(h, c, self.model_config, sync_batch_norm=self.sync_batch_norm,
                                         name="generator")

    def generate_layers(self, z, training=False):
        """See `LayeredRecursiveGenerator.layers_of`."""
        return self.generator.layers_of(z, training=training)

    def stacked_layers(self, parts) -> Dict[str, tf.Tensor]:
        """`layers_of`'s per-timestep lists stacked on axis 1 (the export's layout).

        Returns:
          backgrounds [B, H, W, C]; foregrounds, warped_foregrounds,
          composites [B, T-1, H, W, C]; masks, warped_masks [B, T-1, H, W, 1];
          transforms [B, T-1, 2, 3]; images [B, H, W, C]. With T = 1 the
          per-timestep outputs have zero length on axis 1.
        """
        h, w, c = self.image_shape
        batch = tf.shape(parts["image"])[0]
        trailing = {"foregrounds": [h, w, c], "warped_foregrounds": [h, w, c], "composites": [h, w, c],
                    "masks": [h, w, 1], "warped_masks": [h, w, 1], "transforms": [2, 3]}
        out = {"backgrounds": parts["background"], "images": parts["image"]}
        for key, shape in trailing.items():
            out[key] = (tf.stack(parts[key], axis=1) if parts[key]
                        else tf.zeros(tf.concat([[batch, 0], shape], 0)))
        return out

    def contextual_latents(self, fixed_latent, num_backgrounds: int = 8, num_foregrounds: int = 8):
        """Latents for Fig. 17: row r keeps background noise z_0 of sample r and
        takes the foreground noise of sample c in column c.

        Returns:
          float32 [num_backgrounds * num_foregrounds, T * latent_dim], row-major.
        """
        d = self.model_config.latent_dim
        z = fixed_latent[:max(num_backgrounds, num_foregrounds)]
        rows, cols = min(num_backgrounds, len(z)), min(num_foregrounds, len(z))
        z0 = tf.repeat(z[:rows, :d], cols, axis=0)
        rest = tf.tile(z[:cols, d:], [rows, 1])
        return tf.concat([z0, rest], axis=1)

    def layer_blocks(self, parts, t: int):
        """The blocks of Figs. 5 and 9 for foreground timestep t (1-based), in [-1, 1]."""
        f, m = parts["foregrounds"][t - 1], parts["masks"][t - 1]
        f_hat, m_hat = parts["warped_foregrounds"][t - 1], parts["warped_masks"][t - 1]
        previous = parts["background"] if t == 1 else parts["composites"][t - 2]
        return [("background" if t == 1 else f"canvas t{t - 1}", previous), ("foreground", f),
                ("mask", 2.0 * m - 1.0), ("carved", m * f + (m - 1.0)),  # carved-out pixels shown black
                ("transformed", m_hat * f_hat + (m_hat - 1.0)), ("composite", parts["composites"][t - 1])]

    def layers_figure(self, parts, rows: int = 8, leading=()) -> tf.Tensor:
        """All timesteps' blocks side by side with captions: [1, H', W', 3] in [-1, 1].

        `leading`: (caption, images) blocks to put first (e.g. the real images).
        """
        n = rows * max(1, min(4, int(parts["image"].shape[0]) // rows))
        many = self.model_config.timesteps > 2
        blocks = [(label, np.asarray(images)[:n]) for label, images in leading]
        for t in range(1, self.model_config.timesteps):
            # A later timestep's canvas is the block just before it (the previous composite).
            for label, images in self.layer_blocks(parts, t)[(0 if t == 1 else 1):]:
                caption = f"t{t} {label}" if many and label != "background" else label
                blocks.append((caption, np.asarray(images)[:n]))
        fig = labelled_blocks(blocks, rows=rows)
        return self.figure_panel(fig)

    def image_panels(self, fixed_latent, real_batch):
        """Samples; per timestep the layers of Figs. 1, 5, 6 and 9 (masks shown
        in [-1, 1]); `layers`, all of them captioned side by side; and
        `contextual`, Fig. 17: each row one background, each column one
        foreground noise."""
        panels = {"samples": self.generate(fixed_latent)}
        if self.model_config.timesteps == 1:
            return panels
        parts = self.generate_layers(fixed_latent)
        panels.update(self.timestep_panels(parts))
        panels["layers"] = self.layers_figure(parts)
        panels["contextual"] = self.generate(self.contextual_latents(fixed_latent))
        return panels

    def timestep_panels(self, parts) -> Dict[str, tf.Tensor]:
        """`background` and, per foreground timestep, `t<k>/<block>` of `layer_blocks`."""
        panels = {"background": parts["background"]}
        for t in range(1, self.model_config.timesteps):
            for label, images in self.layer_blocks(parts, t)[1:]:
                panels[f"t{t}/{label}"] = images
        return panels

    png_panels = ("samples", "layers", "contextual")

    def pose_samples(self, num: int = 1024, seed: int = 20170) -> list:
        """Transforms a_t of `num` fixed-seed samples, per foreground timestep: [num, 2, 3] each."""
        if not self.model_config.timesteps > 1:
            return []
        z = tf.random.stateless_normal([num, self.latent_dim], seed=[seed, 0])
        return [t.numpy() for t in self.generate_layers(z)["transforms"]]

    def histograms(self, fixed_latent, real_batch):
        """The six pose parameters per timestep (Fig. 20) for TensorBoard."""
        out = {}
        for t, theta in enumerate(self.pose_samples(), start=1):
            for name, row, col in POSE_PARAMETERS:
                out[f"pose/t{t}/{name}"] = theta[:, row, col]
        return out

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

        def generate_layers(z):
            return self.stacked_layers(self.generate_layers(z))

        steps = self.model_config.timesteps - 1
        h, w, c = self.image_shape
        doc = (f"generate_layers(z: float32 [batch, {self.latent_dim}]) -> {{backgrounds [batch, {h}, {w}, {c}], "
               f"foregrounds/warped_foregrounds/composites [batch, {steps}, {h}, {w}, {c}] in [-1, 1], "
               f"masks/warped_masks [batch, {steps}, {h}, {w}, 1] in [0, 1], transforms [batch, {steps}, 2, 3], "
               f"images [batch, {h}, {w}, {c}]}}")
        endpoints["generate_layers"] = (generate_layers, [spec], doc)
        return endpoints


@register_evaluation_extras("lrgan")
def evaluation_extras(model, arrays, extractor=None) -> Dict[str, Any]:
    """Pose statistics per timestep (Fig. 20, §6.7)."""
    return {f"pose_t{t}": pose_statistics(theta) for t, theta in enumerate(model.pose_samples(), start=1)}
