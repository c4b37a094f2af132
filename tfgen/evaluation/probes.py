"""Linear probes of a trained run's encoder: `tfgen probe` (HALI §7.1; any model that encodes).

`probe_study`: linear SVMs on encoder features (`encoder_features`: for
HALI the z1 mean flattened, the z2 mean and both concatenated; for ALI, or
any model whose `encode` returns one code, that code), fitted on the first
`max_train` training images and scored on the first `max_test` test images,
for every label array of the dataset (`probe_targets`: the built-ins'
"label" and "colors", CelebA's 40 attributes). Accuracy and balanced
accuracy per feature set and target, and Table 2's summary (mean, std,
# best). The paper fits on CelebA's validation split; here the training
split is used, so every dataset works alike.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from tfgen.data import attribute_names, data_provenance, load_arrays
from tfgen.errors import StudyError
from tfgen.evaluation.linear_probes import probe_table, probe_targets
from tfgen.ops.batching import INFERENCE_BATCH_SIZE, map_batches

__all__ = ["encoder_features", "probe_study"]


def encoder_features(model, images: np.ndarray, batch_size: int = INFERENCE_BATCH_SIZE) -> Dict[str, np.ndarray]:
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
    def codes(batch):
        out = model.encode(batch)
        return dict(out) if isinstance(out, dict) else {"code": out}

    features = {name: value.reshape(len(value), -1)
                for name, value in map_batches(codes, images, batch_size=batch_size).items()}
    if len(features) > 1:
        features["_".join(features)] = np.concatenate(list(features.values()), axis=1)
    return features


def probe_study(run, max_train: int = 5000, max_test: int = 2000, C: float = 1.0) -> Dict[str, Any]:
    """§7.1: linear SVMs on a trained run's encoder features, balanced accuracy per target.

    Args:
      run: a loaded run (`LoadedRun`) of a model that encodes (hali, aaae).
      max_train: fit on the first this many training images, >= 2.
      max_test: score on the first this many test images, >= 1.
      C: the SVMs' inverse regularisation strength.

    Returns:
      {"workdir", "model", "dataset", "data" (provenance), "step", "levels", "num_train",
      "num_test", "targets": per target and feature set accuracy and
      balanced accuracy, "summary": per feature set mean/std balanced
      accuracy and # best} (see `linear_probes.probe_table`).

    Raises:
      StudyError: the model does not encode, the dataset has no labels, or
        a bad size.
    """
    if max_train < 2:
        raise StudyError(f"--max-train must be at least 2, got {max_train}")
    if max_test < 1:
        raise StudyError(f"--max-test must be at least 1, got {max_test}")
    workdir, config, model, step = run
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
