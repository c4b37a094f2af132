"""AND-OR network (Xing, Wu, Zhu & Wu, "Towards Interpretable Image Synthesis
by Learning Sparsely Connected AND-OR Networks") — a generator with top-k
sparsity at every layer, learned by alternating back-propagation together
with an energy-based network.

Model (Eq. 7, 16-17):

    Y = g(Z; Θ, k) + ε,  Z ~ N(0, I_d),  ε ~ N(0, σ² I_D)
    P(Y; Φ) ∝ exp(f(Y; Φ)) q(Y),  q = N(0, σ_q² I_D)

with g the sparsely connected generator (`tfgen.models.andor.networks`, Table
1) and f the bottom-up energy network. Algorithm 1, one iteration per
`train_step` on a batch of observed Y_i with their dataset indices i:

1. Ẑ ~ N(0, I); Φ ascends Eq. 20, mean f(Y_i) − mean f(g(Ẑ)).
2. Each example's persistent latent Z_i (a bank indexed by example, kept in
   the model and its checkpoints) takes l_G Langevin steps of Eq. 13-14 on
   log p(Z | Y_i) = −|Y_i − g(Z)|²/(2σ²) − |Z|²/2 from its current value,
   through the shared sampler (`tfgen.sampling.langevin`; XLA-compiled when
   `train.xla` is on).
3. Θ ascends L(Θ) + H(Θ): Eq. 15 on the inferred Z_i plus Eq. 21-22 on
   g(Ẑ), i.e. it descends Σ|Y_i − g(Z_i)|²/(2σ²) − f(g(Ẑ)) (Eq. 22 as printed;
   `generator_reference_term` adds |g(Ẑ)|²/(2σ_q²)).

Signs: Eq. 16 prints exp[−f], while Eq. 19-22 treat f as the log-density
(Φ raises f on data, Θ raises f on samples); we follow Eq. 19-22, so
log P(Y; Φ) = f(Y) − |Y|²/(2σ_q²) + const and f is high on data. Eq. 22 as
printed drops the gradient of the reference q, and so does the default;
`generator_reference_term: true` keeps it (it is part of Eq. 21, σ_q =
`reference_sigma`), an option because it dominated the sample term.

Defaults and why (the paper gives no values; see ../shared/papers/NOTES.md):
* σ = 0.3, δ = 0.1, l_G = 30: the alternating back-propagation reference
  settings (δ 0.1-0.3, σ 0.3, ~30 steps); δ = 0.1 because the likelihood
  gradient here sums over D pixels.
* Adam β1 = 0.5 and learning rates 1e-4 (generator) and 1e-4 (energy
  network), the cooperative-learning reference's generator setting; the
  energy network's rate is its lower end because f is trained against
  generator samples directly (Eq. 20, no MCMC revision), which lets f grow
  without bound if it outpaces the generator.
* σ_q = 1 in image units [-1, 1]: a unit Gaussian reference per pixel, a
  weak pull towards the mean image.
* Latent bank initialised to N(0, I) draws (the prior), as ABP.
* `energy_penalty` α = 0 by default: Eq. 20 exactly. Eq. 20 fixes only the
  difference f(Y) − f(g(Ẑ)), and on real digits (tools/andor_energy.py,
  docs/andor/energy_study.json, reduced net, 300 iterations) f drifted on
  data and samples together to ~3,000 and back, and samples were poor
  (domain FID 269). The shipped configs set α = 0.001 (not in the paper):
  the squared-energy penalty α(f(Y)² + f(g(Ẑ))²) holds f at tens while the
  energy term stays a material part of the generator's update (gradient
  ratio 0.7-0.9, cosine 0.56-0.84; FID 48 / 82 over two seeds, against
  125 / 138 with the energy network off). The former default 0.1 held f at
  ±5 where its gradient was 3% of the likelihood's (cosine 0.999: no
  effect; FID 120 / 131).
  Cooperative learning's revision (σ_q 0.016, δ_f 0.002, rate 0.007) made f
  grow to ~10⁶ and swamp Eq. 22 (FID 730 with the revision alone).

Data: dicts with "image" float32 [batch, H, W, C] in [-1, 1] and "index"
int64 [batch] (the example's position in the training split; the data
pipeline adds it).
Metrics: energy_loss (mean f(g(Ẑ)) − mean f(Y)), energy_real, energy_fake,
generator_loss, reconstruction_mse (per pixel, after this step's Langevin),
latent_norm (mean |Z|²/d of the inferred latents), latent_move (RMS change
of Z over the l_G steps), energy_gradient_ratio (|∇_Θ of the sample term
−w f(g(Ẑ))| / |∇_Θ L(Θ)|, this replica's gradients: how much the energy
network moves the generator; with the α cap it was 1-2.5%),
energy_gradient_cosine (cos(∇_Θ L + ∇_Θ H, ∇_Θ L): below 1 when the energy
term turns the generator's update), revision_move (RMS change of the samples
in the revision, with `energy_revision_steps`), sparsity_density (the
schedule's d, with `sparsity_schedule`).

Options beside the paper's algorithm (each off by default; measured in
docs/andor/RESULTS.md):
* `energy_revision_steps`: cooperative learning's MCMC teaching: the
  samples g(Ẑ) take Langevin steps on log P(Y; Φ) (step
  `energy_revision_step_size`, reference σ_q) before they enter Eq. 20, so
  f is trained against samples of its own model; the generator's term stays
  Eq. 22 on g(Ẑ). Measured, it did not bound f here (f grew to ~10⁴).
* `energy_init: normal`: the cooperative-learning descriptor's N(0, 0.01²).
* `sparsity_schedule`: dense_start or anneal, the top-k's k reached after
  `sparsity_schedule_steps` iterations instead of from the first.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfgen.data import dataset_info
from tfgen.errors import ConfigError
from tfgen.losses.reduction import reduce_loss
from tfgen.models.andor import basis as andor_basis
from tfgen.models.andor.config import AndOrConfig
from tfgen.models.andor.losses import (
    energy_network_loss,
    generator_objective,
    latent_log_posterior,
    reference_log_density,
)
from tfgen.models.andor.networks import AndOrGenerator, energy_network
from tfgen.models.andor.tree import labelled_basis_grid, render_tree
from tfgen.models.base import GenerativeModel
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.sampling import langevin


@register("andor", AndOrConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class AndOr(GenerativeModel):
    """Sparsely connected generator + energy network + persistent latent bank."""

    required_batch_keys = ("index",)  # the example's row in the latent bank

    reconstructs = True

    def __init__(self, model_config, image_shape, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        self._check(cfg)
        self.generator = AndOrGenerator(cfg.latent_dim, cfg.fc_channels, cfg.fc_top_k, cfg.channels, cfg.top_k,
                                        self.image_shape[-1], sparsity=cfg.sparsity, use_bias=cfg.use_bias,
                                        padding=cfg.padding, scheduled=cfg.sparsity_schedule != "fixed",
                                        name="generator")
        self.energy = energy_network(self.image_shape, cfg.energy_first_channels, cfg.energy_channels,
                                     init=cfg.energy_init)
        # One latent per training example. Every replica writes the same
        # gathered value (see train_step), so only the first replica's write is kept.
        self.latent_bank = self.add_weight(
            name="latent_bank", shape=(cfg.latent_bank_size, cfg.latent_dim), trainable=False,
            initializer=keras.initializers.RandomNormal(stddev=1.0, seed=self.seed), aggregation="only_first_replica")
        self.add_trackers("energy_loss", "energy_real", "energy_fake", "generator_loss", "reconstruction_mse",
                          "latent_norm", "latent_move", "energy_gradient_ratio", "energy_gradient_cosine")
        if cfg.energy_revision_steps:
            self.add_trackers("revision_move")
        if cfg.sparsity_schedule != "fixed":
            self.add_trackers("sparsity_density")
        self._infer_compiled = self.maybe_xla(self._infer_impl)
        self._revise_compiled = self.maybe_xla(self._revise_impl)
        # Inference outside a train step (panels, evaluation, export) runs as a
        # graph at least: eager Langevin is 2.3x slower (tools/benchmark.py).
        self._infer_standalone = (self._infer_compiled if self.xla
                                  else tf.function(self._infer_impl, reduce_retracing=True))
        self.built = True

    def _check(self, cfg: AndOrConfig) -> None:
        size = 4 * 2 ** len(cfg.channels)
        h, w, _ = self.image_shape
        if (h, w) != (size, size):
            raise ConfigError(f"model.channels: {len(cfg.channels)} blocks make {size}x{size} images, the data is "
                              f"{h}x{w} (use {int(np.log2(h / 4))} blocks)")
        if len(cfg.top_k) != len(cfg.channels):
            raise ConfigError(f"model.top_k: one k per block ({len(cfg.channels)}), got {len(cfg.top_k)}")
        for b, k in enumerate(cfg.top_k):
            positions = (8 * 2 ** b) ** 2
            if k > positions:
                raise ConfigError(f"model.top_k[{b}]={k} exceeds the {positions} positions of block {b + 1}")
        if cfg.fc_top_k > cfg.fc_channels:
            raise ConfigError(f"model.fc_top_k={cfg.fc_top_k} exceeds model.fc_channels={cfg.fc_channels}")
        if cfg.sparsity_schedule != "fixed":
            if not cfg.sparsity:
                raise ConfigError(f"model.sparsity_schedule={cfg.sparsity_schedule}: the dense baseline "
                                  "(sparsity: false) has no k to schedule")
            if cfg.sparsity_schedule_steps < 1:
                raise ConfigError(f"model.sparsity_schedule={cfg.sparsity_schedule} needs "
                                  "model.sparsity_schedule_steps >= 1")
        if cfg.latent_bank_size < 1:
            raise ConfigError("model.latent_bank_size is 0: build the model with tfgen.models.build_model (it is "
                              "the training split's size) or set it")
        layers = list(range(2, 3 + len(cfg.channels)))
        for name, values in (("tree_layers", cfg.tree_layers), ("ncc_layer", [cfg.ncc_layer])):
            bad = [v for v in values if v not in layers]
            if bad:
                raise ConfigError(f"model.{name}: layers {bad} do not exist (layers: {layers})")
        if any(b != a + 1 for a, b in zip(cfg.tree_layers, cfg.tree_layers[1:])):
            raise ConfigError(f"model.tree_layers must be consecutive, top first, got {cfg.tree_layers}")

    @classmethod
    def resolve_model_config(cls, config):
        """Sizes the latent bank to the training split (`latent_bank_size: 0`)."""
        cfg = config.model
        if cfg.latent_bank_size:
            return cfg

        size = dataset_info(config.data).num_train
        if not size:
            raise ConfigError(f"{config.data.name}: the training split's size is unknown (data.classes on a "
                              "tensorflow-datasets dataset); set model.latent_bank_size to it")
        return dataclasses.replace(cfg, latent_bank_size=int(size))

    # -- densities ---------------------------------------------------------------
    def log_posterior(self, images: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
        """log p(Z | Y) + const (Eq. 14), [batch]."""
        return latent_log_posterior(images, self.generator(z), z, self.model_config.sigma)

    def log_density(self, images: tf.Tensor) -> tf.Tensor:
        """log P(Y; Φ) + const = f(Y) − |Y|²/(2σ_q²) (Eq. 16-17), [batch]."""
        return reference_log_density(images, self.energy(images), self.model_config.reference_sigma)

    # -- inference ----------------------------------------------------------------
    def _infer_impl(self, images, z0, steps, noise=None, seed=None):
        noise_fn = None if noise is None else (lambda i: noise[:, i])
        return langevin(lambda z: self.log_posterior(images, z), z0, self.model_config.step_size, steps,
                        seed=seed, noise_fn=noise_fn)

    def _revise_impl(self, images, noise):
        cfg = self.model_config
        return langevin(self.log_density, images, cfg.energy_revision_step_size, cfg.energy_revision_steps,
                        noise_fn=lambda i: noise[:, i])

    def revise(self, images, seed=None) -> tf.Tensor:
        """`energy_revision_steps` Langevin steps on log P(Y; Φ) from `images` (cooperative learning's revision).

        Y ← Y + δ_f²/2 (∇_Y f(Y) − Y/σ_q²) + δ_f ε, δ_f = `energy_revision_step_size`.

        Args:
          images: [batch, H, W, C], e.g. the generator's samples.
          seed: noise seed (default the model's).

        Returns:
          float32 [batch, H, W, C] (not clipped to [-1, 1]).
        """
        images = tf.convert_to_tensor(images, tf.float32)
        noise = tf.random.stateless_normal(
            tf.concat([tf.shape(images)[:1], [self.model_config.energy_revision_steps], tf.shape(images)[1:]], 0),
            seed=[self.seed if seed is None else seed, 7])
        return self._revise_impl(images, noise)

    def infer(self, images, steps=None, z0=None, seed=None) -> tf.Tensor:
        """Posterior sample of Z for images by Langevin dynamics (Eq. 13-14).

        Args:
          images: [batch, H, W, C] in [-1, 1].
          steps: Langevin steps (default `inference_steps`).
          z0: starting latents [batch, latent_dim] (default 0).
          seed: noise seed (default the model's seed: the same images give the
            same latents).

        Returns:
          float32 [batch, latent_dim].
        """
        images = tf.convert_to_tensor(images, tf.float32)
        steps = self.model_config.inference_steps if steps is None else steps
        if z0 is None:
            z0 = tf.zeros([tf.shape(images)[0], self.latent_dim])
        seed = self.seed if seed is None else seed
        return self._infer_standalone(images, tf.convert_to_tensor(z0, tf.float32), tf.cast(steps, tf.int32),
                                      seed=seed)

    def reconstruct(self, images):
        return self.generate(self.infer(images))

    # -- training -------------------------------------------------------------------
    def compile(self, generator_optimizer=None, energy_optimizer=None, **kwargs):
        super().compile(**kwargs)
        cfg = self.model_config
        self.generator_optimizer = generator_optimizer or keras.optimizers.Adam(
            cfg.generator_learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2)
        self.energy_optimizer = energy_optimizer or keras.optimizers.Adam(
            cfg.energy_learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2)
        self.build_optimizer(self.generator_optimizer, self.generator.trainable_variables)
        self.build_optimizer(self.energy_optimizer, self.energy.trainable_variables)

    def optimizers_by_name(self):
        return {"generator_optimizer": self.generator_optimizer, "energy_optimizer": self.energy_optimizer}

    def sub_networks(self):
        return {"generator": self.generator, "energy": self.energy}

    def persistent_state(self):
        # The bank is also a model weight; naming it here puts it in the
        # checkpoint's state beside the noise seed.
        return {**super().persistent_state(), "latent_bank": self.latent_bank}

    def density_at(self, iteration) -> tf.Tensor:
        """The sparsity schedule's density d (1: dense, 0: the configured k) after `iteration` updates."""
        cfg = self.model_config
        t = tf.cast(iteration, tf.float32)
        steps = float(max(cfg.sparsity_schedule_steps, 1))
        if cfg.sparsity_schedule == "dense_start":
            return tf.where(t < steps, 1.0, 0.0)
        if cfg.sparsity_schedule == "anneal":
            return tf.clip_by_value(1.0 - t / steps, 0.0, 1.0)
        return tf.constant(0.0)

    def train_step(self, data):
        cfg = self.model_config
        images, index = data["image"], tf.cast(data["index"], tf.int32)
        if self.generator.scheduled:
            self.generator.density.assign(self.density_at(self.generator_optimizer.iterations))
        n = tf.shape(images)[0]
        global_batch = self.global_batch_size(images)
        z_prior = self.per_example_normal(n, (cfg.latent_dim,))

        # The generator's tape is open from its first pass: the prior samples g(Ẑ) of step 1 are
        # those of step 3 (Θ does not change in between), so the generator runs on Ẑ once.
        with tf.GradientTape(persistent=True) as g_tape:
            fake = self.generator(z_prior)
            with g_tape.stop_recording():
                # Step 1: the energy network, observed vs generated (Eq. 20), the samples first
                # revised by Langevin on P(Y; Φ) with `energy_revision_steps` (not in the paper).
                negatives = tf.stop_gradient(fake)
                if cfg.energy_revision_steps:
                    revision_noise = self.per_example_normal(n, (cfg.energy_revision_steps, *self.image_shape))
                    negatives = tf.stop_gradient(self._revise_compiled(negatives, revision_noise))
                with tf.GradientTape() as tape:
                    f_real, f_fake = self.energy(images), self.energy(negatives)
                    energy_loss = reduce_loss(energy_network_loss(
                        f_real, f_fake, cfg.energy_penalty, cfg.energy_level_penalty), global_batch)
                self.energy_optimizer.apply(tape.gradient(energy_loss, self.energy.trainable_variables),
                                            self.energy.trainable_variables)
                # Step 2: l_G Langevin steps on each example's persistent latent (Eq. 13-14).
                z0 = tf.gather(self.latent_bank, index)
                noise = self.per_example_normal(n, (cfg.langevin_steps, cfg.latent_dim))
                z = tf.stop_gradient(self._infer_compiled(images, z0, tf.constant(cfg.langevin_steps), noise=noise))
            # Step 3: the generator, L(Θ) on the inferred latents + H(Θ) on prior samples (Eq. 15, 21-22).
            recon = self.generator(z)
            per_example = generator_objective(images, recon, fake, self.energy(fake), cfg.sigma,
                                              cfg.reference_sigma, cfg.energy_weight,
                                              reference_term=cfg.generator_reference_term)
            likelihood = reduce_loss(generator_objective(images, recon, fake, 0.0, cfg.sigma, cfg.reference_sigma,
                                                         0.0), global_batch)
            sample_term = reduce_loss(per_example, global_batch) - likelihood
        # The two terms back-propagate through disjoint branches (recon, fake): taking their
        # gradients apart costs what their sum's would, and shows how much the energy term moves Θ.
        variables = self.generator.trainable_variables
        g_likelihood = g_tape.gradient(likelihood, variables, unconnected_gradients="zero")
        g_sample = g_tape.gradient(sample_term, variables, unconnected_gradients="zero")
        del g_tape
        update = [a + b for a, b in zip(g_likelihood, g_sample)]
        self.generator_optimizer.apply(update, variables)
        likelihood_norm = tf.linalg.global_norm(g_likelihood)
        ratio = tf.linalg.global_norm(g_sample) / tf.maximum(likelihood_norm, 1e-30)
        # cos(∇L + ∇H, ∇L): 1 when the energy term does not change the update's direction.
        dot = tf.add_n([tf.reduce_sum(a * u) for a, u in zip(g_likelihood, update)])
        cosine = dot / tf.maximum(likelihood_norm * tf.linalg.global_norm(update), 1e-30)

        self._write_latents(index, z)
        extra = {}
        if cfg.energy_revision_steps:
            extra["revision_move"] = tf.sqrt(tf.reduce_mean(tf.square(negatives - fake)))
        if self.generator.scheduled:
            extra["sparsity_density"] = tf.identity(self.generator.density)
        return self.update_trackers({**extra,
            "energy_loss": tf.reduce_mean(f_fake - f_real), "energy_real": tf.reduce_mean(f_real),
            "energy_fake": tf.reduce_mean(f_fake), "generator_loss": tf.reduce_mean(per_example),
            "reconstruction_mse": tf.reduce_mean(tf.square(images - recon)),
            "latent_norm": tf.reduce_mean(tf.square(z)),
            "latent_move": tf.sqrt(tf.reduce_mean(tf.square(z - z0))),
            "energy_gradient_ratio": ratio, "energy_gradient_cosine": cosine})

    def _write_latents(self, index, z):
        """Stores the global batch's new latents in the bank.

        Under a strategy every replica gathers all replicas' (index, z) and
        writes the same whole bank (a scatter into the full tensor, which
        works for mirrored variables and under XLA alike).
        """
        ctx = tf.distribute.get_replica_context()
        if ctx.num_replicas_in_sync > 1:
            index, z = ctx.all_gather(index, axis=0), ctx.all_gather(z, axis=0)
        self.latent_bank.assign(tf.tensor_scatter_nd_update(self.latent_bank, index[:, None], z))

    # -- generation -------------------------------------------------------------------
    def generate(self, z, training=False):
        return self.generator(z)

    def call(self, z, training=False):
        return self.generator(z)

    # -- basis functions, AND-OR trees -------------------------------------------------
    def basis_functions(self, z, layer: int, top=None):
        """Every kept activation of `layer` for one z and its basis function (Appendix A).

        See `tfgen.models.andor.basis.basis_functions`; Eq. 25 holds:
        pre-tanh = Σ_k s_k B_k + bias.
        """
        return andor_basis.basis_functions(self.generator, z, layer, top=top)

    def and_or_tree(self, z):
        """The AND-OR tree of one z over `tree_layers` (see `andor_basis.and_or_tree`)."""
        cfg = self.model_config
        return andor_basis.and_or_tree(self.generator, z, cfg.tree_layers, cfg.tree_nodes, cfg.tree_children)

    # -- TensorBoard, evaluation, export -------------------------------------------------
    png_panels = ("samples", "and_or_tree", "most_used_basis")

    def image_panels(self, fixed_latent, real_batch):
        cfg = self.model_config
        panels = super().image_panels(fixed_latent, real_batch)
        panels["and_or_tree"] = self.figure_panel(render_tree(self.and_or_tree(fixed_latent[0])))
        rows = []
        # One batched pass for every layer (it records them all), not one per layer.
        used = andor_basis.most_used_basis(self.generator, fixed_latent, self.generator.layer_numbers, cfg.num_basis)
        for layer in self.generator.layer_numbers:
            size = self.generator.layer_shape(layer)[0]
            rows.append((f"layer {layer} ({size}x{size})", used[layer]["basis"]))
        panels["most_used_basis"] = self.figure_panel(labelled_basis_grid(rows, scale=2))
        return panels

    def text_panels(self, fixed_latent, real_batch):
        # The same tree as the image panel (same latent, same weights);
        # recomputed rather than cached on the model, which would track it.

        tree = self.and_or_tree(fixed_latent[0])
        return {"and_or_tree": andor_basis.tree_markdown(tree, self.generator)}

    def histograms(self, fixed_latent, real_batch):
        return {"latent_bank": np.asarray(self.latent_bank[:4096]).ravel()}

    def serving_endpoints(self):
        cfg = self.model_config
        endpoints = super().serving_endpoints()
        dims = ", ".join(map(str, self.image_shape))
        image_spec = tf.TensorSpec([None, *self.image_shape], tf.float32, name="images")
        z_spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

        def reconstruct(images, steps):
            z = self.infer(images, steps)
            return {"z": z, "reconstructions": self.generate(z)}

        layers = self.generator.layer_numbers

        def basis(z, layer):
            def branch(number):
                def fn():
                    out = andor_basis.top_basis_functions(self.generator, z, number, cfg.num_basis)
                    return out["basis"], out["coefficients"], out["positions"]
                return fn

            index = tf.clip_by_value(layer - layers[0], 0, len(layers) - 1)
            tf.debugging.assert_equal(index, layer - layers[0], message=f"layer must be one of {layers}")
            b, c, p = tf.switch_case(index, [branch(n) for n in layers])
            return {"basis": b, "coefficients": c, "positions": p}

        endpoints["reconstruct"] = (
            reconstruct, [image_spec, tf.TensorSpec([], tf.int32, name="steps")],
            f"reconstruct(images: float32 [batch, {dims}] in [-1, 1], steps: int32 Langevin steps from z = 0) -> "
            f"{{z: [batch, {self.latent_dim}], reconstructions: [batch, {dims}] in [-1, 1]}} "
            f"(training used {cfg.inference_steps} steps for new images)")
        endpoints["basis_functions"] = (
            basis, [z_spec, tf.TensorSpec([], tf.int32, name="layer")],
            f"basis_functions(z: float32 [batch, {self.latent_dim}], layer: int32 in {layers}) -> "
            f"{{basis: [batch, {cfg.num_basis}, {dims}] pre-tanh basis functions B_k of the {cfg.num_basis} "
            f"largest activations of that layer, coefficients: [batch, {cfg.num_basis}] their values s_k "
            f"(descending), positions: int32 [batch, {cfg.num_basis}, 3] (row, column, channel)}}")
        return endpoints


@register_evaluation_extras("andor")
def evaluation_extras(model, arrays, extractor=None):
    """Table 4's interpretability score: layer-`ncc_layer` basis functions
    (top 8 of each of 16 latents from the prior) against training images,
    beside the null (random-noise and smooth-blob templates of the same crop
    sizes) and the margin over the larger null."""
    images = arrays.get("train_image", arrays["image"])[:500]
    zs = model.latent_batch(16, seed=5).numpy()
    layer = model.model_config.ncc_layer
    score = andor_basis.interpretability_score(model.generator, zs, images, layer=layer)
    # How much spatial top-k favours the maps' borders (with zero padding: 58-64% of layer-3 entries on 44%).
    border = andor_basis.border_share(model.generator.run(tf.constant(zs), record=True)[1]["activations"][layer])
    return {f"border_share_layer{layer}": border["share"], f"border_positions_layer{layer}": border["positions"],
            "ncc_score": score["mean"], "ncc_score_std": score["std"], "ncc_bases": score["count"],
            "ncc_layer": model.model_config.ncc_layer, "ncc_null_noise": score["null"]["noise"],
            "ncc_null_blobs": score["null"]["blobs"], "ncc_margin": score["margin"]}
