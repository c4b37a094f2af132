"""HALI's studies of a trained run: `tfgen probe` (§7.1) and §5.2's label preservation.

* `probe_study`: linear SVMs on encoder features (`encoder_features`: for
  HALI the z1 mean flattened, the z2 mean and both concatenated; for ALI,
  or any model whose `encode` returns one code, that code), fitted on the
  first `max_train` training images and scored on the first `max_test` test
  images, for every label array of the dataset (`probe_targets`: the
  built-ins' "label" and "colors", CelebA's 40 attributes). Accuracy and
  balanced accuracy per feature set and target, and Table 2's summary
  (mean, std, # best). The paper fits on CelebA's validation split; here the
  training split is used, so every dataset works alike.
* `label_preservation`: how well reconstructions keep what a classifier
  sees in the real image (§5.2, with the domain classifier of `tfgen
  evaluate` in place of the paper's VGG16 attribute classifier), used by
  `HALI.evaluation_extras`.
* `find_domain_classifier`: the cached domain classifier for images of a
  shape and class count (a model does not know its data config, so it looks
  in the cache that `tfgen evaluate` fills).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfgen.evaluation.studies import StudyError, _load

__all__ = ["encoder_features", "find_domain_classifier", "label_preservation", "probe_study"]

_BATCH = 250


def encoder_features(model, images: np.ndarray, batch_size: int = _BATCH) -> Dict[str, np.ndarray]:
    """The encoder's deterministic features of images, by name.

    Args:
      model: a model with `encode(images)` returning a dict of codes (HALI:
        {"z1": [n, s1, s1, c1], "z2": [n, d]}; ALI: {"z2"}) or one code
        tensor [n, d] (AAAE).
      images: float32 [N, H, W, C] in [-1, 1].

    Returns:
      name -> float32 [N, D]: every code flattened ("z1", "z2", or "code"
      for a single tensor) and, with several codes, their concatenation
      ("z1_z2").
    """
    parts: Dict[str, List[np.ndarray]] = {}
    for i in range(0, len(images), batch_size):
        codes = model.encode(images[i:i + batch_size])
        if not isinstance(codes, dict):
            codes = {"code": codes}
        for name, value in codes.items():
            value = np.asarray(value)
            parts.setdefault(name, []).append(value.reshape(len(value), -1))
    features = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    if len(features) > 1:
        features["_".join(features)] = np.concatenate(list(features.values()), axis=1)
    return features


def probe_study(workdir: str, max_train: int = 5000, max_test: int = 2000, C: float = 1.0) -> Dict[str, Any]:
    """§7.1: linear SVMs on a trained run's encoder features, balanced accuracy per target.

    Args:
      workdir: a trained work directory of a model that encodes (hali, aaae).
      max_train: fit on the first this many training images, >= 2.
      max_test: score on the first this many test images, >= 1.
      C: the SVMs' inverse regularisation strength.

    Returns:
      {"workdir", "model", "dataset", "data" (provenance), "step", "levels", "num_train",
      "num_test", "targets": per target and feature set accuracy and
      balanced accuracy, "summary": per feature set mean/std balanced
      accuracy and # best} (see `representation.probe_table`).

    Raises:
      StudyError: the model does not encode, the dataset has no labels, or
        a bad size.
    """
    from tfgen.data import attribute_names, data_provenance, load_arrays
    from tfgen.evaluation.representation import probe_table, probe_targets

    if max_train < 2:
        raise StudyError(f"--max-train must be at least 2, got {max_train}")
    if max_test < 1:
        raise StudyError(f"--max-test must be at least 1, got {max_test}")
    config, model, step = _load(workdir)
    if not hasattr(model, "encode"):
        raise StudyError(f"model '{config.model.name}' has no encoder to probe (e.g. hali or aaae have one)")
    data = config.data
    names = attribute_names(data)
    train = load_arrays(data, data.train_split, max_examples=max_train)
    test = load_arrays(data, data.test_split, max_examples=max_test)
    train_targets, test_targets = probe_targets(train, names), probe_targets(test, names)
    shared = [t for t in train_targets if t in test_targets]
    if not shared:
        raise StudyError(f"dataset '{data.name}' has no labels or attributes to probe")
    if len(test["image"]) == 0:
        raise StudyError(f"dataset '{data.name}' has an empty test split")
    table = probe_table(encoder_features(model, train["image"]), {t: train_targets[t] for t in shared},
                        encoder_features(model, test["image"]), {t: test_targets[t] for t in shared}, C=C)
    return {"workdir": workdir, "model": config.model.name, "dataset": data.name,
            "data": data_provenance(data), "step": step,
            "levels": getattr(model, "levels", None), "num_train": int(len(train["image"])),
            "num_test": int(len(test["image"])), "C": float(C), **table}


# ---------------------------------------------------------------------------
# Label preservation of reconstructions (§5.2)
# ---------------------------------------------------------------------------

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


def find_domain_classifier(image_shape: Sequence[int], num_classes: Optional[int], images: np.ndarray,
                           labels: np.ndarray, cache_dir: Optional[str] = None) -> Tuple[Any, Optional[str]]:
    """The cached domain classifier that fits these images and labels best.

    `tfgen evaluate` with eval.extractor=domain trains a classifier per data
    config and caches it (`extractors.domain_classifier_for`) before it asks
    the model for its extras. A model does not know its data config, so
    among the cached classifiers for images of `image_shape` with
    `num_classes` classes this takes the most accurate on (images, labels):
    the one trained on this data scores far above one for another dataset of
    the same shape.

    Args:
      image_shape: (H, W, C).
      num_classes: the dataset's classes (None: any).
      images: float32 [N, H, W, C] in [-1, 1], labelled test images.
      labels: int [N].
      cache_dir: cache root (default `extractors.default_cache_dir()`).

    Returns:
      (classifier, its cache folder name), or (None, None) when none fits.
    """
    from tfgen.evaluation.extractors import DomainClassifier, default_cache_dir

    parent = os.path.join(os.path.expanduser(cache_dir) if cache_dir else default_cache_dir(), "classifiers")
    if not os.path.isdir(parent):
        return None, None
    best, best_key, best_accuracy = None, None, -1.0
    for key in sorted(os.listdir(parent)):
        folder = os.path.join(parent, key)
        if key.startswith(".") or not os.path.isfile(os.path.join(folder, "metadata.json")):
            continue  # half-written entries are dot-named
        try:
            with open(os.path.join(folder, "metadata.json")) as f:
                meta = json.load(f)
        except (OSError, ValueError):
            continue
        if list(meta.get("image_shape") or []) != [int(s) for s in image_shape]:
            continue
        if num_classes and int(meta.get("num_classes", -1)) != int(num_classes):
            continue
        try:
            candidate = DomainClassifier.load(folder)
        except Exception:  # an unreadable entry is not ours to repair here
            continue
        accuracy = candidate.evaluate_accuracy(images, labels)
        if accuracy > best_accuracy:
            best, best_key, best_accuracy = candidate, key, accuracy
    return best, best_key
