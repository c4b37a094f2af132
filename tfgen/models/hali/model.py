"""HALI: hierarchical adversarially learned inference (Belghazi, Rajeswar,
Mastropietro, Rostamzadeh, Mitrovic & Courville, 2018), with ALI
(Dumoulin et al., ICLR 2017) as its one-level case (`levels: 1`).

Two Markov chains of conditional isotropic Gaussians (§3.1, §4):

    encoder q:  x -> z1 -> z2      q(x, z1, z2) = q(x) q(z1 | x) q(z2 | z1)      (Eq. 3)
    decoder p:  z2 -> z1 -> x      p(x, z1, z2) = p(z2) p(z1 | z2) p(x | z1)     (Eq. 4)

with z1 a feature map (64 x 16 x 16 at 32x32 in the paper), z2 a vector
(256) and the prior p(z2) = N(0, I). Each transition outputs a mean and a
log sigma and samples by reparameterisation; p(x | z1) is the decoder's
tanh output (deterministic, as in ALI). A discriminator D(x, z1, z2) tells
encoder triples (x, ẑ1, ẑ2) from decoder triples (x̃, z̃1, z2), with ALI's
objective (`ali_discriminator_loss`, `ali_generator_loss`): under an ideal
discriminator the encoder and decoder minimise the Jensen-Shannon
divergence between the two joints (§3.1).

Training (Algorithm 1, as ALI's reference code): per step one batch of
real images and one of prior draws; one forward pass gives both losses; D
and the encoder+decoder are updated simultaneously from it (the G update
uses D before D's own update). Adam lr 1e-4, beta1 0.5 (ALI's tables).
beta2: ALI's tables print "beta2 = 10^-3", which is 1 - beta2 in the
convention of early Adam write-ups (the reference code leaves the Blocks
default, 0.999); we use 0.999 (config `beta2`).

Hierarchy of reconstructions (§3.2, Eq. 5): level 1 is x -> z1 -> x̂₁, level
2 is x -> z1 -> z2 -> z1' -> x̂₂. HALI adds no reconstruction term: the
train step only *tracks* per-level reconstruction MSE and the perceptual
distance of Eq. 8 in the discriminator's penultimate features (on the
first `metric_examples` examples of each batch: they cost inference
passes). Both, like `reconstruct`, use the means of every transition
(deterministic).

Inpainting (§6.1): the hole is first filled from the top-level (z2)
reconstruction, then refined by `inpaint_iterations` level-1
reconstructions; known pixels are kept exactly after every step.

Uses of the hierarchy (§6.2, §6.3, §7.2):

* `latent_variations`: multiply one entry of z2 (or one feature map of
  z1, z2 fixed) by a range of scalars and decode (§6.2); scale 1 gives back
  the unmodified decode, the reconstruction when the codes are encoded.
* `innovate`: the paper's latent semantic innovation (§6.3). Encode x to
  (ẑ1, ẑ2), multiply one entry of ẑ2 by a scalar (z2'), decode both z2'
  and ẑ2 to z1 (means of p(z1 | z2)); their difference is the innovation
  tensor, which is *added* to ẑ1 before decoding (the extracted text lost the
  symbols and reads "subtract"; adding moves the image the way the edit
  moves the decoded z1, which is what the figure shows).
* `resample_lower_level`: keep the encoded ẑ2 and draw z1 ~ p(z1 | ẑ2)
  several times: what the lower level adds given the upper one (TensorBoard
  panel "innovation"; the paper's edit is the panel "innovation_tensor").
* Semi-supervised classification (§7.2, Eqs. 9-10; `labelled_examples: N`
  with N > 0): a softmax head q(y | z2) on the encoder's z2 sample; its
  cross-entropy on the labelled examples of a batch (the first N training
  examples by "index"), times `supervised_weight`, is added to the encoder
  and decoder's loss. Unlabelled examples contribute exactly zero; the sum
  is divided by the global batch size, like every other loss, so one device
  and MirroredStrategy agree. The paper draws its 100 labels evenly from
  the classes; the first N by index are only roughly balanced. Tracked:
  supervised_loss (mean cross-entropy over the labelled examples seen) and
  train_accuracy (on the same examples).

ALI (`levels: 1`): the z1 Gaussian layer is dropped and the same trunks
compose deterministically, so encoder x -> z, decoder z -> x, D(x, z):
ALI with HALI's networks, through the same code path. `latent_dim` is then
ALI's z, and every "level 1" reconstruction goes through z.

Choices where the paper is silent or garbled (extracted text lost the
table's numbers):
* Dropout: the table's column (0.2 on layers fed an input, 0.5 elsewhere)
  read as drop rates, as in ALI's code, on the input of every
  discriminator layer; the text's "probability of retention of 0.2" would
  drop 80% and is taken as a slip.
* Gaussian input noise (std 0.2) on x at the encoder and on all three
  discriminator inputs (x, z1, z2).
* Weight norm on the discriminator's convolutions, not on its dense head
  (as the table marks); g starts at 1 (no data-dependent init).
* LeakyReLU slope 0.1 and weights N(0, 0.01) (ALI's code) in the encoder and
  decoder; Glorot in the discriminator's dense head (N(0, 0.01) there left
  logits near 1e-3 and D unmoved after 300 smoke-run steps).
* Eq. 8's embedding f(x): the discriminator's penultimate activations on
  (x, encoder means of x), so an image is embedded with its own inference.
* Non-square images and image sides that are not powers of two are refused.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfgen.errors import ConfigError
from tfgen.losses import nonsaturating_discriminator_loss, reduce_loss
from tfgen.models.base import GenerativeModel
from tfgen.models.hali.config import HALIConfig
from tfgen.models.hali.networks import (
    HALIDecoder,
    HALIDiscriminator,
    HALIEncoder,
    reparameterize,
    stochastic_layers,
)
from tfgen.models.registry import register
from tfgen.viz import labelled_blocks

# ---------------------------------------------------------------------------
# Losses (pure, per example)
# ---------------------------------------------------------------------------

def ali_discriminator_loss(encoder_logits: tf.Tensor, decoder_logits: tf.Tensor) -> tf.Tensor:
    """ALI/HALI discriminator loss (Dumoulin et al. 2017; HALI Algorithm 1).

    L_D = -log sigmoid(D(x, ẑ)) - log(1 - sigmoid(D(x̃, z)))
        = softplus(-D(x, ẑ)) + softplus(D(x̃, z))

    Encoder triples (x, ẑ1, ẑ2) play the "real" side, decoder triples
    (x̃, z̃1, z2) the "fake" side.

    Args:
      encoder_logits: [batch] D on encoder triples.
      decoder_logits: [batch] D on decoder triples.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return nonsaturating_discriminator_loss(encoder_logits, decoder_logits)


def ali_generator_loss(encoder_logits: tf.Tensor, decoder_logits: tf.Tensor) -> tf.Tensor:
    """ALI/HALI encoder-and-decoder loss: the discriminator's with sides swapped.

    L_GE = softplus(D(x, ẑ)) + softplus(-D(x̃, z))

    (the non-saturating form of ALI's reference code: the encoder is pushed
    to look like the decoder and the decoder like the encoder).

    Args:
      encoder_logits: [batch] D on encoder triples.
      decoder_logits: [batch] D on decoder triples.

    Returns:
      [batch] per-example loss, >= 0.
    """
    return nonsaturating_discriminator_loss(decoder_logits, encoder_logits)


def centre_hole_mask(batch: int, height: int, width: int) -> tf.Tensor:
    """Inpainting mask with the central half-size square unknown (§6.1).

    Returns:
      float32 [batch, height, width, 1]: 1 where a pixel is known, 0 in the hole.
    """
    mask = np.ones((height, width), np.float32)
    mask[height // 4:height // 4 + height // 2, width // 4:width // 4 + width // 2] = 0.0
    return tf.tile(tf.constant(mask)[None, :, :, None], [batch, 1, 1, 1])


def masked_cross_entropy(logits: tf.Tensor, labels: tf.Tensor, labelled: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy on the labelled examples, exactly 0 on the others (§7.2, Eq. 10).

    -log q(y | z2) with q a softmax over `logits`. An unlabelled example's
    label is never read (it may hold any value, e.g. -1), and its loss and
    every gradient through it are exactly 0.

    Args:
      logits: float [batch, num_classes].
      labels: int [batch]; only entries where `labelled` is true are used.
      labelled: bool [batch].

    Returns:
      float [batch], >= 0; 0 where `labelled` is false.
    """
    labels = tf.cast(labels, tf.int32)
    safe = tf.where(labelled, labels, tf.zeros_like(labels))
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    return tf.where(labelled, per_example, tf.zeros_like(per_example))


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


# ---------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

@register("hali", HALIConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class HALI(GenerativeModel):
    """Encoder x -> z1 -> z2, decoder z2 -> z1 -> x, discriminator D(x, z1, z2).

    See the module docstring. `levels: 1` is ALI.

    Data: dicts with "image" float32 [batch, S, S, C] in [-1, 1] (square,
    S / z1_stride a power of two >= 4).
    Metrics: d_loss, g_loss (unscaled means), d_encoder / d_decoder (mean
    sigmoid D on encoder / decoder triples), recon_mse_<l> (per-pixel MSE
    of the level-l reconstruction, Eq. 5) and perceptual_<l> (mean
    Euclidean distance of discriminator features, Eq. 8), l = 1..levels,
    on the first `metric_examples` examples of each replica's batch; with
    `labelled_examples` > 0 also supervised_loss and train_accuracy (data
    then needs "label" int [batch] and "index" int [batch]).
    Latents: `generate(z)` takes z2 [batch, latent_dim].
    """

    reconstructs = True
    png_panels = ("samples", "real_vs_reconstructions", "inpainting", "latent_variations", "innovation")

    def __init__(self, model_config, image_shape, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        h, w, c = self.image_shape
        if h != w:
            raise ValueError(f"HALI needs square images, got {self.image_shape}")
        self.levels = int(cfg.levels)
        common = dict(image_size=h, channels=c, levels=self.levels, latent_dim=cfg.latent_dim,
                      z1_channels=cfg.z1_channels, z1_stride=cfg.z1_stride)
        # Each network's noise layers get their own seeds, apart from the model's own stream (seed).
        seed = 1000 * self.seed
        self.encoder = HALIEncoder(**common, filters=cfg.filters, input_noise=cfg.input_noise,
                                   sync_batch_norm=self.sync_batch_norm, seed=seed + 100, name="encoder")
        self.decoder = HALIDecoder(**common, filters=cfg.filters, sync_batch_norm=self.sync_batch_norm,
                                   seed=seed + 200, name="decoder")
        self.discriminator = HALIDiscriminator(**common, filters=cfg.d_filters, dropout=cfg.dropout,
                                               input_dropout=cfg.input_dropout, input_noise=cfg.input_noise,
                                               seed=seed + 300, name="discriminator")
        self.classifier = None
        if cfg.labelled_examples > 0:
            if not self.num_classes or self.num_classes < 2:
                raise ConfigError(f"model.labelled_examples={cfg.labelled_examples} needs a dataset with class "
                                  f"labels (this one has num_classes={self.num_classes})")
            # q(y | z2) is "a softmax" (§7.2): one linear layer on z2.
            self.classifier = keras.layers.Dense(int(self.num_classes), name="classifier")
        self._build_networks()
        levels = range(1, self.levels + 1)
        self.add_trackers("d_loss", "g_loss", "d_encoder", "d_decoder",
                          *[f"recon_mse_{lv}" for lv in levels], *[f"perceptual_{lv}" for lv in levels])
        if self.classifier is not None:
            self.add_trackers("supervised_loss", "train_accuracy")
        self._grads = self.maybe_xla(self._grads_impl)
        self._recon_stats = self.maybe_xla(self._recon_stats_impl)
        self.built = True

    def _build_networks(self) -> None:
        """Creates every variable now (inside the caller's strategy scope) with one
        deterministic, inference-mode pass: no noise is drawn, no statistic moves."""
        h, w, c = self.image_shape
        x = tf.zeros([1, h, w, c])
        means = [mean for _, mean, _ in self.encoder(x, training=False, sample=False)]
        self.decoder(tf.zeros([1, self.latent_dim]), training=False, sample=False)
        self.discriminator([x, *means], training=False)
        if self.classifier is not None:
            self.classifier(means[-1])

    # -- hooks --------------------------------------------------------------
    def call(self, z, training=False):
        return self.generate(z, training=training)

    def generate(self, z, training=False):
        """z2 float32 [batch, latent_dim] -> images [batch, S, S, C] in [-1, 1].

        z1 is sampled from p(z1 | z2) (outside training from the decoder's
        evaluation noise stream, so drawing images never moves training noise).
        """
        images, _ = self.decoder(z, training=training, sample=True)
        return images

    def generator_variables(self) -> List[tf.Variable]:
        """What the generator optimizer trains: encoder and decoder (ALI's "generator
        parameters"), and the semi-supervised head when there is one."""
        out = self.encoder.trainable_variables + self.decoder.trainable_variables
        if self.classifier is not None:
            out += self.classifier.trainable_variables
        return out

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer or self.adam()
        self.d_optimizer = d_optimizer or self.adam()
        self.build_optimizer(self.g_optimizer, self.generator_variables())
        self.build_optimizer(self.d_optimizer, self.discriminator.trainable_variables)

    def optimizers_by_name(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def sub_networks(self):
        networks = {"encoder": self.encoder, "decoder": self.decoder, "discriminator": self.discriminator}
        if self.classifier is not None:
            networks["classifier"] = self.classifier
        return networks

    def persistent_state(self):
        """The model's noise seed plus the training noise stream of every noise
        layer (input noise, dropout, Gaussian transitions), so a resumed run
        draws what an uninterrupted one would."""
        state = super().persistent_state()
        for i, layer in enumerate(stochastic_layers(self)):
            state[f"noise_{i:02d}_{layer.name}"] = layer.train_seed.state
        return state

    # -- training -----------------------------------------------------------
    def supervised_terms(self, z2, labels, labelled):
        """The semi-supervised cost of §7.2 (Eq. 10) on one replica's batch.

        Args:
          z2: float [batch, latent_dim], the encoder's z2 (a sample in training).
          labels: int [batch]; read only where `labelled`.
          labelled: bool [batch].

        Returns:
          (loss, per_example, correct): loss is this replica's share of
          supervised_weight * sum over labelled examples of -log q(y | z2),
          divided by the global batch size (`reduce_loss`); per_example
          [batch] the cross-entropy (0 where unlabelled); correct float
          [batch], 1 where the head's most likely class is the label.
        """
        logits = self.classifier(z2)
        per_example = masked_cross_entropy(logits, labels, labelled)
        loss = self.model_config.supervised_weight * reduce_loss(per_example, self.global_batch_size(z2))
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32)),
                          tf.float32)
        return loss, per_example, correct

    def _grads_impl(self, real, z2, labels=None, labelled=None):
        """Per-replica losses and gradients of one ALI step (XLA-compiled when enabled).

        Args:
          real: [batch, S, S, C] real images in [-1, 1].
          z2: [batch, latent_dim] prior draws.
          labels, labelled: int [batch] labels and bool [batch] which of them
            count; given when the model has the semi-supervised head.

        Returns:
          (discriminator gradients, encoder+decoder gradients, stats,
          weighted): stats are scalars for the trackers; weighted maps
          tracker names to (per-example values, per-example weights), empty
          without the head.
        """
        g_vars = self.generator_variables()
        weighted = {}
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            encoder_latents = [z for z, _, _ in self.encoder(real, training=True)]
            fake, decoder_latents = self.decoder(z2, training=True)
            # Two calls, not one on the concatenation: noise is drawn per example
            # of each call, which keeps replicas identical to one device.
            encoder_logits = self.discriminator([real, *encoder_latents], training=True)
            decoder_logits = self.discriminator([fake, *decoder_latents], training=True)
            d_per_example = ali_discriminator_loss(encoder_logits, decoder_logits)
            g_per_example = ali_generator_loss(encoder_logits, decoder_logits)
            global_batch = self.global_batch_size(real)
            d_loss = reduce_loss(d_per_example, global_batch)
            g_loss = reduce_loss(g_per_example, global_batch)
            if self.classifier is not None:
                # The supervised cost joins the generator's (§7.2): it trains the
                # head and, through the z2 sample, the encoder.
                supervised, per_example, correct = self.supervised_terms(encoder_latents[-1], labels, labelled)
                g_loss = g_loss + supervised
                weight = tf.cast(labelled, tf.float32)
                weighted = {"supervised_loss": (per_example, weight), "train_accuracy": (correct, weight)}
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        g_grads = g_tape.gradient(g_loss, g_vars)
        # g_loss is logged as the adversarial term alone, comparable with and without labels.
        stats = {"d_loss": tf.reduce_mean(d_per_example), "g_loss": tf.reduce_mean(g_per_example),
                 "d_encoder": tf.reduce_mean(tf.sigmoid(encoder_logits)),
                 "d_decoder": tf.reduce_mean(tf.sigmoid(decoder_logits))}
        return d_grads, g_grads, stats, weighted

    def _recon_stats_impl(self, real):
        """Reconstruction metrics (Eq. 5 as MSE, Eq. 8), inference mode, no gradient.

        Returns:
          {recon_mse_<l>, perceptual_<l>}: batch means, l = 1..levels.
        """
        real = tf.stop_gradient(real)
        recons = self.reconstructions(real)
        # One discriminator pass for the images and all their reconstructions:
        # inference mode has no noise and no batch statistics, so batching is free.
        features = tf.split(self.discriminator_features(tf.concat([real, *recons], axis=0)), 1 + len(recons))
        stats = {}
        for level, recon in enumerate(recons, start=1):
            stats[f"recon_mse_{level}"] = tf.reduce_mean(tf.square(real - recon))
            stats[f"perceptual_{level}"] = tf.reduce_mean(tf.norm(features[0] - features[level], axis=-1))
        return stats

    def labelled_batch(self, data):
        """(labels int32 [batch], labelled bool [batch]) of a batch dict, or (None, None) without the head.

        An example is labelled when its "index" (its position in the training
        split) is below `labelled_examples`.

        Raises:
          ConfigError: the head exists but the batch lacks "label" or "index".
        """
        if self.classifier is None:
            return None, None
        missing = [key for key in ("label", "index") if key not in data]
        if missing:
            raise ConfigError(f"model.labelled_examples: the training batches have no {' or '.join(missing)}; "
                              "semi-supervised HALI needs a labelled dataset and data.with_index: true")
        labelled = tf.cast(data["index"], tf.int64) < self.model_config.labelled_examples
        return tf.cast(data["label"], tf.int32), labelled

    def train_step(self, data):
        real = data["image"]
        labels, labelled = self.labelled_batch(data)
        z2 = self.per_example_normal(tf.shape(real)[0], [self.latent_dim])
        d_grads, g_grads, stats, weighted = self._grads(real, z2, labels, labelled)
        # ALI: both players step from the same forward pass.
        self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)
        self.g_optimizer.apply(g_grads, self.generator_variables())
        k = self.model_config.metric_examples
        stats.update(self._recon_stats(real[:k] if k else real))
        for name, (values, weights) in weighted.items():
            # Means over the labelled examples only (a batch without any adds nothing).
            self._trackers[name].update_state(values, sample_weight=weights)
        return self.update_trackers(stats)

    # -- inference ----------------------------------------------------------
    def encode(self, images) -> Dict[str, tf.Tensor]:
        """Posterior means: images [batch, S, S, C] in [-1, 1] ->
        {"z1": [batch, s1, s1, z1_channels], "z2": [batch, latent_dim]} ({"z2"} only with levels 1)."""
        means = [mean for _, mean, _ in self.encoder(images, training=False, sample=False)]
        names = ["z1", "z2"] if self.levels == 2 else ["z2"]
        return dict(zip(names, means))

    def reconstructions(self, images) -> List[tf.Tensor]:
        """Every level's reconstruction (Eq. 5) from transition means.

        Returns:
          [x̂₁, (x̂₂)], each [batch, S, S, C] in [-1, 1]: level 1 is x -> z1 -> x̂₁
          (x -> z -> x̂ with levels 1), level 2 is x -> z1 -> z2 -> z1' -> x̂₂.
        """
        means = [mean for _, mean, _ in self.encoder(images, training=False, sample=False)]
        out = [self.decoder.decode_image(means[0], training=False)]
        if self.levels == 2:
            z1_prime, _, _ = self.decoder.decode_z1(means[1], training=False, sample=False)
            out.append(self.decoder.decode_image(z1_prime, training=False))
        return out

    def _reconstruct_level(self, images, level: int):
        """One level's reconstruction, computing only what it needs."""
        if level == 1:
            if self.levels == 1:
                _, z, _ = self.encoder.encode_top(images, training=False, sample=False)
            else:
                _, z, _ = self.encoder.encode_z1(images, training=False, sample=False)
            return self.decoder.decode_image(z, training=False)
        return self.reconstructions(images)[level - 1]

    def reconstruct(self, images):
        """Level-1 reconstruction (the closest to the input): [batch, S, S, C] in [-1, 1]."""
        return self._reconstruct_level(images, 1)

    def reconstruct_from_level(self, images, level):
        """Reconstruction through level `level` (Eq. 5).

        Args:
          images: [batch, S, S, C] in [-1, 1].
          level: 1..levels, a Python int or an int32 scalar tensor (serving).

        Returns:
          [batch, S, S, C] in [-1, 1].
        """
        if isinstance(level, (int, np.integer)):
            if not 1 <= int(level) <= self.levels:
                raise ValueError(f"level must be in 1..{self.levels}, got {level}")
            return self._reconstruct_level(images, int(level))
        level = tf.convert_to_tensor(level, tf.int32)
        checks = [tf.debugging.assert_greater_equal(level, 1, message=f"level must be in 1..{self.levels}"),
                  tf.debugging.assert_less_equal(level, self.levels, message=f"level must be in 1..{self.levels}")]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
        if self.levels == 1:
            return self._reconstruct_level(images, 1)
        return tf.cond(tf.equal(level, 1), lambda: self._reconstruct_level(images, 1),
                       lambda: self._reconstruct_level(images, 2))

    def inpaint_steps(self, images, mask, iterations=None) -> List[tf.Tensor]:
        """§6.1 inpainting, every step.

        The hole starts at 0 (mid-grey); step 0 fills it from the top-level
        reconstruction (z2: semantically consistent), each later step from
        the level-1 reconstruction of the previous result (pixel-wise closer).
        Known pixels are copied back exactly after every step.

        Args:
          images: [batch, S, S, C] in [-1, 1]; values in the hole are ignored.
          mask: [batch, S, S, 1] (or [..., C]): >= 0.5 where the pixel is known.
          iterations: level-1 refinements (default: config `inpaint_iterations`).

        Returns:
          iterations + 1 tensors [batch, S, S, C] in [-1, 1].
        """
        iterations = self.model_config.inpaint_iterations if iterations is None else int(iterations)
        known = tf.cast(mask, images.dtype) >= 0.5
        x = tf.where(known, images, tf.zeros_like(images))
        x = tf.where(known, images, self._reconstruct_level(x, self.levels))
        steps = [x]
        for _ in range(iterations):
            x = tf.where(known, images, self._reconstruct_level(x, 1))
            steps.append(x)
        return steps

    def inpaint(self, images, mask, iterations=None):
        """The final `inpaint_steps` result, [batch, S, S, C] in [-1, 1]."""
        return self.inpaint_steps(images, mask, iterations)[-1]

    def discriminator_features(self, images):
        """Eq. 8's embedding f(x): D's penultimate activations on (x, encoder means of x), [batch, 16 * d_filters]."""
        means = [mean for _, mean, _ in self.encoder(images, training=False, sample=False)]
        return self.discriminator.features([images, *means], training=False)

    def classify(self, images):
        """q(y | z2) of the semi-supervised head on the encoder's z2 mean.

        Args:
          images: [batch, S, S, C] in [-1, 1].

        Returns:
          float32 [batch, num_classes] class probabilities (rows sum to 1).

        Raises:
          ValueError: the model has no head (`labelled_examples: 0`).
        """
        if self.classifier is None:
            raise ValueError("this HALI has no classifier head (model.labelled_examples is 0)")
        return tf.nn.softmax(self.classifier(self.encode(images)["z2"]), axis=-1)

    # -- uses of the hierarchy (§6.2, §6.3) -------------------------------------
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

    # -- pictures, evaluation, serving ----------------------------------------
    def image_panels(self, fixed_latent, real_batch):
        """samples; real_vs_reconstructions (each real image, then its level-1 and,
        for HALI, level-2 reconstruction); inpainting (per row: the image with
        a centre hole, every inpainting step, the real image); latent_variations
        (§6.2, `latent_variations_figure`); for HALI also innovation (real,
        level-2 reconstruction, decodes of z1 ~ p(z1 | ẑ2)) and
        innovation_tensor (§6.3: real, level-1 reconstruction, `innovate` at
        every scale)."""
        real = real_batch["image"]
        panels = {"samples": self.generate(fixed_latent)}
        n = examples_per_grid(int(real.shape[0]), 1 + self.levels)
        panels["real_vs_reconstructions"] = self.alternate(real[:n], *self.reconstructions(real[:n]))
        iterations = self.model_config.inpaint_iterations
        k = examples_per_grid(int(real.shape[0]), iterations + 3)
        h, w, _ = self.image_shape
        mask = centre_hole_mask(k, h, w)
        holed = tf.where(mask >= 0.5, real[:k], tf.zeros_like(real[:k]))
        panels["inpainting"] = self.alternate(holed, *self.inpaint_steps(real[:k], mask), real[:k])
        panels["latent_variations"] = self.latent_variations_figure(fixed_latent[:1])
        if self.levels == 2:
            rows = min(4, int(real.shape[0]))
            panels["innovation"] = self.innovation_figure(real[:rows])
            panels["innovation_tensor"] = self.innovation_tensor_figure(real[:rows])
        return panels

    @staticmethod
    def _figure(blocks, rows: int) -> tf.Tensor:
        """Captioned blocks (`tfgen.viz.labelled_blocks`) as a one-image panel in [-1, 1]."""
        figure = labelled_blocks([(label, np.asarray(images)) for label, images in blocks], rows=rows)
        return GenerativeModel.figure_panel(figure)

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
