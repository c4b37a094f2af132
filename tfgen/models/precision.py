"""Training precision: Keras dtype policies, and what stays in float32.

`train.precision` picks the Keras dtype policy the model is built under:

* `float32` (default): every layer computes and stores in float32;
* `mixed_bfloat16`: layers compute in bfloat16 and keep float32 weights
  (the optimizer updates float32 master weights). CPUs with AVX512_BF16 and
  recent GPUs run bf16 matrix products ~2.5x faster than float32;
* `mixed_float16`: layers compute in float16 (GPUs); losses are scaled
  (`keras.optimizers.LossScaleOptimizer`, dynamic scale) so that small
  gradients do not underflow float16's range, and steps with non-finite
  gradients are skipped.

What the models keep in float32 under a mixed policy, and why:

* the layers whose outputs leave a network: the generator's image head
  (transposed convolution and tanh) and LR-GAN's appearance, mask and pose
  heads; the discriminator's logit. Images, masks and logits are float32,
  so the losses (log-sigmoids), the sigmoid statistics and the compositor
  run in float32, and bf16's 8-bit mantissa (a relative step of 2^-8)
  does not quantise pixel values or saturate log-probabilities;
* the spatial transformer: its grid and bilinear weights are computed in
  float32 (a bf16 coordinate on a 64-pixel canvas would be off by ~0.25
  pixel);
* batch normalization: Keras computes its statistics in float32 for
  16-bit inputs; the moving statistics are float32 variables;
* the noise, the loss reductions, the metrics and the optimizers' slots.

Sampling, evaluation and export rebuild a run's model from `model.json` in
float32: the weights are float32 whatever the training precision, and a
float32 SavedModel serves on machines without fast 16-bit arithmetic.
"""

from __future__ import annotations

import contextlib

import keras

__all__ = ["PRECISIONS", "precision_policy"]

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def precision_policy(name: str):
    """Layers created inside compute in `name`'s dtype (one of PRECISIONS).

    The global Keras policy is restored on exit: layers keep the policy they
    were created with, and nothing built later (classifiers, evaluation)
    inherits a 16-bit policy by accident.
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}")
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)
