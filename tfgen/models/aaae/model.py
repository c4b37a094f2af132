"""AAAE: adversarially approximated autoencoder (Xu, Keshmiri & Wang, "Adversarially
approximated autoencoder for image generation and manipulation", IEEE TMM 2019).

An *unregularised* autoencoder, E_theta: x -> c and G_psi: c -> x, learns
faithful reconstructions with a patch discriminator D_omega sharpening them;
its code distribution p_theta(c) is left free and is then *approximated* by
a small generator G_phi: z -> c, z ~ N(0, I), trained against a latent
critic D_gamma with WGAN-GP. Samples are x = G_psi(G_phi(z)).

Training, per iteration (Algorithm 1):

1. autoencoder and patch discriminator, one simultaneous step on one batch:

       L_{theta,psi} = d(x, G_psi(E_theta(x))) + lambda_1 * mean_patches softplus(-D_omega(x_rec))
       L_omega       = mean_patches [softplus(-D_omega(x)) + softplus(D_omega(x_rec))]

   The paper's Eq. 7 writes lambda_1 on the reconstruction term, but its
   Table II and text (larger lambda_1 -> stronger discriminator, worse MSE)
   say lambda_1 weighs the adversarial term: we implement
   `reconstruction + lambda_1 * adversarial` (lambda_1 = 0.001). Eq. 7 also
   writes the raw logit D_omega where we use softplus(-D_omega(x_rec)), the
   non-saturating form of the discriminator's own logistic loss;
   `adversarial_form: logit` gives -D_omega(x_rec) (gradient larger by
   1/sigmoid(-D_omega) per patch: the same direction, a per-patch lambda_1). The
   discriminator tells real images from reconstructions x_rec (Algorithm
   1, line 5: "x_g ~ q_psi(x|c)"), with the logistic loss. d is the
   per-pixel squared error (the paper's MSE metric; `l1` optional).

2. k = 2 approximator steps (Eq. 9), each with a critic and an approximator
   gradient:

       L_gamma = D_gamma(c_g) - D_gamma(c) + lambda_2 (||grad D_gamma(c_hat)||_2 - 1)^2
       L_phi   = -D_gamma(c_g)

   with c = E_theta(x) (gradients stopped: the approximator follows the
   autoencoder, never pulls it), c_g = G_phi(z), c_hat an interpolation
   of c and c_g with weight ~ U[0, 1] per example, lambda_2 = 10. As
   Algorithm 1 (lines 9-13), by default each of the k steps draws its own
   batch of x (`approximator_codes: fresh`; the trainer feeds 1 + k
   batches per step, `batches_per_step`, split strided) and both gradients are taken at
   the same weights on the same c_g before both updates
   (`approximator_update: simultaneous`). `approximator_codes: reuse` gives
   the k steps step 1's codes of its own batch (one batch per iteration, two
   encoder passes fewer), `alternating` the critic's step and then the
   approximator's on fresh z (runs recorded before these fields load as
   reuse / alternating, as they ran).

"In practice, we always train the autoencoder first": `pretrain_steps` runs
step 1 alone for that many iterations. The approximator's and critic's
gradients are zeroed meanwhile (Adam then leaves their weights and moments
exactly unchanged) and their optimizers' step counters held at 0, so the
approximator's first real step is a fresh Adam step. This keeps one traced
train step (no branch around optimizer updates, which a strategy forbids).

Optimisers: Adam, learning rate 1e-4, beta_1 0.5 for all four (the paper);
its "beta_2 = 10^-1" is read as a typo for Adam's default 0.999, which we
use (a beta_2 of 0.1 makes Adam close to sign-SGD). Batch 100, z in R^64,
c in R^128, weights ~ N(0, 0.01).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgen.errors import ConfigError
from tfgen.losses import (
    gradient_penalty,
    logit_generator_loss,
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    reconstruction_distance,
    reduce_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from tfgen.metrics import frechet_distance_from_features
from tfgen.models.aaae import networks
from tfgen.models.aaae.config import AAAEConfig
from tfgen.models.base import GenerativeModel
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.ops.batching import map_batches
from tfgen.viz import image_grid, principal_axes, scatter_image


def attribute_direction(codes, has_attribute) -> np.ndarray:
    """Mean code of examples with an attribute minus the mean code of those without (Fig. 8).

    Args:
      codes: float [N, code_dim], encoded images.
      has_attribute: bool [N]; both values must occur.

    Returns:
      float32 [code_dim]: adding it to a code adds the attribute.
    """
    codes = np.asarray(codes, np.float64)
    has_attribute = np.asarray(has_attribute, bool).reshape(-1)
    if len(has_attribute) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(has_attribute)} attribute values")
    if has_attribute.all() or not has_attribute.any():
        raise ValueError("attribute_direction needs examples both with and without the attribute "
                         f"({int(has_attribute.sum())} of {len(has_attribute)} have it)")
    return (codes[has_attribute].mean(axis=0) - codes[~has_attribute].mean(axis=0)).astype(np.float32)


@register("aaae", AAAEConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class AAAE(GenerativeModel):
    """Encoder, decoder, patch discriminator, approximator and latent critic.

    Data: dicts with "image" float32 [batch, H, W, C] in [-1, 1].
    Metrics (unscaled batch means): reconstruction_mse; adversarial (the
    autoencoder's softplus(-D_omega(x_rec))); d_loss, d_real, d_fake (mean
    sigmoid of D_omega's patch logits on real images and reconstructions);
    critic_loss (with the penalty), wasserstein (mean D_gamma(c) -
    D_gamma(c_g), the critic's W1 estimate), gradient_penalty (unweighted);
    approximator_loss. Codes: latent_dim-long z in, code_dim-long c.
    """

    reconstructs = True

    def __init__(self, model_config, image_shape, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        h, w, c = self.image_shape
        if h != w:
            raise ValueError(f"AAAE needs square images, got {self.image_shape}")
        sync, init = self.sync_batch_norm, cfg.init_stddev
        self.encoder = networks.encoder(h, c, cfg.code_dim, cfg.base_filters, cfg.max_filters, init, sync)
        if cfg.decoder_dense_units % 4:
            raise ConfigError(f"model.decoder_dense_units={cfg.decoder_dense_units}: the FC output is reshaped "
                              "to 2x2xN, so it must be a multiple of 4")
        self.decoder = networks.decoder(h, c, cfg.code_dim, cfg.base_filters, cfg.max_filters, init, sync,
                                        dense_units=cfg.decoder_dense_units)
        self.discriminator = networks.patch_discriminator(h, c, cfg.base_filters, cfg.max_filters,
                                                             cfg.leaky_slope, init)
        self.approximator = networks.mlp(cfg.latent_dim, cfg.mlp_units, cfg.mlp_layers, cfg.code_dim, "elu",
                                            init_stddev=init, name="approximator")
        self.critic = networks.mlp(cfg.code_dim, cfg.mlp_units, cfg.mlp_layers, 1, "leaky_relu",
                                      cfg.leaky_slope, init, name="latent_critic")
        self.add_trackers("reconstruction_mse", "adversarial", "d_loss", "d_real", "d_fake", "critic_loss",
                          "wasserstein", "gradient_penalty", "approximator_loss")
        self._ae_grads = self.maybe_xla(self._ae_grads_impl)
        self._critic_grads = self.maybe_xla(self._critic_grads_impl)
        self._approximator_grads = self.maybe_xla(self._approximator_grads_impl)
        self._encode_for_critic = self.maybe_xla(self._encode_for_critic_impl)
        self.built = True

    # -- the networks as functions ------------------------------------------
    def call(self, images, training=False):
        return self.decoder(self.encoder(images, training=training), training=training)

    def encode(self, images, training=False):
        """Images [B, H, W, C] in [-1, 1] -> codes [B, code_dim]."""
        return self.encoder(images, training=training)

    def decode(self, codes, training=False):
        """Codes [B, code_dim] -> images [B, H, W, C] in [-1, 1]."""
        return self.decoder(codes, training=training)

    def approximate(self, z, training=False):
        """Noise [B, latent_dim] -> approximated codes [B, code_dim]."""
        return self.approximator(z, training=training)

    def generate(self, z, training=False):
        """x = G_psi(G_phi(z)): noise [B, latent_dim] -> images [B, H, W, C] in [-1, 1]."""
        return self.decode(self.approximate(z, training=training), training=training)

    def reconstruct(self, images):
        return self.decode(self.encode(images))

    def interpolate(self, images_a, images_b, steps):
        """Decodes codes linearly interpolated between two images' codes (Fig. 7).

        Args:
          images_a, images_b: [B, H, W, C] in [-1, 1], paired by position.
          steps: points on each path, >= 2 (the ends are the reconstructions).

        Returns:
          [B, steps, H, W, C] in [-1, 1].
        """
        code_a, code_b = self.encode(images_a), self.encode(images_b)
        t = tf.reshape(tf.linspace(0.0, 1.0, steps), [1, -1, 1])
        codes = (1.0 - t) * code_a[:, None] + t * code_b[:, None]  # [B, steps, code_dim]
        images = self.decode(tf.reshape(codes, [-1, self.model_config.code_dim]))
        return tf.reshape(images, [tf.shape(images_a)[0], -1, *self.image_shape])

    def manipulate(self, images, direction, scales: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0)):
        """Decodes E(x) + s * direction for each scale s (Fig. 8).

        Args:
          images: [B, H, W, C] in [-1, 1].
          direction: [code_dim], e.g. from `attribute_direction`.
          scales: how far to move along the direction.

        Returns:
          [B, len(scales), H, W, C] in [-1, 1].
        """
        codes = self.encode(images)
        shifts = tf.constant(scales, tf.float32)[None, :, None] * tf.reshape(
            tf.cast(direction, tf.float32), [1, 1, -1])
        images = self.decode(tf.reshape(codes[:, None] + shifts, [-1, self.model_config.code_dim]))
        return tf.reshape(images, [tf.shape(codes)[0], len(scales), *self.image_shape])

    # -- optimizers ---------------------------------------------------------
    def autoencoder_variables(self):
        return self.encoder.trainable_variables + self.decoder.trainable_variables

    def compile(self, ae_optimizer=None, d_optimizer=None, approximator_optimizer=None, critic_optimizer=None,
                **kwargs):
        super().compile(**kwargs)
        self.ae_optimizer = ae_optimizer or self.adam()
        self.d_optimizer = d_optimizer or self.adam()
        self.approximator_optimizer = approximator_optimizer or self.adam()
        self.critic_optimizer = critic_optimizer or self.adam()
        self.build_optimizer(self.ae_optimizer, self.autoencoder_variables())
        self.build_optimizer(self.d_optimizer, self.discriminator.trainable_variables)
        self.build_optimizer(self.approximator_optimizer, self.approximator.trainable_variables)
        self.build_optimizer(self.critic_optimizer, self.critic.trainable_variables)

    def optimizers_by_name(self):
        return {"ae_optimizer": self.ae_optimizer, "d_optimizer": self.d_optimizer,
                "approximator_optimizer": self.approximator_optimizer, "critic_optimizer": self.critic_optimizer}

    def sub_networks(self):
        return {"encoder": self.encoder, "decoder": self.decoder, "discriminator": self.discriminator,
                "approximator": self.approximator, "critic": self.critic}

    # -- training (per-replica loss and gradients; XLA-compiled when enabled) --
    def _ae_grads_impl(self, real):
        """Step 1: gradients of the autoencoder and of D_omega from one forward pass."""
        cfg = self.model_config
        global_batch = self.global_batch_size(real)
        with tf.GradientTape(persistent=True) as tape:
            codes = self.encoder(real, training=True)
            recon = self.decoder(codes, training=True)
            real_logits = self.discriminator(real, training=True)
            recon_logits = self.discriminator(recon, training=True)
            distance = reconstruction_distance(real, recon, cfg.reconstruction_loss)
            if cfg.adversarial_form == "logit":
                adversarial = logit_generator_loss(recon_logits)
            else:
                adversarial = nonsaturating_generator_loss(recon_logits)
            ae_loss = reduce_loss(distance + cfg.adversarial_weight * adversarial, global_batch)
            # D_omega's gradient does not reach the autoencoder: only its own variables are differentiated.
            d_per_example = nonsaturating_discriminator_loss(real_logits, recon_logits)
            d_loss = reduce_loss(d_per_example, global_batch)
        ae_grads = tape.gradient(ae_loss, self.autoencoder_variables())
        d_grads = tape.gradient(d_loss, self.discriminator.trainable_variables)
        del tape
        stats = {"reconstruction_mse": tf.reduce_mean(tf.square(real - recon)),
                 "adversarial": tf.reduce_mean(adversarial),
                 "d_loss": tf.reduce_mean(d_per_example),
                 "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                 "d_fake": tf.reduce_mean(tf.sigmoid(recon_logits))}
        return ae_grads, d_grads, tf.stop_gradient(codes), stats

    def _critic_grads_impl(self, codes, z, alpha):
        """Eq. 9 for D_gamma: encoded codes [B, code_dim] are real, G_phi(z) fake."""
        cfg = self.model_config
        fake = tf.stop_gradient(self.approximator(z, training=True))
        with tf.GradientTape() as tape:
            critic = lambda c: self.critic(c, training=True)  # noqa: E731
            distance = wasserstein_critic_loss(critic(codes), critic(fake))
            penalty = gradient_penalty(critic, codes, fake, alpha)
            per_example = distance + cfg.gradient_penalty_weight * penalty
            loss = reduce_loss(per_example, self.global_batch_size(codes))
        grads = tape.gradient(loss, self.critic.trainable_variables)
        return grads, {"critic_loss": tf.reduce_mean(per_example), "wasserstein": -tf.reduce_mean(distance),
                       "gradient_penalty": tf.reduce_mean(penalty)}

    def _approximator_grads_impl(self, z):
        """Eq. 9 for G_phi: -D_gamma(G_phi(z))."""
        with tf.GradientTape() as tape:
            per_example = wasserstein_generator_loss(self.critic(self.approximator(z, training=True),
                                                                 training=True))
            loss = reduce_loss(per_example, self.global_batch_size(z))
        grads = tape.gradient(loss, self.approximator.trainable_variables)
        return grads, {"approximator_loss": tf.reduce_mean(per_example)}

    def batches_per_step(self) -> int:
        """1 + k with `approximator_codes: fresh` (a batch per approximator step, Algorithm 1 line 9), else 1."""
        cfg = self.model_config
        return 1 + cfg.approximator_steps if cfg.approximator_codes == "fresh" else 1

    def _split_batch(self, real):
        """The step's batch as `batches_per_step()` equal parts (one per draw of x in Algorithm 1)."""
        parts = self.batches_per_step()
        if parts == 1:
            return [real]
        message = (f"AAAE with approximator_codes fresh splits each batch into {parts} equal parts "
                   f"(1 + approximator_steps; tfgen's trainer feeds {parts} x train.batch_size)")
        if real.shape[0] is not None and real.shape[0] % parts:
            raise ValueError(f"{message}: got a batch of {real.shape[0]}")
        n = tf.shape(real)[0]
        tf.debugging.assert_equal(n % parts, 0, message=message)
        # Strided (part j = examples j, j + parts, ...), not contiguous: with several replicas, each
        # replica's parts then hold exactly its share of the one-device parts, in the same order.
        shaped = tf.reshape(real, tf.concat([[n // parts, parts], tf.shape(real)[1:]], 0))
        return [shaped[:, i] for i in range(parts)]

    def train_step(self, data):
        cfg = self.model_config
        parts = self._split_batch(data["image"])
        real = parts[0]
        batch = tf.shape(real)[0]
        # Read before this step's update: iteration i < pretrain_steps is autoencoder-only.
        pretraining = self.ae_optimizer.iterations < cfg.pretrain_steps if cfg.pretrain_steps else None

        ae_grads, d_grads, codes, stats = self._ae_grads(real)
        self.ae_optimizer.apply(ae_grads, self.autoencoder_variables())
        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)

        for j in range(cfg.approximator_steps):
            if cfg.approximator_codes == "fresh":
                # Algorithm 1 line 9: a new x ~ p(x) and its code under the updated encoder.
                codes = self._encode_for_critic(parts[1 + j])
            alpha = self.per_example_uniform(batch)
            z = self.per_example_normal(batch, [cfg.latent_dim])
            c_grads, c_stats = self._critic_grads(codes, z, alpha)
            if cfg.approximator_update == "simultaneous":
                # Lines 11-13: both gradients at the same (φ, γ) and the same c_g = G_φ(z), then both steps.
                a_grads, a_stats = self._approximator_grads(z)
                self._apply_unless(pretraining, self.critic_optimizer, c_grads, self.critic.trainable_variables)
            else:
                self._apply_unless(pretraining, self.critic_optimizer, c_grads, self.critic.trainable_variables)
                a_grads, a_stats = self._approximator_grads(self.per_example_normal(batch, [cfg.latent_dim]))
            self._apply_unless(pretraining, self.approximator_optimizer, a_grads,
                               self.approximator.trainable_variables)
            stats.update(c_stats)
            stats.update(a_stats)  # the last of the k steps is reported
        return self.update_trackers(stats)

    def _encode_for_critic_impl(self, images):
        # Training mode, as step 1 encodes: BN on batch statistics.
        return tf.stop_gradient(self.encoder(images, training=True))

    @staticmethod
    def _apply_unless(pretraining, optimizer, grads, variables):
        """Applies gradients, or while `pretraining` (a bool tensor) a no-op Adam step.

        Zero gradients leave Adam's moments at zero and the weights unchanged;
        resetting the step counter keeps the first real step's bias
        correction that of a fresh optimizer.
        """
        if pretraining is None:
            optimizer.apply(grads, variables)
            return
        keep = tf.cast(tf.logical_not(pretraining), tf.float32)
        optimizer.apply([g * keep for g in grads], variables)
        optimizer.iterations.assign(tf.where(pretraining, tf.zeros_like(optimizer.iterations),
                                             optimizer.iterations))

    # -- TensorBoard --------------------------------------------------------
    def image_panels(self, fixed_latent, real_batch):
        """Samples, reconstructions beside the inputs, interpolation strips
        (Fig. 7), an attribute manipulation grid (Fig. 8) and a 2-D picture of
        encoded vs approximated codes."""
        real = real_batch["image"]
        panels = super().image_panels(fixed_latent, real_batch)
        n = int(real.shape[0])
        rows, steps = min(n // 2, 8), 8
        if rows:
            a, b = real[:rows], real[rows:2 * rows]
            strip = tf.concat([a[:, None], self.interpolate(a, b, steps), b[:, None]], axis=1)
            panels["interpolation"] = self.figure_panel(image_grid(
                tf.reshape(strip, [-1, *self.image_shape]).numpy(), ncols=steps + 2))
        if "label" in real_batch:
            grid = self.manipulation_grid(real, np.asarray(real_batch["label"]))
            if grid is not None:
                panels["manipulation"] = grid
        panels["codes"] = self.code_scatter(real, fixed_latent)
        return panels

    png_panels = ("samples", "real_vs_reconstruction", "interpolation", "manipulation", "codes")

    def manipulation_grid(self, images, labels, scales=(0.0, 0.5, 1.0, 1.5, 2.0), rows: int = 6):
        """Images without the batch's most common label moved towards it (Fig. 8).

        Each row: the input, then decodes of E(x) + s * (mean code with the
        label - mean code without). None when the batch has a single label.
        """
        values, counts = np.unique(labels, return_counts=True)
        if len(values) < 2:
            return None
        target = values[np.argmax(counts)]
        direction = attribute_direction(self.encode(images).numpy(), labels == target)
        others = images.numpy()[labels != target][:rows]
        moved = self.manipulate(others, direction, scales)
        rows_ = tf.concat([tf.constant(others)[:, None], moved], axis=1)
        return self.figure_panel(image_grid(tf.reshape(rows_, [-1, *self.image_shape]).numpy(),
                                          ncols=len(scales) + 1))

    def code_scatter(self, images, z) -> tf.Tensor:
        """Encoded (blue) and approximated (orange) codes on the encoded codes'
        two principal axes: how well G_phi covers p_theta(c)."""
        encoded = self.encode(images).numpy()
        approximated = self.approximate(z).numpy()
        mean, axes = principal_axes(encoded)
        return self.figure_panel(scatter_image([(encoded - mean) @ axes, (approximated - mean) @ axes]))

    def histograms(self, fixed_latent, real_batch):
        """Encoded vs approximated values of the first code dimensions."""
        encoded = self.encode(real_batch["image"]).numpy()
        approximated = self.approximate(fixed_latent).numpy()
        out = {}
        for d in range(min(4, encoded.shape[1])):
            out[f"codes/dim{d}/encoded"] = encoded[:, d]
            out[f"codes/dim{d}/approximated"] = approximated[:, d]
        return out

    # -- evaluation and serving -----------------------------------------------
    def serving_endpoints(self):
        endpoints = super().serving_endpoints()
        h, w, c = self.image_shape
        k = self.model_config.code_dim
        image_spec = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
        shape = f"[batch, {h}, {w}, {c}]"

        def encode(images):
            return {"codes": self.encode(images)}

        def decode(codes):
            return {"images": self.decode(codes)}

        def reconstruct(images):
            return {"reconstructions": self.reconstruct(images)}

        def interpolate(images_a, images_b, steps):
            return {"images": self.interpolate(images_a, images_b, steps)}

        endpoints["encode"] = (encode, [image_spec], (
            f"encode(images: float32 {shape} in [-1, 1]) -> {{codes: float32 [batch, {k}]}}"))
        endpoints["decode"] = (decode, [tf.TensorSpec([None, k], tf.float32, name="codes")], (
            f"decode(codes: float32 [batch, {k}]) -> {{images: float32 {shape} in [-1, 1]}}"))
        endpoints["reconstruct"] = (reconstruct, [image_spec], (
            f"reconstruct(images: float32 {shape} in [-1, 1]) -> {{reconstructions: float32 {shape} in [-1, 1]}}"))
        endpoints["interpolate"] = (interpolate, [
            tf.TensorSpec([None, h, w, c], tf.float32, name="images_a"),
            tf.TensorSpec([None, h, w, c], tf.float32, name="images_b"),
            tf.TensorSpec([], tf.int32, name="steps")], (
            f"interpolate(images_a, images_b: float32 {shape} in [-1, 1], steps: int32 scalar >= 2) -> "
            f"{{images: float32 [batch, steps, {h}, {w}, {c}] in [-1, 1]}}, decoded from codes on the line "
            "from E(images_a) to E(images_b)"))
        return endpoints


@register_evaluation_extras("aaae")
def evaluation_extras(model, arrays, extractor=None) -> Dict[str, Any]:
    """Fréchet distance between encoded test codes and approximated codes
    (how well G_phi matches p_theta(c); 0 is a perfect Gaussian match), and
    the same for a standard normal "prior" as a reference."""
    images = arrays["image"]
    encoded = map_batches(model.encode, images)
    if len(encoded) < 2:
        return {}
    z = model.sample_latent(len(encoded), seed=1234)
    approximated = model.approximate(z).numpy()
    normal = np.random.default_rng(0).standard_normal(encoded.shape)
    return {"code_frechet_distance": frechet_distance_from_features(encoded, approximated),
            "code_frechet_distance_standard_normal": frechet_distance_from_features(encoded, normal)}
