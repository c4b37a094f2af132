"""The summaries contract of a tfgen model: what the TensorBoard and PNG callbacks show.

A mixin of `GenerativeModel`: `image_panels`, `text_panels`, `histograms`
(each called with the fixed latents and a real test batch), `png_panels`
(the panels also written as PNG files), and the helpers `alternate` and
`figure_panel` that methods build their panels with.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np
import tensorflow as tf

__all__ = ["Panels"]


class Panels:
    """TensorBoard panels of a tfgen model (a mixin; see the module docstring)."""

    # Panels also written as PNG files under <workdir>/samples/ (besides TensorBoard).
    png_panels: Tuple[str, ...] = ("samples",)

    def image_panels(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """Images for TensorBoard: name -> [N, H, W, C] in [-1, 1].

        The default shows samples from the fixed latents and, for models that
        reconstruct, real test images beside their reconstructions
        (alternating columns: real, reconstruction). Models that compose
        layers or have basis functions add their own panels.
        """
        panels = {"samples": self.generate(fixed_latent)}
        if self.reconstructs:
            real = real_batch["image"]
            panels["real_vs_reconstruction"] = self.alternate(real, self.reconstruct(real))
        return panels

    @staticmethod
    def alternate(*groups: tf.Tensor) -> tf.Tensor:
        """[N, H, W, C] x G -> [G*N, H, W, C]: example 0 of every group, then example 1, ...

        E.g. each real image followed by its reconstruction(s).
        """
        stacked = tf.stack(list(groups), axis=1)
        return tf.reshape(stacked, [-1, *stacked.shape[2:]])

    @staticmethod
    def figure_panel(figure) -> tf.Tensor:
        """A rendered figure [H, W, C] in [0, 1] (a grid, captioned blocks) as a one-image panel in [-1, 1]."""
        return tf.constant(2.0 * np.asarray(figure, np.float32)[None] - 1.0)

    def text_panels(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, str]:
        """Markdown for TensorBoard's text dashboard, name -> text (e.g. the
        AND-OR network's tree of one sample); also saved beside the PNGs."""
        return {}

    def histograms(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, np.ndarray]:
        """Values for TensorBoard histograms, name -> 1-D array (e.g. LR-GAN's
        poses, AAAE's encoded and approximated codes)."""
        return {}

