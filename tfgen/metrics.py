"""Sample-quality metrics as pure numpy/scipy functions.

Nothing here knows about networks: the functions take features, class
probabilities or images that a `FeatureExtractor` (or the caller) has already
computed, so they are cheap to test against closed forms.

* Fréchet distance (the "FID" when the features come from InceptionV3):
  Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter. "GANs Trained by a Two
  Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
* Inception score: Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen.
  "Improved Techniques for Training GANs", NeurIPS 2016.
* Reconstruction mean squared error, on the [-1, 1] pixel scale that every
  tfgen model works in, and the baselines that say what a value means
  (predicting the mean image; another image; another image of the class;
  the nearest training image, found by `nearest_neighbours`, which LR-GAN's
  memorisation check uses too).
"""

from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np
import scipy.linalg
import scipy.special

from tfgen.ops.batching import map_batches

__all__ = [
    "feature_statistics",
    "flatten_examples",
    "frechet_distance",
    "frechet_distance_from_features",
    "inception_score",
    "nearest_neighbours",
    "pairwise_squared_distances",
    "reconstruction_baselines",
    "reconstruction_mse",
]


# ---------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------

def feature_statistics(features) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a set of feature vectors.

    Args:
      features: array-like [N, D], N >= 2.

    Returns:
      (mu, sigma): float64 arrays [D] and [D, D]. The covariance is the
      unbiased estimate (divides by N - 1), as in the reference FID code.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {f.shape}")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {f.shape[0]}")
    if not np.all(np.isfinite(f)):
        raise ValueError("features contain NaN or infinity")
    mu = f.mean(axis=0)
    sigma = np.atleast_2d(np.cov(f, rowvar=False))
    return mu, sigma


def _sqrtm(a: np.ndarray) -> np.ndarray:
    """scipy's matrix square root, without its deprecated error-estimate output."""
    with warnings.catch_warnings():
        # Singular products make sqrtm warn; the caller checks the result itself.
        warnings.simplefilter("ignore")
        return scipy.linalg.sqrtm(a)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """Tr((sigma1 sigma2)^{1/2}) for symmetric positive semi-definite inputs.

    The product of two PSD matrices is not symmetric, but it is similar to the
    PSD matrix S1^{1/2} S2 S1^{1/2}, so its square root has real, non-negative
    eigenvalues. Numerically, sqrtm can still return NaNs (singular product,
    e.g. fewer samples than feature dimensions) or small imaginary parts; both
    are handled here.
    """
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        # Singular product: move both covariances away from singularity by a
        # tiny ridge, which changes the distance by O(eps * D).
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Round-off makes the Schur form complex; the true root is real, so
        # the imaginary part must be negligible compared with the real one.
        scale = max(1.0, float(np.max(np.abs(covmean.real))))
        if np.all(np.isfinite(covmean)) and np.max(np.abs(covmean.imag)) <= 1e-3 * scale:
            covmean = covmean.real
    if np.iscomplexobj(covmean) or not np.all(np.isfinite(covmean)):
        # Last resort, never observed on well-formed inputs: the trace of the
        # root is the sum of the square roots of the (real, >= 0) eigenvalues
        # of S1^{1/2} S2 S1^{1/2}, computed with symmetric eigensolvers only.
        w1, v1 = np.linalg.eigh(sigma1)
        root1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
        inner = root1 @ sigma2 @ root1
        w = np.linalg.eigvalsh((inner + inner.T) / 2.0)
        return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))
    return float(np.trace(covmean))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance between two Gaussians.

    d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

    (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
    Converge to a Local Nash Equilibrium"). With Gaussians fitted to
    InceptionV3 pool features of real and generated images this is the FID;
    lower is better, 0 for identical statistics.

    The matrix square root uses `scipy.linalg.sqrtm`; tiny imaginary parts
    from round-off are dropped, and a singular product is retried with
    `eps * I` added to both covariances.

    Args:
      mu1: mean [D] of the first set of features.
      sigma1: covariance [D, D] of the first set.
      mu2: mean [D] of the second set.
      sigma2: covariance [D, D] of the second set.
      eps: ridge added to both covariances when their product is singular.

    Returns:
      The squared Fréchet distance as a Python float (>= 0; tiny negative
      round-off is clipped to 0).
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,):
        raise ValueError(f"means must both be [D]; got {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"covariances must both be [{d}, {d}]; got {sigma1.shape} and {sigma2.shape}")
    diff = mu1 - mu2
    tr_covmean = _trace_sqrt_product(sigma1, sigma2, eps)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def frechet_distance_from_features(features1, features2, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Args:
      features1: [N1, D] features (e.g. of generated images).
      features2: [N2, D] features (e.g. of real images).
      eps: see `frechet_distance`.

    Returns:
      ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) as a float.
    """
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    return frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)


# ---------------------------------------------------------------------------
# Inception score
# ---------------------------------------------------------------------------

def inception_score(probs, splits: int = 10) -> Tuple[float, float]:
    """Inception score of a set of class-probability vectors.

    IS = exp( E_x [ KL( p(y|x) || p(y) ) ] ),  p(y) = E_x p(y|x)

    (Salimans et al. 2016, "Improved Techniques for Training GANs"). As in the
    paper's code, the samples are cut into `splits` consecutive parts, the
    score is computed on each part (with that part's own marginal p(y)), and
    the mean and standard deviation over parts are returned. It ranges from 1
    (every prediction equal, or all uniform) to K (confident predictions
    spread evenly over all K classes); higher is better.

    Args:
      probs: [N, K] rows of p(y|x), non-negative, each summing to 1
        (renormalised after a tolerance check, for float32 softmax output).
      splits: number of parts, 1 <= splits <= N.

    Returns:
      (mean, std) over the parts, as floats.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probs must be [N, K], got shape {p.shape}")
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be in [1, N={n}], got {splits}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probs must be finite and non-negative")
    sums = p.sum(axis=1, keepdims=True)
    if np.any(np.abs(sums - 1.0) > 1e-3):
        raise ValueError("each row of probs must sum to 1 (pass softmax outputs, not logits)")
    p = p / sums
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        # xlogy gives 0 * log 0 = 0, so exact zeros in one-hot rows are fine.
        kl = np.sum(scipy.special.xlogy(part, part) - scipy.special.xlogy(part, marginal), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------------------
# Reconstruction error
# ---------------------------------------------------------------------------

def reconstruction_mse(x, y, per_example: bool = False):
    """Mean squared error between images and their reconstructions.

    MSE = mean over pixels and channels of (x - y)^2, computed on the [-1, 1]
    scale that tfgen images use. On that scale the largest possible value is
    4; to compare with numbers reported on a [0, 1] scale divide by 4, and on
    a [0, 255] scale multiply by (255 / 2)^2.

    Args:
      x: images [N, H, W, C] (or any shape), values in [-1, 1].
      y: reconstructions of the same shape.
      per_example: return one value per leading index instead of the mean.

    Returns:
      A float, or a float64 array [N] when `per_example` is true.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        raise ValueError("empty inputs")
    sq = np.square(a - b)
    if per_example:
        return sq.reshape(sq.shape[0], -1).mean(axis=1)
    return float(sq.mean())


def flatten_examples(x, name: str) -> np.ndarray:
    """Examples as float64 rows, checked: [N, ...] -> [N, D].

    Args:
      x: array-like [N, ...], N >= 1, finite.
      name: what `x` is, for the error message.

    Raises:
      ValueError: fewer than two dimensions, no examples, NaN or infinity.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2 or a.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, ...] array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity")
    return a.reshape(a.shape[0], -1)


def pairwise_squared_distances(a: np.ndarray, b: np.ndarray, b_sq=None) -> np.ndarray:
    """||a_i - b_j||^2 [len(a), len(b)] as ||a||^2 - 2 a.b + ||b||^2, clipped at 0.

    The expansion turns the work into one matrix product; round-off can make
    it slightly negative for (near-)identical rows, hence the clip.

    Args:
      a: float [N, D] rows.
      b: float [M, D] rows.
      b_sq: optional [M] precomputed ||b_j||^2 (saves work when `b` is
        compared against many blocks of `a`).

    Returns:
      [N, M] squared distances, >= 0.
    """
    if b_sq is None:
        b_sq = np.einsum("ij,ij->i", b, b)
    a_sq = np.einsum("ij,ij->i", a, a)
    return np.maximum(a_sq[:, None] - 2.0 * (a @ b.T) + b_sq[None, :], 0.0)


def nearest_neighbours(queries, references, k: int = 1,
                       batch_size: int = 512) -> Tuple[np.ndarray, np.ndarray]:
    """The k nearest references of every query, by Euclidean distance.

    Rows are flattened (for images: pixel space, as in LR-GAN Fig. 9's
    nearest training images; the nearest-image baseline of
    `reconstruction_baselines`). Candidates are ranked by the squared distance
    max(||a||^2 - 2 a.b + ||b||^2, 0), one matrix product per `batch_size`
    queries (float64; memory stays at batch_size x len(references)
    distances); the reported distances of the k winners are then recomputed
    as ||a - b|| directly, so an exact copy is at distance 0.

    Args:
      queries: [N, ...] (e.g. images [N, H, W, C]).
      references: [M, ...] with the same trailing size as the queries.
      k: neighbours per query, 1 <= k <= M.
      batch_size: queries per distance matrix.

    Returns:
      (indices int64 [N, k] into `references`, distances float64 [N, k]),
      nearest first (ties in no particular order).

    Raises:
      ValueError: empty or non-finite inputs, different sizes, bad k.
    """
    q = flatten_examples(queries, "queries")
    r = flatten_examples(references, "references")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries {np.shape(queries)} and references {np.shape(references)} "
                         "differ in size per example")
    if not 1 <= k <= r.shape[0]:
        raise ValueError(f"k must be in [1, {r.shape[0]}] (the number of references), got {k}")
    r_sq = np.einsum("ij,ij->i", r, r)  # map_batches refuses batch_size < 1

    def nearest(batch):
        d2 = pairwise_squared_distances(batch, r, r_sq)
        # argpartition finds the k smallest in linear time; only they are sorted.
        top = np.argpartition(d2, k - 1, axis=1)[:, :k]
        # The expansion loses digits to cancellation (an exact copy comes out
        # at ~1e-8, not 0); the k winners' distances are recomputed directly.
        exact = np.linalg.norm(batch[:, None, :] - r[top], axis=2)
        order = np.argsort(exact, axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1), np.take_along_axis(exact, order, axis=1)

    return map_batches(nearest, q, batch_size=batch_size)


def reconstruction_baselines(test, train, test_labels=None, train_labels=None, seed: int = 0):
    """Reconstruction MSEs of predictors that know nothing of the test image.

    A model's `reconstruction_mse` means little alone. These are the values
    of predictors that ignore the image (mean image), ignore everything but
    the dataset (a random training image), or keep only the class (a random
    training image of the test image's class): a reconstruction that keeps
    the class but not the pixels, the kind adversarial inference (ALI) is
    known for, scores near the last, which for digits is worse than the mean
    image: with per-pixel variance v, the mean image scores about v, a
    random image of the same distribution about 2v.

    Args:
      test: [N, ...] test images in [-1, 1].
      train: [M, ...] training images of the same shape per example.
      test_labels, train_labels: optional int [N], [M]; give both for the
        class baseline (test classes missing from train are skipped).
      seed: draws of the random images.

    Returns:
      {"mean_image": mean over test of (x - mean(train))², "random_image":
      the same against a random training image, "same_class_image": against
      a random training image of the same label (only with labels),
      "nearest_image": against the nearest training image in squared
      distance (the best any "memorise the training set" predictor does)};
      floats on the [-1, 1] scale (divide by 4 for [0, 1]).
    """
    a = np.asarray(test, dtype=np.float64)
    b = np.asarray(train, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2 or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"test and train images need one shape per example: {a.shape} vs {b.shape}")
    if len(a) == 0 or len(b) == 0:
        raise ValueError("empty inputs")
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    rng = np.random.default_rng(seed)
    out = {"mean_image": float(np.mean(np.square(a - b.mean(axis=0)))),
           "random_image": float(np.mean(np.square(a - b[rng.integers(0, len(b), len(a))])))}
    distance = nearest_neighbours(a, b, k=1, batch_size=256)[1][:, 0]
    out["nearest_image"] = float(np.mean(np.square(distance)) / a.shape[1])
    if test_labels is not None and train_labels is not None:
        test_labels = np.asarray(test_labels).reshape(-1)
        train_labels = np.asarray(train_labels).reshape(-1)
        if len(test_labels) != len(a) or len(train_labels) != len(b):
            raise ValueError("one label per image needed")
        errors = []
        for label in np.unique(test_labels):
            pool = np.flatnonzero(train_labels == label)
            if not len(pool):
                continue
            rows = np.flatnonzero(test_labels == label)
            errors.append(np.square(a[rows] - b[rng.choice(pool, len(rows))]).mean(axis=1))
        if errors:
            out["same_class_image"] = float(np.concatenate(errors).mean())
    return out
