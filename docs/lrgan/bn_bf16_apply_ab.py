"""A/B, side by side in alternating rounds: Keras' batch norm (normalisation in float32, output cast to
bfloat16) vs one applied in bfloat16 (statistics in float32, y = x * bf16(scale) + bf16(offset)), in the
bf16 LR-GAN 32x32x3 T=2 train step, batch 64. Usage: python docs/lrgan/bn_bf16_apply_ab.py ROUNDS"""
import contextlib, json, sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tools"))
import numpy as np, keras, tensorflow as tf
from benchmark import _Variant, alternating_rounds, median_ratio
from tfgen import config as config_lib


@contextlib.contextmanager
def bf16_applied_batch_norm():
    """While open, every BatchNormalization traced in training on bfloat16 inputs applies itself in bfloat16.

    The variants trace their train step while being built, so the patch only needs to cover that.
    """
    keras_call = keras.layers.BatchNormalization.call

    def call(self, inputs, training=None, mask=None):
        if not training or inputs.dtype != tf.bfloat16 or mask is not None:
            return keras_call(self, inputs, training=training, mask=mask)
        mean, var = tf.nn.moments(tf.cast(inputs, tf.float32), list(range(len(inputs.shape) - 1)))
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1 - m))
        self.moving_variance.assign(self.moving_variance * m + var * (1 - m))
        scale = self.gamma * tf.math.rsqrt(var + self.epsilon)
        return inputs * tf.cast(scale, tf.bfloat16) + tf.cast(self.beta - mean * scale, tf.bfloat16)

    keras.layers.BatchNormalization.call = call
    try:
        yield
    finally:
        keras.layers.BatchNormalization.call = keras_call


shape, batch, steps, rounds = (32, 32, 3), 64, 10, int(sys.argv[1]) if len(sys.argv) > 1 else 5
cfg = config_lib.config_from_dict({"model": {"name": "lrgan", "timesteps": 2}, "train": {"batch_size": batch}})
variants = {}
for name, patch in (("keras", contextlib.nullcontext), ("bf16_apply", bf16_applied_batch_norm)):
    keras.utils.set_random_seed(0)
    with patch():
        variants[name] = _Variant(cfg, shape, batch, xla=False, precision="mixed_bfloat16")
    print(name, {m.name: float(m.result()) for m in variants[name].model.metrics}, flush=True)

res = alternating_rounds(variants, steps, rounds, warm_up_rounds=2, log=lambda r, x: print(r, x, flush=True))
out = {"case": "lrgan 32x32x3 T2 bf16 batch 64", "rounds": rounds, "steps": steps,
       "img_per_sec": res, "median": {k: float(np.median(v)) for k, v in res.items()},
       "bf16_apply_over_keras": median_ratio(res["bf16_apply"], res["keras"])}
print(json.dumps(out))
