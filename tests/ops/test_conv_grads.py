"""The matmul filter gradients of strided 'same' convolutions (tfgen.ops.conv_grads) against TensorFlow's own."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.layers.dcgan_blocks import StridedConv2D, StridedConv2DTranspose, discriminator_trunk, generator_trunk
from tfgen.models.precision import precision_policy
from tfgen.ops import conv_grads

# (input shape, kernel shape, stride): odd sides and stride 1 exercise 'same' padding's asymmetric case;
# a stride that does not divide the kernel's side (3 into 5), a kernel smaller than the stride
# and a non-square kernel exercise the space-to-depth blocks' edges.
CASES = [((3, 8, 8, 5), (4, 4, 5, 7), 2), ((2, 9, 7, 3), (3, 3, 3, 4), 2), ((2, 6, 6, 4), (3, 3, 4, 2), 1),
         ((2, 4, 4, 6), (4, 4, 6, 3), 2), ((2, 10, 11, 2), (5, 3, 2, 3), 3), ((1, 7, 7, 2), (2, 2, 2, 3), 2),
         ((2, 5, 5, 1), (1, 1, 1, 2), 2)]


def _random(shape, seed):
    return tf.random.stateless_normal(shape, seed=[seed, 0], dtype=tf.float64)


@pytest.mark.parametrize("x_shape,k_shape,stride", CASES)
def test_conv_gradients_equal_tensorflows(x_shape, k_shape, stride):
    _assert_conv_and_gradients_equal_tensorflows(conv_grads.conv2d_same, x_shape, k_shape, stride)


def _assert_conv_and_gradients_equal_tensorflows(conv, x_shape, k_shape, stride):
    """conv(x, k, stride) against tf.nn.conv2d(..., 'SAME') in float64: outputs and both gradients."""
    x, k = _random(x_shape, 1), _random(k_shape, 2)
    g = _random(tf.nn.conv2d(x, k, stride, "SAME").shape, 3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        ours = conv(x, k, stride)
        theirs = tf.nn.conv2d(x, k, stride, "SAME")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(tape.gradient(ours, [x, k], output_gradients=g), tape.gradient(theirs, [x, k], output_gradients=g)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("x_shape,k_shape,stride", CASES)
def test_conv_transpose_gradients_equal_tensorflows(x_shape, k_shape, stride):
    # x_shape is the transposed convolution's output here; its input is the forward convolution's output.
    kh, kw, c_in, c_out = k_shape
    out_shape = list(x_shape)
    small = tf.nn.conv2d(_random(x_shape, 1), _random(k_shape, 2), stride, "SAME").shape
    x, k = _random(small, 4), _random((kh, kw, c_in, c_out), 5)
    g = _random(out_shape, 6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        ours = conv_grads.conv2d_transpose_same(x, k, out_shape, stride)
        theirs = tf.nn.conv2d_transpose(x, k, out_shape, stride, "SAME")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(tape.gradient(ours, [x, k], output_gradients=g), tape.gradient(theirs, [x, k], output_gradients=g)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_patch_filter_gradient_in_closed_form():
    """One example, one input and output channel, stride 2: dL/dk[i, j] = sum_pq x_pad[2p + i, 2q + j] g[p, q]."""
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    g = np.array([1.0, -2.0, 3.0, 0.5]).reshape(1, 2, 2, 1)
    got = conv_grads.patch_filter_gradient(tf.constant(x), tf.constant(g), (3, 3, 1, 1), 2).numpy()[..., 0, 0]
    pad = np.pad(x[0, :, :, 0], ((0, 1), (0, 1)))  # 'same', stride 2, 3x3 on 4x4: pad 0 before, 1 after
    expect = np.array([[sum(pad[2 * p + i, 2 * q + j] * g[0, p, q, 0] for p in range(2) for q in range(2))
                        for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(got, expect)


def test_auto_picks_the_product_only_where_it_was_measured_faster():
    use = conv_grads.use_patch_filter_gradient
    gpu = bool(tf.config.list_physical_devices("GPU"))
    assert use("auto", "bfloat16", 16) is (not gpu) and use("auto", "bfloat16", 64) is (not gpu)
    assert not use("auto", "bfloat16", 256) and not use("auto", "float32", 16)
    assert use("matmul", "float32", 1024) and not use("native", "bfloat16", 4)
    with pytest.raises(ValueError, match="filter_gradient"):
        use("fast", "bfloat16", 4)


@pytest.mark.parametrize("mode", ["native", "matmul"])
def test_trunk_layers_give_keras_gradients_in_bfloat16(mode):
    """The DCGAN trunks' layers under mixed_bfloat16: the product's filter gradient agrees with the
    native kernel's to bf16 precision, and the layers round-trip their setting."""
    keras.utils.set_random_seed(0)
    with precision_policy("mixed_bfloat16"):
        conv = StridedConv2D(16, 4, strides=2, padding="same", use_bias=False, filter_gradient=mode)
        conv_t = StridedConv2DTranspose(8, 4, strides=2, padding="same", use_bias=True, filter_gradient=mode)
    x = tf.random.stateless_normal([4, 8, 8, 3], seed=[1, 2])
    conv_t.build((None, 4, 4, 16))
    with tf.GradientTape() as tape:
        y = conv_t(conv(x))
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.random.stateless_normal(y.shape, seed=[3, 4]))
    grads = tape.gradient(loss, conv.trainable_variables + conv_t.trainable_variables)
    kernels = [conv.kernel.numpy(), conv_t.kernel.numpy()]

    def reference(xf):
        h = tf.nn.conv2d(xf, kernels[0], 2, "SAME")
        return tf.nn.conv2d_transpose(h, kernels[1], [4, 8, 8, 8], 2, "SAME") + conv_t.bias

    w = [tf.constant(kernels[0]), tf.constant(kernels[1]), tf.constant(conv_t.bias.numpy())]
    with tf.GradientTape() as tape:
        tape.watch(w)
        h = tf.nn.conv2d(x, w[0], 2, "SAME")
        y32 = tf.nn.conv2d_transpose(h, w[1], [4, 8, 8, 8], 2, "SAME") + w[2]
        loss32 = tf.reduce_sum(y32 * tf.random.stateless_normal(y32.shape, seed=[3, 4]))
    for ours, exact in zip(grads, tape.gradient(loss32, w)):
        assert ours.dtype == tf.float32
        err = float(tf.reduce_max(tf.abs(ours - exact)) / tf.reduce_max(tf.abs(exact)))
        assert err < 0.03, err
    assert StridedConv2D.from_config(conv.get_config()).filter_gradient == mode
    assert StridedConv2DTranspose.from_config(conv_t.get_config()).filter_gradient == mode


def test_trunks_use_the_strided_layers():
    g, _ = generator_trunk(32, 8)
    d, _ = discriminator_trunk(32, 8)
    assert [type(layer) for layer in g.layers if "up" in layer.name and "bn" not in layer.name] == \
        [StridedConv2DTranspose] * 2
    assert [type(layer) for layer in d.layers if "down" in layer.name and "bn" not in layer.name] == \
        [StridedConv2D] * 3


# (input shape, kernel shape [k, k, C_out, C_in], stride) for the overlap-add transposed convolution:
# the heads' 4x4 stride 2, a kernel the stride does not divide, one smaller than the stride, stride 1.
TRANSPOSE_CASES = [((2, 4, 4, 6), (4, 4, 3, 6), 2), ((2, 5, 3, 4), (3, 3, 1, 4), 2), ((2, 4, 4, 2), (5, 5, 2, 2), 3),
                   ((1, 3, 3, 2), (3, 3, 2, 2), 1), ((1, 4, 4, 2), (1, 1, 1, 2), 2)]


@pytest.mark.parametrize("x_shape,k_shape,stride", TRANSPOSE_CASES)
def test_overlap_add_transpose_equals_tensorflows(x_shape, k_shape, stride):
    x, k = _random(x_shape, 7), _random(k_shape, 8)
    out_shape = [x_shape[0], x_shape[1] * stride, x_shape[2] * stride, k_shape[2]]
    g = _random(out_shape, 9)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, k])
        ours = conv_grads.conv2d_transpose_small(x, k, stride)
        theirs = tf.nn.conv2d_transpose(x, k, out_shape, stride, "SAME")
    np.testing.assert_allclose(conv_grads.overlap_add_conv2d_transpose(x, k, stride), theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    for a, b in zip(tape.gradient(ours, [x, k], output_gradients=g), tape.gradient(theirs, [x, k], output_gradients=g)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_overlap_add_in_closed_form():
    """One input pixel, stride 2, 4x4 kernel: the output is the kernel pasted at offset 2 p - 1 ('same' pad 1)."""
    x = np.zeros((1, 2, 2, 1))
    x[0, 1, 0, 0] = 2.0
    k = np.arange(16, dtype=np.float64).reshape(4, 4, 1, 1)
    got = conv_grads.overlap_add_conv2d_transpose(tf.constant(x), tf.constant(k), 2).numpy()[0, :, :, 0]
    full = np.zeros((6, 6))
    full[2:6, 0:4] = 2.0 * k[:, :, 0, 0]  # position (1, 0) -> rows 2..5, cols 0..3 of the uncropped output
    expect = full[1:5, 1:5]
    np.testing.assert_allclose(got, expect)


def test_auto_takes_the_overlap_add_only_for_few_output_channels():
    use = conv_grads.use_overlap_add_forward
    gpu = bool(tf.config.list_physical_devices("GPU"))
    assert use("auto", 1) is (not gpu) and use("auto", 4) is (not gpu)
    assert not use("auto", 8) and use("matmul", 64) and not use("native", 1)
    with conv_grads.auto_means("native"):
        assert not use("auto", 1)


def test_image_heads_take_the_overlap_add_and_match_keras():
    """to_image_layer (float32, 1-3 channels): same outputs and gradients as Keras' Conv2DTranspose with the
    same weights, its forward traced through the overlap-add on a CPU, and the setting round-trips."""
    from tfgen.layers.dcgan_blocks import to_image_layer

    keras.utils.set_random_seed(0)
    head = to_image_layer(3, "to_image")
    plain = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same")
    x = tf.random.stateless_normal([4, 8, 8, 16], seed=[5, 6])
    head.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(head.get_weights())
    calls = []
    real = conv_grads.overlap_add_conv2d_transpose
    conv_grads.overlap_add_conv2d_transpose = lambda *a: calls.append(1) or real(*a)
    try:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ours, theirs = head(x), plain(x)
    finally:
        conv_grads.overlap_add_conv2d_transpose = real
    assert len(calls) == (0 if tf.config.list_physical_devices("GPU") else 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(ours, [x, *head.trainable_variables]),
                    tape.gradient(theirs, [x, *plain.trainable_variables])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert StridedConv2DTranspose.from_config(head.get_config()).forward == "auto"
    with pytest.raises(ValueError, match="forward must be one of"):
        StridedConv2DTranspose(3, 4, strides=2, padding="same", forward="fast")


@pytest.mark.parametrize("x_shape,k_shape,stride", [((3, 4, 4, 5), (4, 4, 5, 7), 2), ((2, 5, 3, 4), (3, 3, 4, 2), 2),
                                                    ((2, 4, 4, 3), (4, 4, 3, 2), 1), ((2, 3, 3, 2), (2, 3, 2, 3), 3),
                                                    ((2, 2, 2, 4), (4, 4, 4, 5), 2)])
def test_patch_conv2d_and_its_gradients_equal_tensorflows(x_shape, k_shape, stride):
    """The convolution as one product on gathered patches: outputs and both gradients (autodiff) equal
    TensorFlow's 'SAME' convolution's, odd sides, stride 1 and 3, a kernel wider than the input."""
    _assert_conv_and_gradients_equal_tensorflows(conv_grads.patch_conv2d, x_shape, k_shape, stride)


def test_patch_conv2d_in_closed_form():
    """2x2 input, 2x2 kernel, stride 2: one output, the sum of the elementwise product (no padding)."""
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1)
    k = np.array([0.5, -1.0, 2.0, 0.25]).reshape(2, 2, 1, 1)
    got = conv_grads.patch_conv2d(tf.constant(x), tf.constant(k), 2).numpy()
    assert got.shape == (1, 1, 1, 1) and got[0, 0, 0, 0] == pytest.approx(0.5 - 2.0 + 6.0 + 1.0)


def test_auto_takes_the_patch_forward_only_for_wide_float32_outputs_of_at_most_2x2():
    use = conv_grads.use_patch_forward
    cpu = not tf.config.list_physical_devices("GPU")
    wide, narrow = 512 * 1024, 256 * 512
    assert use("auto", "float32", 4, wide) is cpu and use("auto", "float32", 1, 512 * 512) is cpu
    assert not use("auto", "float32", 16, wide) and not use("auto", "bfloat16", 4, wide)
    assert not use("auto", "float32", 4, narrow)
    assert use("matmul", "bfloat16", 64, 1) and not use("native", "float32", 1, wide)
    with conv_grads.auto_means("native"):
        assert not use("auto", "float32", 4, wide)


def test_strided_conv_to_2x2_takes_the_patch_product_and_matches_keras():
    """StridedConv2D (float32, 4x4 -> 2x2, 512 -> 512 channels): same outputs and gradients as Keras' Conv2D
    with the same weights, traced through patch_conv2d on a CPU (not at 8x8 -> 4x4, nor with fewer
    channels), and `forward` round-trips."""
    keras.utils.set_random_seed(0)
    calls = []
    real = conv_grads.patch_conv2d
    conv_grads.patch_conv2d = lambda *a: calls.append(1) or real(*a)
    try:
        for side, c_in, c_out, expected in ((4, 512, 512, 1), (8, 512, 512, 0), (4, 64, 512, 0)):
            layer = StridedConv2D(c_out, 4, strides=2, padding="same")
            plain = keras.layers.Conv2D(c_out, 4, strides=2, padding="same")
            x = tf.random.stateless_normal([2, side, side, c_in], seed=[side, 1])
            layer.build(x.shape)
            plain.build(x.shape)
            plain.set_weights(layer.get_weights())
            calls.clear()
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                ours, theirs = layer(x), plain(x)
            assert len(calls) == (0 if tf.config.list_physical_devices("GPU") else expected)
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
            for a, b in zip(tape.gradient(ours, [x, *layer.trainable_variables]),
                            tape.gradient(theirs, [x, *plain.trainable_variables])):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-4)
    finally:
        conv_grads.patch_conv2d = real
    assert StridedConv2D.from_config(layer.get_config()).forward == "auto"
    with pytest.raises(ValueError, match="forward must be one of"):
        StridedConv2D(3, 4, strides=2, padding="same", forward="fast")
