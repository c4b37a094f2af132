"""Replica bookkeeping for train steps under a `tf.distribute` strategy.

Noise and state that belong to the *global* batch (every example's own
noise, AND-OR's latent bank, wFRAME's chains) are drawn or held whole, and
each replica takes its own slice: example k of the global batch then gets
the same draw however the batch is split, so one device and N replicas
train on identical numbers. These two helpers are the only place that
slicing is written.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

__all__ = ["per_example_draw", "replica_slice"]


def _replicas():
    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica (eager) code: the whole thing
        return 1, 0
    return ctx.num_replicas_in_sync, ctx.replica_id_in_sync_group


def replica_slice(whole: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """This replica's share of `whole` along `axis`: the i-th of N equal parts.

    Args:
      whole: a tensor whose `axis` has N * local entries (N replicas).
      axis: the axis that indexes examples (or chains).

    Returns:
      The slice [i * local, (i + 1) * local) along `axis` on replica i; `whole`
      itself with one replica or outside any replica context.
    """
    replicas, replica = _replicas()
    if replicas == 1:
        return whole
    known = whole.shape[axis]
    # A static length keeps the slice's static shape (XLA, Keras shape checks).
    local = known // replicas if known is not None else tf.shape(whole)[axis] // replicas
    begin = [0] * len(whole.shape)
    size = [-1] * len(whole.shape)
    begin[axis] = replica * local
    size[axis] = local
    return tf.slice(whole, tf.stack(begin), size if known is not None else tf.stack(size))


def per_example_draw(draw: Callable[[tuple], tf.Tensor], shape: Sequence, axis: int = 0) -> tf.Tensor:
    """Noise of shape `shape` whose `axis` is this replica's examples, the same per example for any split.

    Args:
      draw: shape -> tensor (a `keras.random` call with a seed generator);
        called once, with the *global* shape (`axis` times the replicas).
      shape: the local shape; entries may be scalar tensors.
      axis: the axis of `shape` that indexes examples.

    Returns:
      This replica's slice of the global draw, shaped `shape`.
    """
    replicas, _ = _replicas()
    if replicas == 1:
        return draw(tuple(shape))
    full = list(shape)
    full[axis] = shape[axis] * replicas
    return replica_slice(draw(tuple(full)), axis=axis)
