"""Wasserstein GAN losses with the gradient penalty (Gulrajani et al., NeurIPS
2017, "Improved training of Wasserstein GANs"), per example.

Convention: the critic D scores real samples *high*. It minimises

    L_D = D(fake) - D(real) + lambda * (||grad_x D(x_hat)||_2 - 1)^2,
    x_hat = alpha * real + (1 - alpha) * fake,   alpha ~ U[0, 1] per example,

so that -L_D (without the penalty) estimates the Wasserstein-1 distance
between the real and the fake distribution, and the generator minimises
L_G = -D(fake). AAAE (Xu et al., Eq. 9) uses exactly this pair on its latent
codes: "real" are the encoder's codes, "fake" the approximator's.
"""

from typing import Callable

import tensorflow as tf


def wasserstein_critic_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """Critic's loss without the penalty: D(fake) - D(real), per example.

    Args:
      real_scores: [batch] or [batch, 1] critic scores of real samples (any real value).
      fake_scores: same shape, scores of generated samples.

    Returns:
      [batch]; its negative mean estimates W1(real, fake) for a 1-Lipschitz critic.
    """
    return tf.reshape(fake_scores, [-1]) - tf.reshape(real_scores, [-1])


def wasserstein_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
    """Generator's loss: -D(fake), per example, [batch]."""
    return -tf.reshape(fake_scores, [-1])


def interpolate(real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    """x_hat = alpha * real + (1 - alpha) * fake, one alpha per example.

    Args:
      real, fake: [batch, ...] of the same shape.
      alpha: [batch] weights in [0, 1].
    """
    alpha = tf.reshape(alpha, [-1] + [1] * (real.shape.rank - 1))
    return alpha * real + (1.0 - alpha) * fake


def gradient_penalty(critic: Callable[[tf.Tensor], tf.Tensor], real: tf.Tensor, fake: tf.Tensor,
                     alpha: tf.Tensor) -> tf.Tensor:
    """(||grad_x D(x_hat)||_2 - 1)^2 per example, at x_hat = alpha real + (1 - alpha) fake.

    The norm is taken per example over all of its non-batch axes: each
    example's score depends only on its own input, so the gradient of the
    summed scores w.r.t. the batch holds every example's own gradient.
    Differentiable w.r.t. the critic's weights (the penalty trains them).

    Args:
      critic: maps [batch, ...] inputs to [batch] or [batch, 1] scores.
      real, fake: [batch, ...] samples (fake with gradients stopped by the caller).
      alpha: [batch] interpolation weights, U[0, 1] in WGAN-GP.

    Returns:
      [batch] penalties, >= 0.
    """
    x_hat = interpolate(real, fake, alpha)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        total = tf.reduce_sum(critic(x_hat))
    grads = tape.gradient(total, x_hat)
    axes = list(range(1, grads.shape.rank))
    # The epsilon keeps sqrt's derivative finite where a gradient vanishes.
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)
    return tf.square(norms - 1.0)
