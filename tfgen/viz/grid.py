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


def labelled_blocks(blocks, rows: int, pad: int = 1, gap: int = 4, label_height: int = 12) -> np.ndarray:
    """Side-by-side image blocks, each with its label above it (LR-GAN Figs. 1, 5, 9).

    Args:
      blocks: sequence of (label, images [N, H, W, C] in [-1, 1]); every
        block is tiled with `rows` rows, so row r of every block shows the
        same sample. C may differ between blocks (1 is shown as gray).
      rows: rows per block.
      pad: pixels between tiles.
      gap: white pixels between blocks.
      label_height: pixels of the caption strip.

    Returns:
      float32 [label_height + block height, total width, 3] in [0, 1].
    """
    from PIL import Image, ImageDraw

    tiles = []
    for label, images in blocks:
        images = np.asarray(images, np.float32)
        if images.shape[-1] == 1:
            images = np.repeat(images, 3, axis=-1)
        ncols = int(math.ceil(len(images) / rows))
        # Column-major order: sample i sits in row i % rows.
        order = [c * rows + r for r in range(rows) for c in range(ncols) if c * rows + r < len(images)]
        grid = image_grid(images[order], ncols=ncols, pad=pad)
        tiles.append((label, grid))
    height = max(g.shape[0] for _, g in tiles)
    width = sum(g.shape[1] for _, g in tiles) + gap * (len(tiles) - 1)
    canvas = np.ones((label_height + height, width, 3), np.float32)
    caption = Image.new("L", (width, label_height), 255)
    draw = ImageDraw.Draw(caption)
    x = 0
    for label, grid in tiles:
        canvas[label_height:label_height + grid.shape[0], x:x + grid.shape[1]] = grid
        draw.text((x + 1, 0), label, fill=0)
        x += grid.shape[1] + gap
    canvas[:label_height] = np.asarray(caption, np.float32)[..., None] / 255.0
    return canvas
