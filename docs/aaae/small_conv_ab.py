"""AAAE train steps with the 2x2-output convolutions as one product on gathered patches (`forward: auto`)
against TensorFlow's kernels everywhere, side by side in alternating rounds (docs/PERFORMANCE.md).

    python docs/aaae/small_conv_ab.py docs/aaae/small_conv_ab.json
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import benchmark as b  # noqa: E402

out = {"tensorflow": b.tf.__version__, "cases": []}
for model_name, label, overrides, shape, batch in b.CASES["aaae"]:
    config = b.config_lib.config_from_dict({"model": {"name": model_name, **overrides}, "train": {"batch_size": batch}})
    variants = {"native": b._Variant(config, shape, batch, False, filter_gradient="native"),
                "patch_product": b._Variant(config, shape, batch, False)}
    rounds = b.alternating_rounds(variants, steps=3, rounds=8, log=lambda r, v: print(label, r, v, flush=True))
    row = {"case": label, "batch_size": batch, "images_per_step": variants["native"].images_per_step,
           "steps_per_round": 3, "train_images_per_sec_rounds": rounds,
           "median_images_per_sec": {k: float(b.np.median(v)) for k, v in rounds.items()},
           "patch_over_native": b.median_ratio(rounds["patch_product"], rounds["native"])}
    print(json.dumps({k: v for k, v in row.items() if k != "train_images_per_sec_rounds"}), flush=True)
    out["cases"].append(row)
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=2)
