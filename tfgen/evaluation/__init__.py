"""Evaluation of trained runs: FID, Inception score, reconstruction error, and each method's own scores.

* `extractors`: networks that give features and class probabilities
  (`InceptionExtractor` with local ImageNet weights; the `DomainClassifier`
  of `tfgen.classifiers`, trained once per dataset and cached).
* `evaluate`: `get_extractor` from an eval config and `score_samples`.
* `report`: `tfgen evaluate` on a work directory; a method's own scores come
  from the function it registered (`tfgen.models.registry`), handed the
  model, the test arrays and the extractor.
* `probes`: linear probes of an encoder's features (`tfgen probe`).

The formulas (Fréchet distance, Inception score, reconstruction MSE) are
`tfgen.metrics`, re-exported here; they import without TensorFlow, and the
extractor names are loaded on first use (PEP 562), so `from tfgen.evaluation
import frechet_distance` stays cheap.
"""

from tfgen._lazy import lazy_attributes
from tfgen.metrics import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_features,
    inception_score,
    reconstruction_baselines,
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
}

__all__ = [
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_features",
    "inception_score",
    "reconstruction_baselines",
    "reconstruction_mse",
]
# A separate statement so that pyflakes still reads the literal list above.
__all__ += list(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
