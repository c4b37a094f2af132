"""FRAME vs wFRAME from their runs' metrics: summaries that survive spikes, a collapse rule, curves, chains.

The paper's claim (Cai et al., AAAI 2019, Fig. 1, 3, 4) is that FRAME's
energy curve turns unstable and its samples collapse at step sizes where
wFRAME stays stable. This module reads the per-iteration `metrics.csv` of
finished runs (written by `tfgen train`, one row per iteration with
`train.log_every: 1`) and measures that, without training anything
(`tools/frame_compare.py` trains the runs):

* `curve_summary`: final and late response distance R, the energy curve's
  instability by medians (one spike of 1e12 does not decide it), the JKO
  step's contraction factor, and whether the run collapsed (`collapsed`).
* `sweep_table`: a λ sweep over seeds as a markdown table.
* `curves_figure`, `chains_over_time`: the curves of several runs in one
  figure, and each run's saved chains over time (Fig. 1).

numpy only at import; the figures import `tfgen.viz` and PIL when drawn.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from typing import Dict, Mapping, Sequence

import numpy as np

CURVES = (("response_distance", "response distance R"), ("energy_observed", "energy of observed images"),
          ("energy_synthesized", "energy of synthesized images"))

# Collapse: the late R (median of the last tenth) is more than this many times
# the best R the run reached (the lowest median over ROLLING iterations), or
# some logged value is not finite. Fixed before the sweep was run.
COLLAPSE_FACTOR = 2.0
ROLLING = 10
# A spike: an iteration whose energy changes by more than this many times the
# run's median absolute change.
SPIKE_FACTOR = 10.0


def read_metrics(path: str) -> Dict[str, np.ndarray]:
    """A run's metrics.csv as float64 columns: {"step": [...], metric: [...]} (empty cells are NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise RuntimeError(f"{path}: no metrics written (did the run log any step?)")
    header, body = rows[0], rows[1:]
    return {name: np.array([float(r[i]) if i < len(r) and r[i] != "" else np.nan for r in body])
            for i, name in enumerate(header)}


def metrics_slice(n: int, fraction: int) -> slice:
    """The last 1/fraction of n rows (at least one)."""
    return slice(n - max(1, n // fraction), n)


def rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    """Medians of each full window of `values` (NaN-aware); the values themselves when fewer."""
    if len(values) < window:
        return values.copy()
    stacked = np.lib.stride_tricks.sliding_window_view(values, window)
    return np.nanmedian(stacked, axis=1)


def energy_instability(energy: np.ndarray) -> Dict[str, float]:
    """How unstable an energy curve is, by medians (spike-robust).

    Returns:
      relative_change: median |E_t − E_{t−1}| / median |E_t| (0: flat; about
        1: the curve moves by its own size every iteration);
      spike_fraction: share of iterations whose change exceeds SPIKE_FACTOR
        times the median change.
    """
    energy = energy[np.isfinite(energy)]
    if len(energy) < 3:
        return {"relative_change": float("nan"), "spike_fraction": float("nan")}
    change = np.abs(np.diff(energy))
    median_change = float(np.median(change))
    scale = float(np.median(np.abs(energy)))
    return {"relative_change": median_change / scale if scale > 0 else float("inf"),
            "spike_fraction": float(np.mean(change > SPIKE_FACTOR * median_change)) if median_change > 0 else 0.0}


def curve_summary(metrics: Mapping[str, np.ndarray]) -> Dict[str, float]:
    """One run: final and late R, energy instability over the last half, the JKO step, collapse.

    Args:
      metrics: `read_metrics` columns (response_distance, energy_observed,
        energy_synthesized; beta_step, likelihood_step, jko_contraction when
        the run logged them).

    Returns:
      A flat dict of floats (and `collapsed`, a bool).
    """
    n = len(metrics["step"])
    half, tenth = metrics_slice(n, 2), metrics_slice(n, 10)
    r = metrics["response_distance"]
    finite = all(np.all(np.isfinite(metrics[k])) for k in metrics if k != "step" and len(metrics[k]))
    best = float(np.nanmin(rolling_median(r, ROLLING))) if np.any(np.isfinite(r)) else float("nan")
    late = float(np.nanmedian(r[tenth])) if np.any(np.isfinite(r[tenth])) else float("nan")
    out = {"iterations": int(metrics["step"][-1]), "final_response_distance": float(r[-1]),
           "late_response_distance": late, "best_response_distance": best,
           "all_finite": bool(finite),
           "collapsed": bool(not finite or not np.isfinite(late) or late > COLLAPSE_FACTOR * best)}
    for name in ("energy_observed", "energy_synthesized"):
        curve = metrics[name][half]
        stability = energy_instability(curve)
        out[f"{name}_relative_change"] = stability["relative_change"]
        out[f"{name}_spike_fraction"] = stability["spike_fraction"]
        # Spread by moments, for comparison with earlier reports (a spike decides these).
        out[f"{name}_last_half_std"] = float(np.nanstd(curve))
        out[f"final_{name}"] = float(metrics[name][-1])
    if "jko_contraction" in metrics:
        c = metrics["jko_contraction"]
        out["jko_contraction_median"] = float(np.nanmedian(c))
        out["jko_contraction_max"] = float(np.nanmax(c))
    if "beta_step" in metrics and "likelihood_step" in metrics:
        ratio = metrics["beta_step"] / np.maximum(metrics["likelihood_step"], 1e-30)
        out["beta_to_likelihood_step_median"] = float(np.nanmedian(ratio))
    if "theta_abs_mean" in metrics:
        out["final_theta_abs_mean"] = float(metrics["theta_abs_mean"][-1])
    return out


def spread(values: Sequence[float]) -> Dict[str, float]:
    """Mean, min, max and count of a seed group (NaN and inf kept: a diverged seed shows)."""
    v = np.asarray(list(values), np.float64)
    return {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)), "n": int(len(v))}


def _cell(values: Sequence[float], fmt: str = ".3g") -> str:
    s = spread(values)
    if s["n"] == 1:
        return format(s["mean"], fmt)
    return f"{s['mean']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}] (n={s['n']})"


def sweep_table(summaries: Mapping[str, Mapping[str, Mapping[int, Mapping[str, float]]]]) -> str:
    """A markdown table of a λ sweep: {λ text: {"frame"|"wframe": {seed: curve_summary}}}.

    Cells are the mean over seeds with [min, max] when there are several.
    """
    cols = [("final R", "final_response_distance", ".3g"), ("late R", "late_response_distance", ".3g"),
            ("E_obs rel. change", "energy_observed_relative_change", ".2g"),
            ("E_obs spikes", "energy_observed_spike_fraction", ".2f")]
    head = ["λ", "method"] + [c[0] for c in cols] + ["collapsed", "β·μ_max (median)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lam in sorted(summaries, key=float):
        for method in ("frame", "wframe"):
            runs = summaries[lam].get(method)
            if not runs:
                continue
            seeds = sorted(runs)
            row = [lam, "FRAME" if method == "frame" else "wFRAME"]
            row += [_cell([runs[s][key] for s in seeds], fmt) for _, key, fmt in cols]
            row.append(f"{sum(bool(runs[s]['collapsed']) for s in seeds)}/{len(seeds)}")
            contraction = [runs[s].get("jko_contraction_median", float("nan")) for s in seeds]
            row.append("—" if method == "frame" else _cell(contraction, ".2g"))
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def first_collapse(summaries: Mapping[str, Mapping[str, Mapping[int, Mapping[str, float]]]], method: str):
    """The smallest λ (as text) at which any seed of `method` collapsed, or None."""
    for lam in sorted(summaries, key=float):
        runs = summaries[lam].get(method, {})
        if any(r["collapsed"] for r in runs.values()):
            return lam
    return None


def curves_figure(runs: Mapping[str, Mapping[str, np.ndarray]]) -> np.ndarray:
    """Three panels (R, observed energy, synthesized energy) with a line per run; [H, W, 3] in [0, 1]."""
    # Lazy: matplotlib-free numpy summaries stay cheap to import (start-up time of the tool).
    from tfgen.viz.plot import line_plot, side_by_side

    panels = []
    for key, title in CURVES:
        series = {name: (m["step"], m[key]) for name, m in runs.items()}
        magnitudes = [np.nanmax(np.abs(m[key][np.isfinite(m[key])])) for m in runs.values()
                      if np.any(np.isfinite(m[key]))]
        panels.append(line_plot(series, title, log_y=bool(magnitudes and max(magnitudes) > 1e4)))
    return side_by_side(panels)


def chains_over_time(workdirs: Mapping[str, str], columns: int = 8) -> np.ndarray:
    """One row per run: its `samples/chains_step_*.png` grids at up to `columns` evenly spaced steps,
    captioned with the run name and the steps; [H, W, 3] in [0, 1]."""
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


def markdown(summaries: Mapping[str, Mapping[str, float]]) -> str:
    """A table of `curve_summary`s, one row per run."""
    keys = ["iterations", "final_response_distance", "late_response_distance", "best_response_distance",
            "collapsed", "energy_observed_relative_change", "energy_observed_spike_fraction",
            "energy_synthesized_relative_change", "jko_contraction_median"]
    lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, s in summaries.items():
        cells = [str(s[k]) if isinstance(s.get(k), bool) else f"{s.get(k, float('nan')):.4g}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["COLLAPSE_FACTOR", "CURVES", "chains_over_time", "curve_summary", "curves_figure", "energy_instability",
           "first_collapse", "markdown", "metrics_slice", "read_metrics", "rolling_median", "spread",
           "sweep_table"]
