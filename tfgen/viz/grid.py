"""Tiling batches of images into one picture."""

from __future__ import annotations

import math
import os

import numpy as np


def to_unit_range(images) -> np.ndarray:
    """Maps images from [-1, 1] to [0, 1] (clipped), as TensorBoard expects."""
    return np.clip((np.asarray(images, dtype=np.float32) + 1.0) / 2.0, 0.0, 1.0)


def image_grid(images, ncols: int | None = None, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tiles a batch into one image.

    Args:
      images: [N, H, W, C] float in [-1, 1] (C = 1 or 3).
      ncols: images per row (default: ceil(sqrt(N))).
      pad: pixels between tiles.
      pad_value: colour of the padding in [0, 1].

    Returns:
      float32 [rows*(H+pad)+pad, ncols*(W+pad)+pad, C] in [0, 1].
    """
    images = to_unit_range(images)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.float32)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def save_png(grid: np.ndarray, path: str) -> str:
    """Writes a [H, W, C] image in [0, 1] as PNG (atomically); returns the path."""
    from PIL import Image

    arr = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    Image.fromarray(arr).save(tmp)
    os.replace(tmp, path)
    return path
