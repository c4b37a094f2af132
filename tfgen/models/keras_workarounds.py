"""Workarounds for Keras 3.15 `fit` under tf.distribute, in one place.

Each is tested in tests/test_distributed.py (two local workers train with
them), and `test_upstream_still_misreduces_under_multi_worker` checks that
upstream still needs them: when it fails after a Keras upgrade, delete them.

1. Symbolic build under MultiWorkerMirroredStrategy
   (keras/src/backend/tensorflow/trainer.py, `_maybe_symbolic_build`): with
   a strategy set, `fit` pulls one batch to build the model symbolically and
   reduces it with `strategy.reduce("MEAN", batch, axis=None)`; on a dict of
   PerReplica values under MultiWorkerMirroredStrategy that fails
   (tensorflow#72388, keras#20585). tfgen models build every variable
   (networks, optimizers, trackers) in `__init__`/`compile` inside the
   strategy scope, so the symbolic build has nothing to do and is skipped
   once the model is built.
2. Metric reduction under MultiWorkerMirroredStrategy
   (`reduce_per_replica` in the same file): Keras reduces each value a train
   step returns with `strategy.reduce("MEAN", v, axis=0)`, which fails on
   scalars. Under that strategy only, `logs_for_reduction` hands Keras each
   scalar as a shape-[1] tensor, which that reduction turns back into the
   cross-replica mean scalar.
"""

from __future__ import annotations

from typing import Dict

import keras
import tensorflow as tf


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def logs_for_reduction(logs: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Workaround 2: scalars as shape-[1] tensors under MultiWorkerMirroredStrategy."""
    if not is_multi_worker(tf.distribute.get_strategy()):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}


class DistributedFitWorkarounds(keras.Model):
    """Mixin for tfgen models; see the module docstring."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.built and all(layer.built for layer in self._flatten_layers()):
            return  # workaround 1: nothing left to build
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
