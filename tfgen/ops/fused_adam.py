"""Keras' Adam with each variable's update as TensorFlow's one fused kernel.

Adam (Kingma & Ba, ICLR 2015, Algorithm 1, with the bias correction folded
into the step size as in their §2):

    α_t = lr · sqrt(1 - β₂^t) / (1 - β₁^t)
    m ← m + (1 - β₁)(g - m),   v ← v + (1 - β₂)(g² - v)
    θ ← θ - α_t · m / (sqrt(v) + ε)

`keras.optimizers.Adam` writes this as about fifteen small ops per
variable (casts, the two powers, the moment updates, the division), which
TensorFlow's executor runs one at a time: for the few hundred variables of a
GAN's two networks that is a few thousand ops per step, each mostly
overhead on a CPU. `ResourceApplyAdam` computes the same formula (same
order of terms) in one op per variable. Measured on this project's 2-core
AMD EPYC, in the bfloat16 LR-GAN 32x32x3 T = 2 train step (batch 64, graph
mode, alternating rounds): x1.02-1.05 faster than Keras' Adam in five runs
(`docs/lrgan/step_overheads_ab*.json` and three two-way runs), float32
x1.00 (inside the rounds' spread). The variables, slots, config and
checkpoints are Keras' Adam's; results agree to float32 rounding (tested
against Keras' Adam and against the formula above).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tfgen")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, each variable updated by `tf.raw_ops.ResourceApplyAdam`.

    Falls back to Keras' own update where the fused kernel does not apply:
    AMSGrad, sparse (`tf.IndexedSlices`) gradients, and backends other than
    TensorFlow. Constructor arguments are Keras' Adam's.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1, beta_2 = _scalar(self.beta_1, dtype), _scalar(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=_scalar(learning_rate, dtype), beta1=beta_1, beta2=beta_2, epsilon=_scalar(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype), use_locking=False)


def _scalar(value, dtype) -> tf.Tensor:
    # tf.cast of a Python float goes through float32 (0.999 -> 0.99900001): a float64
    # variable's 1 - beta_2 would be off by 1e-5 relative.
    return tf.cast(value, dtype) if tf.is_tensor(value) or isinstance(value, keras.Variable) \
        else tf.constant(value, dtype)
