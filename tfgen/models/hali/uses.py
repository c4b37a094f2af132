"""Uses of HALI's hierarchy (§6.1-§6.3): inpainting masks, latent variations, innovation, and their figures.

`HierarchyUses` is a mixin of `HALI` (it calls the model's `encode`,
`reconstructions`, `decoder`, ...):

* `latent_variations`: one entry of z2 (or one feature map of z1, z2 fixed)
  multiplied by a range of scalars and decoded (§6.2);
* `innovate`, `innovation_tensors`, `strongest_component`: the latent
  semantic innovation of §6.3;
* `resample_lower_level`: z1 ~ p(z1 | ẑ2) several times for one ẑ2;
* the figures of these for TensorBoard (`latent_variations_figure`,
  `innovation_figure`, `innovation_tensor_figure`).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfgen.layers.stochastic import reparameterize
from tfgen.models.panels import Panels
from tfgen.viz import labelled_blocks

__all__ = ["INNOVATION_DRAWS", "VARIATION_SCALES", "HierarchyUses", "centre_hole_mask", "examples_per_grid"]


def centre_hole_mask(batch: int, height: int, width: int) -> tf.Tensor:
    """Inpainting mask with the central half-size square unknown (§6.1).

    Returns:
      float32 [batch, height, width, 1]: 1 where a pixel is known, 0 in the hole.
    """
    mask = np.ones((height, width), np.float32)
    mask[height // 4:height // 4 + height // 2, width // 4:width // 4 + width // 2] = 0.0
    return tf.tile(tf.constant(mask)[None, :, :, None], [batch, 1, 1, 1])


def examples_per_grid(available: int, group: int) -> int:
    """How many examples to show so that groups of `group` tiles start every row
    of `tfgen.viz.image_grid`'s square-ish layout (ceil(sqrt(N)) columns)."""
    for k in range(available, 0, -1):
        if math.ceil(math.sqrt(k * group)) % group == 0:
            return k
    return available


# §6.2: "multiply individual components by scalars ranging from ... to ...";
# the extracted text lost the range. Symmetric, with 1 (the unmodified code).
VARIATION_SCALES = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
INNOVATION_DRAWS = 6  # z1 ~ p(z1 | ẑ2) draws per image in the "innovation" panel


class HierarchyUses:
    """What HALI's hierarchy is used for (a mixin of `HALI`; see the module docstring)."""

    def _top_to_image(self, z2):
        """z2 [batch, latent_dim] -> images through the *means* of every transition."""
        if self.levels == 1:
            return self.decoder.decode_image(z2, training=False)
        z1, _, _ = self.decoder.decode_z1(z2, training=False, sample=False)
        return self.decoder.decode_image(z1, training=False)

    def latent_variations(self, codes, level: int, scales: Sequence[float] = VARIATION_SCALES,
                          indices: Optional[Sequence[int]] = None) -> tf.Tensor:
        """§6.2: one latent component at a time multiplied by each scale, decoded.

        The top level (level == levels) varies single entries of z2 (ALI's z);
        level 1 of HALI varies single feature maps (channels) of z1 with z2
        fixed. Decoding uses the means of every transition, so a picture
        changes only with the code; at scale 1 it is the unmodified decode
        (for encoded codes, the level's reconstruction, Eq. 5).

        Args:
          codes: {"z2": [n, latent_dim]} (e.g. prior draws or `encode`'s
            means) and optionally "z1" [n, s1, s1, z1_channels]; HALI's level 1
            uses codes["z1"] when given, else the mean of p(z1 | z2).
          level: 1..levels.
          scales: multipliers (each any real number).
          indices: the components to vary (z2 entries or z1 channels);
            default the first min(8, size) of them.

        Returns:
          float32 [n, len(indices), len(scales), S, S, C] in [-1, 1]: entry
          [i, k, j] is code i with component indices[k] times scales[j].
        """
        if not 1 <= int(level) <= self.levels:
            raise ValueError(f"level must be in 1..{self.levels}, got {level}")
        top = int(level) == self.levels
        if top:
            code = tf.convert_to_tensor(codes["z2"], tf.float32)
        elif "z1" in codes:
            code = tf.convert_to_tensor(codes["z1"], tf.float32)
        else:
            code, _, _ = self.decoder.decode_z1(tf.convert_to_tensor(codes["z2"], tf.float32),
                                                training=False, sample=False)
        size = int(code.shape[-1])
        indices = list(range(min(8, size))) if indices is None else [int(i) for i in indices]
        if not indices or min(indices) < 0 or max(indices) >= size:
            raise ValueError(f"indices must be in 0..{size - 1}, got {indices}")
        scales = [float(v) for v in scales]
        # multipliers[k, j, :] is 1 except scales[j] at component indices[k].
        one_hot = tf.one_hot(indices, size)  # [K, size]
        multipliers = 1.0 + one_hot[:, None, :] * (tf.constant(scales)[None, :, None] - 1.0)  # [K, J, size]
        n, k, j = tf.shape(code)[0], len(indices), len(scales)
        spatial = [1] * (code.shape.rank - 2)  # z1's height and width broadcast
        varied = code[:, None, None] * tf.reshape(multipliers, [1, k, j, *spatial, size])
        flat = tf.reshape(varied, [-1, *code.shape[1:]])
        images = self._top_to_image(flat) if top else self.decoder.decode_image(flat, training=False)
        return tf.reshape(images, [n, k, j, *self.image_shape])

    def resample_lower_level(self, images, num: int = INNOVATION_DRAWS, seed: int = 0) -> Dict[str, tf.Tensor]:
        """Keeps each image's encoded z2 and draws z1 ~ p(z1 | ẑ2) `num` times (HALI only).

        What the lower level adds given the upper one: the draws share ẑ2
        (the encoder's mean), so their decodes share what z2 encodes and
        differ in what z1 adds.

        Args:
          images: [n, S, S, C] in [-1, 1].
          num: draws per image, >= 1.
          seed: seed of the (stateless) draws, so that panels are comparable
            across training steps; no training noise stream moves.

        Returns:
          {"z2": [n, latent_dim] the encoded means, "z1": [n, num, s1, s1,
          z1_channels] the draws, "images": [n, num, S, S, C] in [-1, 1]}.
        """
        if self.levels != 2:
            raise ValueError("resampling the lower level needs two levels (levels: 2)")
        z2 = self.encode(images)["z2"]
        n = tf.shape(z2)[0]
        tiled = tf.repeat(z2, num, axis=0)  # [n * num, latent_dim], example-major
        _, mean, log_sigma = self.decoder.decode_z1(tiled, training=False, sample=False)
        eps = tf.random.stateless_normal(tf.shape(mean), seed=[int(seed), 20180])
        z1 = reparameterize(mean, log_sigma, eps)
        decoded = self.decoder.decode_image(z1, training=False)
        return {"z2": z2, "z1": tf.reshape(z1, [n, num, *z1.shape[1:]]),
                "images": tf.reshape(decoded, [n, num, *self.image_shape])}

    def innovation_tensors(self, z2, component: int, scales: Sequence[float] = VARIATION_SCALES) -> tf.Tensor:
        """§6.3's innovation tensors: E[z1 | z2'] - E[z1 | z2], z2' = z2 with entry `component` times s.

        Args:
          z2: [n, latent_dim].
          component: 0..latent_dim - 1.
          scales: multipliers s.

        Returns:
          float32 [n, len(scales), s1, s1, z1_channels]; zero at s = 1.
        """
        if self.levels != 2:
            raise ValueError("innovation tensors need two levels (levels: 2)")
        z2 = tf.convert_to_tensor(z2, tf.float32)
        scales = tf.constant([float(v) for v in scales])
        mask = tf.one_hot(int(component), self.latent_dim)
        edited = z2[:, None] * (1.0 + mask * (scales[:, None] - 1.0))[None]  # [n, J, latent_dim]
        flat = tf.reshape(edited, [-1, self.latent_dim])
        means = self.decoder.decode_z1(tf.concat([z2, flat], axis=0), training=False, sample=False)[1]
        n = tf.shape(z2)[0]
        base, moved = means[:n], tf.reshape(means[n:], [n, len(scales), *means.shape[1:]])
        return moved - base[:, None]

    def innovate(self, images, component: int, scales: Sequence[float] = VARIATION_SCALES) -> tf.Tensor:
        """§6.3 latent semantic innovation of real images (HALI only).

        Encodes x to (ẑ1, ẑ2), forms the innovation tensors of one z2 entry
        (`innovation_tensors`), adds each to ẑ1 and decodes: the image keeps
        its own details (ẑ1) and changes the way the z2 edit changes the
        decoded z1. At scale 1 the tensor is 0 and the result is the level-1
        reconstruction.

        Args:
          images: [n, S, S, C] in [-1, 1].
          component: the z2 entry edited, 0..latent_dim - 1.
          scales: multipliers of that entry.

        Returns:
          float32 [n, len(scales), S, S, C] in [-1, 1].
        """
        codes = self.encode(images)
        innovation = self.innovation_tensors(codes["z2"], component, scales)
        z1 = codes["z1"][:, None] + innovation
        decoded = self.decoder.decode_image(tf.reshape(z1, [-1, *z1.shape[2:]]), training=False)
        return tf.reshape(decoded, [tf.shape(images)[0], len(scales), *self.image_shape])

    def strongest_component(self, z2, candidates: int = 64, scale: float = VARIATION_SCALES[-1]) -> int:
        """The z2 entry (among the first `candidates`) whose edit by `scale` moves
        E[z1 | z2] the most, averaged over the rows of z2 [n, latent_dim]:
        the entry worth showing in an innovation picture."""
        z2 = tf.convert_to_tensor(z2, tf.float32)
        count = min(int(candidates), self.latent_dim)
        n = tf.shape(z2)[0]
        scaled = tf.tile(z2[:, None], [1, count, 1]) * (1.0 + tf.one_hot(tf.range(count), self.latent_dim)
                                                       * (scale - 1.0))[None]
        means = self.decoder.decode_z1(tf.concat([z2, tf.reshape(scaled, [-1, self.latent_dim])], axis=0),
                                       training=False, sample=False)[1]
        moved = tf.reshape(means[n:], [n, count, -1]) - tf.reshape(means[:n], [n, 1, -1])
        return int(tf.argmax(tf.reduce_mean(tf.norm(moved, axis=-1), axis=0)))

    @staticmethod
    def _figure(blocks, rows: int) -> tf.Tensor:
        """Captioned blocks (`tfgen.viz.labelled_blocks`) as a one-image panel in [-1, 1]."""
        figure = labelled_blocks([(label, np.asarray(images)) for label, images in blocks], rows=rows)
        return Panels.figure_panel(figure)

    @staticmethod
    def _columns(grid) -> tf.Tensor:
        """[rows, cols, H, W, C] -> [cols * rows, H, W, C] in the column-major
        order `labelled_blocks` tiles (row r of column c is entry c * rows + r)."""
        grid = tf.convert_to_tensor(grid)
        return tf.reshape(tf.transpose(grid, [1, 0, 2, 3, 4]), [-1, *grid.shape[2:]])

    def latent_variations_figure(self, z2, scales: Sequence[float] = VARIATION_SCALES) -> tf.Tensor:
        """§6.2's figure for one code z2 [1, latent_dim]: rows are components,
        columns scales; for HALI a z2 block (entries) and a z1 block (feature
        maps of the mean of p(z1 | z2), z2 fixed)."""
        sizes = [self.latent_dim] + ([self.model_config.z1_channels] if self.levels == 2 else [])
        k = min(6, *sizes)
        span = f"x {scales[0]:g}..{scales[-1]:g}"
        codes = {"z2": z2}
        blocks = [(f"{'z2' if self.levels == 2 else 'z'} {span}",
                   self._columns(self.latent_variations(codes, self.levels, scales, range(k))[0]))]
        if self.levels == 2:
            blocks.append((f"z1 maps {span}", self._columns(self.latent_variations(codes, 1, scales, range(k))[0])))
        return self._figure(blocks, rows=k)

    def innovation_figure(self, real) -> tf.Tensor:
        """Per row: a real image, its level-2 reconstruction x2, decodes of z1 ~ p(z1 | ẑ2).

        One captioned block (a caption per column would not fit over 16-pixel tiles).
        """
        draws = self.resample_lower_level(real)["images"]
        recon2 = self.reconstructions(real)[1]
        grid = tf.concat([real[:, None], recon2[:, None], draws], axis=1)
        return self._figure([("real, x2, z1~p(z1|z2)", self._columns(grid))], rows=int(real.shape[0]))

    def innovation_tensor_figure(self, real, scales: Sequence[float] = VARIATION_SCALES) -> tf.Tensor:
        """Per row: a real image, its level-1 reconstruction x1, `innovate` of the
        batch's most influential z2 entry at every scale (§6.3)."""
        component = self.strongest_component(self.encode(real)["z2"])
        edits = self.innovate(real, component, scales)
        grid = tf.concat([real[:, None], self.reconstruct(real)[:, None], edits], axis=1)
        caption = f"real, x1, z2[{component}] x {scales[0]:g}..{scales[-1]:g}"
        return self._figure([(caption, self._columns(grid))], rows=int(real.shape[0]))
