#!/usr/bin/env python
"""FRAME vs wFRAME on the same data and budget: curves in one figure (wFRAME Fig. 1 right, Fig. 4).

Trains a wFRAME config twice, as FRAME (`model.beta=0`) in `ROOT/frame` and
as wFRAME (the config's β) in `ROOT/wframe`, each with `tfgen train` in its
own process (a finished run is kept; rerunning resumes), then reads both
runs' `metrics.csv` and writes

* `ROOT/curves.png`: response distance R, the observed-image energy and the
  synthesized-image energy per iteration, FRAME and wFRAME in one panel each;
* `ROOT/chains_over_time.png`: each run's persistent chains at up to eight
  of the saved steps, FRAME above wFRAME (Fig. 1 left);
* `ROOT/compare.json` and `ROOT/compare.md`: per run the final R, the mean R
  over the last tenth of the iterations, and the stability of the energy
  curves over the last half (variance, standard deviation, and the mean
  absolute change between iterations).

Usage:
    python tools/frame_compare.py configs/wframe/multidigit.yaml --root runs/frame_vs_wframe \
        [--set train.steps=300 ...] [--parallel 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

import numpy as np

RUNS = {"frame": ["model.beta=0"], "wframe": []}
CURVES = (("response_distance", "response distance R"), ("energy_observed", "energy of observed images"),
          ("energy_synthesized", "energy of synthesized images"))


def read_metrics(path: str) -> Dict[str, np.ndarray]:
    """A run's metrics.csv as columns: {"step": [...], metric: [...]}."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise RuntimeError(f"{path}: no metrics written (did the run log any step?)")
    header, body = rows[0], rows[1:]
    return {name: np.array([float(r[i]) if r[i] != "" else np.nan for r in body]) for i, name in enumerate(header)}


def curve_summary(metrics: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Final R, late R, and energy-curve stability over the last half of the iterations."""
    n = len(metrics["step"])
    half, tenth = metrics_slice(n, 2), metrics_slice(n, 10)
    out = {"iterations": int(metrics["step"][-1]), "final_response_distance": float(metrics["response_distance"][-1]),
           "late_response_distance": float(np.nanmean(metrics["response_distance"][tenth]))}
    for name in ("energy_observed", "energy_synthesized"):
        late = metrics[name][half]
        out[f"{name}_last_half_variance"] = float(np.nanvar(late))
        out[f"{name}_last_half_std"] = float(np.nanstd(late))
        out[f"{name}_last_half_mean_abs_change"] = float(np.nanmean(np.abs(np.diff(late)))) if len(late) > 1 else 0.0
        out[f"final_{name}"] = float(metrics[name][-1])
    return out


def metrics_slice(n: int, fraction: int) -> slice:
    """The last 1/fraction of n rows (at least one)."""
    return slice(n - max(1, n // fraction), n)


def curves_figure(runs: Dict[str, Dict[str, np.ndarray]]) -> np.ndarray:
    """Three panels (R, observed energy, synthesized energy) with a line per run; [H, W, 3] in [0, 1]."""
    from tfgen.viz.plot import line_plot, side_by_side

    panels = []
    for key, title in CURVES:
        series = {name: (m["step"], m[key]) for name, m in runs.items()}
        spread = np.nanmax([np.nanmax(np.abs(m[key])) for m in runs.values()])
        panels.append(line_plot(series, title, log_y=bool(spread > 1e4)))
    return side_by_side(panels)


def chains_over_time(workdirs: Dict[str, str], columns: int = 8) -> np.ndarray:
    """One row per run: its `samples/chains_step_*.png` grids at up to `columns` evenly spaced steps,
    captioned with the run name and the steps; [H, W, 3] in [0, 1]."""
    import glob
    import re

    from PIL import Image, ImageDraw

    rows, captions = [], []
    for name, workdir in workdirs.items():
        files = sorted(glob.glob(os.path.join(workdir, "samples", "chains_step_*.png")))
        if not files:
            continue
        picks = [files[int(i)] for i in np.unique(np.linspace(0, len(files) - 1, min(columns, len(files))).round())]
        tiles = [np.asarray(Image.open(f).convert("RGB"), np.float32) / 255.0 for f in picks]
        steps = [int(re.search(r"(\d+)\.png$", f).group(1)) for f in picks]
        gap = np.ones((tiles[0].shape[0], 4, 3), np.float32)
        rows.append(np.concatenate(sum(([t, gap] for t in tiles), [])[:-1], axis=1))
        captions.append(f"{name}: steps " + ", ".join(map(str, steps)))
    if not rows:
        raise RuntimeError("no chains_step_*.png in the runs' samples/ (train.image_every larger than the run?)")
    label = 12
    width = max(r.shape[1] for r in rows)
    canvas = np.ones((sum(r.shape[0] + label for r in rows), width, 3), np.float32)
    caption = Image.new("L", (width, canvas.shape[0]), 255)
    draw = ImageDraw.Draw(caption)
    y = 0
    for row, text in zip(rows, captions):
        draw.text((1, y), text, fill=0)
        canvas[y + label:y + label + row.shape[0], :row.shape[1]] = row
        y += label + row.shape[0]
    text_mask = np.asarray(caption, np.float32)[..., None] / 255.0
    return np.minimum(canvas, text_mask)


def markdown(summaries: Dict[str, Dict[str, float]]) -> str:
    keys = ["iterations", "final_response_distance", "late_response_distance", "energy_observed_last_half_std",
            "energy_observed_last_half_mean_abs_change", "energy_synthesized_last_half_std",
            "energy_synthesized_last_half_mean_abs_change"]
    lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | " + " | ".join(f"{s[k]:.4g}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _train(config: str, workdir: str, overrides: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "tfgen", "train", config, "--workdir", workdir,
           *sum((["--set", o] for o in overrides), [])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def compare(config: str, root: str, overrides: Sequence[str] = (), parallel: int = 1, train=_train) -> Dict:
    """Trains (or resumes) both runs, then writes curves.png, compare.json and compare.md under `root`."""
    from tfgen.viz import save_png

    os.makedirs(root, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        futures = [pool.submit(train, config, os.path.join(root, name), [*overrides, *extra])
                   for name, extra in RUNS.items()]
        for f in futures:
            f.result()
    runs = {name: read_metrics(os.path.join(root, name, "metrics.csv")) for name in RUNS}
    summaries = {name: curve_summary(m) for name, m in runs.items()}
    png = save_png(curves_figure(runs), os.path.join(root, "curves.png"))
    chains_png = save_png(chains_over_time({name: os.path.join(root, name) for name in RUNS}),
                          os.path.join(root, "chains_over_time.png"))
    report = {"config": config, "overrides": list(overrides), "runs": summaries, "curves_png": png,
              "chains_png": chains_png}
    with open(os.path.join(root, "compare.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(root, "compare.md"), "w") as f:
        f.write(markdown(summaries))
    return report


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="a wframe config (its beta is wFRAME's; FRAME runs with beta 0)")
    p.add_argument("--root", required=True, help="parent of the two runs' work directories")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="overrides for both runs")
    p.add_argument("--parallel", type=int, default=1, help="train both runs at once (2)")
    args = p.parse_args(argv)
    try:
        report = compare(args.config, args.root, args.set, args.parallel)
    except RuntimeError as e:
        print(f"frame_compare: {e}", file=sys.stderr)
        return 1
    print(markdown(report["runs"]), end="")
    print(f"curves: {report['curves_png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
