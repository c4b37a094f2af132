"""The `tfgen` command line: train, sample, export, evaluate, datasets, and LR-GAN's studies.

Errors a user can cause (bad config, missing dataset, unknown work
directory) print one line `tfgen: error: ...` and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

    from tfgen.training import load_workdir
    from tfgen.viz import image_grid, save_png

    _, model = load_workdir(args.workdir)
    z = model.latent_batch(args.num, args.seed)
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


def _json_text(data) -> str:
    """Indented JSON with every list of numbers on one line."""
    text = json.dumps(data, indent=2)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: "[" + " ".join(m.group()[1:-1].split()) + "]", text)


def _write_outputs(report, figure=None, png=None, json_path=None) -> None:
    """Writes the figure (PNG) and report (JSON) of a study, then prints the report."""
    from tfgen.viz import save_png

    if png:
        report = {**report, "png": save_png(figure, png)}
    text = _json_text(report)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            f.write(text + "\n")
    print(text)


def cmd_neighbours(args) -> int:
    from tfgen.evaluation.studies import neighbours_study

    report, figure = neighbours_study(args.workdir, num=args.num, max_reference=args.max_reference)
    png = args.out or os.path.join(args.workdir, "neighbours.png")
    _write_outputs(report, figure, png, args.json)
    return 0


def cmd_pair(args) -> int:
    from tfgen.evaluation.studies import pair_study

    report, figure = pair_study(args.workdir_a, args.workdir_b, num=args.num)
    png = args.out or os.path.join(
        args.workdir_a, f"pair_{os.path.basename(os.path.normpath(args.workdir_b))}.png")
    _write_outputs(report, figure, png, args.json)
    return 0


def cmd_adversarial(args) -> int:
    from tfgen.evaluation.studies import adversarial_study

    report = adversarial_study(args.workdirs, num_per_class=args.num_per_class,
                               validation=args.validation, max_validation=args.max_validation)
    _write_outputs(report, json_path=args.out)
    return 0


def cmd_interpolate(args) -> int:
    from tfgen.evaluation.latent_studies import interpolation_study

    report, figure = interpolation_study(args.workdir, num=args.num, steps=args.steps, seed=args.seed)
    _write_outputs(report, figure, args.out or os.path.join(args.workdir, "interpolation.png"), args.json)
    return 0


def cmd_manipulate(args) -> int:
    from tfgen.evaluation.latent_studies import manipulation_study

    report, figure = manipulation_study(args.workdir, args.attribute, num=args.num, scales=args.scales,
                                        max_examples=args.max_examples)
    safe = "".join(ch if ch.isalnum() else "_" for ch in args.attribute)
    _write_outputs(report, figure, args.out or os.path.join(args.workdir, f"manipulate_{safe}.png"), args.json)
    return 0


def cmd_probe(args) -> int:
    from tfgen.evaluation.hali_studies import probe_study

    if args.json and os.path.isdir(args.json):
        print(f"tfgen: error: --json {args.json}: is a directory; give a file name", file=sys.stderr)
        return 2
    report = probe_study(args.workdir, max_train=args.max_train, max_test=args.max_test, C=args.C)
    _write_outputs(report, json_path=args.json)
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

    n = sub.add_parser("neighbours", help="samples next to their nearest training images, and a "
                                          "memorisation check (LR-GAN Fig. 9)")
    n.add_argument("workdir")
    n.add_argument("--num", type=int, default=16, help="samples shown (default 16)")
    n.add_argument("--out", help="PNG file (default WORKDIR/neighbours.png)")
    n.add_argument("--json", help="also write the report to this JSON file")
    n.add_argument("--max-reference", type=int, default=20000, metavar="N",
                   help="search the first N training images (default 20000)")
    n.set_defaults(fn=cmd_neighbours)

    pr = sub.add_parser("pair", help="pair two runs' samples one-to-one (Hungarian) and show them "
                                     "side by side (LR-GAN Fig. 7)")
    pr.add_argument("workdir_a")
    pr.add_argument("workdir_b")
    pr.add_argument("--num", type=int, default=64, help="samples per run (default 64)")
    pr.add_argument("--out", help="PNG file (default WORKDIR_A/pair_<basename of WORKDIR_B>.png)")
    pr.add_argument("--json", help="also write the report to this JSON file")
    pr.set_defaults(fn=cmd_pair)

    a = sub.add_parser("adversarial", help="Adversarial Accuracy and Divergence of one generator per "
                                           "class (LR-GAN §4.2)")
    a.add_argument("workdirs", nargs="+", metavar="WORKDIR",
                   help="runs each trained on one class (data.classes=[c])")
    a.add_argument("--num-per-class", type=int, default=1000, help="samples per generator (default 1000)")
    a.add_argument("--validation", choices=["train", "test"], default="train",
                   help="real images the classifiers are scored on (default train, as in the paper)")
    a.add_argument("--max-validation", type=int, metavar="N", help="use the first N validation images")
    a.add_argument("--out", help="JSON file")
    a.set_defaults(fn=cmd_adversarial)

    it = sub.add_parser("interpolate", help="decode straight lines between the codes of test-image pairs "
                        "(autoencoders: aaae)")
    it.add_argument("workdir")
    it.add_argument("--num", type=int, default=8, help="pairs, one row each (default 8)")
    it.add_argument("--steps", type=int, default=8, help="decodes per row between the two images (default 8)")
    it.add_argument("--seed", type=int, default=0, help="which test images are paired")
    it.add_argument("--out", help="PNG file (default WORKDIR/interpolation.png)")
    it.add_argument("--json", help="also write the report to this JSON file")
    it.set_defaults(fn=cmd_interpolate)

    m = sub.add_parser("manipulate", help="add an attribute's code direction to test images without it "
                       "(autoencoders: aaae)")
    m.add_argument("workdir")
    m.add_argument("--attribute", required=True, metavar="SPEC",
                   help="KEY=VALUE on the dataset's arrays (label=3; colors=2 for shapes) or a CelebA "
                        "attribute name (Eyeglasses)")
    m.add_argument("--num", type=int, default=8, help="images, one row each (default 8)")
    m.add_argument("--scales", type=float, nargs="+", default=[0.0, 0.5, 1.0, 1.5, 2.0],
                   help="multiples of the direction added (default 0 0.5 1 1.5 2)")
    m.add_argument("--max-examples", type=int, default=5000, metavar="N",
                   help="test images the direction is measured on (default 5000)")
    m.add_argument("--out", help="PNG file (default WORKDIR/manipulate_<attribute>.png)")
    m.add_argument("--json", help="also write the report to this JSON file")
    m.set_defaults(fn=cmd_manipulate)

    pb = sub.add_parser("probe", help="linear SVMs on a run's encoder features: accuracy and balanced accuracy "
                        "per label or attribute (HALI §7.1; hali, aaae)")
    pb.add_argument("workdir")
    pb.add_argument("--max-train", type=int, default=5000, metavar="N",
                    help="fit the SVMs on the first N training images (default 5000)")
    pb.add_argument("--max-test", type=int, default=2000, metavar="N",
                    help="score them on the first N test images (default 2000)")
    pb.add_argument("--C", type=float, default=1.0, help="the SVMs' inverse regularisation strength (default 1)")
    pb.add_argument("--json", help="also write the report to this JSON file")
    pb.set_defaults(fn=cmd_probe)

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
    for name in ("num_per_class", "max_validation", "max_reference", "max_examples"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    if getattr(args, "steps", None) is not None and args.steps < 2:
        return "--steps must be at least 2"
    if args.command in ("sample", "evaluate", "neighbours", "pair", "adversarial", "interpolate", "manipulate"):
        for flag in ("out", "json"):
            path = getattr(args, flag, None)
            if path and os.path.isdir(path):
                return f"--{flag} {path}: is a directory; give a file name"
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
