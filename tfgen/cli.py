"""The `tfgen` command line: train, sample, export, evaluate, datasets.

Errors a user can cause (bad config, missing dataset, unknown work
directory) print one line `tfgen: error: ...` and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notices) is noise to a user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_workdir(config_path: str) -> str:
    """configs/<method>/<name>.yaml -> runs/<method>/<name>."""
    stem = os.path.splitext(os.path.basename(config_path))[0]
    method = os.path.basename(os.path.dirname(os.path.abspath(config_path)))
    return os.path.join("runs", method, stem)


def cmd_train(args) -> int:
    from tfgen import config as config_lib
    import tfgen.models  # noqa: F401
    from tfgen.training import train

    overrides = list(args.set) + ([f"train.strategy={args.strategy}"] if args.strategy else [])
    config = config_lib.load_config(args.config, overrides)
    workdir = args.workdir or default_workdir(args.config)
    summary = train(config, workdir)
    print(json.dumps({"workdir": workdir, **summary}, indent=2, default=str))
    return 0


def cmd_sample(args) -> int:
    import numpy as np
    import tensorflow as tf

    from tfgen.training import load_workdir
    from tfgen.viz import image_grid, save_png

    _, model = load_workdir(args.workdir)
    z = tf.random.stateless_normal([args.num, model.latent_dim], seed=[args.seed, 0])
    images = np.concatenate([model.generate(z[i:i + 256]).numpy() for i in range(0, args.num, 256)])
    save_png(image_grid(images), args.out)
    if args.npy:
        np.save(args.npy, images)
    print(f"wrote {args.num} samples to {args.out}")
    return 0


def cmd_export(args) -> int:
    from tfgen.export import export_model
    from tfgen.training import load_workdir

    _, model = load_workdir(args.workdir)
    docs = export_model(model, args.out)
    print(f"exported SavedModel to {args.out}")
    for name, doc in docs.items():
        print(f"  {name}: {doc}")
    return 0


def cmd_evaluate(args) -> int:
    from tfgen.evaluation.report import evaluate_workdir

    result = evaluate_workdir(args.workdir, num_samples=args.num_samples, extractor=args.extractor)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    return 0


def cmd_datasets(args) -> int:
    from tfgen.data import describe_datasets

    rows = describe_datasets(data_dir=args.data_dir)
    for row in rows:
        status = "available" if row.get("available") else "not prepared"
        print(f"{row['name']:<20} [{status}] {row.get('description', '')}")
        if not row.get("available") and row.get("prepare"):
            print(f"{'':<20}   prepare: {row['prepare']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfgen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train (or resume) a model from a YAML config")
    t.add_argument("config", help="configs/<method>/<dataset>.yaml")
    t.add_argument("--workdir", help="work directory (default runs/<method>/<config name>)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 (repeatable)")
    t.add_argument("--strategy", choices=["auto", "default", "one_device", "mirrored", "multi_worker"],
                   help="tf.distribute strategy (same as --set train.strategy=...); multi_worker reads TF_CONFIG")
    t.set_defaults(fn=cmd_train)

    s = sub.add_parser("sample", help="write a grid of samples from a trained work directory")
    s.add_argument("workdir")
    s.add_argument("--num", type=int, default=64)
    s.add_argument("--out", required=True, help="PNG file")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--npy", help="also save the raw samples ([N,H,W,C] in [-1,1]) to this .npy")
    s.set_defaults(fn=cmd_sample)

    e = sub.add_parser("export", help="export a trained work directory as a SavedModel")
    e.add_argument("workdir")
    e.add_argument("--out", required=True, help="SavedModel directory")
    e.set_defaults(fn=cmd_export)

    v = sub.add_parser("evaluate", help="score a trained work directory (FID, IS, reconstruction MSE)")
    v.add_argument("workdir")
    v.add_argument("--out", required=True, help="JSON file")
    v.add_argument("--num-samples", type=int, help="override eval.num_samples")
    v.add_argument("--extractor", choices=["domain", "inception"], help="override eval.extractor")
    v.set_defaults(fn=cmd_evaluate)

    d = sub.add_parser("datasets", help="list built-in and named datasets and how to prepare them")
    d.add_argument("--data-dir", help="tensorflow-datasets data_dir to look in")
    d.set_defaults(fn=cmd_datasets)
    return p


def _check_arguments(args) -> str:
    """Argument problems argparse cannot see; '' when there are none."""
    if getattr(args, "num", None) is not None and args.num < 1:
        return "--num must be at least 1"
    if getattr(args, "num_samples", None) is not None and args.num_samples < 10:
        return "--num-samples must be at least 10"
    out = getattr(args, "out", None)
    if args.command in ("sample", "evaluate") and out and os.path.isdir(out):
        return f"--out {out}: is a directory; give a file name"
    return ""


def main(argv=None) -> int:
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    from tfgen.errors import TfgenError

    problem = _check_arguments(args)
    if problem:
        print(f"tfgen: error: {problem}", file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except TfgenError as e:
        print("tfgen: error: " + " ".join(str(e).split()), file=sys.stderr)  # always one line
        return 2
    except KeyboardInterrupt:
        print("tfgen: interrupted; the last checkpoint is kept, run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
