"""AND-OR network (Xing et al.): the three per-example objectives of Algorithm 1.

Generator model Y = g(Z) + ε, Z ~ N(0, I_d), ε ~ N(0, σ² I_D) (Eq. 7), and
energy-based model P(Y; Φ) ∝ exp(f(Y; Φ)) q(Y), q = N(0, σ_q² I_D)
(Eq. 16-17, with f the log-density as Eq. 19-22 use it). Losses are written
to be *minimised* and reduced over the global batch by the train step.
"""

from __future__ import annotations

import tensorflow as tf


def _sum_pixels(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.square(x), axis=list(range(1, x.shape.rank)))


def latent_log_posterior(images: tf.Tensor, generated: tf.Tensor, z: tf.Tensor, sigma: float) -> tf.Tensor:
    """log p(Z | Y) + const = −|Y − g(Z)|²/(2σ²) − |Z|²/2 (Eq. 14).

    Its Z-gradient drives the Langevin inference of Eq. 13.

    Args:
      images: observed Y, [batch, H, W, C] in [-1, 1].
      generated: g(Z), same shape.
      z: [batch, d].
      sigma: σ of the observation noise.

    Returns:
      float32 [batch].
    """
    return -_sum_pixels(images - generated) / (2.0 * sigma ** 2) - 0.5 * _sum_pixels(z)


def reference_log_density(images: tf.Tensor, energy: tf.Tensor, reference_sigma: float) -> tf.Tensor:
    """log P(Y; Φ) + log Z(Φ) = f(Y; Φ) − |Y|²/(2σ_q²) (Eq. 16-17), [batch].

    Args:
      images: [batch, H, W, C].
      energy: f(Y; Φ), [batch].
    """
    return energy - _sum_pixels(images) / (2.0 * reference_sigma ** 2)


def energy_network_loss(energy_real: tf.Tensor, energy_generated: tf.Tensor, penalty: float = 0.0,
                        level_penalty: float = 0.0) -> tf.Tensor:
    """Minus Eq. 20's objective per pair, f(g(Ẑ_i)) − f(Y_i), plus α(f(Y_i)² + f(g(Ẑ_i))²), [batch].

    With `level_penalty` α_c it adds α_c ((f(Y_i) + f(g(Ẑ_i)))/2)²: a
    penalty on f's level only. Eq. 20 and Eq. 22 do not change when a
    constant is added to f, so this fixes the direction Eq. 20 leaves free
    (on the digits f(Y) and f(g(Ẑ)) drifted together to ~3,000) and leaves
    the difference, Eq. 20's content, unpenalised.

    The first term's Φ-gradient averaged over the batch is −∂L(Φ)/∂Φ with
    the generator's samples standing in for samples of P(Y; Φ). Nothing in
    it bounds f: once the two sets differ, f can grow on one and fall on the
    other for ever. The squared-energy penalty α (not in the paper; the
    usual regulariser of energy-based models trained on sample contrasts)
    keeps f of order 1/α; α = 0 is Eq. 20 exactly.
    """
    contrast = energy_generated - energy_real
    if penalty:
        contrast = contrast + penalty * (tf.square(energy_real) + tf.square(energy_generated))
    if level_penalty:
        contrast = contrast + level_penalty * tf.square(0.5 * (energy_real + energy_generated))
    return contrast


def generator_objective(images: tf.Tensor, reconstructions: tf.Tensor, generated: tf.Tensor,
                        energy_generated: tf.Tensor, sigma: float, reference_sigma: float,
                        energy_weight: float = 1.0, reference_term: bool = False) -> tf.Tensor:
    """−(L(Θ) + H-term) per example: Eq. 15 plus Eq. 22 as printed, [batch].

        |Y_i − g(Z_i)|²/(2σ²) − w · f(g(Ẑ_i))   (+ w · |g(Ẑ_i)|²/(2σ_q²) with `reference_term`)

    Eq. 22 as printed has no gradient of the reference q. `reference_term`
    adds it (it is part of Eq. 21's log P); an addition, off by default: it
    was the largest part of the sample-term gradient (likelihood 3017,
    reference 441, −f 75), pulled prior samples to mid-grey and inflated
    the inferred latents (mean z² 1.40 vs 0.80 without it).

    Args:
      images: observed Y_i; reconstructions: g(Z_i) of their inferred latents.
      generated: g(Ẑ_i) of prior latents; energy_generated: f(g(Ẑ_i)).
      sigma, reference_sigma: σ of Eq. 14 and σ_q of Eq. 17.
      energy_weight: w, the weight of the cross-entropy term (1 in the paper).
      reference_term: add q's term |g(Ẑ_i)|²/(2σ_q²) (not in Eq. 22).
    """
    likelihood = _sum_pixels(images - reconstructions) / (2.0 * sigma ** 2)
    cross_entropy = (-reference_log_density(generated, energy_generated, reference_sigma) if reference_term
                     else -energy_generated)
    return likelihood + energy_weight * cross_entropy
