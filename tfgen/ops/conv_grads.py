"""Strided 'same' convolutions as matrix products where TensorFlow's CPU kernels are slow.

Two cases: the filter gradients of the DCGAN trunks' layers in bfloat16
(`patch_filter_gradient`, below), and the forward pass of transposed
convolutions with very few output channels, the image, appearance and mask
heads (`overlap_add_conv2d_transpose`, after it).

**Filter gradients.**

Why this exists: under `train.precision: mixed_bfloat16` on a CPU with
AVX512_BF16, TensorFlow's oneDNN backward-weights kernel for small output
maps is slow. Measured on this project's 2-core AMD EPYC (batch 64, 4x4
stride 2, bfloat16, graph mode, other jobs paused, two runs): at 8x8 -> 4x4
(128 -> 256 channels) the native filter gradient ran at 121-128 GFLOP/s
against 412-437 for the same layer's forward pass; at 16x16 -> 8x8 (64 -> 128
and 128 -> 256 channels) at 195-230 against 392-448. The same gradient
written as patches-transposed times output-gradient, with the patches read
from a space-to-depth view of the input (`patch_filter_gradient`), ran at
252-300 and 233-309 GFLOP/s (`tf.image.extract_patches` and one product,
the form used before: 207-214 and 140-225); at 32x32 -> 16x16 the native
kernel was faster (239-253 vs 194-205), and in float32 the native kernel was
as fast or faster at every shape (151 vs 150 at 8x8 -> 4x4, 154 and 200 vs
122 and 170 at 16x16 -> 8x8). So `auto` uses the product only for 16-bit
compute dtypes, outputs of at most `SMALL_OUTPUT_POSITIONS` positions (8x8),
and machines without a GPU (cuDNN's
kernels have no such gap). In the whole bfloat16 train step (batch 64,
alternating rounds) this made LR-GAN 32x32x3 T = 2 x1.08 and DCGAN 32x32x1
x1.06 faster than the earlier form (`tf.image.extract_patches` and one
product, at 4x4 outputs only), and x1.18 / x1.19 faster than the native
kernels everywhere.

The gradient is exact: for a convolution y = conv(x, k) with 'same'
padding and stride s, dL/dk[i, j, c, o] = sum over (b, p, q) of
x_pad[b, s p + i, s q + j, c] * g[b, p, q, o], i.e. the patches of x
(flattened in (i, j, c) order, the kernel's HWIO layout) transposed, times
g. A transposed convolution is the input-gradient of such a convolution,
so its filter gradient is the same product with the roles of its input
and output exchanged. Only the accumulation order differs from the native
kernel's (tested against it).

**Transposed convolutions to 1-4 channels.** oneDNN's float32 kernel for a
transposed convolution (TensorFlow's `Conv2DBackpropInput`) with one or three
output channels ran at a third to a half the speed of the same product as one
matrix multiply followed by an overlap-add (16x16x128 -> 32x32x1: 7.2 vs 2.1
ms; -> 32x32x3: 7.0 vs 3.6; 32x32x64 -> 64x64x1: 12.1 vs 3.7; batch 64, this
project's CPU, other jobs paused); from eight channels on the kernel wins
(6.1 vs 6.6 ms at 8, 6.7 vs 10.5 at 16). Its gradients stay TensorFlow's
(the input gradient is a forward convolution, the filter gradient
`Conv2DBackpropFilter`, both fast at these shapes: written through the
overlap-add's reshapes and pads by autodiff they ran 2-4x slower). So `auto`
takes the matrix product for at most `SMALL_OUTPUT_CHANNELS` output channels
on machines without a GPU.
"""

from __future__ import annotations


import tensorflow as tf

from tfgen.ops.devices import AutoChoice, has_gpu

__all__ = ["FILTER_GRADIENTS", "SMALL_OUTPUT_CHANNELS", "SMALL_OUTPUT_POSITIONS", "auto_means", "check_filter_gradient",
           "conv2d_same", "conv2d_transpose_same", "conv2d_transpose_small", "overlap_add_conv2d_transpose",
           "patch_filter_gradient", "use_overlap_add_forward", "use_patch_filter_gradient"]

FILTER_GRADIENTS = ("auto", "native", "matmul")
# The largest map (height x width of the smaller side of the convolution) whose
# filter gradient `auto` computes as matrix products: 4x4 and 8x8 measured faster, 16x16 not.
SMALL_OUTPUT_POSITIONS = 64
# The most output channels for which `auto` computes a transposed convolution's forward pass as a
# matrix product and an overlap-add: 1 and 3 measured faster, 8 not.
SMALL_OUTPUT_CHANNELS = 4


_CHOICE = AutoChoice(FILTER_GRADIENTS)


def check_filter_gradient(mode: str, what: str = "filter_gradient") -> str:
    """`mode` if it is one of FILTER_GRADIENTS, else a one-line ValueError naming `what`."""
    return _CHOICE.check(mode, what)


def auto_means(mode: str):
    """Layers traced inside treat "auto" (their filter_gradient, the heads' forward) as `mode`
    (benchmarks time both side by side). A context manager."""
    return _CHOICE.means(mode, "filter_gradient")


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
    mode = _CHOICE.resolve(mode, "filter_gradient")
    if mode != "auto":
        return mode == "matmul"
    return (tf.as_dtype(compute_dtype) in (tf.bfloat16, tf.float16) and small_positions <= SMALL_OUTPUT_POSITIONS
            and not has_gpu())


def use_overlap_add_forward(mode: str, channels: int) -> bool:
    """Whether a transposed convolution to `channels` channels runs forward as `overlap_add_conv2d_transpose`.

    Args:
      mode: one of FILTER_GRADIENTS (the same three settings): "native",
        "matmul" (always), or "auto" (at most SMALL_OUTPUT_CHANNELS channels,
        no GPU).
      channels: the transposed convolution's output channels.
    """
    mode = _CHOICE.resolve(mode, "forward")
    if mode != "auto":
        return mode == "matmul"
    return channels <= SMALL_OUTPUT_CHANNELS and not has_gpu()


def overlap_add_conv2d_transpose(inputs: tf.Tensor, kernel: tf.Tensor, strides: int) -> tf.Tensor:
    """tf.nn.conv2d_transpose(inputs, kernel, [b, h s, w s, C_out], strides, 'SAME') as a product and an overlap-add.

    Every input position contributes kernel-sized patch x[p] . k[:, :, :, c]
    to the output at offset s p - pad (pad = max(k - s, 0) // 2, 'same''s
    smaller half). The patches are one matrix product [N, C_in] x [C_in,
    K² C_out] (the kernel zero-padded to K = s ceil(k / s) taps per side).
    Tap (s a + di, s b + dj) of position p lands at output s (p + (a, b)) +
    (di, dj): in space-to-depth form (block s) that is block p + (a, b),
    depth entry (di, dj), so the overlap-add is ceil(k / s)² shifted adds
    of [b, h, w, s² C_out] maps and one `tf.nn.depth_to_space`, then the
    'same' crop.

    Args:
      inputs: [batch, h, w, C_in] (static h, w, C_in).
      kernel: [kh, kw, C_out, C_in] (the transposed layout), kh == kw;
        inputs' dtype.
      strides: both axes.

    Returns:
      [batch, h * strides, w * strides, C_out].
    """
    k, kw, c_out, c_in = (int(n) for n in kernel.shape)
    if k != kw:
        raise ValueError(f"overlap_add_conv2d_transpose needs a square kernel, got {k}x{kw}")
    s = int(strides)
    _, h, w, _ = inputs.shape
    blocks = -(-k // s)
    taps = blocks * s
    kernel = tf.pad(kernel, [[0, taps - k], [0, taps - k], [0, 0], [0, 0]])
    kmat = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [c_in, taps * taps * c_out])  # columns (i, j, c)
    patches = tf.matmul(tf.reshape(inputs, [-1, c_in]), kmat)
    # (i, j) = (s a + di, s b + dj): [batch, h, w, a, b, di, dj, c]
    patches = tf.transpose(tf.reshape(patches, [-1, h, w, blocks, s, blocks, s, c_out]), [0, 1, 2, 3, 5, 4, 6, 7])
    full = None
    for a in range(blocks):
        for b in range(blocks):
            shifted = tf.pad(tf.reshape(patches[:, :, :, a, b], [-1, h, w, s * s * c_out]),
                             [[0, 0], [a, blocks - 1 - a], [b, blocks - 1 - b], [0, 0]])
            full = shifted if full is None else full + shifted
    full = tf.nn.depth_to_space(full, s) if s > 1 else full  # [batch, (h + blocks - 1) s, ...]
    pad = max(k - s, 0) // 2
    return full[:, pad:pad + h * s, pad:pad + w * s, :]


def conv2d_transpose_small(inputs: tf.Tensor, kernel: tf.Tensor, strides: int) -> tf.Tensor:
    """`overlap_add_conv2d_transpose` forward, TensorFlow's kernels for both gradients.

    Args:
      inputs: [batch, h, w, C_in]; kernel: [k, k, C_out, C_in], same dtype.

    Returns:
      [batch, h * strides, w * strides, C_out].
    """

    @tf.custom_gradient
    def conv_t(x, kern):
        def grad(g):
            dx = tf.nn.conv2d(g, kern, strides, "SAME")
            dk = tf.raw_ops.Conv2DBackpropFilter(input=g, filter_sizes=tf.shape(kern), out_backprop=x,
                                                 strides=[1, strides, strides, 1], padding="SAME")
            return dx, dk
        return overlap_add_conv2d_transpose(x, kern, strides), grad

    return conv_t(inputs, _as_tensor(kernel, inputs.dtype))


def patch_filter_gradient(inputs: tf.Tensor, output_grad: tf.Tensor, kernel_shape, strides: int) -> tf.Tensor:
    """dL/dk of y = conv2d(inputs, k, strides, 'SAME') given g = dL/dy, as patches(inputs)^T @ g.

    Computed without materialising the patches: the padded input is
    rearranged by `tf.nn.space_to_depth` (block = stride), after which
    the kernel taps (s a + di, s b + dj) for one block offset (a, b) read the
    contiguous window [a : a + h_out, b : b + w_out] of the rearranged map,
    so the gradient is ceil(kh / s) x ceil(kw / s) matrix products
    [s² C_in, N] x [N, C_out] (N = batch x output positions); taps past the
    kernel's edge (when s does not divide its side) are computed and dropped.
    Measured on this project's CPU in bfloat16 (batch 64, 4x4 stride 2): 252-300
    GFLOP/s at 8x8 -> 4x4 (128 -> 256 channels) against 207-214 for
    `tf.image.extract_patches` and one product and 121-128 for TensorFlow's
    kernel (the module docstring has the other shapes).

    Args:
      inputs: [batch, H, W, C_in] (static H, W, C_in).
      output_grad: [batch, ceil(H / strides), ceil(W / strides), C_out].
      kernel_shape: (kh, kw, C_in, C_out).
      strides: the convolution's stride (both axes).

    Returns:
      [kh, kw, C_in, C_out], inputs' dtype.
    """
    kh, kw, c_in, c_out = (int(n) for n in kernel_shape)
    s = int(strides)
    _, h, w, _ = inputs.shape
    ho, wo = -(-h // s), -(-w // s)
    ah, aw = -(-kh // s), -(-kw // s)  # block offsets per axis

    def pads(size, out, k, blocks):
        before = max((out - 1) * s + k - size, 0) // 2  # 'SAME': the smaller half before
        return [before, (out - 1 + blocks) * s - size - before]  # enough for every block offset

    x = tf.pad(inputs, [[0, 0], pads(h, ho, kh, ah), pads(w, wo, kw, aw), [0, 0]])
    x = tf.nn.space_to_depth(x, s) if s > 1 else x  # [batch, ho + ah - 1, wo + aw - 1, s * s * C_in]
    grad = tf.reshape(tf.cast(output_grad, inputs.dtype), [-1, c_out])
    blocks = [tf.matmul(tf.reshape(x[:, a:a + ho, b:b + wo, :], [-1, s * s * c_in]), grad, transpose_a=True)
              for a in range(ah) for b in range(aw)]
    # (a, b, di, dj, C_in, C_out) -> taps i = s a + di, j = s b + dj
    k = tf.reshape(tf.stack(blocks), [ah, aw, s, s, c_in, c_out])
    k = tf.reshape(tf.transpose(k, [0, 2, 1, 3, 4, 5]), [ah * s, aw * s, c_in, c_out])
    return k[:kh, :kw]


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
