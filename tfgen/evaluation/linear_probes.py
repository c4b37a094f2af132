"""Linear probes of learned representations (HALI §7.1).

HALI's unsupervised attribute prediction trains one linear SVM per attribute
on encoder features of labelled images and reports the *balanced* accuracy
on held-out images (the mean of the per-class recalls, so that a rare
attribute, e.g. CelebA's "Bald" at 2%, is not "predicted" by always saying
no). The functions here are plain numpy + scikit-learn and know nothing
about models:

* `linear_probe`: one `LinearSVC` on one feature set for one target (binary
  or multiclass; multiclass is one-vs-rest), with accuracy and balanced
  accuracy on the test features.
* `probe_targets`: which label arrays of `tfgen.data.load_arrays` to probe
  (a built-in dataset's "label" and "colors", CelebA's 40 attributes).
* `probe_table`: every feature set against every target, with a per-feature
  set summary (mean, std and "# best" of the balanced accuracies, Table 2's
  columns).

Choices the paper leaves open: features are standardised with the training
features' mean and standard deviation (an SVM's margin depends on the
scale); classes are weighted inversely to their frequency
(`class_weight="balanced"`), which is what the balanced accuracy rewards;
C = 1.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Sequence

import numpy as np

__all__ = ["linear_probe", "probe_table", "probe_targets"]


def linear_probe(train_features, train_labels, test_features, test_labels, *, C: float = 1.0,
                 standardize: bool = True, balanced: bool = True, max_iter: int = 2000,
                 seed: int = 0) -> Dict[str, Any]:
    """Fits a linear SVM on training features and scores it on test features.

    Args:
      train_features: float [N, D] (any real values; flattened features).
      train_labels: int [N], binary or multiclass (any integer values).
      test_features: float [M, D].
      test_labels: int [M].
      C: the SVM's inverse regularisation strength, > 0.
      standardize: scale every feature to zero mean and unit variance over the
        training features (constant features are left at 0).
      balanced: weight classes inversely to their training frequency.
      max_iter: liblinear iterations.
      seed: liblinear's seed (it shuffles in the dual solver).

    Returns:
      {"accuracy": fraction of test examples classified right, in [0, 1];
       "balanced_accuracy": mean over the test classes of their recall, in
       [0, 1]; "chance_balanced_accuracy": 1 / test classes (what a constant
       or random prediction gets); "num_classes": classes in the training
       labels; "num_train", "num_test", "dim"; "converged": whether liblinear
       converged within max_iter}.

    Raises:
      ValueError: mismatched shapes, fewer than 2 classes in the training
        labels, or an empty test set.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.svm import LinearSVC

    x_train = np.asarray(train_features, np.float64).reshape(len(train_features), -1)
    x_test = np.asarray(test_features, np.float64).reshape(len(test_features), -1)
    y_train = np.asarray(train_labels).reshape(-1)
    y_test = np.asarray(test_labels).reshape(-1)
    if x_train.shape[0] != y_train.shape[0] or x_test.shape[0] != y_test.shape[0]:
        raise ValueError(f"features and labels disagree: {x_train.shape[0]} vs {y_train.shape[0]} (train), "
                         f"{x_test.shape[0]} vs {y_test.shape[0]} (test)")
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train features have {x_train.shape[1]} dimensions, test features {x_test.shape[1]}")
    classes = np.unique(y_train)
    if len(classes) < 2:
        raise ValueError(f"the training labels have {len(classes)} class(es); a classifier needs 2")
    if not len(y_test):
        raise ValueError("no test examples")
    if standardize:
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std == 0] = 1.0  # a constant feature stays 0 instead of becoming NaN
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    svm = LinearSVC(C=C, class_weight="balanced" if balanced else None, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(x_train, y_train)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    predicted = svm.predict(x_test)
    with warnings.catch_warnings():
        # Predicted classes absent from the test labels are fine: they count as errors.
        warnings.simplefilter("ignore", UserWarning)
        balanced_accuracy = balanced_accuracy_score(y_test, predicted)
    return {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "balanced_accuracy": float(balanced_accuracy),
        "chance_balanced_accuracy": 1.0 / len(np.unique(y_test)),
        "num_classes": int(len(classes)),
        "num_train": int(len(y_train)),
        "num_test": int(len(y_test)),
        "dim": int(x_train.shape[1]),
        "converged": bool(converged),
    }


def probe_targets(arrays: Mapping[str, np.ndarray], attribute_names: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """The label arrays worth probing, by name.

    Args:
      arrays: from `tfgen.data.load_arrays`.
      attribute_names: the columns of arrays["attributes"] (CelebA's 40).

    Returns:
      name -> int [N]: "label" (multidigit: the digits as a number; shapes:
      the front shape's class), "colors" (shapes: the first shape's colour),
      and one entry per attribute column (0/1), named after it.
    """
    out: Dict[str, np.ndarray] = {}
    if "label" in arrays:
        out["label"] = np.asarray(arrays["label"]).reshape(len(arrays["label"]), -1)[:, 0]
    if "colors" in arrays:
        out["colors"] = np.asarray(arrays["colors"]).reshape(len(arrays["colors"]), -1)[:, 0]
    if "attributes" in arrays and len(attribute_names):
        attributes = np.asarray(arrays["attributes"])
        for i, name in enumerate(attribute_names):
            out[str(name)] = attributes[:, i]
    return out


def probe_table(train_features: Mapping[str, np.ndarray], train_targets: Mapping[str, np.ndarray],
                test_features: Mapping[str, np.ndarray], test_targets: Mapping[str, np.ndarray],
                **probe_kwargs) -> Dict[str, Any]:
    """`linear_probe` for every (feature set, target) pair.

    Args:
      train_features, test_features: feature-set name -> float [N, ...] / [M, ...].
      train_targets, test_targets: target name -> int [N] / [M] (`probe_targets`).
      probe_kwargs: passed to `linear_probe`.

    Returns:
      {"targets": {target: {"num_classes", "chance_balanced_accuracy",
      "features": {feature set: {"accuracy", "balanced_accuracy", "dim",
      "converged"}}} or {"skipped": reason}}, "summary": {feature set:
      {"mean_balanced_accuracy", "std_balanced_accuracy", "mean_accuracy",
      "num_best" (targets where this set has the highest balanced accuracy,
      ties counted for each)}}}.
    """
    targets: Dict[str, Any] = {}
    scores: Dict[str, Dict[str, Dict[str, float]]] = {}
    for target, y_train in train_targets.items():
        y_test = test_targets[target]
        if len(np.unique(y_train)) < 2:
            targets[target] = {"skipped": "one class in the training labels"}
            continue
        entry: Dict[str, Any] = {"features": {}}
        for name, x_train in train_features.items():
            result = linear_probe(x_train, y_train, test_features[name], y_test, **probe_kwargs)
            entry["num_classes"] = result["num_classes"]
            entry["chance_balanced_accuracy"] = result["chance_balanced_accuracy"]
            entry["features"][name] = {k: result[k] for k in ("accuracy", "balanced_accuracy", "dim", "converged")}
            scores.setdefault(name, {})[target] = result
        targets[target] = entry
    summary: Dict[str, Any] = {}
    probed = [t for t in targets if "features" in targets[t]]
    best: Dict[str, float] = {
        t: max(targets[t]["features"][n]["balanced_accuracy"] for n in targets[t]["features"]) for t in probed}
    for name, per_target in scores.items():
        balanced = np.array([r["balanced_accuracy"] for r in per_target.values()])
        summary[name] = {
            "mean_balanced_accuracy": float(balanced.mean()),
            "std_balanced_accuracy": float(balanced.std()),
            "mean_accuracy": float(np.mean([r["accuracy"] for r in per_target.values()])),
            "num_best": int(sum(per_target[t]["balanced_accuracy"] >= best[t] for t in per_target)),
        }
    return {"targets": targets, "summary": summary}
