"""Scores a set of generated images against real ones.

`get_extractor` picks the network named by the eval config, `score_samples`
computes the FID and Inception score with it. Both scores depend on the
extractor: report `extractor` alongside them and compare only numbers that
share it.
"""

from __future__ import annotations

from typing import Any, Dict

from tfgen.evaluation.extractors import (
    DEFAULT_BATCH_SIZE,
    FeatureExtractor,
    InceptionExtractor,
    domain_classifier_for,
)
from tfgen.metrics import frechet_distance_from_features, inception_score

__all__ = ["get_extractor", "score_samples"]

# Seed of the domain classifier trained for `evaluate`: fixed, so that every
# run (and every model) is scored by the same cached network.
EVAL_CLASSIFIER_SEED = 0


def score_samples(generated, real, extractor: FeatureExtractor, *,
                  batch_size: int = DEFAULT_BATCH_SIZE, splits: int = 10) -> Dict[str, Any]:
    """FID and Inception score of generated images.

    FID = Fréchet distance between Gaussians fitted to the extractor's
    features of the generated and of the real images (lower is better);
    Inception score = exp(E KL(p(y|x) || p(y))) of the generated images under
    the extractor's classifier (higher is better; with a domain classifier it
    is the "contextual" score, at most its number of classes).

    Args:
      generated: float32 [N, H, W, C] in [-1, 1], N >= 2.
      real: float32 [M, H', W', C'] in [-1, 1], M >= 2 (e.g. the test split).
      extractor: a `FeatureExtractor`.
      batch_size: images per forward pass.
      splits: Inception-score splits (reduced to N when N is smaller).

    Returns:
      {"fid": float, "inception_score": float, "inception_score_std": float,
       "inception_score_real": float (the real images' score: the ceiling),
       "inception_score_real_std": float, "num_generated": N, "num_real": M, "extractor": extractor.name,
       "feature_dim": D}
    """
    gen_features, gen_probs = extractor.features_and_probabilities(generated, batch_size)
    real_features, real_probs = extractor.features_and_probabilities(real, batch_size)
    n, m = gen_features.shape[0], real_features.shape[0]
    if n < 2 or m < 2:
        raise ValueError(f"need at least 2 generated and 2 real images, got {n} and {m}")
    fid = frechet_distance_from_features(gen_features, real_features)
    is_mean, is_std = inception_score(gen_probs, splits=min(splits, n))
    # The ceiling: the real images' score under the same classifier (LR-GAN's Table 1 reports it beside the
    # models'); a model's score means little without it.
    real_mean, real_std = inception_score(real_probs, splits=min(splits, m))
    return {
        "fid": float(fid),
        "inception_score": float(is_mean),
        "inception_score_std": float(is_std),
        "inception_score_real": float(real_mean),
        "inception_score_real_std": float(real_std),
        "num_generated": int(n),
        "num_real": int(m),
        "extractor": extractor.name,
        "feature_dim": int(gen_features.shape[1]),
    }


def get_extractor(eval_config, data_config) -> FeatureExtractor:
    """The extractor named by `eval_config.extractor`.

    Args:
      eval_config: `tfgen.config.EvalConfig`; uses extractor, inception_weights,
        classifier_steps and cache_dir.
      data_config: `tfgen.config.DataConfig` of the modelled dataset (the domain
        classifier is trained on its training split).

    Returns:
      An `InceptionExtractor` ("inception") or a cached/trained
      `DomainClassifier` ("domain").

    Raises:
      WeightsNotFoundError: "inception" without a local weights file.
      TfgenError: "domain" on a dataset without labels.
    """
    kind = eval_config.extractor
    if kind == "inception":
        return InceptionExtractor(weights=eval_config.inception_weights)
    if kind == "domain":
        return domain_classifier_for(data_config, steps=eval_config.classifier_steps,
                                     seed=EVAL_CLASSIFIER_SEED, cache_dir=eval_config.cache_dir,
                                     architecture=eval_config.domain_classifier)
    raise ValueError(f"unknown extractor {kind!r} (expected 'domain' or 'inception')")
