"""Pixel reconstruction distances, per example."""

import tensorflow as tf


def reconstruction_distance(images: tf.Tensor, reconstructions: tf.Tensor, kind: str) -> tf.Tensor:
    """d(x, x_rec) per example: the mean over pixels of (x - x_rec)^2 ("l2") or |x - x_rec| ("l1").

    Used by AAAE (l2 by default: the paper's MSE) and the conditional LR-GAN
    (l1 by default: sharper than l2, which averages the digit into the
    background).

    Args:
      images, reconstructions: float32 [batch, ...] of one shape, in [-1, 1].
      kind: "l2" or "l1".

    Returns:
      float32 [batch], >= 0.
    """
    diff = images - reconstructions
    per_pixel = tf.square(diff) if kind == "l2" else tf.abs(diff)
    return tf.reduce_mean(per_pixel, axis=list(range(1, diff.shape.rank)))
