"""HALI's SavedModel signatures: generate, encode, reconstruct (per level), inpaint."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["HALIServing"]


class HALIServing:
    """HALI's serving endpoints (a mixin of `HALI`: it calls `encode`, `reconstruct_from_level`, `inpaint`)."""

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        h, w, c = self.image_shape
        cfg = self.model_config
        image_spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
        level_spec = tf.TensorSpec([], tf.int32, name="level")
        mask_spec = tf.TensorSpec([None, h, w, 1], tf.float32, name="mask")
        images_doc = f"images: float32 [batch, {h}, {w}, {c}] in [-1, 1]"
        s1 = h // cfg.z1_stride

        def encode(images):
            return {f"{name}_mean": value for name, value in self.encode(images).items()}

        def reconstruct(images, level):
            return {"reconstructions": self.reconstruct_from_level(images, level)}

        def inpaint(images, mask):
            return {"images": self.inpaint(images, mask)}

        z1_doc = f"z1_mean: float32 [batch, {s1}, {s1}, {cfg.z1_channels}], " if self.levels == 2 else ""
        endpoints["encode"] = (encode, [image_spec], (
            f"encode({images_doc}) -> {{{z1_doc}z2_mean: float32 [batch, {cfg.latent_dim}]}} (posterior means)"))
        endpoints["reconstruct"] = (reconstruct, [image_spec, level_spec], (
            f"reconstruct({images_doc}, level: int32 scalar in 1..{self.levels}) -> "
            f"{{reconstructions: float32 [batch, {h}, {w}, {c}] in [-1, 1]}}"))
        endpoints["inpaint"] = (inpaint, [image_spec, mask_spec], (
            f"inpaint({images_doc}, mask: float32 [batch, {h}, {w}, 1], 1 = known, 0 = hole) -> "
            f"{{images: float32 [batch, {h}, {w}, {c}] in [-1, 1]}} (known pixels unchanged; "
            f"{cfg.inpaint_iterations} level-1 refinements)"))
        return endpoints
