"""Strided 'same' convolutions as matrix products where TensorFlow's CPU kernels are slow.

Three cases: the filter gradients of the DCGAN trunks' layers in bfloat16
(`patch_filter_gradient`, below), the forward pass of transposed
convolutions with very few output channels, the image, appearance and mask
heads (`overlap_add_conv2d_transpose`, after it), and convolutions to maps
of at most 2x2 (`patch_conv2d`, last).

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

**Wide convolutions to 2x2 maps.** oneDNN's float32 kernels for a 4x4
stride-2 convolution whose output is 2x2 slow down as the channels grow: at
4x4x512 -> 2x2x1024 (AAAE's last encoder stage at Table III's widths) they
ran at 65-75 GFLOP/s forward and 56-83 for forward and both gradients
together (batch 100-300), where the same convolution as one matrix product
on the gathered patches, [batch * 4, 16 C_in] x [16 C_in, C_out], gradients
by autodiff, ran at 186-199 and 183-227; 1024 -> 512 channels: 67 vs 166;
384 -> 768: 124 vs 196; 256 -> 1024: 142 vs 192; 512 -> 512: 156 vs 161.
With fewer channels the native kernels are as fast or faster (256 -> 512:
171-207 vs 161-175; 128 -> 256 and 512 -> 256 too), and at 4x4 outputs and
larger they mostly win (8x8x256 -> 4x4x512: 247 vs 171). So `auto` takes
the product for float32 outputs of at most `TINY_OUTPUT_POSITIONS` (4)
positions with C_in x C_out of at least `WIDE_CHANNEL_PRODUCT` (512 x 512)
on machines without a GPU (docs/aaae/small_conv_forms.txt; measured in
float32 only, and the bf16 models have no such layer). AAAE's Table III
train step: x1.27 (docs/aaae/small_conv_ab.json).
"""

from __future__ import annotations


import tensorflow as tf

from tfgen.ops.devices import AutoChoice, has_gpu

__all__ = ["FILTER_GRADIENTS", "SMALL_OUTPUT_CHANNELS", "SMALL_OUTPUT_POSITIONS", "TINY_OUTPUT_POSITIONS",
           "WIDE_CHANNEL_PRODUCT", "auto_means", "check_filter_gradient", "conv2d_same",
           "conv2d_transpose_same", "conv2d_transpose_small", "overlap_add_conv2d_transpose", "patch_conv2d",
           "patch_filter_gradient", "use_overlap_add_forward", "use_patch_forward",
           "use_patch_filter_gradient"]

FILTER_GRADIENTS = ("auto", "native", "matmul")
# The largest map (height x width of the smaller side of the convolution) whose
# filter gradient `auto` computes as matrix products: 4x4 and 8x8 measured faster, 16x16 not.
SMALL_OUTPUT_POSITIONS = 64
# The most output channels for which `auto` computes a transposed convolution's forward pass as a
# matrix product and an overlap-add: 1 and 3 measured faster, 8 not.
SMALL_OUTPUT_CHANNELS = 4
# The largest output map (height x width) of a strided convolution that `auto` computes forward as one
# product on gathered patches (`patch_conv2d`), and the least C_in x C_out: see "Wide convolutions" above.
TINY_OUTPUT_POSITIONS = 4
WIDE_CHANNEL_PRODUCT = 512 * 512


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


def use_patch_forward(mode: str, compute_dtype, output_positions: int, channel_product: int) -> bool:
    """Whether a strided 'same' convolution runs forward as `patch_conv2d`.

    Args:
      mode: one of FILTER_GRADIENTS (the same three settings): "native",
        "matmul" (always), or "auto" (float32 compute, at most
        TINY_OUTPUT_POSITIONS output positions, C_in x C_out at least
        WIDE_CHANNEL_PRODUCT, no GPU).
      compute_dtype: the layer's compute dtype (name or tf.DType).
      output_positions: height x width of the convolution's output.
      channel_product: C_in x C_out.
    """
    mode = _CHOICE.resolve(mode, "forward")
    if mode != "auto":
        return mode == "matmul"
    return (tf.as_dtype(compute_dtype) == tf.float32 and output_positions <= TINY_OUTPUT_POSITIONS
            and channel_product >= WIDE_CHANNEL_PRODUCT and not has_gpu())


def patch_conv2d(inputs: tf.Tensor, kernel: tf.Tensor, strides: int) -> tf.Tensor:
    """tf.nn.conv2d(inputs, kernel, strides, 'SAME') as one matrix product on explicitly gathered patches.

    For small output maps only (the "matmul" setting at large maps is slow):
    the patches are sliced one output position
    at a time (kh x kw x C_in values each, zero padding as TensorFlow's
    'SAME': the extra row/column at the bottom/right), stacked to
    [batch * H_out * W_out, kh * kw * C_in] in the kernel's HWIO order and
    multiplied by the kernel reshaped to [kh * kw * C_in, C_out]. Gradients
    by autodiff (a product each, and the slices' pads).

    Args:
      inputs: [batch, H, W, C_in] with static H, W; kernel: [kh, kw, C_in, C_out].

    Returns:
      [batch, ceil(H / strides), ceil(W / strides), C_out], inputs' dtype.
    """
    kernel = _as_tensor(kernel, inputs.dtype)
    kh, kw, c_in, c_out = kernel.shape
    (h, w), s = inputs.shape[1:3], strides
    out_h, *pad_h = _same_pads(h, kh, s)
    out_w, *pad_w = _same_pads(w, kw, s)
    x = tf.pad(inputs, [[0, 0], pad_h, pad_w, [0, 0]])
    n = tf.shape(inputs)[0]
    cols = [tf.reshape(x[:, i * s:i * s + kh, j * s:j * s + kw, :], [n, kh * kw * c_in])
            for i in range(out_h) for j in range(out_w)]
    patches = tf.reshape(tf.stack(cols, axis=1), [n * out_h * out_w, kh * kw * c_in])
    y = tf.matmul(patches, tf.reshape(kernel, [kh * kw * c_in, c_out]))
    return tf.reshape(y, [n, out_h, out_w, c_out])


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
        before = _same_pads(size, k, s)[1]
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


def _same_pads(size: int, k: int, s: int):
    """One axis of a 'SAME' convolution: (output size, zeros before, zeros after); TensorFlow puts
    the smaller half before."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


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
