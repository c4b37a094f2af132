"""LR-GAN: generic model test, T=1 is DCGAN, layers and poses."""

import numpy as np
import pytest
import tensorflow as tf

from model_testing import check_generative_model, make_config
from tfgen import config as config_lib
from tfgen.models import build_model

TINY = config_lib.tiny_overrides("lrgan")


@pytest.mark.parametrize("overrides", [
    {"timesteps": 2},
    {"timesteps": 3},
    {"timesteps": 2, "pose_bound": "clamp", "background_input": "noise"},
    {"timesteps": 2, "use_transform": False},
    {"timesteps": 2, "use_mask": False},
], ids=["T2", "T3", "clamp-noise", "no-transform", "no-mask"])
def test_generic(overrides):
    model, history = check_generative_model("lrgan", {**TINY, **overrides}, (16, 16, 3))
    assert set(history) == {"d_loss", "g_loss", "d_real", "d_fake"}


def kernel_shapes(model):
    return sorted(tuple(v.shape) for v in model.generator.trainable_variables)


def test_one_timestep_has_dcgans_architecture():
    lrgan = build_model(make_config("lrgan", {"timesteps": 1}), (32, 32, 3))
    dcgan = build_model(make_config("dcgan"), (32, 32, 3))
    assert kernel_shapes(lrgan) == kernel_shapes(dcgan)
    assert lrgan.latent_dim == dcgan.latent_dim == 100
    assert sorted(tuple(v.shape) for v in lrgan.discriminator.trainable_variables) == \
        sorted(tuple(v.shape) for v in dcgan.discriminator.trainable_variables)


def test_layers_compose_by_eq4_and_start_centred():
    model = build_model(make_config("lrgan", {**TINY, "timesteps": 3}), (16, 16, 1))
    z = model.sample_latent(4, seed=1)
    parts = model.generate_layers(z)
    assert model.latent_dim == 3 * TINY["latent_dim"]
    assert len(parts["composites"]) == 2 and parts["background"].shape == (4, 16, 16, 1)
    prev = parts["background"]
    for f_hat, m_hat, x in zip(parts["warped_foregrounds"], parts["warped_masks"], parts["composites"]):
        np.testing.assert_allclose(x.numpy(), (m_hat * f_hat + (1 - m_hat) * prev).numpy(), atol=1e-6)
        prev = x
    np.testing.assert_allclose(parts["image"].numpy(), prev.numpy())
    # Zero weights, bias at the largest centred object: scale ~ s = 1.2, no shear or shift.
    theta = parts["transforms"][0].numpy()
    np.testing.assert_allclose(theta[:, 0, 0], 1.2 * (1 + 1 / (1 + np.exp(4))), rtol=1e-5)
    np.testing.assert_allclose(theta[:, :, 2], 0.0, atol=1e-7)
    # Outside the warped extent (the canvas border) the mask is zero: background shows.
    assert np.all(parts["warped_masks"][0].numpy()[:, 0, :, :] < 1e-6)


@pytest.mark.parametrize("bound", ["smooth", "clamp"])
def test_pose_gets_gradients_through_appearance_and_mask(bound):
    model = build_model(make_config("lrgan", {**TINY, "pose_bound": bound}), (16, 16, 1))
    z = model.sample_latent(4, seed=2)
    pose_vars = model.generator.pose.trainable_variables
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model.generator(z, training=True) - 0.3))
    grads = tape.gradient(loss, pose_vars)
    assert all(g is not None for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 1e-6


def test_poses_change_during_training():
    model, _ = check_generative_model("lrgan", {**TINY, "learning_rate": 1e-2}, (16, 16, 1), steps=3)
    pose_kernel = model.generator.pose.dense.kernel.numpy()
    assert np.abs(pose_kernel).max() > 0  # started at exactly zero
