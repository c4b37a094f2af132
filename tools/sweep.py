#!/usr/bin/env python
"""Trains and evaluates one config at several values of one setting.

Each value gets its own work directory, `ROOT/<key>=<value>`, trained with
`tfgen train CONFIG --set KEY=VALUE` and scored with `tfgen evaluate` (FID,
IS and, for autoencoders, held-out reconstruction MSE), each in its own
process (one model per process: see the README). The table of every value's
scores goes to `ROOT/sweep.json` and `ROOT/sweep.md`. Runs that finished
are kept: running the same command again resumes unfinished runs and only
re-evaluates what changed. AAAE's Table II is

    python tools/sweep.py configs/aaae/multidigit.yaml --key model.adversarial_weight \
        --values 0.0001 0.001 0.01 0.1 --root runs/aaae_lambda1

Usage:
    python tools/sweep.py CONFIG --key SECTION.FIELD --values V1 V2 ... --root DIR
        [--set KEY=VALUE ...] [--parallel N] [--metrics reconstruction_mse fid ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

DEFAULT_METRICS = ("reconstruction_mse", "fid", "inception_score")


def run_directory(root: str, key: str, value: str) -> str:
    return os.path.join(root, f"{key.split('.')[-1]}={value}")


def _tfgen(*args: str) -> None:
    cmd = [sys.executable, "-m", "tfgen", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def train_and_evaluate(config: str, key: str, value: str, root: str, overrides: Sequence[str]) -> Dict:
    """One point of the sweep: train (or resume), evaluate, return the scores."""
    workdir = run_directory(root, key, value)
    _tfgen("train", config, "--workdir", workdir, *sum((["--set", o] for o in overrides), []),
           "--set", f"{key}={value}")
    scores = os.path.join(workdir, "evaluation.json")
    _tfgen("evaluate", workdir, "--out", scores)
    with open(scores) as f:
        return json.load(f)


def markdown_table(key: str, rows: List[Dict], metrics: Sequence[str]) -> str:
    shown = [m for m in metrics if any(m in r["scores"] for r in rows)]
    lines = [f"| {key} | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    for r in rows:
        cells = []
        for m in shown:
            v = r["scores"].get(m)
            cells.append("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append(f"| {r['value']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep(config: str, key: str, values: Sequence[str], root: str, overrides: Sequence[str] = (),
          parallel: int = 1, metrics: Sequence[str] = DEFAULT_METRICS) -> Dict:
    os.makedirs(root, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(train_and_evaluate, config, key, v, root, overrides) for v in values]
        results = [f.result() for f in futures]
    rows = [{"value": v, "workdir": run_directory(root, key, v), "scores": s} for v, s in zip(values, results)]
    report = {"config": config, "key": key, "overrides": list(overrides), "runs": rows}
    with open(os.path.join(root, "sweep.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(root, "sweep.md"), "w") as f:
        f.write(markdown_table(key, rows, metrics))
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config")
    p.add_argument("--key", required=True, help="the swept setting, SECTION.FIELD (e.g. model.adversarial_weight)")
    p.add_argument("--values", nargs="+", required=True)
    p.add_argument("--root", required=True, help="parent of the runs' work directories")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fixed overrides for every run")
    p.add_argument("--parallel", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="columns of sweep.md")
    args = p.parse_args(argv)
    if "." not in args.key:
        p.error("--key must be SECTION.FIELD, e.g. model.adversarial_weight")
    try:
        report = sweep(args.config, args.key, args.values, args.root, args.set, args.parallel, args.metrics)
    except RuntimeError as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 1
    print(markdown_table(args.key, report["runs"], args.metrics), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
