"""Golden-number tests of the GAN losses and the global-batch reduction."""

import numpy as np
import tensorflow as tf

from tfgen.losses import (logit_generator_loss, nonsaturating_discriminator_loss, nonsaturating_generator_loss,
                          reduce_loss)


def test_discriminator_loss_golden():
    real = tf.constant([2.0, -1.0, 0.0])
    fake = tf.constant([-3.0, 0.5, 0.0])
    got = nonsaturating_discriminator_loss(real, fake).numpy()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    want = -np.log(sig(real.numpy())) - np.log(1 - sig(fake.numpy()))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(got[2], 2 * np.log(2), rtol=1e-6)


def test_generator_loss_golden_and_patch_average():
    fake = tf.constant([[[[1.0]], [[-1.0]]]])  # [1, 2, 1, 1] patch logits
    got = nonsaturating_generator_loss(fake).numpy()
    want = np.mean([np.log1p(np.exp(-1.0)), np.log1p(np.exp(1.0))])
    assert got.shape == (1,)
    np.testing.assert_allclose(got[0], want, rtol=1e-6)


def test_logit_generator_loss_patch_average_and_gradient_ratio():
    fake = tf.constant([[[[1.0]], [[-3.0]]], [[[0.5]], [[2.0]]]])  # [2, 2, 1, 1] patch logits
    np.testing.assert_allclose(logit_generator_loss(fake).numpy(), [1.0, -1.25], rtol=1e-6)
    # Gradients per logit: -1/P for the linear form, -sigmoid(-D)/P for the non-saturating one.
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fake)
        linear = tf.reduce_sum(logit_generator_loss(fake))
        saturating = tf.reduce_sum(nonsaturating_generator_loss(fake))
    g_lin, g_ns = tape.gradient(linear, fake).numpy(), tape.gradient(saturating, fake).numpy()
    np.testing.assert_allclose(g_lin, -0.5 * np.ones_like(g_lin))
    np.testing.assert_allclose(g_ns / g_lin, 1 / (1 + np.exp(fake.numpy())), rtol=1e-6)


def test_reduce_loss_divides_by_global_batch():
    per_example = tf.constant([1.0, 2.0, 3.0, 6.0])
    assert reduce_loss(per_example, 4).numpy() == 3.0
    # A replica holding half of a global batch of 8 contributes its sum / 8.
    assert reduce_loss(per_example, 8).numpy() == 1.5
