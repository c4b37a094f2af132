"""FRAME and wFRAME (Cai et al., AAAI 2019): energy, reference term, θ objectives, response distance.

The FRAME density on pre-learned filters (Eq. 3) is

    p(x; θ) ∝ exp(Φ(x; θ)) q(x),   Φ(x; θ) = Σ_k Σ_p θ_k,p ReLU(F_k(x)_p),
    q = N(0, σ² I)

FRAME (Eq. 9) ascends the log-likelihood, H_obs − H_syn with H = E[∇_θ Φ];
wFRAME (Algorithm 1, line 14) adds the JKO step

    θ ← θ + λ (H_obs − H_syn) − β/2 ((1 − γ) P_{t−1} + γ P_t),
    P = ∇_θ E|∇_x Φ|²  on the samples before (t−1) and after (t) the
        iteration's Langevin steps,

where λ scales the likelihood step only. The two parts are written here as
two scalars to *minimise*, reduced over the global batch like every tfgen
loss: `frame_theta_loss` (SGD at rate λ gives λ (H_obs − H_syn)) and
`gradient_norm_penalty` (its gradient times β/2 is the JKO step).

Since Φ is linear in θ, |∇_x Φ|² = θᵀ G(x) θ with G(x) the Gram matrix of
the filters' input gradients (fixed ReLU masks), so the JKO step alone is
θ ← (I − β Ḡ) θ with Ḡ the γ-mix of the two sample sets' mean G: it
shrinks θ while β μ_max(Ḡ) < 2 (`power_iteration` estimates μ_max).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfgen.losses.reduction import reduce_loss


def frame_energy(responses: tf.Tensor, theta: tf.Tensor) -> tf.Tensor:
    """Φ(x; θ) = Σ_k Σ_p θ_k,p ReLU(F_k(x)_p) (wFRAME Eq. 3).

    Args:
      responses: filter responses before the ReLU, float32 [batch, h, w, K].
      theta: [K] (one weight per filter, shared over positions) or
        [h, w, K] (per filter and position, for aligned objects).

    Returns:
      Φ per example, float32 [batch] (any real value).
    """
    return tf.reduce_sum(tf.nn.relu(responses) * theta, axis=[1, 2, 3])


def gaussian_reference_log_density(x: tf.Tensor, sigma: float) -> tf.Tensor:
    """log q(x) + const = −|x|² / (2σ²), the white-noise reference of Eq. 3.

    Args:
      x: [batch, ...] in the chains' units.
      sigma: the reference standard deviation σ > 0.

    Returns:
      float32 [batch].
    """
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    return -tf.reduce_sum(tf.square(x), axis=1) / (2.0 * sigma * sigma)


def squared_input_gradient_norm(energy_fn: Callable[[tf.Tensor], tf.Tensor], x: tf.Tensor) -> tf.Tensor:
    """|∇_x Φ(x)|² per example, differentiable with respect to Φ's parameters.

    The inner gradient is taken with its own tape and kept on the caller's
    tapes, so an outer tape over θ gets ∇_θ |∇_x Φ|² (wFRAME's P, Eq. 18).
    Since Φ is linear in θ and piecewise linear in x, this needs no second
    derivative of the ReLU: ∇_x Φ = Σ_k θ_k ∇_x ReLU(F_k) with fixed masks.

    Args:
      energy_fn: x -> Φ(x) [batch] (examples independent).
      x: [batch, H, W, C]; treated as data (no gradient flows back to it).

    Returns:
      float32 [batch].
    """
    x = tf.stop_gradient(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        energy = tf.reduce_sum(energy_fn(x))
    grad = tape.gradient(energy, x)
    return tf.reduce_sum(tf.square(tf.reshape(grad, [tf.shape(grad)[0], -1])), axis=1)


def frame_theta_loss(energy_observed: tf.Tensor, energy_synthesized: tf.Tensor, global_observed,
                     global_synthesized) -> tf.Tensor:
    """FRAME's θ objective to minimise: E_syn[Φ] − E_obs[Φ] (Eq. 9).

    Its negative gradient is H_obs − H_syn, so SGD with rate λ gives
    θ ← θ + λ (H_obs − H_syn) (Algorithm 1, line 14's likelihood step).

    Args:
      energy_observed: Φ of this replica's observed images, [n].
      energy_synthesized: Φ of this replica's synthesized images, [m].
      global_observed, global_synthesized: the counts over all replicas.

    Returns:
      Scalar: this replica's share.
    """
    return reduce_loss(energy_synthesized, global_synthesized) - reduce_loss(energy_observed, global_observed)


def gradient_norm_penalty(grad_norm_previous: tf.Tensor, grad_norm_current: tf.Tensor, gamma: tf.Tensor,
                          global_synthesized) -> tf.Tensor:
    """(1 − γ) E_{ρ_{t−1}}|∇_x Φ|² + γ E_{ρ_t}|∇_x Φ|² (Eq. 17-18): its θ-gradient is
    (1 − γ) P_{t−1} + γ P_t, and β/2 times that is Algorithm 1's JKO step.

    Args:
      grad_norm_previous: |∇_x Φ|² of this replica's samples before the
        iteration's Langevin steps (ρ_{t−1}), [m], in the units of
        `model.gradient_norm_reduction`.
      grad_norm_current: the same after them (ρ_t), [m].
      gamma: γ ~ U[0, 1], the random interpolation point (a scalar, the same
        on every replica).
      global_synthesized: M, the number of samples over all replicas.

    Returns:
      Scalar ≥ 0: this replica's share.
    """
    return ((1.0 - gamma) * reduce_loss(grad_norm_previous, global_synthesized)
            + gamma * reduce_loss(grad_norm_current, global_synthesized))


def power_iteration(matvec: Callable[[tf.Tensor], tf.Tensor], start: tf.Tensor, iterations: int,
                    loop: bool = True) -> tf.Tensor:
    """Estimates the top eigenvalue of a symmetric positive semi-definite operator.

    Power iteration from `start` with a Rayleigh quotient: a lower bound on
    μ_max that tightens with every iteration (geometrically, at the rate of
    the ratio of the two largest eigenvalues).

    Args:
      matvec: v -> A v, any tensor shape.
      start: the first direction (a zero start is replaced by all ones).
      iterations: ≥ 1 products with A.
      loop: run the iterations as a `tf.while_loop` (one traced body); False
        unrolls them, which a `matvec` with a cross-replica all-reduce needs
        (a synchronisation point may not sit inside control flow).

    Returns:
      Scalar float32 ≥ 0.
    """
    norm = tf.norm(start)
    v = tf.where(norm > 0, start / tf.maximum(norm, 1e-30), tf.ones_like(start) / tf.sqrt(
        tf.cast(tf.size(start), start.dtype)))

    def body(i, v, mu):
        w = matvec(v)
        norm = tf.norm(w)
        return i + 1, tf.where(norm > 0, w / tf.maximum(norm, 1e-30), v), tf.reduce_sum(v * w)

    state = (tf.constant(0), v, tf.zeros([], start.dtype))
    if loop:  # a graph of 100 iterations traces as fast as one of 2
        state = tf.while_loop(lambda i, v, mu: i < iterations, body, state)
    else:
        for _ in range(int(iterations)):
            state = body(*state)
    return tf.maximum(state[2], 0.0)


def mean_responses(responses: tf.Tensor) -> tf.Tensor:
    """Per-filter mean of ReLU(F_k) over examples and positions, [K]."""
    return tf.reduce_mean(tf.nn.relu(responses), axis=[0, 1, 2])


def response_distance(mean_observed: tf.Tensor, mean_synthesized: tf.Tensor) -> tf.Tensor:
    """R = 1/K Σ_k |mean F_k(x_syn) − mean F_k(y_obs)| (wFRAME §Experiments).

    Args:
      mean_observed, mean_synthesized: per-filter mean responses [K] (from
        `mean_responses`, or sums divided by global counts).

    Returns:
      Scalar ≥ 0; smaller is closer.
    """
    return tf.reduce_mean(tf.abs(mean_observed - mean_synthesized))


__all__ = ["frame_energy", "frame_theta_loss", "gaussian_reference_log_density", "gradient_norm_penalty",
           "mean_responses", "power_iteration", "response_distance", "squared_input_gradient_norm"]
