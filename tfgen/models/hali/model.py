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

Uses of the hierarchy (§6.2, §6.3, §7.2; the first three in uses.py, the
SavedModel signatures in serving.py, `tfgen evaluate`'s scores in studies.py):

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
  with N > 0): a softmax head q(y | z2) on the encoder's z2 sample, trained
  with the encoder and decoder on the first N training examples by "index"
  (the paper draws its 100 labels evenly from the classes; the built-in
  mnist lets classes take turns, so its first 100 are 10 of each). The
  paper's Eqs. 9-10 are lost from the text, so how the labelled examples
  enter each step follows the semi-supervised GAN and AAE code it cites
  (`labelled_batch_size`, default 100): every step draws that many of the N
  (uniformly, with replacement, from the model's noise stream), encodes
  them in training mode and adds supervised_weight times their mean
  cross-entropy to the encoder and decoder's loss. `tfgen train` hands the
  model its labelled examples (`prepare_training`); with `model.fit` call
  `set_labelled_examples` first. `labelled_batch_size: 0` instead uses only
  the labelled examples a shuffled batch happens to hold (their summed
  cross-entropy over the global batch; unlabelled ones contribute exactly
  zero). Tracked: supervised_loss (mean cross-entropy over the labelled
  examples seen) and train_accuracy (on the same examples).

ALI (`levels: 1`): the z1 Gaussian layer is dropped and the same trunks
compose deterministically, so encoder x -> z, decoder z -> x, D(x, z):
ALI with HALI's networks, through the same code path. `latent_dim` is then
ALI's z, and every "level 1" reconstruction goes through z.

Choices where the paper is silent or garbled (extracted text lost the
table's numbers):
* Dropout: the table's column (0.2 on layers fed an input, 0.5 elsewhere)
  read as drop rates, as in ALI's code, placed as §4 says ("every 3
  layers", `dropout_layers: every_third`, as the improved-GAN
  discriminator); the text's "probability of retention of 0.2" would drop
  80% and is taken as a slip.
* Gaussian input noise (std 0.2) on x at the encoder and on all three
  discriminator inputs (x, z1, z2).
* Weight norm on the discriminator's convolutions, not on its dense head
  (as the table marks), with Salimans & Kingma's data-dependent init on
  the first training batch (`weight_norm_init: data`). ALI's reference
  discriminator uses batch norm instead, over real and generated pairs
  together: `d_normalization: batch_norm` (an option, not HALI's).
* LeakyReLU slope 0.1 and weights N(0, 0.01) (ALI's code) in the encoder and
  decoder; Glorot in the discriminator's dense head (N(0, 0.01) there left
  logits near 1e-3 and D unmoved after 300 smoke-run steps).
* Eq. 8's embedding f(x): the discriminator's penultimate activations on
  (x, encoder means of x), so an image is embedded with its own inference.
* Non-square images and image sides that are not powers of two are refused.
Not in the paper, off by default: `cycle_weight` > 0 adds ALICE's explicit
ℓ2 cycle term (`cycle_loss`, tracked as cycle_loss) on the level-1 path
x -> ẑ1 -> x̂ to the encoder and decoder's loss; docs/hali/RESULTS.md
measures ALI with and without it.
"""

from __future__ import annotations

from typing import Dict, List

import keras
import numpy as np
import tensorflow as tf

from tfgen.errors import ConfigError
from tfgen.layers.weight_norm import is_fresh
from tfgen.losses import reduce_loss
from tfgen.models.base import GenerativeModel
from tfgen.models.trainable import AdversarialPair
from tfgen.models.hali.config import HALIConfig
from tfgen.models.hali.networks import (
    HALIDecoder,
    HALIDiscriminator,
    HALIEncoder,
    stochastic_layers,
)
from tfgen.models.hali.losses import (ali_discriminator_loss, ali_generator_loss, code_snr,  # noqa: F401
                                      cycle_loss, masked_cross_entropy, pairing_belief_gap,
                                      pairing_rank_accuracy)
from tfgen.models.hali.serving import HALIServing
from tfgen.models.hali.uses import (INNOVATION_DRAWS, VARIATION_SCALES, HierarchyUses,  # noqa: F401
                                    centre_hole_mask, examples_per_grid)
from tfgen.models.registry import register
from tfgen.ops.replicas import per_example_draw



# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

@register("hali", HALIConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class HALI(HierarchyUses, HALIServing, AdversarialPair, GenerativeModel):
    """Encoder x -> z1 -> z2, decoder z2 -> z1 -> x, discriminator D(x, z1, z2).

    See the module docstring. `levels: 1` is ALI.

    Data: dicts with "image" float32 [batch, S, S, C] in [-1, 1] (square,
    S / z1_stride a power of two >= 4).
    Metrics: d_loss, g_loss (unscaled means), d_encoder / d_decoder (mean
    sigmoid D on encoder / decoder triples), recon_mse_<l> (per-pixel MSE
    of the level-l reconstruction, Eq. 5) and perceptual_<l> (mean
    Euclidean distance of discriminator features, Eq. 8), l = 1..levels,
    d_pairing (`pairing_gap`: does D use the x-z pairing) and
    d_pairing_rank (`pairing_rank_accuracy`: the same as a ranking, blind
    to a shift of D's logits), on the first
    `metric_examples` examples of each replica's batch; code_snr_<l>
    (`code_snr`: Var[mean] / E[sigma^2] of level l's posterior on the
    replica's batch, ~0 when the encoder ignores x); with
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
                                               dropout_layers=cfg.dropout_layers,
                                               latent_branch=cfg.latent_branch,
                                               normalization=cfg.d_normalization,
                                               sync_batch_norm=self.sync_batch_norm, seed=seed + 300,
                                               name="discriminator")
        self.classifier = None
        self._labelled_images = self._labelled_labels = None  # set_labelled_examples
        if cfg.labelled_examples > 0:
            if not self.num_classes or self.num_classes < 2:
                raise ConfigError(f"model.labelled_examples={cfg.labelled_examples} needs a dataset with class "
                                  f"labels (this one has num_classes={self.num_classes})")
            # q(y | z2) is "a softmax" (§7.2): one linear layer on z2.
            self.classifier = keras.layers.Dense(int(self.num_classes), name="classifier")
        self._build_networks()
        levels = range(1, self.levels + 1)
        self.add_trackers("d_loss", "g_loss", "d_encoder", "d_decoder",
                          *[f"recon_mse_{lv}" for lv in levels], *[f"perceptual_{lv}" for lv in levels],
                          *[f"code_snr_{lv}" for lv in levels], "d_pairing", "d_pairing_rank")
        if self.classifier is not None:
            self.add_trackers("supervised_loss", "train_accuracy")
        if cfg.cycle_weight > 0:
            self.add_trackers("cycle_loss")
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
    def fit(self, x=None, *args, **kwargs):
        """Keras' fit, after the discriminator's data-dependent initialisation on the first batch of `x`
        (`weight_norm_init: data`; only while its weight norms are untouched: g = 1, bias 0, so a
        restored or trained model is never re-initialised)."""
        if self.draws_labelled_batches and self._labelled_images is None:
            raise ConfigError(f"model.labelled_batch_size={self.model_config.labelled_batch_size}: give the model its "
                              f"{self.model_config.labelled_examples} labelled examples with "
                              "set_labelled_examples(images, labels) before fit (tfgen train does it)")
        if self.model_config.weight_norm_init == "data" and is_fresh(self.discriminator.weight_norm_layers()):
            self.initialize_from_data(_first_batch(x, kwargs.get("batch_size")))
        return super().fit(x, *args, **kwargs)

    def initialize_from_data(self, batch) -> None:
        """Data-dependent init of the discriminator's weight norms on one training batch.

        D sees the batch's (x, E(x)) pairs and as many (G(z), z) pairs, as in
        a training step (encoder, decoder, noise and dropout in training
        mode, each kind of pair its own call; z from a fixed seed, not the
        training noise stream). Under a
        strategy the batch is a distributed one: each replica initialises on
        its share, the moments averaged over replicas, so every copy of the
        weights gets the same values.

        Args:
          batch: what `fit` reads (a dict, tuple or images tensor), or a
            distributed batch of a `tf.distribute` dataset.
        """
        strategy = self.distribute_strategy

        def init(data):
            real = self.as_batch(data)["image"]
            z2 = per_example_draw(lambda shape: tf.random.stateless_normal(shape, seed=[self.seed, 7919]),
                                  (tf.shape(real)[0], self.latent_dim))
            encoder_latents = [z for z, _, _ in self.encoder(real, training=True)]
            fake, decoder_latents = self.decoder(z2, training=True)
            # Two batches, not their concatenation: noise is drawn per example of each call, as in a step.
            return self.discriminator.data_init([[real, *encoder_latents], [fake, *decoder_latents]], training=True)

        values = strategy.experimental_local_results(strategy.run(init, args=(batch,)))[0]
        variables = [v for layer in self.discriminator.weight_norm_layers() for v in (layer.g, layer.bias)]
        for variable, value in zip(variables, values):
            variable.assign(value)

    def supervised_terms(self, z2, labels, labelled):
        """The semi-supervised cost of §7.2 (Eq. 10) on one replica's batch.

        Args:
          z2: float [batch, latent_dim], the encoder's z2 (a sample in training).
          labels: int [batch]; read only where `labelled`.
          labelled: bool [batch].

        Returns:
          (loss, per_example, correct): loss is this replica's share of
          supervised_weight * sum over labelled examples of -log q(y | z2),
          divided by the global size of z2's batch (`reduce_loss`): the mean
          over a drawn labelled minibatch, or the sum over a training
          batch's labelled examples divided by that batch; per_example
          [batch] the cross-entropy (0 where unlabelled); correct float
          [batch], 1 where the head's most likely class is the label.
        """
        logits = self.classifier(z2)
        per_example = masked_cross_entropy(logits, labels, labelled)
        loss = self.model_config.supervised_weight * reduce_loss(per_example, self.global_batch_size(z2))
        correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32)),
                          tf.float32)
        return loss, per_example, correct

    def judge_pairs(self, encoder_pairs, decoder_pairs, training=True):
        """D's logits on the (x, E(x)) and the (G(z), z) pairs: ([batch], [batch]).

        Weight-normalised D: two calls, not one on the concatenation (noise is
        drawn per example of each call, which keeps replicas identical to one
        device). Batch-normalised D (`d_normalization: batch_norm`): one call
        on the concatenation, as ALI's reference code does, so the batch
        statistics are those of real and generated pairs together (two calls
        would normalise each kind by its own statistics, hiding from D any
        difference in their first two moments).
        """
        if self.discriminator.normalization != "batch_norm":
            return (self.discriminator(encoder_pairs, training=training),
                    self.discriminator(decoder_pairs, training=training))
        n = tf.shape(encoder_pairs[0])[0]
        logits = self.discriminator([tf.concat([a, b], axis=0) for a, b in zip(encoder_pairs, decoder_pairs)],
                                    training=training)
        return logits[:n], logits[n:]

    def _grads_impl(self, real, z2, labels=None, labelled=None, labelled_images=None):
        """Per-replica losses and gradients of one ALI step (XLA-compiled when enabled).

        Args:
          real: [batch, S, S, C] real images in [-1, 1].
          z2: [batch, latent_dim] prior draws.
          labels, labelled: int [n] labels and bool [n] which of them count;
            given when the model has the semi-supervised head.
          labelled_images: [n, S, S, C], the drawn labelled minibatch
            (`labelled_batch_size` > 0), encoded on its own; None: the
            labels are `real`'s (n = batch).

        Returns:
          (discriminator gradients, encoder+decoder gradients, stats,
          weighted): stats are scalars for the trackers; weighted maps
          tracker names to (per-example values, per-example weights), empty
          without the head.
        """
        g_vars = self.generator_variables()
        weighted = {}
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            encoder_outputs = self.encoder(real, training=True)
            encoder_latents = [z for z, _, _ in encoder_outputs]
            fake, decoder_latents = self.decoder(z2, training=True)
            encoder_logits, decoder_logits = self.judge_pairs([real, *encoder_latents], [fake, *decoder_latents])
            d_per_example = ali_discriminator_loss(encoder_logits, decoder_logits)
            g_per_example = ali_generator_loss(encoder_logits, decoder_logits)
            global_batch = self.global_batch_size(real)
            d_loss = reduce_loss(d_per_example, global_batch)
            g_loss = reduce_loss(g_per_example, global_batch)
            cycle_weight = self.model_config.cycle_weight
            if cycle_weight > 0:
                # The option's explicit term (not the paper's): x -> ẑ1 (the sample D judged) -> G -> x̂.
                # A second training-mode decoder pass, so its batch norm also sees the encoder's codes.
                cycle = cycle_loss(real, self.decoder.decode_image(encoder_latents[0], training=True))
                g_loss = g_loss + cycle_weight * reduce_loss(cycle, global_batch)
            if self.classifier is not None:
                # The supervised cost joins the generator's (§7.2): it trains the
                # head and, through the z2 sample, the encoder.
                if labelled_images is None:
                    z2_labelled = encoder_latents[-1]
                else:  # the labelled minibatch: its own training-mode encoder pass, z2 sampled
                    z2_labelled = self.encoder(labelled_images, training=True)[-1][0]
                supervised, per_example, correct = self.supervised_terms(z2_labelled, labels, labelled)
                g_loss = g_loss + supervised
                weight = tf.cast(labelled, tf.float32)
                weighted = {"supervised_loss": (per_example, weight), "train_accuracy": (correct, weight)}
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        g_grads = g_tape.gradient(g_loss, g_vars)
        # g_loss is logged as the adversarial term alone, comparable with and without labels.
        stats = {"d_loss": tf.reduce_mean(d_per_example), "g_loss": tf.reduce_mean(g_per_example),
                 "d_encoder": tf.reduce_mean(tf.sigmoid(encoder_logits)),
                 "d_decoder": tf.reduce_mean(tf.sigmoid(decoder_logits))}
        for level, (_, mean, log_sigma) in enumerate(encoder_outputs, start=1):
            stats[f"code_snr_{level}"] = code_snr(mean, log_sigma)
        if self.model_config.cycle_weight > 0:
            stats["cycle_loss"] = tf.reduce_mean(cycle)
        return d_grads, g_grads, stats, weighted

    def _recon_stats_impl(self, real):
        """Reconstruction metrics (Eq. 5 as MSE, Eq. 8) and D's use of the pairing, inference mode, no gradient.

        Returns:
          {recon_mse_<l>, perceptual_<l>}: batch means, l = 1..levels;
          d_pairing: mean sigmoid(D(x, E(x))) minus the same with each
          example's codes swapped for the next example's (in [-1, 1]);
          d_pairing_rank: the fraction of examples whose own codes get the
          higher logit (ties half; 0.5 for a D blind to the pairing, in
          [0, 1]), a reading that a shift or saturation of the logits does
          not compress.
        """
        real = tf.stop_gradient(real)
        means = self._posterior_means(real)
        recons = self._decode_means(means)
        # One discriminator pass for the images and all their reconstructions:
        # inference mode has no noise and no batch statistics, so batching is free.
        features = tf.split(self.discriminator_features(tf.concat([real, *recons], axis=0)), 1 + len(recons))
        stats = {}
        for level, recon in enumerate(recons, start=1):
            stats[f"recon_mse_{level}"] = tf.reduce_mean(tf.square(real - recon))
            stats[f"perceptual_{level}"] = tf.reduce_mean(tf.norm(features[0] - features[level], axis=-1))
        # features[0] are D's features of (real, its means): their logits are the paired ones.
        paired = self.discriminator.to_logit(features[0], training=False)[:, 0]
        paired, swapped = self._pairing_logits(real, means=means, paired_logits=paired)
        stats["d_pairing"] = pairing_belief_gap(paired, swapped)
        stats["d_pairing_rank"] = pairing_rank_accuracy(paired, swapped)
        return stats

    def _pairing_logits(self, images, means=None, paired_logits=None):
        """D's logits (inference mode) on (x, E(x)) and on x with the next example's codes, [batch] each."""
        means = self._posterior_means(images) if means is None else means
        if paired_logits is None:
            paired_logits = self.discriminator([images, *means], training=False)
        swapped = self.discriminator([images, *[tf.roll(m, 1, axis=0) for m in means]], training=False)
        return paired_logits, swapped

    def pairing_gap(self, images, means=None, paired_logits=None):
        """Does D look at the pairing? Its mean belief that (x, E(x)) comes from the encoder minus
        the same with each example's codes swapped for the next example's (inference mode).

        0 means D judges x and z separately: then nothing in the game pushes
        the encoder to encode x (ALI's equilibrium with x and z independent).

        Args:
          images: [batch, S, S, C] in [-1, 1], batch >= 2.
          means: the encoder's posterior means of `images` per level, if the
            caller has them (else computed).
          paired_logits: [batch] D's logits on (images, means), if the caller
            has them (else computed).

        Returns:
          float32 scalar in [-1, 1].
        """
        return pairing_belief_gap(*self._pairing_logits(images, means, paired_logits))

    def _posterior_means(self, images) -> List[tf.Tensor]:
        """The encoder's transition means per level, inference mode (each level from the mean below)."""
        return [mean for _, mean, _ in self.encoder(images, training=False, sample=False)]

    @property
    def draws_labelled_batches(self) -> bool:
        """Whether each step draws its own labelled minibatch (the head exists, `labelled_batch_size` > 0)."""
        return self.classifier is not None and self.model_config.labelled_batch_size > 0

    def prepare_training(self, data) -> None:
        """Called by the trainer before training: hands a semi-supervised model its labelled examples.

        Args:
          data: the experiment's `tfgen.config.DataConfig`; its training
            split's first `labelled_examples` examples (by index, as the
            training stream numbers them) are read with their labels.

        Raises:
          ConfigError: the split has fewer examples, or no labels.
        """
        if not self.draws_labelled_batches:
            return
        # The data layer sits below the methods; imported here, as only semi-supervised runs read arrays.
        from tfgen.data import load_arrays

        n = self.model_config.labelled_examples
        arrays = load_arrays(data, data.train_split, max_examples=n)
        if "label" not in arrays:
            raise ConfigError(f"model.labelled_examples={n}: {data.name} has no labels")
        if len(arrays["image"]) < n:
            raise ConfigError(f"model.labelled_examples={n}: the training split of {data.name} has only "
                              f"{len(arrays['image'])} examples")
        self.set_labelled_examples(arrays["image"], arrays["label"])

    def set_labelled_examples(self, images, labels) -> None:
        """The labelled examples each step's labelled minibatch is drawn from (`labelled_batch_size` > 0).

        Held as constants of the train step, not as weights: they are data,
        re-read from the dataset when training resumes, and stay out of
        checkpoints and SavedModels.

        Args:
          images: float [N, S, S, C] in [-1, 1], N = `labelled_examples`.
          labels: int [N] in [0, num_classes).

        Raises:
          ValueError: shapes, count or labels that do not fit the model.
        """
        images = np.asarray(images, np.float32)
        labels = np.asarray(labels).reshape(-1)
        n = self.model_config.labelled_examples
        if images.shape != (n, *self.image_shape) or labels.shape != (n,):
            raise ValueError(f"set_labelled_examples: expected {n} images of shape {tuple(self.image_shape)} and "
                             f"{n} labels, got images {images.shape} and labels {labels.shape}")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"set_labelled_examples: labels must lie in [0, {self.num_classes}), got "
                             f"{labels.min()}..{labels.max()}")
        self._labelled_images = tf.constant(images)
        self._labelled_labels = tf.constant(labels.astype(np.int32))
        self.train_function = None  # a step traced before holds the old constants

    def labelled_batch(self, data):
        """The labelled examples of one step: (labels int32 [n], labelled bool [n], images or None).

        With `labelled_batch_size` > 0, n = labelled_batch_size / replicas
        examples drawn uniformly, with replacement, from the labelled ones
        (per-example draws: one device and N replicas draw the same global
        minibatch), all labelled, and their images. With 0, the batch's own
        examples: labelled where "index" (the position in the training
        split) is below `labelled_examples`; images None (the batch's).
        (None, None, None) without the head.

        Raises:
          ConfigError: in-batch labels, but the batch lacks "label" or "index".
        """
        if self.classifier is None:
            return None, None, None
        if self.draws_labelled_batches:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            if self.model_config.labelled_batch_size % replicas:
                raise ConfigError(f"model.labelled_batch_size: {self.model_config.labelled_batch_size} does not split "
                                  f"evenly over {replicas} replicas")
            local = self.model_config.labelled_batch_size // replicas
            n = self.model_config.labelled_examples
            u = self.per_example_uniform(local)
            picks = tf.minimum(tf.cast(u * n, tf.int32), n - 1)
            labels = tf.gather(self._labelled_labels, picks)
            return labels, tf.ones_like(labels, tf.bool), tf.gather(self._labelled_images, picks)
        missing = [key for key in ("label", "index") if key not in data]
        if missing:
            raise ConfigError(f"model.labelled_examples: the training batches have no {' or '.join(missing)}; "
                              "semi-supervised HALI needs a labelled dataset and data.with_index: true")
        labelled = tf.cast(data["index"], tf.int64) < self.model_config.labelled_examples
        return tf.cast(data["label"], tf.int32), labelled, None

    def train_step(self, data):
        real = data["image"]
        labels, labelled, labelled_images = self.labelled_batch(data)
        z2 = self.per_example_normal(tf.shape(real)[0], [self.latent_dim])
        d_grads, g_grads, stats, weighted = self._grads(real, z2, labels, labelled, labelled_images)
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
        means = self._posterior_means(images)
        names = ["z1", "z2"] if self.levels == 2 else ["z2"]
        return dict(zip(names, means))

    def reconstructions(self, images) -> List[tf.Tensor]:
        """Every level's reconstruction (Eq. 5) from transition means.

        Returns:
          [x̂₁, (x̂₂)], each [batch, S, S, C] in [-1, 1]: level 1 is x -> z1 -> x̂₁
          (x -> z -> x̂ with levels 1), level 2 is x -> z1 -> z2 -> z1' -> x̂₂.
        """
        return self._decode_means(self._posterior_means(images))

    def _decode_means(self, means) -> List[tf.Tensor]:
        """`reconstructions` from the encoder's posterior means."""
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
        means = self._posterior_means(images)
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

    # -- pictures -------------------------------------------------------------
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


def _first_batch(x, batch_size=None):
    """The first batch `fit` would read from `x`: a dataset's (or distributed dataset's) first
    element, or the first `batch_size` (default 32, Keras') rows of arrays."""
    if not isinstance(x, (np.ndarray, tf.Tensor, dict, tuple, list)):  # a dataset, distributed or not
        return next(iter(x))
    n = batch_size or 32
    return tf.nest.map_structure(lambda a: a[:n], x)
