"""tfgen.ops.spatial_transform against closed forms and finite differences."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.ops import spatial_transform

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def random_images(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(dtype)


def test_identity_reproduces_input():
    x = random_images((2, 7, 9, 3))
    out = spatial_transform(x, tf.constant([IDENTITY, IDENTITY]))
    np.testing.assert_allclose(out.numpy(), x, atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, -3), (1, 2), (-4, -1)])
def test_integer_translation_is_a_zero_filled_shift(dx, dy):
    """theta translating by (2dx/W, 2dy/H) samples the source dx, dy pixels away."""
    h, w = 6, 8
    x = random_images((1, h, w, 2))
    theta = tf.constant([[[1.0, 0.0, 2.0 * dx / w], [0.0, 1.0, 2.0 * dy / h]]])
    out = spatial_transform(x, theta).numpy()
    expected = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            si, sj = i + dy, j + dx
            if 0 <= si < h and 0 <= sj < w:
                expected[0, i, j] = x[0, si, sj]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_theta_as_six_numbers_and_output_size():
    x = random_images((2, 8, 8, 1))
    flat = tf.constant([[1.0, 0, 0, 0, 1.0, 0]] * 2)
    out = spatial_transform(x, flat, output_size=(4, 6))
    assert out.shape == (2, 4, 6, 1)
    # Scale 2 zooms out: the whole source lands in the middle half, zeros around it.
    zoom = spatial_transform(np.ones((1, 8, 8, 1), np.float32), tf.constant([[[2.0, 0, 0], [0, 2.0, 0]]]))
    z = zoom.numpy()[0, :, :, 0]
    assert z[0, 0] == 0 and z[-1, -1] == 0 and z[4, 4] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[batch, 2, 3\] or \[batch, 6\]"):
        spatial_transform(x, tf.zeros([2, 5]))


def _theta(seed):
    rng = np.random.default_rng(seed)
    # Generic pose (scale, rotation/shear, translation) so no sample sits on a pixel centre.
    return (np.array([[1.3, 0.2, 0.1], [-0.15, 1.2, -0.2]]) + rng.normal(0, 0.05, (2, 2, 3))).astype(np.float64)


def test_gradient_wrt_theta_matches_finite_differences():
    x = tf.constant(random_images((2, 5, 6, 2), seed=1, dtype=np.float64))
    theta0 = tf.constant(_theta(2))
    theoretical, numerical = tf.test.compute_gradient(lambda t: spatial_transform(x, t), [theta0], delta=1e-6)
    assert np.abs(theoretical[0]).max() > 0.1  # the pose really gets a gradient
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def test_gradient_wrt_images_matches_finite_differences():
    x0 = tf.constant(random_images((2, 5, 6, 2), seed=3, dtype=np.float64))
    theta = tf.constant(_theta(4))
    theoretical, numerical = tf.test.compute_gradient(lambda x: spatial_transform(x, theta), [x0], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def test_compiles_under_xla_and_matches():
    x = tf.constant(random_images((3, 16, 16, 4)))
    theta = tf.constant(_theta(5).astype(np.float32)[[0, 1, 0]])

    @tf.function(jit_compile=True)
    def warped_and_grads(x, theta):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            out = spatial_transform(x, theta)
            loss = tf.reduce_sum(out * out)
        return out, tape.gradient(loss, theta)

    out_xla, grad_xla = warped_and_grads(x, theta)
    with tf.GradientTape() as tape:
        tape.watch(theta)
        out = spatial_transform(x, theta)
        loss = tf.reduce_sum(out * out)
    np.testing.assert_allclose(out_xla.numpy(), out.numpy(), atol=1e-5)
    np.testing.assert_allclose(grad_xla.numpy(), tape.gradient(loss, theta).numpy(), rtol=1e-3, atol=1e-3)


def test_core_projective_kernel_gives_no_transform_gradient():
    """Why this op exists: TF's ImageProjectiveTransformV3 has no gradient w.r.t. the transform."""
    x = tf.constant(random_images((1, 8, 8, 1)))
    transform = tf.constant([[1.0, 0.1, 0.5, 0.0, 1.0, 0.3, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(transform)
        out = tf.raw_ops.ImageProjectiveTransformV3(images=x, transforms=transform, output_shape=[8, 8],
                                                    fill_value=0.0, interpolation="BILINEAR")
    assert tape.gradient(out, transform) is None
