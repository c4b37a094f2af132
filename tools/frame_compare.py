#!/usr/bin/env python
"""FRAME vs wFRAME on the same data, bank and budget: one pair of runs, or a λ sweep over seeds.

One comparison (wFRAME Fig. 1 right, Fig. 4): trains a wFRAME config twice,
as FRAME (`model.beta=0`) in `ROOT/frame` and as wFRAME (the config's β) in
`ROOT/wframe`, each with `tfgen train` in its own process (a finished run
is kept; rerunning resumes), then writes

* `ROOT/curves.png`: R, the observed-image and the synthesized-image energy
  per iteration, FRAME and wFRAME in one panel each;
* `ROOT/chains_over_time.png`: each run's persistent chains at up to eight
  of the saved steps, FRAME above wFRAME (Fig. 1 left);
* `ROOT/compare.json`, `ROOT/compare.md`: per run the summary of
  `tfgen.models.wframe.compare.curve_summary` (final and late R, energy
  instability by medians, collapse, the β step's contraction factor).

A sweep (`--lambdas`, the paper's Fig. 3 "insecure" step sizes): one such
pair per λ and seed in `ROOT/lr<λ>/seed<s>/`, with the β step fixed (it does
not depend on λ), then `ROOT/sweep.json` and `ROOT/sweep.md` (the table
over every run found under ROOT, so a second call with more seeds at some
λ adds to the first). A learned filter bank is trained once (with
`--bank-seed`) and shared by every run, so that the seeds vary the chains,
γ and the batches, not the filters.

Usage:
    python tools/frame_compare.py configs/wframe/multidigit.yaml --root runs/frame_vs_wframe \
        [--set train.steps=300 ...] [--parallel 2]
    python tools/frame_compare.py configs/wframe/multidigit.yaml --root runs/sweep \
        --lambdas 1e-3 3e-3 1e-2 3e-2 --seeds 1 [--parallel 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, REPO)

from tfgen.models.wframe import compare as cmp  # noqa: E402

RUNS = {"frame": ["model.beta=0"], "wframe": []}


def _train(config: str, workdir: str, overrides: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "tfgen", "train", config, "--workdir", workdir,
           *sum((["--set", o] for o in overrides), [])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _train_all(jobs, parallel: int, train) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(train, config, workdir, overrides) for config, workdir, overrides in jobs]
        for f in futures:
            f.result()


def shared_bank(config: str, overrides: Sequence[str], seed: int) -> List[str]:
    """Overrides that point every run at one learned bank (trained now if not cached); [] for other banks."""
    from tfgen import config as config_lib
    from tfgen.models import registry

    cfg = config_lib.load_config(config, [*overrides, f"train.seed={seed}"])
    if cfg.model.filter_bank != "learned" or cfg.model.filter_bank_path:
        return []
    model_cls = registry.get_model_class(cfg.model.name)
    return [f"model.filter_bank_path={model_cls.resolve_model_config(cfg).filter_bank_path}"]


def compare(config: str, root: str, overrides: Sequence[str] = (), parallel: int = 1, train=_train) -> Dict:
    """Trains (or resumes) both runs, then writes curves.png, compare.json and compare.md under `root`."""
    from tfgen.viz import save_png

    os.makedirs(root, exist_ok=True)
    _train_all([(config, os.path.join(root, name), [*overrides, *extra]) for name, extra in RUNS.items()],
               parallel, train)
    runs = {name: cmp.read_metrics(os.path.join(root, name, "metrics.csv")) for name in RUNS}
    summaries = {name: cmp.curve_summary(m) for name, m in runs.items()}
    png = save_png(cmp.curves_figure(runs), os.path.join(root, "curves.png"))
    chains_png = save_png(cmp.chains_over_time({name: os.path.join(root, name) for name in RUNS}),
                          os.path.join(root, "chains_over_time.png"))
    report = {"config": config, "overrides": list(overrides), "runs": summaries, "curves_png": png,
              "chains_png": chains_png}
    with open(os.path.join(root, "compare.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(root, "compare.md"), "w") as f:
        f.write(cmp.markdown(summaries))
    return report


def lambda_text(value: float) -> str:
    """1e-3 -> "0.001", 3e-2 -> "0.03": the folder name and table key of a λ."""
    return format(float(value), "g")


def sweep(config: str, root: str, lambdas: Sequence[float], seeds: Sequence[int], overrides: Sequence[str] = (),
          parallel: int = 1, bank_seed: int = 0, train=_train) -> Dict:
    """Trains FRAME and wFRAME at each λ and seed (kept when finished), then tabulates every run under `root`."""
    bank = shared_bank(config, overrides, bank_seed)
    jobs = []
    for lam in lambdas:
        for seed in seeds:
            folder = os.path.join(root, f"lr{lambda_text(lam)}", f"seed{seed}")
            for name, extra in RUNS.items():
                jobs.append((config, os.path.join(folder, name),
                             [*overrides, *bank, f"model.learning_rate={lam}", f"train.seed={seed}", *extra]))
    os.makedirs(root, exist_ok=True)
    _train_all(jobs, parallel, train)
    return tabulate(root, config, [*overrides, *bank])


def tabulate(root: str, config: str = "", overrides: Sequence[str] = ()) -> Dict:
    """sweep.json and sweep.md from every `lr*/seed*/{frame,wframe}/metrics.csv` under `root`."""
    import glob

    from tfgen.viz import save_png

    summaries: Dict[str, Dict[str, Dict[int, Dict]]] = {}
    for path in sorted(glob.glob(os.path.join(root, "lr*", "seed*", "*", "metrics.csv"))):
        method_dir = os.path.dirname(path)
        method = os.path.basename(method_dir)
        seed_dir = os.path.dirname(method_dir)
        lam = os.path.basename(os.path.dirname(seed_dir))[2:]
        seed = int(os.path.basename(seed_dir)[4:])
        if method in RUNS:
            summaries.setdefault(lam, {}).setdefault(method, {})[seed] = cmp.curve_summary(cmp.read_metrics(path))
    if not summaries:
        raise RuntimeError(f"no lr*/seed*/{{frame,wframe}}/metrics.csv under {root}")
    figures = {}
    for lam in summaries:
        seed = min(min(runs) for runs in summaries[lam].values())
        folder = os.path.join(root, f"lr{lam}", f"seed{seed}")
        names = [n for n in RUNS if os.path.exists(os.path.join(folder, n, "metrics.csv"))]
        runs = {n: cmp.read_metrics(os.path.join(folder, n, "metrics.csv")) for n in names}
        figures[lam] = {"curves_png": save_png(cmp.curves_figure(runs), os.path.join(folder, "curves.png")),
                        "chains_png": save_png(cmp.chains_over_time({n: os.path.join(folder, n) for n in names}),
                                               os.path.join(folder, "chains_over_time.png")),
                        "seed": seed}
    report = {"config": config, "overrides": list(overrides), "collapse_rule": {
        "factor": cmp.COLLAPSE_FACTOR, "rolling": cmp.ROLLING,
        "text": "late R (median of the last tenth) > factor x the lowest rolling median of R, or a non-finite value"},
        "first_collapse": {m: cmp.first_collapse(summaries, m) for m in RUNS},
        "runs": {lam: {m: {str(s): v for s, v in runs.items()} for m, runs in by.items()}
                 for lam, by in summaries.items()},
        "figures": figures}
    with open(os.path.join(root, "sweep.json"), "w") as f:
        json.dump(report, f, indent=2)
    table = cmp.sweep_table(summaries)
    with open(os.path.join(root, "sweep.md"), "w") as f:
        f.write(table)
        f.write(f"\nfirst λ with a collapsed seed: FRAME {report['first_collapse']['frame']}, "
                f"wFRAME {report['first_collapse']['wframe']}\n")
    report["table"] = table
    return report


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="a wframe config (its beta is wFRAME's; FRAME runs with beta 0)")
    p.add_argument("--root", required=True, help="parent of the runs' work directories")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overrides for every run")
    p.add_argument("--parallel", type=int, default=1, help="runs trained at once (2 on two cores)")
    p.add_argument("--lambdas", type=float, nargs="+", help="sweep these learning rates λ")
    p.add_argument("--seeds", type=int, nargs="+", default=[1], help="sweep: train.seed values (default 1)")
    p.add_argument("--bank-seed", type=int, default=0, help="sweep: seed of the one learned filter bank")
    p.add_argument("--table-only", action="store_true", help="sweep: tabulate the runs under ROOT, train nothing")
    args = p.parse_args(argv)
    try:
        if args.table_only:
            report = tabulate(args.root, args.config, args.set)
            print(report["table"], end="")
            return 0
        if args.lambdas:
            report = sweep(args.config, args.root, args.lambdas, args.seeds, args.set, args.parallel,
                           args.bank_seed)
            print(report["table"], end="")
            return 0
        report = compare(args.config, args.root, args.set, args.parallel)
    except RuntimeError as e:
        print(f"frame_compare: {e}", file=sys.stderr)
        return 1
    print(cmp.markdown(report["runs"]), end="")
    print(f"curves: {report['curves_png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
