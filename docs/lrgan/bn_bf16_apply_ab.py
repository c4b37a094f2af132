"""A/B, side by side in alternating rounds: Keras' batch norm (normalisation in float32, output cast to
bfloat16) vs one applied in bfloat16 (statistics in float32, y = x * bf16(scale) + bf16(offset)), in the
bf16 LR-GAN 32x32x3 T=2 train step, batch 64. Usage: python docs/lrgan/bn_bf16_apply_ab.py ROUNDS"""
import json, sys, time
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tools"))
import numpy as np, keras, tensorflow as tf
from benchmark import batches, median_ratio
from tfgen import config as config_lib
from tfgen.models import build_model

def patch(model):
    n = 0
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            orig = layer.call
            def call(inputs, training=None, mask=None, layer=layer, orig=orig):
                if not training or inputs.dtype != tf.bfloat16 or mask is not None:
                    return orig(inputs, training=training, mask=mask)
                axes = list(range(len(inputs.shape) - 1))
                mean, var = tf.nn.moments(tf.cast(inputs, tf.float32), axes)
                m = layer.momentum
                layer.moving_mean.assign(layer.moving_mean * m + mean * (1 - m))
                layer.moving_variance.assign(layer.moving_variance * m + var * (1 - m))
                scale = layer.gamma * tf.math.rsqrt(var + layer.epsilon)
                offset = layer.beta - mean * scale
                return inputs * tf.cast(scale, tf.bfloat16) + tf.cast(offset, tf.bfloat16)
            layer.call = call
            n += 1
    return n

shape, batch, steps, rounds = (32, 32, 3), 64, 10, int(sys.argv[1]) if len(sys.argv) > 1 else 5
cfg = config_lib.config_from_dict({"model": {"name": "lrgan", "timesteps": 2}, "train": {"batch_size": batch}})
variants = {}
for name in ("keras", "bf16_apply"):
    keras.utils.set_random_seed(0)
    model = build_model(cfg, shape, num_classes=10, xla=False, precision="mixed_bfloat16")
    model.compile()
    ds = batches(shape, batch)
    if name == "bf16_apply":  # before the first trace: the layers exist, their weights come at first call
        print("patched", patch(model), "batch-norm layers", flush=True)
    hist = model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)
    variants[name] = (model, ds)
    print(name, {k: float(v[-1]) for k, v in hist.history.items()}, flush=True)

def ips(model, ds):
    end = []
    cb = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: end.append(time.perf_counter()) if batch == steps - 1 else None)
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[cb])
    return steps * batch / (end[-1] - t)

res = {k: [] for k in variants}
for k in variants:  # warm-up rounds, not recorded
    for _ in range(2):
        ips(*variants[k])
for r in range(rounds):
    for k in (list(variants) if r % 2 == 0 else list(variants)[::-1]):
        res[k].append(ips(*variants[k]))
    print(r, {k: round(v[-1], 1) for k, v in res.items()}, flush=True)
out = {"case": "lrgan 32x32x3 T2 bf16 batch 64", "rounds": rounds, "steps": steps,
       "img_per_sec": res, "median": {k: float(np.median(v)) for k, v in res.items()},
       "bf16_apply_over_keras": median_ratio(res["bf16_apply"], res["keras"])}
print(json.dumps(out))
