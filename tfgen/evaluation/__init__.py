"""Evaluation of generated images: FID, Inception score, reconstruction error.

* `metrics`: pure numpy/scipy formulas (Fréchet distance, Inception score,
  reconstruction MSE).
* `extractors`: networks that give features and class probabilities
  (`InceptionExtractor` with local ImageNet weights, `DomainClassifier`
  trained by tfgen on the modelled dataset).
* `evaluate`: `get_extractor` from an eval config and `score_samples`.
* `layered`: the metrics and analyses of LR-GAN (mask IoU, Adversarial
  Accuracy and Divergence, nearest neighbours and memorisation, Hungarian
  pairing of two models' samples, pose statistics).

The metric functions import without TensorFlow; the extractor names are
loaded on first use (PEP 562), so `from tfgen.evaluation import
frechet_distance` stays cheap.
"""

from tfgen._lazy import lazy_attributes
from tfgen.evaluation.metrics import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_features,
    inception_score,
    reconstruction_mse,
)

_LAZY = {
    "FeatureExtractor": "tfgen.evaluation.extractors",
    "InceptionExtractor": "tfgen.evaluation.extractors",
    "DomainClassifier": "tfgen.evaluation.extractors",
    "train_domain_classifier": "tfgen.evaluation.extractors",
    "domain_classifier_for": "tfgen.evaluation.extractors",
    "classifier_cache_key": "tfgen.evaluation.extractors",
    "default_cache_dir": "tfgen.evaluation.extractors",
    "inception_weights_cache_path": "tfgen.evaluation.extractors",
    "build_domain_classifier_model": "tfgen.evaluation.extractors",
    "score_samples": "tfgen.evaluation.evaluate",
    "get_extractor": "tfgen.evaluation.evaluate",
    "POSE_PARAMETERS": "tfgen.evaluation.layered",
    "adversarial_metrics": "tfgen.evaluation.layered",
    "hungarian_pairs": "tfgen.evaluation.layered",
    "kl_divergence_rows": "tfgen.evaluation.layered",
    "mask_iou": "tfgen.evaluation.layered",
    "memorisation_report": "tfgen.evaluation.layered",
    "nearest_neighbours": "tfgen.evaluation.layered",
    "pose_statistics": "tfgen.evaluation.layered",
}

__all__ = [
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "inception_score",
    "reconstruction_mse",
]
# A separate statement so that pyflakes still reads the literal list above.
__all__ += list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
