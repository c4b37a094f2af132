"""Differentiable spatial transformer (Jaderberg et al., NeurIPS 2015).

LR-GAN (§4, Eq. 4) warps each foreground's appearance and mask onto the
canvas with an affine pose, and learns that pose by back-propagation, so the
sampler must give gradients to the pose as well as to the image. Core
TensorFlow's `ImageProjectiveTransformV3` kernel (what tensorflow-addons'
`image.transform` wrapped, and what `keras.ops.image.affine_transform` uses)
has **no gradient with respect to the transform**: a pose built on it never
learns. This module is plain TF ops (an affine grid and a bilinear sampler),
differentiated by autograd with respect to both images and theta, and
compiles under XLA.

Coordinates: normalized to [-1, 1] over the image's extent, -1 and 1 being
the outer *edges* of the border pixels (pixel centres at (2i + 1) / W - 1;
PyTorch's `align_corners=False`). So the identity reproduces the input
exactly, and a translation of 2k / W in x moves the content by k pixels.

**The gradient as one XLA function (CPU).** The image gradient of bilinear
sampling is a scatter-add: every output pixel's upstream gradient, times
its four bilinear weights, lands on four source pixels. TensorFlow's CPU
kernel for it (`UnsortedSegmentSum`, what autodiff of the gathers gives)
handles one short row at a time: on this project's 2-core AMD EPYC, 262,144
rows of 4 channels into 65,536 segments took 8.6 ms (`ScatterNd` 10.9),
XLA's compiled scatter 0.5 ms. So on machines without a GPU
(`gradient="auto"`) the sampler's vector-Jacobian product (image and grid
gradients together) runs as one `jit_compile` function, the XLA-compiled
autodiff of the same forward ops; the forward pass itself stays plain
TensorFlow ops (what a SavedModel serves). Forward plus backward at
LR-GAN's shape (batch 64, 32x32, appearance and mask: 4 channels): 10.0 ms
with autodiff, 4.3 ms with the compiled gradient
(`docs/lrgan/sampler_gradient_micro.json`); in the bfloat16 LR-GAN 32x32x3
T = 2 train step x1.02-1.03 in two four-way runs
(`docs/lrgan/step_overheads_ab*.json`; x1.04 and x1.08 in two earlier
two-way runs), float32 x0.98 (inside the rounds' spread). The two
gradients agree to float32 rounding (tested, and against finite
differences in float64).
"""

from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf

from tfgen.ops.devices import AutoChoice, has_gpu

# How the sampler's gradient is computed: "xla" (one XLA-compiled function), "autodiff"
# (TensorFlow's gradients of the forward ops) or "auto" ("xla" on machines without a GPU, where it
# was measured faster; "autodiff" with one).
SAMPLER_GRADIENTS = ("auto", "xla", "autodiff")
_CHOICE = AutoChoice(SAMPLER_GRADIENTS)


def auto_gradient_means(mode: str):
    """Samplers traced inside treat `gradient="auto"` as `mode` (benchmarks time both side by side).
    A context manager."""
    return _CHOICE.means(mode, "gradient")


def _as_matrix(theta: tf.Tensor) -> tf.Tensor:
    theta = tf.convert_to_tensor(theta)
    if theta.shape.rank == 2:
        if theta.shape[-1] != 6:
            raise ValueError(f"theta must be [batch, 2, 3] or [batch, 6], got {theta.shape}")
        return tf.reshape(theta, [-1, 2, 3])
    if theta.shape.rank != 3 or tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"theta must be [batch, 2, 3] or [batch, 6], got {theta.shape}")
    return theta


def affine_grid(theta: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Source coordinates of every output pixel.

    Args:
      theta: float [batch, 2, 3] (or [batch, 6]) mapping normalized output
        coordinates (x, y, 1) to normalized source coordinates; row 0 gives
        the horizontal (width) coordinate x, row 1 the vertical y.
      height, width: output size.

    Returns:
      float [batch, height, width, 2]: (x, y) source coordinates in the
      normalized frame (values outside [-1, 1] fall outside the source).
    """
    theta = _as_matrix(theta)
    dtype = theta.dtype
    xs = (2.0 * tf.range(width, dtype=dtype) + 1.0) / tf.cast(width, dtype) - 1.0
    ys = (2.0 * tf.range(height, dtype=dtype) + 1.0) / tf.cast(height, dtype) - 1.0
    gx, gy = tf.meshgrid(xs, ys)  # [H, W] each
    ones = tf.ones_like(gx)
    points = tf.reshape(tf.stack([gx, gy, ones], axis=0), [3, -1])  # [3, H*W]
    source = tf.einsum("bij,jn->bin", theta, points)  # [B, 2, H*W]
    return tf.reshape(tf.transpose(source, [0, 2, 1]), [-1, height, width, 2])


def bilinear_sample(images: tf.Tensor, grid: tf.Tensor, gradient: str = "auto") -> tf.Tensor:
    """Samples `images` at `grid` bilinearly, with zeros outside the source.

    Args:
      images: float [batch, H, W, C].
      grid: float [batch, h, w, 2] normalized (x, y) source coordinates.
      gradient: one of SAMPLER_GRADIENTS: how the gradients are computed
        (the module docstring has the measurements). The values are the same.

    Returns:
      float [batch, h, w, C]. Differentiable with respect to images and grid
      (the grid gradient is the slope of the bilinear weights; like any
      bilinear sampler it is discontinuous where a coordinate crosses a
      pixel centre).
    """
    gradient = _CHOICE.resolve(gradient, "gradient")
    images = tf.convert_to_tensor(images)
    grid = tf.cast(grid, images.dtype)
    if gradient == "xla" or (gradient == "auto" and not has_gpu()):
        return _sample_with_compiled_gradient(images, grid)
    return _sample(images, grid)


@tf.custom_gradient
def _sample_with_compiled_gradient(images, grid):
    def grad(upstream):
        d_images, d_grid = _compiled_sample_vjp(images, grid, upstream)
        d_images.set_shape(images.shape)  # static shapes for the layers' own gradients downstream
        d_grid.set_shape(grid.shape)
        return d_images, d_grid

    return _sample(images, grid), grad


@tf.function(jit_compile=True, autograph=False)
def _compiled_sample_vjp(images, grid, upstream):
    """(d images, d grid) of `_sample`, for the output gradient `upstream`, as one XLA computation."""
    with tf.GradientTape() as tape:
        tape.watch([images, grid])
        out = _sample(images, grid)
    return tape.gradient(out, [images, grid], output_gradients=upstream)


def _sample(images: tf.Tensor, grid: tf.Tensor) -> tf.Tensor:
    """`bilinear_sample`'s forward ops (images and grid of one dtype)."""
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    h_f, w_f = tf.cast(height, images.dtype), tf.cast(width, images.dtype)
    # Normalized -> pixel coordinates (pixel centres at integers).
    x = ((grid[..., 0] + 1.0) * w_f - 1.0) / 2.0
    y = ((grid[..., 1] + 1.0) * h_f - 1.0) / 2.0
    x0 = tf.floor(x)
    y0 = tf.floor(y)
    flat = tf.reshape(images, [batch, -1, channels])  # [B, H*W, C]

    def corner(xi, yi):
        valid = (xi >= 0) & (xi <= w_f - 1) & (yi >= 0) & (yi <= h_f - 1)
        xc = tf.cast(tf.clip_by_value(xi, 0, w_f - 1), tf.int32)
        yc = tf.cast(tf.clip_by_value(yi, 0, h_f - 1), tf.int32)
        index = tf.reshape(yc * width + xc, [batch, -1])
        values = tf.gather(flat, index, batch_dims=1)  # [B, h*w, C]
        values = tf.reshape(values, tf.concat([tf.shape(xi), [channels]], 0))
        return values * tf.cast(valid, images.dtype)[..., None]  # zero outside the source

    wx1 = x - x0  # weight of the right neighbours
    wy1 = y - y0
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    return ((wx0 * wy0)[..., None] * corner(x0, y0) + (wx1 * wy0)[..., None] * corner(x0 + 1, y0)
            + (wx0 * wy1)[..., None] * corner(x0, y0 + 1) + (wx1 * wy1)[..., None] * corner(x0 + 1, y0 + 1))


def spatial_transform(images: tf.Tensor, theta: tf.Tensor,
                      output_size: Optional[Sequence[int]] = None, gradient: str = "auto") -> tf.Tensor:
    """Warps images by affine transforms, differentiably in both arguments.

    Args:
      images: float32 [batch, H, W, C] (any values; masks and images alike).
      theta: float32 [batch, 2, 3] or [batch, 6]: maps normalized output
        coordinates (x, y, 1), in [-1, 1], to normalized source coordinates;
        row 0 gives the horizontal (width) coordinate, as in Jaderberg et al.
        For LR-GAN's poses, `[[s, 0, tx], [0, s, ty]]` with s > 1 shows the
        source at 1/s of the canvas, centred at (-tx/s, -ty/s).
      output_size: (height, width) of the output; default the input's.
      gradient: how the sampler's gradients are computed (`bilinear_sample`).

    Returns:
      float32 [batch, out_height, out_width, C] (float64 for float64
      images); samples from outside the source are zero. 16-bit images are
      sampled in float32: a bf16 coordinate on a 64-pixel canvas would be
      off by up to a quarter pixel.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype in (tf.bfloat16, tf.float16):
        images = tf.cast(images, tf.float32)
    if output_size is None:
        height, width = images.shape[1], images.shape[2]
        if height is None or width is None:
            raise ValueError("spatial_transform needs static image sizes or an output_size")
    else:
        height, width = int(output_size[0]), int(output_size[1])
    grid = affine_grid(tf.cast(theta, images.dtype), height, width)
    return bilinear_sample(images, grid, gradient=gradient)
