"""Point clouds drawn as images (for TensorBoard, where there is no plot widget)."""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

# Colour-blind-safe blue and orange (Okabe & Ito), then green, as RGB in [0, 1].
PALETTE = ((0.0, 0.45, 0.70), (0.90, 0.60, 0.0), (0.0, 0.62, 0.45))


def principal_axes(reference: np.ndarray, dims: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """Mean [D] and the top `dims` principal directions [D, dims] of `reference` [N, D]."""
    reference = np.asarray(reference, np.float64)
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    return mean, vt[:dims].T


def scatter_image(point_sets: Sequence[np.ndarray], size: int = 160, dot: int = 2, margin: int = 6) -> np.ndarray:
    """Draws 2-D point sets in one square image, each set in its palette colour.

    All sets share one frame (the bounding box of every point), so their
    spread and overlap can be compared by eye; later sets are drawn on top.

    Args:
      point_sets: each float [N_i, 2].
      size: pixels a side.
      dot: half-width of a dot in pixels.
      margin: blank pixels at each border.

    Returns:
      float32 [size, size, 3] in [0, 1], white background.
    """
    canvas = np.ones((size, size, 3), np.float32)
    sets = [np.asarray(p, np.float64).reshape(-1, 2) for p in point_sets]
    everything = np.concatenate(sets) if sets else np.zeros((0, 2))
    if len(everything) == 0:
        return canvas
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    inner = size - 2 * margin - 1
    for k, points in enumerate(sets):
        colour = PALETTE[k % len(PALETTE)]
        xy = margin + np.round((points - lo) / span * inner).astype(int)
        for x, y in xy:
            y = size - 1 - y  # image rows grow downwards
            canvas[max(y - dot, 0):y + dot + 1, max(x - dot, 0):x + dot + 1] = colour
    return canvas
