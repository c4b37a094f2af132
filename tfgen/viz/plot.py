"""Line plots rendered with PIL (no plotting library needed): learning curves
for TensorBoard panels and PNG figures, e.g. FRAME vs wFRAME energy curves."""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

from tfgen.viz.scatter import PALETTE


def _ticks(lo: float, hi: float) -> Tuple[float, float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if hi - lo < 1e-12:
        pad = max(abs(hi), 1.0) * 0.05
        return lo - pad, hi + pad
    return lo, hi


def line_plot(series: Dict[str, Tuple[Sequence[float], Sequence[float]]], title: str = "",
              size: Tuple[int, int] = (360, 220), log_y: bool = False) -> np.ndarray:
    """One panel with a line per series.

    Args:
      series: label -> (x values, y values); non-finite points are skipped.
      title: text above the plot.
      size: (width, height) in pixels.
      log_y: plot sign(y) * log10(1 + |y|) (for curves spanning decades).

    Returns:
      float32 [height, width, 3] in [0, 1].
    """
    from PIL import Image, ImageDraw

    width, height = size
    left, right, top, bottom = 58, 8, 16, 30
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)

    def transform(y):
        y = np.asarray(y, np.float64)
        return np.sign(y) * np.log10(1.0 + np.abs(y)) if log_y else y

    clean = {}
    for label, (xs, ys) in series.items():
        xs, ys = np.asarray(xs, np.float64), transform(ys)
        keep = np.isfinite(xs) & np.isfinite(ys)
        clean[label] = (xs[keep], ys[keep])
    all_x = np.concatenate([x for x, _ in clean.values()] or [np.zeros(0)])
    all_y = np.concatenate([y for _, y in clean.values()] or [np.zeros(0)])
    x_lo, x_hi = _ticks(*(all_x.min(), all_x.max()) if all_x.size else (0.0, 1.0))
    y_lo, y_hi = _ticks(*(all_y.min(), all_y.max()) if all_y.size else (0.0, 1.0))

    def px(x, y):
        u = left + (x - x_lo) / (x_hi - x_lo) * (width - left - right)
        v = height - bottom - (y - y_lo) / (y_hi - y_lo) * (height - top - bottom)
        return float(u), float(v)

    draw.rectangle([left, top, width - right, height - bottom], outline=(0, 0, 0))
    draw.text((left, 2), title + (" (log10 scale)" if log_y else ""), fill=(0, 0, 0))
    for value in (y_lo, (y_lo + y_hi) / 2, y_hi):
        _, v = px(x_lo, value)
        draw.text((2, v - 5), f"{value:.3g}", fill=(0, 0, 0))
    for value in (x_lo, x_hi):
        u, _ = px(value, y_lo)
        text = f"{value:.4g}"
        # Keep the right-hand label inside the canvas (about 6 px per character).
        draw.text((min(u - 6, width - 2 - 6 * len(text)), height - bottom + 3), text, fill=(0, 0, 0))
    for i, (label, (xs, ys)) in enumerate(clean.items()):
        colour = tuple(int(255 * c) for c in PALETTE[i % len(PALETTE)])
        points = [px(x, y) for x, y in zip(xs, ys)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            u, v = points[0]
            draw.ellipse([u - 2, v - 2, u + 2, v + 2], fill=colour)
        draw.text((left + 6 + 90 * i, height - 14), label, fill=colour)
    return np.asarray(image, np.float32) / 255.0


def side_by_side(panels: Sequence[np.ndarray], gap: int = 6) -> np.ndarray:
    """Panels [H_i, W_i, 3] in [0, 1] next to each other on white, top-aligned."""
    height = max(p.shape[0] for p in panels)
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    canvas = np.ones((height, width, 3), np.float32)
    x = 0
    for p in panels:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return canvas


def read_metrics_csv(path: str) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """metric -> (steps, values) of a run's metrics.csv (empty cells skipped)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if r]
    curves = {}
    for j, name in enumerate(header[1:], start=1):
        points = [(float(r[0]), float(r[j])) for r in body if j < len(r) and r[j] != ""]
        if points:
            steps, values = zip(*points)
            curves[name] = (np.asarray(steps), np.asarray(values))
    return curves


def metrics_figure(curves: Dict[str, Tuple[Sequence[float], Sequence[float]]], columns: int = 3,
                   panel_size: Tuple[int, int] = (360, 220)) -> np.ndarray:
    """One line panel per metric (its own y-axis), in rows of `columns`.

    Args:
      curves: metric -> (steps, values), e.g. from `read_metrics_csv`.

    Returns:
      float32 [height, width, 3] in [0, 1]; a single blank panel if `curves` is empty.
    """
    panels = [line_plot({name: xy}, title=name, size=panel_size) for name, xy in sorted(curves.items())]
    if not panels:
        return line_plot({}, title="no metrics yet", size=panel_size)
    rows = [side_by_side(panels[i:i + columns]) for i in range(0, len(panels), columns)]
    width = max(r.shape[1] for r in rows)
    canvas = np.ones((sum(r.shape[0] for r in rows) + 6 * (len(rows) - 1), width, 3), np.float32)
    y = 0
    for r in rows:
        canvas[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0] + 6
    return canvas


__all__ = ["line_plot", "metrics_figure", "read_metrics_csv", "side_by_side"]
