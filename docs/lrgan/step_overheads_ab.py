"""A/B/C/D, side by side in alternating rounds, of two non-product costs of the LR-GAN 32x32x3 T=2 train
step (batch 64, graph mode): the spatial transformer's gradient as TensorFlow's autodiff (its image
gradient a CPU `UnsortedSegmentSum`) or as one XLA-compiled function (`gradient="auto"` without a GPU),
and Adam as Keras' ops or as TensorFlow's fused kernel (`FusedAdam`).
Usage: python docs/lrgan/step_overheads_ab.py ROUNDS [PRECISION ...] > docs/lrgan/step_overheads_ab.json"""
import contextlib, json, sys
from unittest import mock
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tools"))
import numpy as np, keras
from benchmark import _Variant, alternating_rounds, median_ratio
from tfgen import config as config_lib
from tfgen.ops import FusedAdam
from tfgen.ops.spatial_transformer import auto_gradient_means

shape, batch, steps = (32, 32, 3), 64, 10
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
precisions = sys.argv[2:] or ["mixed_bfloat16", "float32"]
cfg = config_lib.config_from_dict({"model": {"name": "lrgan", "timesteps": 2}, "train": {"batch_size": batch}})


def keras_adam():  # FusedAdam traced with Keras' own update
    return mock.patch.object(FusedAdam, "update_step", keras.optimizers.Adam.update_step)


VARIANTS = {  # name: (sampler gradient, Adam)
    "before": ("autodiff", keras_adam), "compiled_sampler_gradient": ("xla", keras_adam),
    "fused_adam": ("autodiff", contextlib.nullcontext), "both": ("xla", contextlib.nullcontext)}
out = {"case": "lrgan 32x32x3 T2 batch 64, graph mode", "rounds": rounds, "steps": steps, "warm_up_rounds": 2,
       "variants": {k: {"sampler_gradient": g, "adam": "keras" if a is keras_adam else "fused"}
                    for k, (g, a) in VARIANTS.items()}}
for precision in precisions:
    variants = {}
    for name, (gradient, adam) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        with auto_gradient_means(gradient), adam():  # the step is traced while the variant is built
            variants[name] = _Variant(cfg, shape, batch, xla=False, precision=precision)
        print(precision, name, {m.name: round(float(m.result()), 5) for m in variants[name].model.metrics},
              file=sys.stderr, flush=True)
    res = alternating_rounds(variants, steps, rounds, log=lambda r, x: print(precision, r, x, file=sys.stderr,
                                                                               flush=True))
    out[precision] = {"img_per_sec": res, "median": {k: float(np.median(v)) for k, v in res.items()},
                      "over_before": {k: median_ratio(v, res["before"]) for k, v in res.items() if k != "before"}}
print(json.dumps(out, indent=1))
