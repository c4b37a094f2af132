"""Fast normalized cross-correlation (NCC) template matching.

Yoo, Han. "Fast normalized cross-correlation", Circuits, Systems and Signal
Processing 28, 2009.

NCC at one position is the Pearson correlation between a template and the
image window under it::

    sum((I - mean(I)) * (T - mean(T)))
    ----------------------------------------------
    sqrt(sum((I - mean(I))**2) * sum((T - mean(T))**2))

with the sums and means taken over the whole h*w*C window (channels
included). The fast scheme splits the work in two:

* the numerator is a single correlation (`tf.nn.conv2d`) of the image with
  the zero-mean template: since sum(T - mean(T)) = 0, the mean(I) term of the
  numerator vanishes, so no per-window mean is needed there;
* the denominator needs, per window, sum(I) and sum(I**2), which integral
  images (2-D cumulative sums) give in O(1) per position whatever the
  template size.

Used here to score how well the learned basis-function images of a generator
match patches of training images (the "interpretability score" of AND-OR
networks): `crop_to_support` trims a basis function to where it is non-zero,
`best_match_scores` finds its best NCC over a set of training images, and
`matching_score` averages that over the basis functions.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

__all__ = [
    "normalized_cross_correlation",
    "best_match_scores",
    "crop_to_support",
    "matching_score",
    "null_templates",
    "score_against_null",
]


def _window_sums(x: tf.Tensor, h: int, w: int) -> tf.Tensor:
    """Sums of `x` over every valid h x w window, from an integral image.

    Args:
        x: [N, H, W] float64.
        h, w: window size, 1 <= h <= H, 1 <= w <= W.

    Returns:
        [N, H-h+1, W-w+1] float64: entry (n, y, x) is sum(x[n, y:y+h, x:x+w]).
    """
    # A leading row and column of zeros make S[y, x] = sum(x[:y, :x]), so
    # every window sum is the same four-term difference, borders included.
    s = tf.cumsum(tf.cumsum(x, axis=1), axis=2)
    s = tf.pad(s, [[0, 0], [1, 0], [1, 0]])
    return s[:, h:, w:] - s[:, :-h, w:] - s[:, h:, :-w] + s[:, :-h, :-w]


def normalized_cross_correlation(images, template, eps: float = 1e-6) -> tf.Tensor:
    """NCC of one template at every valid position of a batch of images.

    Args:
        images: [N, H, W, C] float (any range; converted to float32).
        template: [h, w, C] float with h <= H, w <= W and the same C.
        eps: flatness threshold on the *mean squared deviation* (variance per
            element) of a window or of the template. Where either is below
            `eps` the correlation is undefined and 0 is returned. It is an
            absolute threshold, suited to intensities of order 1 (e.g. images
            in [0, 1] or [-1, 1]).

    Returns:
        [N, H-h+1, W-w+1] float32 in [-1, 1]: entry (n, y, x) is the Pearson
        correlation between `template` and images[n, y:y+h, x:x+w, :]. 1 means
        the window is a positive affine copy a*T+b (a > 0) of the template,
        -1 a negative one. Always finite.

    Raises:
        ValueError: on wrong ranks, channel mismatch, or a template larger
            than the images.
    """
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    template = tf.convert_to_tensor(template, dtype=tf.float32)
    if images.shape.rank != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    if template.shape.rank != 3:
        raise ValueError(f"template must be [h, w, C], got shape {template.shape}")
    _, height, width, channels = images.shape
    h, w, tc = template.shape
    if tc != channels:
        raise ValueError(f"template has {tc} channels, images have {channels}")
    if h > height or w > width or h < 1 or w < 1:
        raise ValueError(f"template {h}x{w} does not fit in images {height}x{width}")
    n_elem = float(h * w * channels)

    # NCC is invariant to adding a constant to the image, so removing each
    # image's mean first costs nothing and keeps the float32 correlation and
    # the integral images (which accumulate over the whole image) small.
    images = images - tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)

    t0 = template - tf.reduce_mean(template)
    t_ss = tf.reduce_sum(tf.square(t0))

    # Numerator: correlation with the zero-mean template (conv2d is a
    # correlation, no kernel flip), one output channel.
    num = tf.nn.conv2d(images, t0[:, :, :, None], strides=1, padding="VALID")[..., 0]

    # Denominator: per-window sum of squared deviations
    # sum(I^2) - sum(I)^2 / n. That difference cancels badly in float32 for
    # low-contrast windows, so the integral images are accumulated in float64.
    x64 = tf.cast(images, tf.float64)
    s1 = _window_sums(tf.reduce_sum(x64, axis=3), h, w)
    s2 = _window_sums(tf.reduce_sum(tf.square(x64), axis=3), h, w)
    # Clamp at 0: rounding can make a flat window's variance slightly negative.
    i_ss = tf.cast(tf.maximum(s2 - tf.square(s1) / n_elem, 0.0), tf.float32)

    # A flat window or template has no defined correlation; returning 0 there
    # ("no evidence either way") keeps downstream maxima and means finite.
    valid = tf.logical_and(i_ss >= eps * n_elem, t_ss >= eps * n_elem)
    denom = tf.sqrt(tf.where(valid, i_ss * t_ss, 1.0))
    ncc = tf.where(valid, num / denom, 0.0)
    # Rounding can push exact matches just past +-1.
    return tf.clip_by_value(ncc, -1.0, 1.0)


def best_match_scores(images, templates: Sequence[Any], batch_size: int = 256,
                      eps: float = 1e-6) -> np.ndarray:
    """Best NCC of each template over all images and positions.

    Args:
        images: [N, H, W, C] float array (numpy or tensor), N >= 1.
        templates: sequence of T arrays, each [h_t, w_t, C] with
            h_t <= H, w_t <= W; the sizes may differ between templates.
        batch_size: images correlated at once. Memory is
            O(batch_size * H * W) per template, independent of N, so
            thousands of images can be scored.
        eps: flatness threshold, see `normalized_cross_correlation`.

    Returns:
        [T] float32 numpy array in [-1, 1]: max over images and positions of
        the NCC of each template (0 for a flat template).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"images must be [N, H, W, C] with N >= 1, got shape {images.shape}")
    templates = [np.asarray(t, dtype=np.float32) for t in templates]
    best = np.full(len(templates), -np.inf, dtype=np.float32)
    for start in range(0, images.shape[0], batch_size):
        # Convert each chunk once and reuse it for every template.
        chunk = tf.constant(images[start:start + batch_size])
        for i, t in enumerate(templates):
            score = float(tf.reduce_max(normalized_cross_correlation(chunk, t, eps=eps)))
            best[i] = max(best[i], score)
    return best


def crop_to_support(basis, rel_threshold: float = 0.01, min_size: int = 3) -> Optional[np.ndarray]:
    """Crops a basis function to the bounding box of its significant pixels.

    A pixel is significant where max over channels of |B| >= rel_threshold *
    max|B|; the sign of B does not matter, since basis functions are signed.

    Args:
        basis: [H, W, C] (or [H, W], treated as C = 1) float array, any sign.
        rel_threshold: in [0, 1], fraction of the peak magnitude.
        min_size: minimum height and width of the crop (capped at the image
            size). A smaller box is grown symmetrically around its centre,
            then shifted back inside the image where it would cross a border.

    Returns:
        [h, w, C] float32 copy of the cropped region, or None if the basis is
        all zero (nothing to match).

    Raises:
        ValueError: on a wrong rank or non-finite values.
    """
    b = np.asarray(basis, dtype=np.float32)
    if b.ndim == 2:
        b = b[:, :, None]
    if b.ndim != 3:
        raise ValueError(f"basis must be [H, W, C], got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("basis contains non-finite values")
    mag = np.max(np.abs(b), axis=2)
    peak = float(mag.max()) if mag.size else 0.0
    if peak == 0.0:
        return None
    rows, cols = np.nonzero(mag >= rel_threshold * peak)

    def span(lo: int, hi: int, size: int) -> tuple:
        # [lo, hi] inclusive, grown to min(min_size, size) and kept in [0, size).
        need = min(min_size, size) - (hi - lo + 1)
        if need > 0:
            lo -= need // 2
            hi += need - need // 2
            if lo < 0:
                hi, lo = hi - lo, 0
            if hi > size - 1:
                lo, hi = lo - (hi - (size - 1)), size - 1
        return lo, hi

    r0, r1 = span(int(rows.min()), int(rows.max()), b.shape[0])
    c0, c1 = span(int(cols.min()), int(cols.max()), b.shape[1])
    return b[r0:r1 + 1, c0:c1 + 1].copy()


def matching_score(images, bases: Sequence[Any], rel_threshold: float = 0.01, min_size: int = 3,
                   batch_size: int = 256) -> Dict[str, Any]:
    """Interpretability score: how well basis functions match training patches.

    Each basis function is cropped to its support (`crop_to_support`) and
    its best NCC over all training images and positions is found
    (`best_match_scores`); the score is the mean over basis functions.

    Args:
        images: [N, H, W, C] training images.
        bases: sequence of basis functions, each [H_b, W_b, C] with
            H_b <= H and W_b <= W after cropping (image-shaped bases always
            fit).
        rel_threshold, min_size: see `crop_to_support`.
        batch_size: see `best_match_scores`.

    Returns:
        dict with
        * "mean": float in [-1, 1], mean of "scores" (NaN when no basis is
          usable);
        * "scores": list of floats, the best NCC of each non-zero basis, in
          the order of `bases`;
        * "count": number of scored bases (len(scores));
        * "skipped": indices of the all-zero bases that were left out.
    """
    templates: List[np.ndarray] = []
    skipped: List[int] = []
    for i, basis in enumerate(bases):
        t = crop_to_support(basis, rel_threshold=rel_threshold, min_size=min_size)
        if t is None:
            skipped.append(i)
        else:
            templates.append(t)
    scores = ([float(s) for s in best_match_scores(images, templates, batch_size=batch_size)]
              if templates else [])
    mean = float(np.mean(scores)) if scores else float("nan")
    return {"mean": mean, "scores": scores, "count": len(scores), "skipped": skipped}


NULL_KINDS = ("noise", "blobs")


def null_templates(shapes: Sequence[Sequence[int]], kind: str, seed: int = 0) -> List[np.ndarray]:
    """Templates with no learned structure, one per shape: what the NCC score gives by chance.

    NCC's best match over thousands of windows rises with how few degrees of
    freedom a template has (a small or smooth template fits some window
    well), so a score means little without these at the same crop sizes.

    Args:
        shapes: (h, w, C) of each template (the cropped basis functions').
        kind: "noise" (i.i.d. N(0, 1) pixels) or "blobs" (one smooth dark
            Gaussian blob, random centre and width, on a flat background).
        seed: seed of the draws.

    Returns:
        [h, w, C] float32 arrays, in the order of `shapes`.
    """
    if kind not in NULL_KINDS:
        raise ValueError(f"kind must be one of {NULL_KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)
    out = []
    for h, w, c in shapes:
        if kind == "noise":
            out.append(rng.normal(size=(h, w, c)).astype(np.float32))
            continue
        cy, cx = rng.uniform(0.25, 0.75) * (h - 1), rng.uniform(0.25, 0.75) * (w - 1)
        sigma = rng.uniform(0.15, 0.35) * max(h, w)
        yy, xx = np.mgrid[:h, :w]
        blob = -np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * sigma ** 2))
        out.append(np.repeat(blob[:, :, None], c, axis=2).astype(np.float32))
    return out


def score_against_null(images, bases: Sequence[Any], rel_threshold: float = 0.01, min_size: int = 3,
                       batch_size: int = 256, seed: int = 0) -> Dict[str, Any]:
    """`matching_score` of `bases` beside the same score of null templates of the same crop sizes.

    Returns:
        `matching_score`'s dict plus "null" {kind: mean best NCC of that
        kind's templates} and "margin": the mean minus the larger null (> 0:
        the basis functions match training patches better than structureless
        templates of their sizes do; Table 4's protocol has no such null).
    """
    result = matching_score(images, bases, rel_threshold=rel_threshold, min_size=min_size, batch_size=batch_size)
    shapes = [t.shape for t in (crop_to_support(b, rel_threshold=rel_threshold, min_size=min_size) for b in bases)
              if t is not None]
    result["null"] = {kind: float(np.mean(best_match_scores(images, null_templates(shapes, kind, seed),
                                                            batch_size=batch_size))) if shapes else float("nan")
                      for kind in NULL_KINDS}
    result["margin"] = result["mean"] - max(result["null"].values()) if shapes else float("nan")
    return result
