"""LR-GAN: layered recursive GAN (Yang, Kannan, Batra & Parikh, ICLR 2017).

The generator composes an image recursively (§4, appendix Algorithm 1):
noise vectors z_0..z_{T-1} run through an LSTM; the background generator
G_b (half the foreground's channels) takes z_0 itself (Algorithm 1 line 2),
and every later state feeds the foreground generator, whose shared trunk G_f^c yields
an appearance f_t (G_f^i, tanh) and a one-channel mask m_t (G_f^m, sigmoid),
while a linear pose head T_f predicts an affine transform a_t. Appearance and
mask are warped by the same grid and pasted (Eq. 4):

    x_t = ST(m_t, a_t) * ST(f_t, a_t) + (1 - ST(m_t, a_t)) * x_{t-1}

With T > 2 the previous layer's trunk features (the background's for the
first foreground, as the authors' code) are pooled and embedded (P_f^c,
E_f^c) and joined with the LSTM state through the non-linear embedding
E_f^l. `timesteps` counts the background too (2 for MNIST-ONE, CIFAR-10
and CUB; 3 for MNIST-TWO); `timesteps: 1` is exactly DCGAN (no LSTM, full-width generator). Training is DCGAN's: one
discriminator step, one non-saturating generator step, Adam 2e-4 / beta1 0.5.

Pose (see `PoseHead`): the matrix maps output to source coordinates, so an
object covers 1/scale of the canvas. Scales lie in [s, 2s] with s =
`min_object_scale` (1.2; 2 for MNIST-TWO), the off-diagonal rotation/shear
terms in +-`max_shear`, translations in +-`max_translation`, as the
authors' code bounds them. Their code clamps, which has zero gradient once a
value leaves its range; `pose_bound: straight_through` (default) keeps the
clamp's values with the identity's gradient; `clamp` reproduces theirs;
`smooth` squashes (s + s*sigmoid, tanh) but starts where the sigmoid is flat.
Weights start at zero and the bias at the largest, centred object.

Ablations (§5.5, §5.6): `use_transform: false` pastes every foreground with
the identity pose; `use_mask: false` pastes the warped appearance without
alpha (its mask is the warped canvas extent).

Background input: z_0 (`background_input: noise`, default: Algorithm 1, §5,
the authors' code); `lstm` feeds G_b the LSTM's first state (one sentence of
§4.1).
"""

from __future__ import annotations

from typing import Any, Dict

import keras
import numpy as np
import tensorflow as tf

from tfgen.models.dcgan.model import DCGAN
from tfgen.models.lrgan.config import LRGANConfig
from tfgen.models.lrgan.networks import LayeredRecursiveGenerator, PoseHead  # noqa: F401 (PoseHead re-exported)
from tfgen.models.lrgan.metrics import POSE_PARAMETERS, mask_iou, pose_bounds, pose_statistics, stroke_masks
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.models.servable import EVAL_SAMPLE_SEED
from tfgen.ops.batching import map_batches
from tfgen.viz import labelled_blocks


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


def foreground_footprint(warped_masks) -> tf.Tensor:
    """The union of every foreground's footprint on the canvas, 1 - prod_t (1 - ST(m_t, a_t)).

    Args:
      warped_masks: the list `layers_of` returns, T - 1 tensors [B, H, W, 1] in [0, 1].

    Returns:
      float32 [B, H, W, 1] in [0, 1].
    """
    return 1.0 - tf.reduce_prod(tf.stack([1.0 - m for m in warped_masks]), axis=0)


def is_stroke_scene(arrays) -> bool:
    """Whether test arrays are white-ink-over-uniform-gray scenes with true masks (`multidigit`)."""
    return "masks" in arrays and np.ndim(arrays.get("background")) == 1


def sample_mask_scores(model, num: int, seed: int = EVAL_SAMPLE_SEED) -> Dict[str, float]:
    """The generator's own masks scored against the strokes its samples show.

    An unconditional sample has no true mask, but on the digit scenes the
    ink of an image can be read off its pixels (`stroke_masks`, exact on
    real scenes). For `num` samples of the evaluation latents (the images
    FID and IS score), the footprint of all foregrounds on the canvas,
    1 - prod_t (1 - ST(m_t, a_t)), is compared with the sample's ink.

    Returns:
      sample_mask_iou: mean IoU of footprint >= 0.5 and ink (T > 1 only);
      sample_ink_outside_mask: share of all ink pixels outside the footprint
        (strokes the background drew, or the foreground under a mask below
        0.5; T > 1 only);
      sample_mask_iou_full_canvas: the IoU of a whole-canvas mask with the
        same ink (what DCGAN's implicit mask scores; the chance level).
    """
    z = model.latent_batch(num, seed).numpy()
    foreground = model.model_config.timesteps > 1

    def image_and_footprint(batch):
        parts = model.generate_layers(tf.constant(batch))
        if not foreground:
            return parts["image"], tf.zeros_like(parts["image"][..., :1])
        return parts["image"], foreground_footprint(parts["warped_masks"])

    images, footprint = map_batches(image_and_footprint, z)
    ink = stroke_masks(images)
    out = {"sample_mask_iou_full_canvas": float(mask_iou(np.ones_like(ink), ink)["mean_iou"])}
    if foreground:
        out["sample_mask_iou"] = float(mask_iou(np.clip(footprint, 0.0, 1.0), ink)["mean_iou"])
        outside = np.logical_and(ink >= 0.5, footprint < 0.5).sum()
        out["sample_ink_outside_mask"] = float(outside / max(1, int((ink >= 0.5).sum())))
    return out


@register_evaluation_extras("lrgan")
def evaluation_extras(model, arrays, extractor=None) -> Dict[str, Any]:
    """Pose statistics per timestep (Fig. 20, §6.7), with the share of samples
    at each bound of the pose head; on the digit scenes,
    the samples' own masks against their strokes (`sample_mask_scores`) and
    the stroke reading's check on the real test scenes (`stroke_mask_iou_real`,
    1.0 when it reads the true masks exactly)."""
    cfg = model.model_config
    bounds = pose_bounds(cfg.min_object_scale, cfg.max_shear, cfg.max_translation)
    out: Dict[str, Any] = {f"pose_t{t}": pose_statistics(theta, bounds=bounds)
                           for t, theta in enumerate(model.pose_samples(), start=1)}
    if is_stroke_scene(arrays) and len(arrays["image"]):
        out["stroke_mask_iou_real"] = float(mask_iou(stroke_masks(arrays["image"]), arrays["masks"])["mean_iou"])
        out.update(sample_mask_scores(model, len(arrays["image"])))
    return out
