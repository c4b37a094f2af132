"""Evaluation of layered generators: the metrics of LR-GAN and its analyses.

Yang, Kannan, Batra, Parikh. "LR-GAN: Layered Recursive Generative
Adversarial Networks for Image Generation", ICLR 2017.

* `mask_iou`: how well generated foreground masks match ground-truth object
  masks (the built-in datasets render both).
* `stroke_masks`: the ink of white-strokes-over-gray images (MNIST-ONE/-TWO),
  read off the pixels alone, so that an unconditional generator's masks can
  be scored against what its own samples show.
* `adversarial_metrics`: Adversarial Accuracy and Adversarial Divergence
  (§4.2, Tables 1 and 3): a classifier trained on real labelled images
  against one trained on class-conditional generated images.
* `nearest_neighbours` (from `tfgen.metrics`, re-exported here),
  `memorisation_report`: pixel-space nearest training
  images (the last column of Fig. 9) and a number that says whether samples
  are copies of training images.
* `hungarian_pairs`: one-to-one pairing of two models' samples for
  side-by-side comparison (§5.3, Fig. 7).
* `pose_statistics`: statistics and histograms of the six affine pose
  parameters (§6.7, Fig. 20).

Everything here is numpy/scipy except `adversarial_metrics`, which imports
TensorFlow (through `tfgen.classifiers`) only when called.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import scipy.optimize

from tfgen.data.builtin import MASK_THRESHOLD
from tfgen.metrics import flatten_examples, nearest_neighbours, pairwise_squared_distances

__all__ = [
    "POSE_PARAMETERS",
    "adversarial_metrics",
    "hungarian_pairs",
    "kl_divergence_rows",
    "mask_iou",
    "memorisation_report",
    "nearest_neighbours",
    "pose_bounds",
    "pose_statistics",
    "stroke_masks",
]

# Default probability floor of `kl_divergence_rows`: float32 softmax outputs
# underflow to exactly 0, and log(0) would make one confident mistake
# infinite. With this floor a row's KL is at most about log(1 / 1e-7) = 16.1.
DEFAULT_KL_EPS = 1e-7


# ---------------------------------------------------------------------------
# Mask IoU
# ---------------------------------------------------------------------------

def _masks_to_3d(masks: np.ndarray, name: str, union: bool) -> np.ndarray:
    """[N, H, W] or [N, H, W, K] -> [N, H, W] (K > 1 only when `union`)."""
    if masks.ndim == 3:
        return masks
    if masks.ndim == 4 and (union or masks.shape[-1] == 1):
        # Several objects' masks: the foreground is where any of them is.
        return masks.max(axis=-1)
    expected = "[N, H, W, K] or [N, H, W]" if union else "[N, H, W, 1] or [N, H, W]"
    raise ValueError(f"{name} must be {expected}, got shape {masks.shape}")


def mask_iou(pred_masks, true_masks, threshold: float = 0.5) -> Dict[str, Any]:
    """Intersection over union of predicted and ground-truth foreground masks.

    IoU = |P ∩ T| / |P ∪ T| per example, with P = {pred >= threshold} and
    T = {true >= 0.5}, where a ground truth with K object masks is first
    united (T is where any object is). An example whose P and T are both
    empty scores 1.0 (nothing to find, nothing found). LR-GAN (§5.2, §6.8)
    shows its generated masks carve out the objects; on the built-in datasets,
    which render true masks, this turns that into a number.

    Masks are compared as given: nothing is resized, so both must have the
    same H and W.

    Args:
      pred_masks: float [N, H, W, 1] or [N, H, W], values in [0, 1] (e.g. a
        generator's sigmoid mask, or the union of its foreground masks).
      true_masks: float or bool [N, H, W, K] (K objects) or [N, H, W].
      threshold: pred values >= threshold are foreground, 0 < threshold < 1.

    Returns:
      {"mean_iou": float in [0, 1], "per_example": float64 np.ndarray [N]}.

    Raises:
      ValueError: bad shapes (the message gives both), an empty batch,
        non-finite values, pred values outside [0, 1] or a bad threshold.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    pred = np.asarray(pred_masks, dtype=np.float64)
    true = np.asarray(true_masks).astype(np.float64)
    pred = _masks_to_3d(pred, "pred_masks", union=False)
    true = _masks_to_3d(true, "true_masks", union=True)
    if pred.shape != true.shape:
        raise ValueError(
            f"pred_masks {np.shape(pred_masks)} and true_masks {np.shape(true_masks)} must have "
            "the same N, H and W (masks are not resized)")
    if pred.shape[0] == 0:
        raise ValueError("no masks")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(true))):
        raise ValueError("masks contain NaN or infinity")
    if pred.min() < 0.0 or pred.max() > 1.0:
        raise ValueError(f"pred_masks must be in [0, 1] (probabilities, not logits); got values "
                         f"in [{pred.min():.3g}, {pred.max():.3g}]")
    p = pred >= threshold
    t = true >= 0.5
    intersection = np.logical_and(p, t).sum(axis=(1, 2))
    union = np.logical_or(p, t).sum(axis=(1, 2))
    per_example = np.where(union == 0, 1.0, intersection / np.maximum(union, 1))
    return {"mean_iou": float(per_example.mean()), "per_example": per_example}


def stroke_masks(images, threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """The strokes of images drawn as white ink over a uniform gray: {0, 1} masks.

    The digit scenes (`multidigit`, LR-GAN's MNIST-ONE/-TWO) paint each
    digit's coverage alpha as white over a uniform gray g:
    x = g + alpha * (1 - g) in [0, 1]. A digit covers far less than half the
    canvas, so g is the image's median, alpha = (x - g) / (1 - g), and a
    pixel is ink where alpha >= `threshold`: the rule by which the data
    defines its true masks, so real scenes give their own masks back (at
    MASK_THRESHOLD, IoU 1 on the built-in test scenes). On a generated
    image it marks what the image shows as strokes, whichever layer drew
    them: the reference against which an unconditional generator's own
    foreground masks are scored (`mask_iou`), since its samples have no
    true masks.

    Args:
      images: float [N, H, W, C] or [N, H, W] in [-1, 1]; channels are
        averaged (the RGB variant replicates gray).
      threshold: alpha at or above which a pixel is ink, 0 < threshold < 1.

    Returns:
      float32 [N, H, W, 1] in {0, 1}.

    Raises:
      ValueError: a bad shape, an empty batch, non-finite values or a bad
        threshold.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=-1)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"images must be a non-empty [N, H, W, C] or [N, H, W] array, got shape "
                         f"{np.shape(images)}")
    if not np.all(np.isfinite(x)):
        raise ValueError("images contain NaN or infinity")
    x = (np.clip(x, -1.0, 1.0) + 1.0) / 2.0
    gray = np.median(x.reshape(len(x), -1), axis=1)[:, None, None]
    # A white background leaves no room for white ink: nothing is a stroke there.
    alpha = (x - gray) / np.maximum(1.0 - gray, 1e-6)
    return (alpha >= threshold).astype(np.float32)[..., None]


# ---------------------------------------------------------------------------
# Adversarial Accuracy and Adversarial Divergence (§4.2)
# ---------------------------------------------------------------------------

def kl_divergence_rows(p, q, eps: float = DEFAULT_KL_EPS) -> np.ndarray:
    """KL(p_i || q_i) = sum_k p_ik log(p_ik / q_ik) for every row i.

    Both inputs are clipped to [eps, 1] and each row renormalised to sum to
    1 before the sum, so that a zero in q (a float32 softmax that
    underflowed) gives a large but finite value, at most about log(1/eps).

    Args:
      p: [N, K] rows of probabilities (non-negative, summing to 1).
      q: [N, K] rows of probabilities.
      eps: probability floor, 0 < eps < 1 / K.

    Returns:
      float64 np.ndarray [N], each value >= 0; 0 where p_i == q_i.

    Raises:
      ValueError: shapes differ or are not 2-D, values are negative or not
        finite, or eps is out of range.
    """
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"p and q must both be [N, K]; got {a.shape} and {b.shape}")
    if not 0.0 < eps < 1.0 / a.shape[1]:
        raise ValueError(f"eps must be in (0, 1/K = {1.0 / a.shape[1]:.3g}), got {eps}")
    for name, x in (("p", a), ("q", b)):
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            raise ValueError(f"{name} must be finite and non-negative")
    a = np.clip(a, eps, 1.0)
    b = np.clip(b, eps, 1.0)
    a /= a.sum(axis=1, keepdims=True)
    b /= b.sum(axis=1, keepdims=True)
    # Round-off can leave -1e-17 for identical rows; KL is never negative.
    return np.maximum(np.sum(a * (np.log(a) - np.log(b)), axis=1), 0.0)


def adversarial_metrics(real_images, real_labels, generated_images, generated_labels,
                        validation_images, validation_labels, num_classes: int, *,
                        steps: int, seed: int = 0, batch_size: int = 64,
                        eps: float = DEFAULT_KL_EPS) -> Dict[str, Any]:
    """Adversarial Accuracy and Adversarial Divergence (LR-GAN §4.2).

    Two classifiers with the same architecture and recipe (the domain CNN of
    `tfgen.evaluation.extractors.train_domain_classifier`, same `steps`,
    `batch_size` and `seed`) are trained: P_real(y|x) on real labelled
    images and P_gen(y|x) on generated ones. The paper gets labelled
    generated images by training one generator per class (`data.classes`
    selects a class's training images) and labelling each generator's
    samples with its class. Both are then scored on the validation set:

    * Adversarial Accuracy: the accuracy of each classifier. If P_g(x) is
      close to P(x), the generated-data classifier does about as well as
      the real-data one.
    * Adversarial Divergence:
      AD = (1 / M) sum_{x in validation} KL(P_real(y|x) || P_gen(y|x)),
      KL(p || q) = sum_y p(y) log(p(y) / q(y)). 0 when both classifiers agree
      everywhere; lower is better. The paper does not state the direction;
      here the real-data classifier is the reference distribution p.
      Probabilities are floored at `eps` (see `kl_divergence_rows`), so a
      row contributes at most about log(1/eps).

    The paper validates on the real training set or on another set of real
    images; pass whichever you report. Numbers depend on the classifier and
    its training (steps, seed), so compare only numbers computed alike.

    Args:
      real_images: float32 [N_r, H, W, C] in [-1, 1].
      real_labels: int [N_r] in [0, num_classes).
      generated_images: float32 [N_g, H, W, C] in [-1, 1].
      generated_labels: int [N_g], the class each image was generated for.
      validation_images: float32 [M, H, W, C] in [-1, 1], real.
      validation_labels: int [M].
      num_classes: K >= 2.
      steps: training steps of each classifier.
      seed: seeds both classifiers' weights, dropout and batch order.
      batch_size: training batch size of both classifiers.
      eps: probability floor of the KL divergence.

    Returns:
      {"accuracy_real_classifier": float, "accuracy_generated_classifier":
      float, "adversarial_divergence": float, "num_real": N_r,
      "num_generated": N_g, "num_validation": M}.

    Raises:
      ValueError: mismatched counts or shapes, labels out of range.
    """
    # Imported here for start-up time (TensorFlow is only needed here); the
    # module attribute is looked up at call time so that tests can substitute
    # a cheaper trainer.
    from tfgen import classifiers

    val_labels = np.asarray(validation_labels).reshape(-1)
    if len(val_labels) != len(validation_images):
        raise ValueError(f"{len(validation_images)} validation images but {len(val_labels)} labels")
    if len(val_labels) == 0:
        raise ValueError("no validation images")
    if val_labels.min() < 0 or val_labels.max() >= num_classes:
        raise ValueError(f"validation labels must be in [0, {num_classes})")
    shapes = {np.shape(real_images)[1:], np.shape(generated_images)[1:],
              np.shape(validation_images)[1:]}
    if len(shapes) != 1:
        raise ValueError(
            f"real, generated and validation images must have the same [H, W, C]; got "
            f"{np.shape(real_images)}, {np.shape(generated_images)} and {np.shape(validation_images)}")

    def train(images, labels):
        return classifiers.train_domain_classifier(
            images, labels, num_classes, steps=steps, batch_size=batch_size, seed=seed)

    real_clf = train(real_images, real_labels)
    gen_clf = train(generated_images, generated_labels)
    p_real = real_clf.probabilities(validation_images)
    p_gen = gen_clf.probabilities(validation_images)
    return {
        "accuracy_real_classifier": float(np.mean(p_real.argmax(axis=1) == val_labels)),
        "accuracy_generated_classifier": float(np.mean(p_gen.argmax(axis=1) == val_labels)),
        "adversarial_divergence": float(np.mean(kl_divergence_rows(p_real, p_gen, eps))),
        "num_real": int(len(real_images)),
        "num_generated": int(len(generated_images)),
        "num_validation": int(len(val_labels)),
    }


# ---------------------------------------------------------------------------
# Nearest neighbours and memorisation
# ---------------------------------------------------------------------------

def memorisation_report(samples, train_images, test_images,
                        max_reference: Optional[int] = None) -> Dict[str, Any]:
    """Do samples sit closer to the training images than unseen real images do?

    Compares two mean nearest-neighbour distances to the training set, in
    pixel space (`nearest_neighbours`, k = 1):

      d_samples = mean over samples s of min_t ||s - t||,
      d_test    = mean over test images x of min_t ||x - t||,
      ratio     = d_samples / d_test.

    Test images come from the data distribution but were not trained on, so
    d_test is what "new images of this distribution" look like. A ratio near
    1 (or above: samples are worse than real images) shows no sign of
    copying; a ratio well below 1 means samples sit closer to training
    images than new real images do, which is what memorisation looks like (a
    ratio of 0 means exact copies) — but blurry, mean-like samples also sit
    close to everything in pixel space, so look at the neighbour grid
    (`tfgen neighbours`) before calling it copying. Use about as many
    samples as test images, since both means depend a little on the count.

    Args:
      samples: generated images [N, H, W, C].
      train_images: training images [M, H, W, C].
      test_images: held-out real images [T, H, W, C].
      max_reference: compare against only the first this many training
        images (bounds time and memory); None: all of them.

    Returns:
      {"mean_nn_distance_samples": d_samples, "mean_nn_distance_test": d_test,
      "ratio": d_samples / d_test, or None when d_test is 0 (the test images
      are themselves copies of training images), "num_samples": N,
      "num_test": T, "num_reference": training images used}.
    """
    if max_reference is not None:
        if max_reference < 1:
            raise ValueError(f"max_reference must be >= 1 or None, got {max_reference}")
        train_images = np.asarray(train_images)[:max_reference]
    d_samples = float(np.mean(nearest_neighbours(samples, train_images)[1]))
    d_test = float(np.mean(nearest_neighbours(test_images, train_images)[1]))
    return {
        "mean_nn_distance_samples": d_samples,
        "mean_nn_distance_test": d_test,
        "ratio": d_samples / d_test if d_test > 0 else None,
        "num_samples": int(len(samples)),
        "num_test": int(len(test_images)),
        "num_reference": int(len(train_images)),
    }


# ---------------------------------------------------------------------------
# Hungarian pairing (§5.3)
# ---------------------------------------------------------------------------

def hungarian_pairs(features_a, features_b) -> Tuple[np.ndarray, np.ndarray, float]:
    """One-to-one pairs of two sample sets with the least total distance.

    Solves min over one-to-one pairings π of sum_i ||a_i - b_π(i)|| (the
    assignment problem) with `scipy.optimize.linear_sum_assignment`. LR-GAN
    (§5.3, Fig. 7) pairs 1000 DCGAN and 1000 LR-GAN samples this way by L2
    distance in pixel space, so that judges compare similar-looking images;
    pass images (flattened here) or any features.

    Args:
      features_a: [N_a, ...], e.g. one model's samples.
      features_b: [N_b, ...], the same trailing size.

    Returns:
      (index_a int64 [P], index_b int64 [P], mean_cost float): a_{index_a[i]}
      is paired with b_{index_b[i]}, P = min(N_a, N_b), index_a ascending;
      mean_cost is the mean Euclidean distance over the pairs. With unequal
      counts the larger set's unpaired rows are left out.
    """
    a = flatten_examples(features_a, "features_a")
    b = flatten_examples(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"features_a {np.shape(features_a)} and features_b "
                         f"{np.shape(features_b)} differ in size per example")
    cost = np.sqrt(pairwise_squared_distances(a, b))
    index_a, index_b = scipy.optimize.linear_sum_assignment(cost)
    mean_cost = float(cost[index_a, index_b].mean())
    return index_a.astype(np.int64), index_b.astype(np.int64), mean_cost


# ---------------------------------------------------------------------------
# Pose statistics (§6.7)
# ---------------------------------------------------------------------------

# (name, row, column) of each affine parameter in theta = [[s_x, r_x, t_x],
# [r_y, s_y, t_y]], in the order of LR-GAN's Fig. 20. Row 0 gives the
# horizontal source coordinate (as in tfgen.ops.spatial_transform).
POSE_PARAMETERS = (
    ("s_x", 0, 0),
    ("s_y", 1, 1),
    ("t_x", 0, 2),
    ("t_y", 1, 2),
    ("r_x", 0, 1),
    ("r_y", 1, 0),
)


def pose_statistics(thetas, bins: int = 20, bounds: Optional[Dict[str, Tuple[float, float]]] = None
                    ) -> Dict[str, Dict[str, Any]]:
    """Statistics and histograms of affine pose parameters (LR-GAN §6.7, Fig. 20).

    LR-GAN shows histograms of the six parameters of the foreground
    transformations its generator predicts, to see which ones it uses
    (e.g. mostly horizontal translation on birds). theta maps output
    coordinates (x, y, 1) to source coordinates:
    theta = [[s_x, r_x, t_x], [r_y, s_y, t_y]], so r_x = theta[0, 1] and
    r_y = theta[1, 0] (see `POSE_PARAMETERS`).

    Args:
      thetas: float [N, 2, 3] (or [N, 6], row-major), N >= 1.
      bins: histogram bins per parameter, each over that parameter's own
        [min, max] range.
      bounds: {name: (lower, upper)} of the pose head's range per parameter
        (see `pose_bounds`); each such parameter also gets "at_lower" and
        "at_upper", the share of the N values within 1e-5 of that bound. A
        bounded pose piles up there when the generator asks for more than
        the range allows (with a clamp or its straight-through variant, the
        share of pre-activations past the bound).

    Returns:
      {name: {"mean", "std", "min", "max": float, "counts": list of int
      (summing to N), "edges": list of bins + 1 floats[, "at_lower",
      "at_upper": float in [0, 1]]}} for the names of `POSE_PARAMETERS`, in
      that order. Plain Python values: JSON-serialisable.
    """
    t = np.asarray(thetas, dtype=np.float64)
    if t.ndim == 2 and t.shape[1] == 6:
        t = t.reshape(-1, 2, 3)
    if t.ndim != 3 or t.shape[1:] != (2, 3) or t.shape[0] == 0:
        raise ValueError(f"thetas must be a non-empty [N, 2, 3] or [N, 6] array, got shape "
                         f"{np.shape(thetas)}")
    if not np.all(np.isfinite(t)):
        raise ValueError("thetas contain NaN or infinity")
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    stats = {}
    for name, row, col in POSE_PARAMETERS:
        values = t[:, row, col]
        counts, edges = np.histogram(values, bins=bins)
        stats[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "counts": [int(c) for c in counts],
            "edges": [float(e) for e in edges],
        }
        if bounds and name in bounds:
            lower, upper = bounds[name]
            stats[name]["at_lower"] = float(np.mean(np.abs(values - lower) <= 1e-5))
            stats[name]["at_upper"] = float(np.mean(np.abs(values - upper) <= 1e-5))
    return stats


def pose_bounds(min_scale: float, max_shear: float, max_translation: float) -> Dict[str, Tuple[float, float]]:
    """The pose head's range per parameter (`PoseHead`): scales in [s, 2s],
    rotation/shear terms in +-max_shear, translations in +-max_translation."""
    return {"s_x": (min_scale, 2 * min_scale), "s_y": (min_scale, 2 * min_scale),
            "r_x": (-max_shear, max_shear), "r_y": (-max_shear, max_shear),
            "t_x": (-max_translation, max_translation), "t_y": (-max_translation, max_translation)}
