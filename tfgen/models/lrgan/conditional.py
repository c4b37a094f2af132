"""Conditional LR-GAN (Yang et al., ICLR 2017, appendix §6.8): LR-GAN as an
unsupervised decomposer of real images into background and foreground layers.

An encoder E (the DCGAN discriminator's trunk with a linear code head)
replaces the noise: the background code is E(x) and the code of foreground
timestep t is E(x - x_{t-1}), the residual of the image after the canvas so
far — the same encoder for every timestep. The codes run through the
LR-GAN generator unchanged (LSTM, background and foreground generators,
masks, pose and the compositor of Eq. 4), and the final composite is a
reconstruction x̂ of x. Generator and encoder minimise

    L_GE = lambda_rec * mean_pixels |x - x̂| + L_adv(D(x̂)),

with the non-saturating adversarial loss of a DCGAN discriminator that sees
real images against reconstructions. The paper names "a reconstruction
loss" without its form or weight; we take L1 (sharper than L2, which
averages the digit into the background) with lambda_rec = 10 by default
(config `reconstruction_loss`, `reconstruction_weight`).

Because the foreground's code sees only what the background missed, the
background generator tends to inpaint a background and the foreground mask
to carve out the object: an unsupervised segmentation, scored by the
intersection-over-union of the learned mask with the true mask on datasets
that have one (`multidigit`, `shapes`; `evaluation_extras`).
"""

from __future__ import annotations

from typing import Any, Dict

import keras
import numpy as np
import tensorflow as tf

from tfgen.losses import reconstruction_distance
from tfgen.models.lrgan.config import ConditionalLRGANConfig
from tfgen.models.lrgan.metrics import mask_iou, pose_statistics
from tfgen.models.lrgan.model import LRGAN, foreground_footprint
from tfgen.models.lrgan.networks import ImageEncoder
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.ops.batching import map_batches


@register("conditional_lrgan", ConditionalLRGANConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class ConditionalLRGAN(LRGAN):
    """Encoder + LR-GAN generator + DCGAN discriminator; see the module docstring.

    Data: dicts with "image" float32 [batch, H, W, C] in [-1, 1].
    Metrics: d_loss, g_loss (adversarial part), reconstruction (the
    distance, unweighted), d_real, d_fake (mean sigmoid of D on real images
    and on reconstructions).
    `generate(z)` decodes codes [batch, T * latent_dim] (the encoder's space,
    not a prior: this model is a decomposer, not a sampler).
    """

    reconstructs = True

    def __init__(self, model_config, image_shape, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        h, w, c = self.image_shape
        self.encoder = ImageEncoder(h, cfg.latent_dim, cfg.encoder_filters, sync_batch_norm=self.sync_batch_norm,
                                    name="encoder")
        self.encoder.build((None, h, w, c))
        self.add_trackers("reconstruction")

    def generator_variables(self):
        return self.generator.trainable_variables + self.encoder.trainable_variables

    def sub_networks(self):
        return {**super().sub_networks(), "encoder": self.encoder}

    def decompose_layers(self, images, training=False):
        """Real images [B, H, W, C] in [-1, 1] -> `layers_of` (see there); "image" is the reconstruction."""
        return self.generator.layers_of(images=images, encoder=self.encoder, training=training)

    def reconstruct(self, images):
        return self.decompose_layers(images)["image"]

    # The generator's batch is the reconstruction of the real batch (no noise).
    def fake_batch(self, real, z, training=True):
        return self.decompose_layers(real, training=training)["image"]

    def generator_objective(self, real, fake):
        cfg = self.model_config
        adversarial, stats = super().generator_objective(real, fake)
        distance = reconstruction_distance(real, fake, cfg.reconstruction_loss)
        return adversarial + cfg.reconstruction_weight * distance, {**stats, "reconstruction": tf.reduce_mean(distance)}

    def generator_noise(self, batch):
        return tf.zeros([batch, 0])  # a placeholder: the reconstruction draws no noise

    def image_panels(self, fixed_latent, real_batch):
        """Reconstructions beside the real images, and the decomposition of
        real test images (Figs. 21, 22): real, then the layers per timestep."""
        real = real_batch["image"]
        parts = self.decompose_layers(real)  # one pass gives the reconstruction and its layers
        panels = {"real_vs_reconstruction": self.alternate(real, parts["image"]),
                  **self.timestep_panels(parts)}
        panels["layers"] = self.layers_figure(parts, leading=[("real", real)])  # Fig. 21's layout
        return panels

    png_panels = ("layers", "real_vs_reconstruction")

    def pose_samples(self, num: int = 1024, seed: int = 20170) -> list:
        return []  # poses of a decomposition depend on the images: see evaluation_extras

    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        h, w, c = self.image_shape
        spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")

        def decompose(images):
            out = self.stacked_layers(self.decompose_layers(images))
            out["reconstructions"] = out.pop("images")
            return out

        def reconstruct(images):
            return {"reconstructions": self.reconstruct(images)}

        steps = self.model_config.timesteps - 1
        endpoints["decompose"] = (decompose, [spec], (
            f"decompose(images: float32 [batch, {h}, {w}, {c}] in [-1, 1]) -> {{backgrounds, reconstructions "
            f"[batch, {h}, {w}, {c}]; foregrounds/warped_foregrounds/composites [batch, {steps}, {h}, {w}, {c}]; "
            f"masks/warped_masks [batch, {steps}, {h}, {w}, 1] in [0, 1]; transforms [batch, {steps}, 2, 3]}}"))
        endpoints["reconstruct"] = (reconstruct, [spec], (
            f"reconstruct(images: float32 [batch, {h}, {w}, {c}] in [-1, 1]) -> "
            f"{{reconstructions: float32 [batch, {h}, {w}, {c}] in [-1, 1]}}"))
        return endpoints


@register_evaluation_extras("conditional_lrgan")
def evaluation_extras(model, arrays, extractor=None) -> Dict[str, Any]:
    """Mask IoU of the learned foreground masks against the true masks
    (union of the objects) when the dataset has them, and pose statistics
    of the decompositions."""
    images = arrays["image"]
    out: Dict[str, Any] = {}
    if not len(images) or model.model_config.timesteps < 2:
        return out

    def footprint_and_poses(batch):
        parts = model.decompose_layers(tf.constant(batch))
        return foreground_footprint(parts["warped_masks"]), tf.stack(parts["transforms"], axis=1)

    warped, thetas = map_batches(footprint_and_poses, images)
    warped = [warped]
    for t in range(thetas.shape[1]):
        out[f"pose_t{t + 1}"] = pose_statistics(thetas[:, t])
    if "masks" in arrays:
        iou = mask_iou(np.concatenate(warped), arrays["masks"])
        out["mask_iou"] = float(iou["mean_iou"])
        # The chance level: the same score for a mask of the whole canvas.
        out["mask_iou_full_canvas"] = float(mask_iou(np.ones_like(np.concatenate(warped)),
                                                     arrays["masks"])["mean_iou"])
    return out
