"""Filter gradients of strided 'same' convolutions as one matrix product (bfloat16 on CPU).

Why this exists: under `train.precision: mixed_bfloat16` on a CPU with
AVX512_BF16, TensorFlow's oneDNN backward-weights kernel for small output
maps is slow. Measured on this project's 2-core AMD EPYC (LR-GAN 32x32x3's
4x4 <-> 8x8 stride-2 layers, batch 64, 4.3 GFLOP each): the bf16 filter
gradient ran at 71 GFLOP/s, *slower* than float32's 89 and a third of the
same layer's bf16 forward pass (212); it was a third of a bf16 LR-GAN step.
The same gradient written as patches-transposed times output-gradient is
one bf16 matmul (147 GFLOP/s here, extraction included). On 8x8 outputs and
larger the native kernel is as fast or faster (116 vs 106 GFLOP/s at
16x16 -> 8x8), and in float32 the two are equal, so `auto` uses the matrix
product only for 16-bit compute dtypes, outputs of at most
`SMALL_OUTPUT_POSITIONS` positions, and machines without a GPU (cuDNN's
kernels have no such gap).

The gradient is exact: for a convolution y = conv(x, k) with 'same'
padding and stride s, dL/dk[i, j, c, o] = sum over (b, p, q) of
x_pad[b, s p + i, s q + j, c] * g[b, p, q, o], i.e. the patches of x
(flattened in (i, j, c) order, the kernel's HWIO layout) transposed, times
g. A transposed convolution is the input-gradient of such a convolution,
so its filter gradient is the same product with the roles of its input
and output exchanged. Only the accumulation order differs from the native
kernel's (tested against it).
"""

from __future__ import annotations

import contextlib
import functools

import tensorflow as tf

__all__ = ["FILTER_GRADIENTS", "SMALL_OUTPUT_POSITIONS", "auto_means", "check_filter_gradient", "conv2d_same", "conv2d_transpose_same",
           "patch_filter_gradient", "use_patch_filter_gradient"]

FILTER_GRADIENTS = ("auto", "native", "matmul")
# The largest map (height x width of the smaller side of the convolution) whose
# filter gradient `auto` computes as a matrix product: 4x4 measured faster, 8x8 not.
SMALL_OUTPUT_POSITIONS = 16


def check_filter_gradient(mode: str) -> str:
    """`mode` if it is one of FILTER_GRADIENTS, else a one-line ValueError."""
    if mode not in FILTER_GRADIENTS:
        raise ValueError(f"filter_gradient must be one of {FILTER_GRADIENTS}, got {mode!r}")
    return mode


_AUTO = ["auto"]  # what "auto" means while tracing: itself, or a mode `auto_means` set


@contextlib.contextmanager
def auto_means(mode: str):
    """Layers traced inside treat filter_gradient "auto" as `mode` (benchmarks time both side by side)."""
    _AUTO.append(check_filter_gradient(mode))
    try:
        yield
    finally:
        _AUTO.pop()


@functools.lru_cache(maxsize=None)
def _has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def use_patch_filter_gradient(mode: str, compute_dtype, small_positions: int) -> bool:
    """Whether a layer computes its filter gradient as a matrix product.

    Args:
      mode: one of FILTER_GRADIENTS: "native" (TensorFlow's kernel), "matmul"
        (always the product) or "auto" (the product where it was measured
        faster: 16-bit compute, at most SMALL_OUTPUT_POSITIONS positions on the
        convolution's smaller side, no GPU).
      compute_dtype: the layer's compute dtype (name or tf.DType).
      small_positions: height x width of the smaller map (a strided
        convolution's output, a transposed convolution's input).
    """
    if check_filter_gradient(mode) == "auto":
        mode = _AUTO[-1]
    if mode != "auto":
        return mode == "matmul"
    return (tf.as_dtype(compute_dtype) in (tf.bfloat16, tf.float16) and small_positions <= SMALL_OUTPUT_POSITIONS
            and not _has_gpu())


def patch_filter_gradient(inputs: tf.Tensor, output_grad: tf.Tensor, kernel_shape, strides: int) -> tf.Tensor:
    """dL/dk of y = conv2d(inputs, k, strides, 'SAME') given g = dL/dy, as patches(inputs)^T @ g.

    Args:
      inputs: [batch, H, W, C_in].
      output_grad: [batch, ceil(H / strides), ceil(W / strides), C_out].
      kernel_shape: (kh, kw, C_in, C_out).
      strides: the convolution's stride (both axes).

    Returns:
      [kh, kw, C_in, C_out], inputs' dtype.
    """
    kh, kw, c_in, c_out = kernel_shape
    patches = tf.image.extract_patches(inputs, [1, kh, kw, 1], [1, strides, strides, 1], [1, 1, 1, 1], "SAME")
    patches = tf.reshape(patches, [-1, kh * kw * c_in])
    grad = tf.reshape(tf.cast(output_grad, inputs.dtype), [-1, c_out])
    return tf.reshape(tf.matmul(patches, grad, transpose_a=True), [kh, kw, c_in, c_out])


def _as_tensor(kernel, dtype) -> tf.Tensor:
    # A Keras variable is read (and autocast under a mixed policy) here, outside
    # the custom-gradient function, so the tape sees the read and the cast and
    # the gradient reaches the float32 variable through them.
    return tf.cast(tf.convert_to_tensor(kernel), dtype)


def conv2d_same(inputs: tf.Tensor, kernel: tf.Tensor, strides: int) -> tf.Tensor:
    """tf.nn.conv2d(inputs, kernel, strides, 'SAME') whose filter gradient is `patch_filter_gradient`.

    Args:
      inputs: [batch, H, W, C_in]; kernel: [kh, kw, C_in, C_out], same dtype.

    Returns:
      [batch, ceil(H / strides), ceil(W / strides), C_out].
    """

    @tf.custom_gradient
    def conv(x, k):
        def grad(g):
            dx = tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=k, out_backprop=g,
                                                strides=[1, strides, strides, 1], padding="SAME")
            return dx, patch_filter_gradient(x, g, k.shape, strides)
        return tf.nn.conv2d(x, k, strides, "SAME"), grad

    return conv(inputs, _as_tensor(kernel, inputs.dtype))


def conv2d_transpose_same(inputs: tf.Tensor, kernel: tf.Tensor, output_shape, strides: int) -> tf.Tensor:
    """tf.nn.conv2d_transpose(inputs, kernel, output_shape, strides, 'SAME') with the matmul filter gradient.

    Args:
      inputs: [batch, h, w, C_in]; kernel: [kh, kw, C_out, C_in] (the
        transposed layout), same dtype; output_shape: [batch, H, W, C_out]
        with ceil(H / strides) = h.

    Returns:
      [batch, H, W, C_out].
    """

    @tf.custom_gradient
    def conv_t(x, k):
        def grad(g):
            # y = conv_T(x, k) is the input-gradient of x = conv(y, k): dy-side roles exchanged.
            dx = tf.nn.conv2d(g, k, strides, "SAME")
            return dx, patch_filter_gradient(g, x, k.shape, strides)
        return tf.nn.conv2d_transpose(x, k, output_shape, strides, "SAME"), grad

    return conv_t(inputs, _as_tensor(kernel, inputs.dtype))
