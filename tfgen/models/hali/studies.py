"""HALI's own measurements of a trained model: what `tfgen evaluate` adds for hali (and ALI).

* `evaluation_extras`: per-level reconstruction error and perceptual
  distance, inpainting error, the semi-supervised head's test errors and
  §5.2's label preservation, registered for `tfgen evaluate` and handed the
  evaluation's extractor.
* `label_preservation`: how well reconstructions keep what a classifier
  sees in the real image (§5.2, with the domain classifier of `tfgen
  evaluate` in place of the paper's VGG16 attribute classifier).

`tfgen probe` (§7.1's linear probes) works for any model that encodes:
`tfgen.evaluation.probes`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
import tensorflow as tf

from tfgen.models.hali.model import centre_hole_mask
from tfgen.models.registry import register_evaluation_extras
from tfgen.ops.batching import INFERENCE_BATCH_SIZE

__all__ = ["evaluation_extras", "label_preservation"]


def label_preservation(classifier, images: np.ndarray, reconstructions: Sequence[np.ndarray],
                       labels: np.ndarray) -> Dict[str, float]:
    """§5.2: a classifier's accuracy on reconstructions next to its accuracy on the real images.

    Args:
      classifier: has `predict_labels(images) -> int [N]` (a `DomainClassifier`).
      images: float32 [N, H, W, C] in [-1, 1], the real images.
      reconstructions: per level, float32 [N, H, W, C] in [-1, 1].
      labels: int [N], the true labels.

    Returns:
      {"label_accuracy_real": on the real images; per level l (from 1)
      "label_accuracy_<l>": on the reconstructions against the true labels,
      "label_agreement_<l>": fraction of reconstructions given the class the
      real image is given}, all in [0, 1].
    """
    labels = np.asarray(labels).reshape(-1)
    real = classifier.predict_labels(images)
    out = {"label_accuracy_real": float(np.mean(real == labels))}
    for level, recon in enumerate(reconstructions, start=1):
        predicted = classifier.predict_labels(recon)
        out[f"label_accuracy_{level}"] = float(np.mean(predicted == labels))
        out[f"label_agreement_{level}"] = float(np.mean(predicted == real))
    return out


@register_evaluation_extras("hali")
def evaluation_extras(model, arrays, extractor=None) -> Dict[str, Any]:
    """Scores on the first 2000 test images.

    * recon_mse_<l>, perceptual_<l>: per-level reconstruction MSE (Eq. 5)
      and perceptual distance (Eq. 8); inpaint_hole_mse: MSE inside a
      centre hole after inpainting (§6.1); d_pairing, d_pairing_rank: D's
      use of the x-z pairing (`HALI.pairing_gap`, `pairing_rank_accuracy`),
      means over batches of `INFERENCE_BATCH_SIZE`.
    * With labels ("label"), §5.2's preservation test with a domain
      classifier: label_accuracy_real (the classifier on the real images)
      beside label_accuracy_<l> (on the level-l reconstructions, against
      the true labels) and label_agreement_<l> (reconstructions classified
      as their real image is); label_classifier names the classifier:
      the evaluation's extractor when it classifies the dataset's labels
      (a `DomainClassifier`, eval.extractor=domain); without one,
      label_preservation says so.
    * With the semi-supervised head and labels (§7.2):
      semisupervised_test_errors (misclassified test images),
      semisupervised_test_error_rate, semisupervised_num_test.

    Args:
      model: a trained HALI (or ALI).
      arrays: the test split from `tfgen.data.load_arrays`.
      extractor: the evaluation's `FeatureExtractor`; one with
        `predict_labels` (a `DomainClassifier`) runs the preservation test.
    """
    images = arrays["image"][:2000]
    totals: Dict[str, float] = {}
    h, w, _ = model.image_shape
    labels = arrays.get("label")
    labels = None if labels is None or not len(images) else np.asarray(labels)[:len(images)].reshape(-1)
    recons: List[List[np.ndarray]] = [[] for _ in range(model.levels)]
    predicted = []
    for i in range(0, len(images), INFERENCE_BATCH_SIZE):
        batch = tf.constant(images[i:i + INFERENCE_BATCH_SIZE])
        n = int(batch.shape[0])
        stats = {k: float(v) for k, v in model._recon_stats_impl(batch).items()}
        if labels is not None:
            for level, recon in enumerate(model.reconstructions(batch)):
                recons[level].append(recon.numpy())
            if model.classifier is not None:
                predicted.append(np.argmax(model.classify(batch).numpy(), axis=-1))
        mask = centre_hole_mask(n, h, w)
        filled = model.inpaint(batch, mask)
        hole = 1.0 - mask
        stats["inpaint_hole_mse"] = float(tf.reduce_sum(hole * tf.square(filled - batch))
                                          / (tf.reduce_sum(hole) * batch.shape[-1]))
        for k, v in stats.items():
            totals[k] = totals.get(k, 0.0) + v * n
    if not len(images):
        return {}
    out: Dict[str, Any] = {k: v / len(images) for k, v in totals.items()}
    if labels is None:
        return out
    if predicted:
        errors = int(np.sum(np.concatenate(predicted) != labels))
        out.update(semisupervised_test_errors=errors, semisupervised_test_error_rate=errors / len(labels),
                   semisupervised_num_test=int(len(labels)))
    if not hasattr(extractor, "predict_labels"):
        out["label_preservation"] = ("needs a classifier of the dataset's labels: evaluate with "
                                     "eval.extractor=domain")
        return out
    out.update(label_preservation(extractor, images, [np.concatenate(r) for r in recons], labels))
    out["label_classifier"] = extractor.name
    return out

