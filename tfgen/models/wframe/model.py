"""wFRAME (Cai, Wu, Li, Chen & Lin, AAAI 2019) — FRAME on pre-learned conv
filters with the Wasserstein (JKO) gradient-norm terms; FRAME is `beta: 0`.

The model is an energy on a frozen filter bank (`tfgen.models.wframe.filter_bank`):

    p(x; θ) ∝ exp(Φ(x; θ)) N(x; 0, σ² I),  Φ(x; θ) = Σ_k Σ_p θ_k,p ReLU(F_k(x)_p)

and learning is Algorithm 1, one iteration per `train_step`:

1. M persistent synthesized chains (initialised at 0, the mean image, and
   kept in the model, so checkpoints carry them) take L Langevin steps

       x ← x + δ²/2 (∇_x Φ(x) − x/σ²) + δ ε,   ε ~ N(0, I)

   through the shared sampler (`tfgen.sampling.langevin`; XLA when
   `train.xla` is on).
2. θ ← θ + λ (H_obs − H_syn) − β/2 ((1 − γ) P_{t−1} + γ P_t), γ ~ U[0, 1],
   with H = E ∇_θ Φ and P = ∇_θ E|∇_x Φ|² on the chains before (ρ_{t−1})
   and after (ρ_t) this iteration's steps (Algorithm 1, line 14). The
   likelihood step is SGD with rate λ on `losses.frame_theta_loss`; the JKO
   step is β/2 times the gradient of `losses.gradient_norm_penalty`, with no
   λ: β is its own step size. Optional weight clipping of θ (the paper's
   comparison setting).

Choices where the paper is silent or inconsistent (see `WFRAMEConfig`):

* Units. Chains live in centred pixel units (0..255 minus the bank's mean
  pixel), the convention of the UCLA FRAME code the paper builds on, so δ
  and λ mean the same for every filter bank.
* σ. Algorithm 1 writes both the reference term x/σ² and the noise
  N(0, σ²) with the paper's σ = 0.01; taken literally, one step multiplies
  x by 1 − δ²/(2σ²) = −199 at δ = 0.2, so no chain survives. We keep the
  standard Langevin step (unit noise scaled by δ, as in Eq. 8 and the FRAME
  code) and a reference σ of 1 in centred pixel units (the FRAME code's
  `refsig`), configurable as `reference_sigma`.
* λ on the β term. Line 14 scales only the likelihood step by λ, while
  Eq. 17-18 derive both terms from one objective. We follow line 14: the
  JKO step is β/2 ((1 − γ) P_{t−1} + γ P_t) whatever λ is, so raising λ
  makes the likelihood step larger and leaves the β step alone.
* The units of |∇_x Φ|², and so of β (`gradient_norm_reduction`). The paper
  does not say how |∇_x Φ|² is normalised, and its β = 60 belongs to its
  own (unstated) image units: in ours, a β step of 60 would move θ by
  thousands per iteration. Per pixel (default) divides the squared norm by
  the D = H·W·C input dimensions; per image is Algorithm 1's literal
  1/M Σ_i |∇_x Φ(x_i)|²; summed drops the 1/M. A per-pixel β is a per-image
  β times D.
* Choosing β: the contraction rule. Φ is linear in θ, so |∇_x Φ(x)|² =
  θᵀ G(x) θ with G(x) the Gram matrix of the filters' input gradients
  under x's ReLU masks, and the JKO step alone is θ ← (I − β Ḡ) θ with Ḡ
  the γ-mix of the two chain sets' mean G (in the chosen units). It
  shrinks every direction of θ while β μ_max(Ḡ) < 2 and overshoots, growing
  θ, beyond. μ_max depends on the data through the masks and on the
  filters' gain squared, not on θ, and is estimated every iteration by
  power iteration (`contraction_iterations`): the metrics jko_curvature
  (μ_max) and jko_contraction (β μ_max) show whether the β step contracts.
  Rule: β ≈ 0.05 / μ_max measured on the observed images (`beta_for`),
  a factor 40 below the bound on data-like chains. The headroom is needed:
  the chains' μ_max rose to 9x (digits) and 13x (brick) the data's in the
  λ sweep, and β = 0.5 / μ_max (factor 4) turned the β step into an
  expansion there (β μ_max up to 4.7 and 6.6) and θ diverged within a few
  iterations. On the learned 32x32 digit bank μ_max is 0.36 per pixel on
  real digits (β 0.14) and 0.0004 at the mean image where the chains
  start; on brick 0.072 (β 0.7) (docs/wframe/RESULTS.md).

Data: dicts with "image" float32 [batch, H, W, C] in [-1, 1] (the observed
batch, N = `train.batch_size`).
Metrics: energy_observed, energy_synthesized (mean Φ, the energy curve),
response_distance (R, over the global batch), grad_norm (E|∇_x Φ|² on the
new chains, in `gradient_norm_reduction` units), theta_loss, theta_abs_mean,
likelihood_step and beta_step (the L2 norms of the two parts of Δθ),
jko_curvature and jko_contraction (above; with `contraction_iterations`).
"""

from __future__ import annotations

import dataclasses
import logging

import keras
import numpy as np
import tensorflow as tf

from tfgen.errors import ConfigError
from tfgen.models.base import GenerativeModel
from tfgen.models.registry import register, register_evaluation_extras
from tfgen.models.wframe.config import WFRAMEConfig
from tfgen.models.wframe.filter_bank import (
    FilterBank,
    empty_filter_bank,
    learned_bank_for,
    load_learned_bank,
    random_filter_bank,
    vgg16_filter_bank,
)
from tfgen.models.wframe.losses import (
    frame_energy,
    gaussian_reference_log_density,
    mean_responses,
    response_distance,
    frame_theta_loss,
    gradient_norm_penalty,
    power_iteration,
    squared_input_gradient_norm,
)
from tfgen.ops.replicas import per_example_draw, replica_slice
from tfgen.sampling import langevin

logger = logging.getLogger(__name__)


def _check_replicas(num_chains: int) -> int:
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if num_chains % replicas:
        raise ConfigError(f"model.num_chains={num_chains} must be divisible by the {replicas} replicas")
    return replicas


@register("wframe", WFRAMEConfig)
@keras.saving.register_keras_serializable(package="tfgen")
class WFRAME(GenerativeModel):
    """Energy Φ(x; θ) on a frozen filter bank, with persistent Langevin chains.

    Args (beyond `GenerativeModel`'s):
      filter_bank_config: the bank's layout (`FilterBank.get_config()`) when
        rebuilding a saved model whose bank is restored from a checkpoint;
        None builds the bank from `model.filter_bank`.
    """

    def __init__(self, model_config, image_shape, filter_bank_config=None, **kwargs):
        super().__init__(model_config, image_shape, **kwargs)
        cfg = self.model_config
        self.bank = self._make_bank(filter_bank_config)
        h, w, c = self.image_shape
        resp = self.bank.response_shape(self.image_shape)
        theta_shape = [resp[-1]] if cfg.theta_shape == "shared" else resp
        # Mean aggregation: every replica applies the same all-reduced β step
        # to θ in replica context (the likelihood step goes through the optimizer).
        self.theta = self.add_weight(name="theta", shape=theta_shape, initializer="zeros", trainable=True,
                                     aggregation="mean")
        _check_replicas(cfg.num_chains)
        # Mirrored: every replica writes the same gathered value (see train_step).
        self.chains = self.add_weight(name="chains", shape=(cfg.num_chains, h, w, c), initializer="zeros",
                                      trainable=False, aggregation="only_first_replica")
        self.add_trackers("energy_observed", "energy_synthesized", "response_distance", "grad_norm",
                          "theta_loss", "theta_abs_mean", "likelihood_step", "beta_step")
        if cfg.contraction_iterations:
            self.add_trackers("jko_curvature", "jko_contraction")
        # The factor from the per-image |∇_x Φ|² to `gradient_norm_reduction`'s units.
        self._norm_scale = {"per_pixel": 1.0 / float(h * w * c), "per_image": 1.0,
                            "summed": float(cfg.num_chains)}[cfg.gradient_norm_reduction]
        self._step = self.maybe_xla(self._step_impl)
        # Synthesis is called from outside any train step (evaluation, panels,
        # serving): a graph even without XLA, since an eager tf.while_loop of
        # Langevin steps ran 5.8x slower (924 vs 160 ms).
        self._synthesize_compiled = (self.maybe_xla(self._synthesize_impl) if self.xla
                                     else tf.function(self._synthesize_impl, reduce_retracing=True))
        self.built = True

    # -- construction ---------------------------------------------------------
    @classmethod
    def resolve_model_config(cls, config):
        """Fills `filter_bank_path` of a learned bank: trains it for `config.data` or finds it cached."""
        cfg = config.model
        if cfg.filter_bank == "learned" and not cfg.filter_bank_path:
            folder = learned_bank_for(config.data, steps=cfg.filter_bank_steps, seed=config.train.seed,
                                      cache_dir=config.eval.cache_dir or None)
            return dataclasses.replace(cfg, filter_bank_path=folder)
        return cfg

    def _make_bank(self, layout) -> FilterBank:
        cfg = self.model_config
        channels = self.image_shape[-1]
        if layout is not None:
            return empty_filter_bank(layout)
        if cfg.filter_bank == "vgg16":
            bank = vgg16_filter_bank(cfg.filter_bank_path or None)
        elif cfg.filter_bank == "learned":
            if not cfg.filter_bank_path:
                raise ConfigError("model.filter_bank=learned needs model.filter_bank_path (the runner fills it "
                                  "in: build the model with tfgen.models.build_model)")
            bank = load_learned_bank(cfg.filter_bank_path)
        else:
            bank = random_filter_bank(channels, seed=self.seed)
            logger.warning("wframe: RANDOM filters (model.filter_bank=random): for tests and ablations only")
        if bank.in_channels not in (channels, 3):
            raise ConfigError(f"the {cfg.filter_bank} filters read {bank.in_channels}-channel images, "
                              f"the data has {channels}")
        logger.info("wframe: filters %s, %d filters of the top layer", bank.description, bank.num_filters)
        return bank

    def get_config(self):
        return {**super().get_config(), "filter_bank_config": self.bank.get_config()}

    @classmethod
    def from_config(cls, config):
        # The filters come back from the weights (a checkpoint, or set_weights):
        # rebuild the layout without reading the bank's source again.
        return cls(**config)

    # -- the energy -------------------------------------------------------------
    def energy(self, units: tf.Tensor) -> tf.Tensor:
        """Φ(x; θ): centred pixel units [batch, H, W, C] -> [batch]."""
        return frame_energy(self.bank(units), self.theta)

    def log_density(self, units: tf.Tensor) -> tf.Tensor:
        """log p(x; θ) + const = Φ(x; θ) − |x|²/(2σ²), [batch]."""
        return self.energy(units) + gaussian_reference_log_density(units, self.model_config.reference_sigma)

    def _langevin(self, units, steps, seed, trace_fn=None, noise_fn=None):
        return langevin(self.log_density, units, self.model_config.step_size, steps, seed=seed, trace_fn=trace_fn,
                        noise_fn=noise_fn)

    # -- training -----------------------------------------------------------------
    def compile(self, optimizer=None, **kwargs):
        super().compile(**kwargs)
        # Plain gradient steps of size λ, as Algorithm 1 (no momentum, no scaling).
        self.theta_optimizer = optimizer or keras.optimizers.SGD(self.model_config.learning_rate)
        self.build_optimizer(self.theta_optimizer, [self.theta])

    def optimizers_by_name(self):
        return {"theta_optimizer": self.theta_optimizer}

    def sub_networks(self):
        return {"energy": self}

    def persistent_state(self):
        # The chains are also a model weight; listing them here names them in
        # the checkpoint's state, beside the noise seed.
        return {**super().persistent_state(), "chains": self.chains}

    def _gradient_norm(self, theta, units):
        """|∇_x Φ_θ|² per example in `gradient_norm_reduction` units, differentiable in θ: [m]."""
        def energy(x):
            return frame_energy(self.bank(x), theta)

        return squared_input_gradient_norm(energy, units) * self._norm_scale

    def _penalty_gradient(self, theta, previous, current, gamma, global_synthesized):
        """This replica's share of ∇_θ [(1 − γ) E_{t−1}|∇_x Φ|² + γ E_t|∇_x Φ|²] at `theta`.

        Φ is linear in θ, so this is 2 Ḡ θ: the JKO step's matrix applied to θ.
        """
        with tf.GradientTape() as tape:
            tape.watch(theta)
            penalty = gradient_norm_penalty(self._gradient_norm(theta, previous), self._gradient_norm(theta, current),
                                            gamma, global_synthesized)
        return tape.gradient(penalty, theta)

    def _step_impl(self, observed, previous, gamma, noise, global_observed, global_synthesized):
        """One replica's Langevin steps and θ gradients (XLA-compiled when enabled).

        Args:
          observed: this replica's observed images, centred units [n, H, W, C].
          previous: this replica's chains before the iteration, [m, H, W, C].
          gamma: γ, scalar float32.
          noise: this replica's Langevin noise ε, [L, m, H, W, C].
          global_observed, global_synthesized: N and M over all replicas.

        Returns:
          (new chains [m, H, W, C], this replica's share of the likelihood
          gradient ∇_θ (E_syn Φ − E_obs Φ) and of the penalty gradient
          (1 − γ) P_{t−1} + γ P_t (zeros for FRAME), per-filter response sums
          of the observed and synthesized images [K] each, stats).
        """
        cfg = self.model_config
        current = self._langevin(previous, cfg.langevin_steps, None, noise_fn=lambda i: noise[i])
        with tf.GradientTape() as tape:
            resp_obs, resp_syn = self.bank(observed), self.bank(current)
            energy_obs = frame_energy(resp_obs, self.theta)
            energy_syn = frame_energy(resp_syn, self.theta)
            loss = frame_theta_loss(energy_obs, energy_syn, global_observed, global_synthesized)
        grad = tape.gradient(loss, self.theta)
        theta = tf.convert_to_tensor(self.theta)
        if cfg.beta > 0:
            penalty_grad = self._penalty_gradient(theta, previous, current, gamma, global_synthesized)
        else:  # FRAME: no JKO step; skip its double back-propagation
            penalty_grad = tf.zeros_like(grad)
        sums = tuple(tf.reduce_sum(tf.nn.relu(r), axis=[0, 1, 2]) for r in (resp_obs, resp_syn))
        stats = {"energy_observed": tf.reduce_mean(energy_obs), "energy_synthesized": tf.reduce_mean(energy_syn),
                 "grad_norm": tf.reduce_mean(self._gradient_norm(theta, current))}
        return current, grad, penalty_grad, sums, stats

    def jko_curvature(self, previous, current, gamma, iterations, global_synthesized=None):
        """μ_max of the JKO step's quadratic form Ḡ on these chains (a power-iteration estimate).

        The JKO step alone is θ ← (I − β Ḡ) θ, a contraction while β μ_max < 2.
        Ḡ depends on the chains (through the ReLU masks), not on θ. Called
        in replica context, the products are summed over the replicas.

        Args:
          previous, current: this replica's chains before and after the
            iteration's Langevin steps, centred units [m, H, W, C].
          gamma: γ of the mix, scalar.
          iterations: power iterations (≥ 1), started from θ (or all ones).
          global_synthesized: M over all replicas (default: m times the replicas).

        Returns:
          Scalar float32 ≥ 0, in `gradient_norm_reduction` units.
        """
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        if global_synthesized is None:
            global_synthesized = tf.shape(current)[0] * replicas

        def gram(v):
            g = 0.5 * self._penalty_gradient(v, previous, current, gamma, global_synthesized)
            return ctx.all_reduce("sum", g) if replicas > 1 else g

        # Unrolled with several replicas: their all-reduce may not sit inside a while loop.
        return power_iteration(gram, tf.convert_to_tensor(self.theta), iterations, loop=replicas == 1)

    def beta_for(self, images, contraction: float = 0.05, iterations: int = 30):
        """The β of the contraction rule for these observed images: (β, μ_max).

        β = contraction / μ_max, with μ_max the top eigenvalue of the JKO
        step's quadratic form on `images` (θ-independent): the β step then
        multiplies θ's steepest direction by 1 − contraction on data-like
        chains, and stays a contraction on chains whose μ_max is up to
        2 / contraction times larger (40 by default; the sweep's chains
        reached 9-13).

        Args:
          images: observed images [n, H, W, C] in [-1, 1] (a few dozen suffice).
          contraction: the target β·μ_max on them, in (0, 2).
          iterations: power iterations.

        Returns:
          (β in `gradient_norm_reduction` units, μ_max), Python floats.
        """
        if not 0.0 < contraction < 2.0:
            raise ValueError(f"contraction must be in (0, 2), got {contraction}")
        units = self.bank.to_units(tf.convert_to_tensor(images, tf.float32))
        # As one graph: run op by op, 30 double back-propagations took seconds.
        curvature = tf.function(lambda u: self.jko_curvature(u, u, 0.5, iterations, tf.shape(u)[0]))
        mu = float(curvature(units))
        return (contraction / mu if mu > 0 else float("inf")), mu

    def train_step(self, data):
        cfg = self.model_config
        observed = self.bank.to_units(data["image"])
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync
        local = cfg.num_chains // replicas
        previous = replica_slice(tf.convert_to_tensor(self.chains))
        # γ is the same on every replica (mirrored seed generator). The Langevin
        # noise of all M chains is drawn at once and sliced, so a chain gets the
        # same noise however the chains are split over replicas.
        gamma = keras.random.uniform((), seed=self.seed_generator)
        noise = per_example_draw(lambda s: keras.random.normal(s, seed=self.seed_generator),
                                 (cfg.langevin_steps, local, *self.image_shape), axis=1)
        global_observed = self.global_batch_size(observed)
        global_synthesized = tf.constant(cfg.num_chains, tf.int32)
        current, grad, penalty_grad, (sum_obs, sum_syn), stats = self._step(
            observed, previous, gamma, noise, global_observed, global_synthesized)
        if cfg.contraction_iterations:
            # Before θ moves: the factor of the step about to be taken.
            mu = self.jko_curvature(previous, current, gamma, cfg.contraction_iterations, global_synthesized)
            stats.update(jko_curvature=mu, jko_contraction=cfg.beta * mu)
        total_grad = ctx.all_reduce("sum", grad) if replicas > 1 else grad
        stats["likelihood_step"] = self.theta_optimizer.learning_rate * tf.norm(total_grad)
        self.theta_optimizer.apply([grad], [self.theta])
        if cfg.beta > 0:
            # Algorithm 1, line 14: the JKO step is not scaled by λ.
            beta_step = 0.5 * cfg.beta * (ctx.all_reduce("sum", penalty_grad) if replicas > 1 else penalty_grad)
            self.theta.assign_sub(beta_step)
            stats["beta_step"] = tf.norm(beta_step)
        else:
            stats["beta_step"] = tf.zeros([])
        if cfg.clip > 0:
            self.theta.assign(tf.clip_by_value(self.theta, -cfg.clip, cfg.clip))
        self.chains.assign(ctx.all_gather(current, axis=0) if replicas > 1 else current)
        # R over the global batch: all-reduce the per-filter sums and counts.
        positions = float(np.prod(self.bank.response_shape(self.image_shape)[:2]))
        sum_obs, sum_syn = ctx.all_reduce("sum", sum_obs), ctx.all_reduce("sum", sum_syn)
        mean_obs = sum_obs / (tf.cast(global_observed, tf.float32) * positions)
        mean_syn = sum_syn / (float(cfg.num_chains) * positions)
        stats.update(response_distance=response_distance(mean_obs, mean_syn),
                     theta_loss=stats["energy_synthesized"] - stats["energy_observed"],
                     theta_abs_mean=tf.reduce_mean(tf.abs(self.theta)))
        return self.update_trackers(stats)

    # -- synthesis ----------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return int(np.prod(self.image_shape))

    def sample_latent(self, n: int, seed=None) -> tf.Tensor:
        """New chain starting points, [n, H, W, C] in [-1, 1]: the mean image plus
        N(0, init_noise²) in centred units (the mean image alone by default)."""
        noise = keras.random.normal((n, *self.image_shape), seed=seed if seed is not None else self.seed_generator)
        return self.bank.to_image(self.model_config.init_noise * noise)

    def latent_batch(self, n: int, seed: int) -> tf.Tensor:
        noise = tf.random.stateless_normal([n, *self.image_shape], seed=[seed, 0])
        return self.bank.to_image(self.model_config.init_noise * noise)

    def _synthesize_impl(self, units, steps, seed):
        return self._langevin(units, steps, seed)

    def synthesize(self, images, steps=None, seed=None) -> tf.Tensor:
        """Runs Langevin chains on the learned density from given images.

        Args:
          images: starting points [batch, H, W, C] in [-1, 1].
          steps: Langevin steps (int or int32 scalar; default synthesis_steps).
          seed: int32 [2] / int seed of the noise (default: the model seed, so
            the same start gives the same images).

        Returns:
          [batch, H, W, C] in [-1, 1].
        """
        steps = self.model_config.synthesis_steps if steps is None else steps
        seed = self.seed if seed is None else seed
        units = self.bank.to_units(tf.convert_to_tensor(images, tf.float32))
        return self.bank.to_image(self._synthesize_compiled(units, tf.cast(steps, tf.int32), seed))

    def generate(self, z, training=False):
        """`synthesize(z)`: z is a batch of starting images (see `sample_latent`)."""
        return self.synthesize(z)

    def call(self, images, training=False):
        return self.energy(self.bank.to_units(images))

    def chain_images(self) -> tf.Tensor:
        """The persistent chains as images, [M, H, W, C] in [-1, 1]."""
        return self.bank.to_image(tf.convert_to_tensor(self.chains))

    # -- TensorBoard, evaluation, export ------------------------------------------
    png_panels = ("chains", "samples")

    def image_panels(self, fixed_latent, real_batch):
        cfg = self.model_config
        chains = tf.convert_to_tensor(self.chains)[:4]
        snapshots = 8
        every = max(1, cfg.langevin_steps // snapshots)
        # One iteration's worth of steps from the current chains, every `every`-th state kept.
        _, trace = self._langevin(chains, cfg.langevin_steps, self.seed, trace_fn=lambda x, _: x)
        trace = tf.transpose(trace[::every][:snapshots], [1, 0, 2, 3, 4])  # [4, snapshots, H, W, C]
        return {"chains": self.chain_images(), "samples": self.generate(fixed_latent),
                "langevin_trace": self.bank.to_image(tf.reshape(trace, [-1, *self.image_shape])),
                "observed": real_batch["image"]}

    def histograms(self, fixed_latent, real_batch):
        return {"theta": np.asarray(self.theta).ravel()}

    def serving_endpoints(self):
        shape = [None, *self.image_shape]
        image_spec = tf.TensorSpec(shape, tf.float32, name="images")
        dims = ", ".join(map(str, self.image_shape))

        def generate(z):
            return {"images": self.synthesize(z)}

        def synthesize(images, steps):
            return {"images": self.synthesize(images, steps)}

        def energy(images):
            return {"energy": self.energy(self.bank.to_units(images))}

        return {
            "generate": (generate, [tf.TensorSpec(shape, tf.float32, name="z")],
                         f"generate(z: float32 [batch, {dims}] starting images in [-1, 1]) -> "
                         f"{{images: [batch, {dims}] in [-1, 1]}} after {self.model_config.synthesis_steps} "
                         "Langevin steps"),
            "synthesize": (synthesize, [image_spec, tf.TensorSpec([], tf.int32, name="steps")],
                           f"synthesize(images: float32 [batch, {dims}] in [-1, 1], steps: int32) -> "
                           f"{{images: [batch, {dims}] in [-1, 1]}}"),
            "energy": (energy, [image_spec],
                       f"energy(images: float32 [batch, {dims}] in [-1, 1]) -> {{energy: float32 [batch]}} (Φ)"),
        }


@register_evaluation_extras("wframe")
def evaluation_extras(model, arrays, extractor=None):
    """R and mean energies of `synthesis_steps`-step samples vs 256 test images."""
    real = tf.constant(arrays["image"][:256], tf.float32)
    fake = model.generate(model.sample_latent(len(real), seed=1))
    r_obs, r_syn = model.bank(model.bank.to_units(real)), model.bank(model.bank.to_units(fake))
    return {"response_distance": float(response_distance(mean_responses(r_obs), mean_responses(r_syn))),
            "energy_observed": float(tf.reduce_mean(frame_energy(r_obs, model.theta))),
            "energy_synthesized": float(tf.reduce_mean(frame_energy(r_syn, model.theta)))}
