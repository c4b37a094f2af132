"""tfgen.ops.spatial_transform against closed forms and finite differences, with both gradient forms."""

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


@pytest.mark.parametrize("gradient", ["xla", "autodiff"])
def test_gradient_wrt_theta_matches_finite_differences(gradient):
    x = tf.constant(random_images((2, 5, 6, 2), seed=1, dtype=np.float64))
    theta0 = tf.constant(_theta(2))
    theoretical, numerical = tf.test.compute_gradient(lambda t: spatial_transform(x, t, gradient=gradient), [theta0],
                                                      delta=1e-6)
    assert np.abs(theoretical[0]).max() > 0.1  # the pose really gets a gradient
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


@pytest.mark.parametrize("gradient", ["xla", "autodiff"])
def test_gradient_wrt_images_matches_finite_differences(gradient):
    x0 = tf.constant(random_images((2, 5, 6, 2), seed=3, dtype=np.float64))
    theta = tf.constant(_theta(4))
    theoretical, numerical = tf.test.compute_gradient(lambda x: spatial_transform(x, theta, gradient=gradient), [x0],
                                                      delta=1e-6)
    assert np.abs(theoretical[0]).max() > 0.1
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


def _warp_and_grads(x, theta, upstream, gradient):
    with tf.GradientTape() as tape:
        tape.watch([x, theta])
        out = spatial_transform(x, theta, gradient=gradient)
    return [out, *tape.gradient(out, [x, theta], output_gradients=upstream)]


def test_compiled_gradient_equals_autodiff_in_a_graph_at_lrgan_shapes():
    """The XLA-compiled vector-Jacobian product against TensorFlow's, inside a graph function (as a
    train step runs it), batch 8 of LR-GAN's appearance and mask warped together, poses that push
    part of the canvas outside the source (the zero-fill branch)."""
    x = tf.constant(random_images((8, 32, 32, 4), seed=6))
    rng = np.random.default_rng(7)
    theta = tf.constant((np.array([[1.6, 0.1, 0.4], [-0.1, 1.5, -0.5]]) + rng.normal(0, 0.3, (8, 2, 3)))
                        .astype(np.float32))
    upstream = tf.constant(random_images((8, 32, 32, 4), seed=8))
    compiled = tf.function(_warp_and_grads)(x, theta, upstream, "xla")
    autodiff = tf.function(_warp_and_grads)(x, theta, upstream, "autodiff")
    assert np.abs(autodiff[1].numpy()).max() > 0.5 and np.abs(autodiff[2].numpy()).max() > 1.0
    assert (autodiff[1].numpy() == 0).mean() > 0.05  # source pixels no output samples
    np.testing.assert_array_equal(compiled[0].numpy(), autodiff[0].numpy())  # same forward ops
    np.testing.assert_allclose(compiled[1].numpy(), autodiff[1].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compiled[2].numpy(), autodiff[2].numpy(), rtol=1e-5, atol=1e-3)


def test_compiled_gradient_keeps_the_static_shapes():
    """Layers downstream (the heads' own gradients) read static spatial sizes off their gradients."""
    theta = tf.constant(_theta(11).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 6, 3], tf.float32)])
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = spatial_transform(x, theta[:1], gradient="xla")
        return tape.gradient(out, x)

    assert grad.get_concrete_function().structured_outputs.shape.as_list() == [None, 8, 6, 3]


def test_auto_gradient_is_the_compiled_one_without_a_gpu_and_bad_modes_are_refused():
    from tfgen.ops import devices
    x = tf.constant(random_images((2, 8, 8, 1), seed=9))
    theta = tf.constant(_theta(10).astype(np.float32))

    @tf.function
    def op_types(gradient):
        return _warp_and_grads(x, theta, tf.ones_like(x), gradient)

    def has_segment_sum(gradient):
        graph = op_types.get_concrete_function(gradient).graph
        return any(op.type == "UnsortedSegmentSum" for op in graph.get_operations())

    assert not has_segment_sum("xla") and has_segment_sum("autodiff")
    assert has_segment_sum("auto") == devices.has_gpu()
    with pytest.raises(ValueError, match=r"gradient must be one of \('auto', 'xla', 'autodiff'\), got 'fast'"):
        spatial_transform(x, theta, gradient="fast")


def test_package_name_is_the_function_even_after_the_module_is_imported():
    import importlib

    import tfgen.ops
    importlib.import_module("tfgen.ops.spatial_transformer")
    assert callable(tfgen.ops.spatial_transform) and tfgen.ops.spatial_transform is spatial_transform


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
