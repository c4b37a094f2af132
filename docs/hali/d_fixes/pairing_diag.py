"""Does a trained ALI/HALI discriminator read the x-z pairing? On 256 held-out test digits: D's mean logit on
(x, E(x)), on (x, E(x') of another digit) and on (G(z), z), with D in inference mode and in training mode
(dropout and input noise on, mean of 8 draws), and E/G in inference mode (moving statistics, posterior means)
or as a training step runs them (batch statistics, sampled codes). Usage: pairing_diag.py WORKDIR OUT."""
import json, sys
import numpy as np, tensorflow as tf
from tfgen.training.workdir import load_run
from tfgen.data import load_arrays
workdir, out = sys.argv[1], sys.argv[2]
run = load_run(workdir)
_, cfg, model, step = run
x = tf.constant(load_arrays(cfg.data, cfg.data.test_split, max_examples=256)["image"])
z = tf.random.stateless_normal([256, model.latent_dim], seed=[0, 7])
res = {"workdir": workdir, "step": step}
for eg in ("inference", "batch_stats"):
    t = eg == "batch_stats"
    codes = [c for c, _, _ in model.encoder(x, training=True)] if t else model._posterior_means(x)
    shuffled = [tf.roll(c, 1, axis=0) for c in codes]
    fake, lat = model.decoder(z, training=t)
    for dm in ("inference", "training"):
        draws = 8 if dm == "training" else 1
        def logit(pairs):
            return float(np.mean([model.discriminator(pairs, training=dm == "training").numpy().mean()
                                  for _ in range(draws)]))
        def acc(pairs, sign):
            return float(np.mean([np.mean(sign * model.discriminator(pairs, training=dm == "training").numpy() > 0)
                                  for _ in range(draws)]))
        key = f"EG_{eg}/D_{dm}"
        res[key] = {"logit_paired": logit([x, *codes]), "logit_shuffled": logit([x, *shuffled]),
                    "logit_generated": logit([fake, *lat]),
                    "accuracy_paired_vs_generated": 0.5 * (acc([x, *codes], 1) + acc([fake, *lat], -1)),
                    "accuracy_paired_vs_shuffled": 0.5 * (acc([x, *codes], 1) + acc([x, *shuffled], -1))}
        print(key, {k: round(v, 3) for k, v in res[key].items()}, flush=True)
json.dump(res, open(out, "w"), indent=1)
