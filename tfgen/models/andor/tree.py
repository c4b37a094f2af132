"""Pictures of AND-OR trees and basis functions (AND-OR network paper, Fig. 1)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from tfgen.viz.grid import image_grid


def basis_tiles(bases) -> np.ndarray:
    """Basis functions (pre-tanh units, any sign) as images in [-1, 1], each scaled by its own max |value|.

    Zero stays mid-gray, so a basis function shows what it adds (light) and
    removes (dark) from the image. [K, H, W, C] -> [K, H, W, C].
    """
    bases = np.asarray(bases, np.float32)
    if not len(bases):
        return bases
    peak = np.abs(bases).reshape(len(bases), -1).max(axis=1)
    return bases / np.maximum(peak, 1e-12)[:, None, None, None]


def zoom_to_support(basis: np.ndarray, rel_threshold: float = 0.05, min_size: int = 4) -> np.ndarray:
    """A basis function (pre-tanh, [H, W, C]) cropped to a square around its support and scaled
    back to [H, W, C] (nearest neighbour) with values in [-1, 1], so that a
    5x5 primitive is as visible as an 8x8-layer part. An all-zero basis
    stays zero."""
    h, w = basis.shape[:2]
    peak = np.abs(basis).max(axis=-1)
    if peak.max() <= 0:
        return np.zeros_like(basis)
    # The square's side: the support's longer extent, at least min_size, within the image.
    rows, cols = np.nonzero(peak >= rel_threshold * peak.max())
    extent = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1, min_size)
    side = int(min(extent, h, w))
    top = int(np.clip((rows.min() + rows.max() + 1) / 2 - side / 2, 0, h - side))
    left = int(np.clip((cols.min() + cols.max() + 1) / 2 - side / 2, 0, w - side))
    square = basis_tiles(basis[None, top:top + side, left:left + side])[0]
    index_r = np.arange(h) * side // h
    index_c = np.arange(w) * side // w
    return square[index_r][:, index_c]


def _rgb_unit(image: np.ndarray) -> np.ndarray:
    image = np.clip((np.asarray(image, np.float32) + 1.0) / 2.0, 0.0, 1.0)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def render_tree(tree: Dict[str, Any], scale: int = 2, gap: int = 6, label_height: int = 11) -> np.ndarray:
    """Draws a tree from `tfgen.models.andor.basis.and_or_tree`.

    The generated image sits on top; below it one row per layer, each node's
    basis function (s·B, zoomed to its support by `zoom_to_support`, as the
    paper's Fig. 1 shows parts and primitives) with a "L<layer> c<channel>
    (row,col)" caption, joined to its parent by a line. Leaves are spread
    evenly and parents centred over their children.

    Returns:
      float32 [height, width, 3] in [0, 1].
    """
    from PIL import Image, ImageDraw

    image = np.asarray(tree["image"], np.float32)
    h, w = image.shape[0] * scale, image.shape[1] * scale
    cell_w, cell_h = w + gap, h + label_height + 3 * gap

    def leaves(node):
        return max(1, sum(leaves(c) for c in node["children"])) if node["children"] else 1

    depth = 0
    level = tree["roots"]
    while level:
        depth += 1
        level = [c for n in level for c in n["children"]]
    total = max(1, sum(leaves(r) for r in tree["roots"]))
    width = max(total * cell_w + gap, w + 2 * gap)
    height = (depth + 1) * cell_h + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)

    def paste(arr, x, y):
        tile = (np.kron(_rgb_unit(arr), np.ones((scale, scale, 1))) * 255).round().astype(np.uint8)
        canvas.paste(Image.fromarray(tile), (int(x), int(y)))

    top_x = (width - w) // 2
    paste(image, top_x, gap)
    draw.text((top_x, gap + h + 1), "sample", fill=(0, 0, 0))
    placed: List[tuple] = []  # (node, x, y)

    def place(node, first_leaf, row):
        n = leaves(node)
        x = gap + (first_leaf + n / 2.0) * cell_w - cell_w / 2.0
        y = gap + (row + 1) * cell_h
        placed.append((node, x, y))
        offset = first_leaf
        for child in node["children"]:
            place(child, offset, row + 1)
            offset += leaves(child)
        return n

    offset = 0
    for root in tree["roots"]:
        offset += place(root, offset, 0)
    centres = {id(n): (x + w / 2.0, y) for n, x, y in placed}
    for node, x, y in placed:  # lines first, tiles over them
        for child in node["children"]:
            cx, cy = centres[id(child)]
            draw.line([(x + w / 2.0, y + h + label_height), (cx, cy)], fill=(120, 120, 120), width=1)
        if node["layer"] == tree["roots"][0]["layer"]:
            draw.line([(x + w / 2.0, y), (top_x + w / 2.0, gap + h + label_height)], fill=(120, 120, 120), width=1)
    for node, x, y in placed:
        paste(zoom_to_support(node["basis"]), x, y)
        r, c, ch = node["position"]
        draw.text((x, y + h + 1), f"L{node['layer']} c{ch} ({r},{c})", fill=(0, 0, 0))
    return np.asarray(canvas, np.float32) / 255.0


def labelled_basis_grid(rows: Sequence[tuple], scale: int = 1) -> np.ndarray:
    """One row of basis-function tiles per (label, bases [K, H, W, C]) pair, label on the left.

    Returns float32 [height, width, 3] in [0, 1].
    """
    from PIL import Image, ImageDraw

    grids = []
    for label, bases in rows:
        tiles = basis_tiles(bases)
        if tiles.shape[-1] == 1:
            tiles = np.repeat(tiles, 3, axis=-1)
        grid = image_grid(tiles, ncols=max(1, len(tiles))) if len(tiles) else np.ones((8, 8, 3), np.float32)
        if scale > 1:
            grid = np.kron(grid, np.ones((scale, scale, 1), np.float32))
        grids.append((label, grid))
    label_w = 8 + 6 * max(len(label) for label, _ in rows)
    width = label_w + max(g.shape[1] for _, g in grids)
    height = sum(g.shape[0] for _, g in grids) + 2 * len(grids)
    canvas = np.ones((height, width, 3), np.float32)
    captions = Image.new("L", (label_w, height), 255)
    draw = ImageDraw.Draw(captions)
    y = 0
    for label, grid in grids:
        canvas[y:y + grid.shape[0], label_w:label_w + grid.shape[1]] = grid
        draw.text((2, y + grid.shape[0] // 2 - 5), label, fill=0)
        y += grid.shape[0] + 2
    canvas[:, :label_w] = np.asarray(captions, np.float32)[..., None] / 255.0
    return canvas
