"""Top-k sparsity: the sparsity-inducing function S(·; k) of the AND-OR network.

Xing, Wu, Zhu & Wu, "Towards Interpretable Image Synthesis by Learning
Sparsely Connected AND-OR Networks", Eq. 6:

    V = S(act(Σ_U V(U)); k)

keeps the k largest entries of an activation and sets every other entry to
exactly zero. Two groupings (Table 1):

* ``mode="channel"``: at each spatial position (or for a vector) keep the
  top k of the channels — the FC layer Z → 4x4x3200 with k = 8;
* ``mode="spatial"``: for each channel separately keep its top k spatial
  positions — the conv blocks, k = H·W/4.

Ties are broken towards the lower index (row-major position for
``spatial``, channel number for ``channel``): `tf.math.top_k` orders equal
values by index, so a given input always keeps the same entries, on every
run. The mask is a constant of the forward pass, so the gradient flows only
through the kept entries (∂y/∂x = mask).
"""

from __future__ import annotations

import keras
import tensorflow as tf

MODES = ("channel", "spatial")


def _rows_top_k_mask(rows: tf.Tensor, k: int) -> tf.Tensor:
    """0/1 mask of the top k entries of every row of a [R, N] tensor.

    Built by scattering ones at top_k's indices: exactly k ones per row, even
    when values tie (a threshold at the k-th value would keep every tie),
    and O(R·N) memory (a one-hot of the indices would take O(R·k·N)).
    """
    n = tf.shape(rows)[1]
    _, idx = tf.math.top_k(rows, k=k, sorted=False)
    flat = idx + tf.range(tf.shape(rows)[0])[:, None] * n
    ones = tf.ones_like(flat, dtype=rows.dtype)
    return tf.reshape(tf.scatter_nd(tf.reshape(flat, [-1, 1]), tf.reshape(ones, [-1]), [tf.size(rows)]),
                      tf.shape(rows))


def _rows_rank_mask(rows: tf.Tensor, k: tf.Tensor) -> tf.Tensor:
    """`_rows_top_k_mask` for a k known only at run time (a tensor; compiles under XLA).

    An entry is kept when its rank in its row (descending, ties to the lower
    index, as `tf.math.top_k` orders them) is below k: the same entries.
    """
    order = tf.argsort(rows, axis=1, direction="DESCENDING", stable=True)
    ranks = tf.argsort(order, axis=1, stable=True)
    return tf.cast(ranks < tf.cast(k, ranks.dtype), rows.dtype)


def group_size(shape, mode: str) -> int:
    """Entries in one top-k group of an activation of `shape` (channels, or H·W positions)."""
    return int(shape[-1]) if mode == "channel" else int(shape[1]) * int(shape[2])


def top_k_mask(x: tf.Tensor, k, mode: str) -> tf.Tensor:
    """The 0/1 mask (dtype of x, shape of x) of the entries S(x; k) keeps.

    Args:
      x: [batch, C] (channel mode only) or [batch, H, W, C].
      k: entries kept per group, 1 <= k <= group size: a python int, or an
        int32 scalar tensor (a k that changes during training, e.g. a
        sparsity schedule; ranked by sorting instead of `tf.math.top_k`).
      mode: "channel" (groups: the channels at one position) or "spatial"
        (groups: the H·W positions of one channel).
    """
    if mode not in MODES:
        raise ValueError(f"TopKSparsity: mode must be one of {MODES}, got {mode!r}")
    x = tf.stop_gradient(tf.convert_to_tensor(x))
    rows_mask = _rows_top_k_mask
    if isinstance(k, (tf.Tensor, tf.Variable)):
        rows_mask = _rows_rank_mask
        k = tf.clip_by_value(tf.cast(k, tf.int32), 1, group_size(x.shape, mode))
    if mode == "channel":
        channels = x.shape[-1]
        if rows_mask is _rows_top_k_mask and k > channels:
            raise ValueError(f"TopKSparsity: k={k} exceeds the {channels} channels")
        rows = tf.reshape(x, [-1, channels])
        return tf.reshape(rows_mask(rows, k), tf.shape(x))
    if x.shape.rank != 4:
        raise ValueError(f"TopKSparsity(mode='spatial') needs [batch, H, W, C] input, got shape {x.shape}")
    _, h, w, c = x.shape
    if rows_mask is _rows_top_k_mask and k > h * w:
        raise ValueError(f"TopKSparsity: k={k} exceeds the {h}x{w}={h * w} positions")
    rows = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, h * w])  # one row per (example, channel)
    mask = tf.reshape(rows_mask(rows, k), [-1, c, h, w])
    return tf.transpose(mask, [0, 2, 3, 1])


@keras.saving.register_keras_serializable(package="tfgen")
class TopKSparsity(keras.layers.Layer):
    """Keeps the top k activations per group and zeroes the rest (AND-OR Eq. 6).

    Args:
      k: entries kept per group (>= 1).
      mode: "channel" — per position, the top k channels (input [batch, C]
        or [batch, H, W, C]); "spatial" — per channel, the top k of the H·W
        positions (input [batch, H, W, C]).

    Call returns x * mask, same shape and dtype as x; `mask(x)` returns the
    mask itself (the basis-function computation freezes it).
    """

    def __init__(self, k: int, mode: str = "spatial", **kwargs):
        super().__init__(**kwargs)
        if int(k) < 1:
            raise ValueError(f"TopKSparsity: k must be >= 1, got {k}")
        if mode not in MODES:
            raise ValueError(f"TopKSparsity: mode must be one of {MODES}, got {mode!r}")
        self.k = int(k)
        self.mode = mode

    def mask(self, x: tf.Tensor) -> tf.Tensor:
        return top_k_mask(x, self.k, self.mode)

    def call(self, x):
        return x * self.mask(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "k": self.k, "mode": self.mode}
