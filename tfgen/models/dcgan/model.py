"""DCGAN (Radford, Metz & Chintala, ICLR 2016) — the baseline of all five
papers and exactly LR-GAN with one timestep.

Training follows the LR-GAN reference code: per iteration, one discriminator
step on a real batch and a generated batch (fakes detached), then one
generator step with the non-saturating loss against the updated
discriminator on the *same* fake batch (`generator_batch: reuse`, the
authors' `netD(fake)` after `netD(fake.detach())`): the generator's forward
pass runs once per iteration, its tape kept across the discriminator's
update. With XLA the two steps are separate compiled functions (a tape
cannot outlive one), so the generator's forward pass is repeated on the
same noise: the same fake batch, at the cost of the second pass.
`generator_batch: fresh` draws new noise for the generator step
(Goodfellow et al.'s Algorithm 1). Adam 2e-4, beta1 0.5, batch 64, z in
R^100 ~ N(0, I).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfgen.layers import DCGANDiscriminator, DCGANGenerator
from tfgen.losses import (
    nonsaturating_discriminator_loss,
    nonsaturating_generator_loss,
    reduce_loss,
)
from tfgen.models.base import GenerativeModel
from tfgen.models.trainable import AdversarialPair
from tfgen.models.dcgan.config import DCGANConfig
from tfgen.models.registry import register


@register("dcgan", DCGANConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class DCGAN(AdversarialPair, GenerativeModel):
    """Generator G: z -> image and discriminator D: image -> logit.

    Data: dicts with "image" float32 [batch, H, W, C] in [-1, 1].
    Metrics: d_loss, g_loss (unscaled means), d_real (mean sigmoid D(x)),
    d_fake (mean sigmoid D(G(z))).
    """

    precisions = ("float32", "mixed_bfloat16", "mixed_float16")

    def __init__(self, model_config, image_shape, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        h, w, c = self.image_shape
        if h != w:
            raise ValueError(f"DCGAN needs square images, got {self.image_shape}")
        sync = self.sync_batch_norm
        self.generator = self.make_generator()
        self.discriminator = DCGANDiscriminator(h, c, cfg.d_filters, sync_batch_norm=sync,
                                                weight_init=cfg.weight_init, name="discriminator")
        self.generator.build((None, self.latent_dim))
        self.discriminator.build((None, h, w, c))
        self.add_trackers("d_loss", "g_loss", "d_real", "d_fake")
        self._d_grads = self.maybe_xla(self._d_grads_impl)
        self._g_grads = self.maybe_xla(self._g_grads_impl)
        self.built = True

    def make_generator(self) -> keras.Model:
        """z [batch, latent_dim] -> images; subclasses (LR-GAN) supply their own."""
        h, _, c = self.image_shape
        cfg = self.model_config
        return DCGANGenerator(h, c, cfg.latent_dim, cfg.g_filters, sync_batch_norm=self.sync_batch_norm,
                              weight_init=cfg.weight_init,
                              name="generator")

    def generator_variables(self):
        """What the generator optimizer trains (the conditional LR-GAN adds its encoder)."""
        return self.generator.trainable_variables

    def call(self, z, training=False):
        return self.generator(z, training=training)

    def generate(self, z, training=False):
        return self.generator(z, training=training)

    def sub_networks(self):
        return {"generator": self.generator, "discriminator": self.discriminator}

    # The generator side of the game; the conditional LR-GAN supplies its own.
    def fake_batch(self, real, z, training=True):
        """The generator's batch for this iteration: G(z), [batch, H, W, C] in [-1, 1]."""
        return self.generator(z, training=training)

    def generator_objective(self, real, fake):
        """Per-example generator loss on `fake` [batch] and its stats (the non-saturating loss)."""
        per_example = nonsaturating_generator_loss(self.discriminator(fake, training=True))
        return per_example, {"g_loss": tf.reduce_mean(per_example)}

    # Per-replica loss and gradients; XLA-compiled when enabled.
    def _d_grads_impl(self, real, z):
        return self.discriminator_grads(real, tf.stop_gradient(self.fake_batch(real, z)))

    def discriminator_grads(self, real, fake):
        """Gradients of the non-saturating discriminator loss on a real and a fake batch, and its stats."""
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real, training=True)
            fake_logits = self.discriminator(fake, training=True)
            per_example = nonsaturating_discriminator_loss(real_logits, fake_logits)
            loss = self.d_optimizer.scale_loss(reduce_loss(per_example, self.global_batch_size(real)))
        grads = tape.gradient(loss, self.discriminator.trainable_variables)
        stats = {"d_loss": tf.reduce_mean(per_example),
                 "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                 "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}
        return grads, stats

    def _g_grads_impl(self, real, z):
        with tf.GradientTape() as tape:
            per_example, stats = self.generator_objective(real, self.fake_batch(real, z))
            loss = self.g_optimizer.scale_loss(reduce_loss(per_example, self.global_batch_size(real)))
        return tape.gradient(loss, self.generator_variables()), stats

    def _one_forward_step(self, real, z):
        """D step, then G step on the same fake batch, the generator run once (graph mode)."""
        with tf.GradientTape() as tape:
            fake = self.fake_batch(real, z)
            with tape.stop_recording():
                d_grads, d_stats = self.discriminator_grads(real, tf.stop_gradient(fake))
                self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
            per_example, g_stats = self.generator_objective(real, fake)
            loss = self.g_optimizer.scale_loss(reduce_loss(per_example, self.global_batch_size(real)))
        self.g_optimizer.apply(tape.gradient(loss, self.generator_variables()), self.generator_variables())
        return {**d_stats, **g_stats}

    def generator_noise(self, batch):
        """z for this iteration, [batch, latent_dim] (LR-GAN: all timesteps' noise)."""
        return self.per_example_normal(batch, [self.latent_dim])

    def train_step(self, data):
        real = data["image"]
        batch = tf.shape(real)[0]
        z_d = self.generator_noise(batch)
        reuse = self.model_config.generator_batch == "reuse"
        if reuse and not self.xla:
            return self.update_trackers(self._one_forward_step(real, z_d))
        d_grads, d_stats = self._d_grads(real, z_d)
        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        z_g = z_d if reuse else self.generator_noise(batch)
        g_grads, g_stats = self._g_grads(real, z_g)
        self.g_optimizer.apply(g_grads, self.generator_variables())
        return self.update_trackers({**d_stats, **g_stats})
