"""LR-GAN's studies of trained runs: `tfgen neighbours`, `tfgen pair`, `tfgen adversarial`.

Each function reads trained work directories, generates samples with the
fixed seed `tfgen evaluate` uses (`report.EVAL_SAMPLE_SEED`, so every study
of a run sees the same samples) and hands the numbers to the metrics of
`tfgen.models.lrgan.metrics`:

* `neighbours_study`: every shown sample next to its nearest training image
  in pixel space (LR-GAN Fig. 9, last column), with `memorisation_report`.
* `pair_study`: one-to-one Hungarian pairing of two runs' samples for a
  side-by-side comparison (§5.3 Fig. 7, §5.4), pairs ordered by distance.
* `adversarial_study`: Adversarial Accuracy and Divergence (§4.2, Table 1)
  from one generator per class.

Problems a user causes (runs that do not fit together, a run trained on
more than one class) raise `StudyError`, which the CLI reports as one line.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfgen.data import data_provenance, dataset_info, load_arrays
from tfgen.data.pipeline import resolved_digit_source
from tfgen.errors import StudyError
from tfgen.models.base import sample_images
from tfgen.models.lrgan.metrics import (
    adversarial_metrics,
    hungarian_pairs,
    memorisation_report,
    nearest_neighbours,
)
from tfgen.viz.grid import labelled_blocks

__all__ = [
    "DEFAULT_MAX_REFERENCE",
    "StudyError",
    "adversarial_study",
    "check_pairable",
    "neighbours_study",
    "pair_study",
]

# Training images `neighbours_study` searches by default: all of a built-in
# dataset's (LR-GAN's MNIST-ONE config renders 20000), and a bound on time
# and memory for large real datasets (20000 CelebA images at 64x64 are
# already 2 GB as float64).
DEFAULT_MAX_REFERENCE = 20000


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape)


def _grid_rows(num: int) -> int:
    """Rows of a near-square block of `num` tiles."""
    return max(1, int(math.ceil(math.sqrt(num))))


# ---------------------------------------------------------------------------
# Nearest training images
# ---------------------------------------------------------------------------

def neighbours_study(run, num: int = 16,
                     max_reference: Optional[int] = DEFAULT_MAX_REFERENCE
                     ) -> Tuple[Dict[str, Any], np.ndarray]:
    """Samples next to their nearest training images, and a memorisation check.

    Generates max(num, eval.num_samples) samples with the evaluation seed.
    The first `num` are shown, each beside its nearest training image by
    Euclidean distance in pixel space (`nearest_neighbours`). The
    memorisation check (`memorisation_report`) compares the mean
    nearest-training-image distance of the samples with that of the test
    split: the first eval.num_samples test images and as many samples (fewer
    when the test split is smaller, e.g. one class of a built-in dataset),
    both searched among the first `max_reference` training images. With
    ``data.classes`` every split is the run's own classes.

    Args:
      run: a loaded run (`LoadedRun`).
      num: samples shown, >= 1.
      max_reference: training images searched (the first this many of the
        training split); None: all of them.

    Returns:
      (report, figure). report: {"workdir", "model", "dataset", "data" (provenance), "step",
      "num", "memorisation": memorisation_report's dict,
      "nearest_training_index": [num] ints, positions in the (class-filtered)
      training split, "nearest_distance": [num] floats >= 0}; entry i
      belongs to sample i. figure: float32 [H, W, 3] in [0, 1], blocks
      "samples" and "nearest training image" side by side, the i-th pair at
      the same tile of both (row i % rows, column i // rows).
    """
    if num < 1:
        raise StudyError(f"num must be at least 1, got {num}")
    if max_reference is not None and max_reference < 1:
        raise StudyError(f"max_reference must be at least 1, got {max_reference}")
    workdir, config, model, step = run
    data = config.data
    test = load_arrays(data, data.test_split, max_examples=config.eval.num_samples)["image"]
    train = load_arrays(data, data.train_split, max_examples=max_reference)["image"]
    if len(test) == 0 or len(train) == 0:
        raise StudyError(f"{workdir}: dataset '{data.name}' has an empty "
                         f"{'test' if len(test) == 0 else 'training'} split")
    samples = sample_images(model, max(num, len(test)))
    memorisation = memorisation_report(samples[:len(test)], train, test)
    shown = samples[:num]
    index, distance = nearest_neighbours(shown, train, k=1)
    index, distance = index[:, 0], distance[:, 0]
    figure = labelled_blocks([("samples", shown), ("nearest training image", train[index])],
                             rows=_grid_rows(num))
    report = {
        "workdir": workdir,
        "model": config.model.name,
        "dataset": data.name,
        "data": data_provenance(data),
        "step": step,
        "num": int(num),
        "memorisation": memorisation,
        "nearest_training_index": [int(i) for i in index],
        "nearest_distance": [float(d) for d in distance],
    }
    return report, figure


# ---------------------------------------------------------------------------
# Hungarian pairs of two runs
# ---------------------------------------------------------------------------

def _captions(workdir_a: str, name_a: str, workdir_b: str, name_b: str) -> Tuple[str, str]:
    """Model names, else the work directories' basenames, else A:/B: prefixed."""
    if name_a != name_b:
        return name_a, name_b
    base_a = os.path.basename(os.path.normpath(workdir_a))
    base_b = os.path.basename(os.path.normpath(workdir_b))
    if base_a != base_b:
        return base_a, base_b
    return f"A: {base_a}", f"B: {base_b}"


def check_pairable(run_a, run_b) -> None:
    """Refuses two runs `pair_study` cannot compare (before an extractor is prepared for them).

    Raises:
      StudyError: the runs make images of different shapes.
    """
    shape_a, shape_b = tuple(run_a.model.image_shape), tuple(run_b.model.image_shape)
    if shape_a != shape_b:
        raise StudyError(
            f"{run_a.workdir} makes {_shape_text(shape_a)} images but {run_b.workdir} makes "
            f"{_shape_text(shape_b)}; pair compares runs of the same image shape")


def pair_study(run_a, run_b, extractor, num: int = 64) -> Tuple[Dict[str, Any], np.ndarray]:
    """Two runs' samples paired one-to-one for a side-by-side comparison (LR-GAN §5.3, §5.4).

    Generates `num` samples from each run with the evaluation seed, embeds
    both sets with `extractor` (the CLI hands run A's evaluation extractor,
    `get_extractor(config.eval, config.data)`: the domain classifier `tfgen
    evaluate` trains and caches for A's dataset), and pairs them with
    `hungarian_pairs` (least total Euclidean feature distance). The paper
    pairs in pixel space; features pair samples that look alike to the
    classifier rather than pixel by pixel.

    Args:
      run_a, run_b: loaded runs (`LoadedRun`) with the same image shape.
      extractor: a `FeatureExtractor` for images of that shape.
      num: samples per run, >= 1.

    Returns:
      (report, figure). report: {"workdirs", "models", "captions", "steps",
      "num", "extractor", "mean_cost", "index_a", "index_b", "distance"};
      the last three are per pair, ordered by increasing distance (index_x
      is the sample's position among the run's `num` samples). figure:
      float32 [H, W, 3] in [0, 1], two captioned blocks where the k-th pair
      sits at the same tile of both (row k % rows, column k // rows), so
      distances grow down each column.

    Raises:
      StudyError: the runs make images of different shapes.
    """
    if num < 1:
        raise StudyError(f"num must be at least 1, got {num}")
    check_pairable(run_a, run_b)
    workdir_a, config_a, model_a, step_a = run_a
    workdir_b, config_b, model_b, step_b = run_b
    feature_net = extractor
    images_a = sample_images(model_a, num)
    images_b = sample_images(model_b, num)
    features_a = feature_net.features(images_a)
    features_b = feature_net.features(images_b)
    index_a, index_b, mean_cost = hungarian_pairs(features_a, features_b)
    distance = np.linalg.norm(np.asarray(features_a, np.float64)[index_a]
                              - np.asarray(features_b, np.float64)[index_b], axis=1)
    order = np.argsort(distance, kind="stable")
    index_a, index_b, distance = index_a[order], index_b[order], distance[order]
    caption_a, caption_b = _captions(workdir_a, config_a.model.name, workdir_b, config_b.model.name)
    figure = labelled_blocks([(caption_a, images_a[index_a]), (caption_b, images_b[index_b])],
                             rows=_grid_rows(num))
    report = {
        "workdirs": [workdir_a, workdir_b],
        "models": [config_a.model.name, config_b.model.name],
        "captions": [caption_a, caption_b],
        "steps": [step_a, step_b],
        "num": int(num),
        "extractor": feature_net.name,
        "mean_cost": float(mean_cost),
        "index_a": [int(i) for i in index_a],
        "index_b": [int(i) for i in index_b],
        "distance": [float(d) for d in distance],
    }
    return report, figure


# ---------------------------------------------------------------------------
# Adversarial Accuracy and Divergence
# ---------------------------------------------------------------------------

def adversarial_study(loaded_runs: Sequence, num_per_class: int = 1000, validation: str = "train",
                      max_validation: Optional[int] = None) -> Dict[str, Any]:
    """Adversarial Accuracy and Divergence of per-class generators (LR-GAN §4.2, §5.4).

    The paper trains one generator per class (here: one run per class, each
    with ``data.classes: [c]``), labels each generator's samples with its
    class and trains a classifier on them, and another on the real labelled
    training images; `adversarial_metrics` scores both on real validation
    images. Here:

    * generated: `num_per_class` samples of every run (evaluation seed),
      labelled with the run's class;
    * real: the training split of the first run's data config, restricted
      to the classes the runs cover;
    * validation: that same real training split (the paper's choice,
      `validation="train"`) or the test split (`"test"`), restricted alike,
      its first `max_validation` images;
    * both classifiers train for the first run's eval.classifier_steps with
      seed 0, over the dataset's whole label range (num_classes).

    Args:
      loaded_runs: two or more loaded runs (`LoadedRun`) of the same dataset and
        image shape, each trained on exactly one class, all classes distinct.
      num_per_class: samples per run, >= 1.
      validation: "train" or "test".
      max_validation: validation images used; None: the whole split.

    Returns:
      adversarial_metrics' dict ("accuracy_real_classifier",
      "accuracy_generated_classifier", "adversarial_divergence", "num_real",
      "num_generated", "num_validation") plus "classes" (per run, in order),
      "workdirs", "models", "dataset", "data" (its provenance), "num_classes", "validation",
      "classifier_steps" and "num_per_class".

    Raises:
      StudyError: fewer than two runs, a run without exactly one class,
        runs of different datasets or image shapes, repeated classes, or an
        unlabelled dataset.
    """
    if validation not in ("train", "test"):
        raise StudyError(f"validation must be 'train' or 'test', got {validation!r}")
    if num_per_class < 1:
        raise StudyError(f"num_per_class must be at least 1, got {num_per_class}")
    if max_validation is not None and max_validation < 1:
        raise StudyError(f"max_validation must be at least 1, got {max_validation}")
    if len(loaded_runs) < 2:
        raise StudyError("adversarial needs at least two work directories, one generator per class")

    runs: List[Tuple[str, Any, Any, int]] = []
    for workdir, config, model, _ in loaded_runs:
        classes = list(config.data.classes or [])
        if len(classes) != 1:
            found = f"data.classes={classes}" if classes else "no data.classes (every class)"
            raise StudyError(
                f"{workdir}: trained on {found}; adversarial needs one generator per class, each "
                f"trained with exactly one class, e.g. `tfgen train CONFIG --set \"data.classes=[3]\"`")
        runs.append((workdir, config, model, int(classes[0])))

    first_workdir, first, first_model, _ = runs[0]
    for workdir, config, model, _ in runs[1:]:
        if config.data.name != first.data.name or tuple(model.image_shape) != tuple(first_model.image_shape):
            raise StudyError(
                f"{workdir} models '{config.data.name}' at {_shape_text(model.image_shape)} but "
                f"{first_workdir} models '{first.data.name}' at {_shape_text(first_model.image_shape)}; "
                "adversarial needs generators of one dataset and image shape")
        # load_workdir pinned each run's "auto" to the digits it trained on.
        ours, theirs = resolved_digit_source(config.data), resolved_digit_source(first.data)
        if ours != theirs:
            raise StudyError(f"{workdir} trained on digits from {ours} but {first_workdir} on {theirs}; "
                             "adversarial needs generators of the same digits")
    classes = [c for _, _, _, c in runs]
    seen: Dict[int, str] = {}
    for workdir, _, _, c in runs:
        if c in seen:
            raise StudyError(f"{seen[c]} and {workdir} are both trained on class {c}; "
                             "give one generator per class")
        seen[c] = workdir

    real_data = dataclasses.replace(first.data, classes=sorted(classes))
    num_classes = dataset_info(real_data).num_classes
    real = load_arrays(real_data, real_data.train_split)
    if not num_classes or "label" not in real:
        raise StudyError(f"dataset '{real_data.name}' has no labels; adversarial needs labelled data")
    if validation == "train":
        val = {k: v[:max_validation] for k, v in real.items()} if max_validation else real
    else:
        val = load_arrays(real_data, real_data.test_split, max_examples=max_validation)
        if "label" not in val or len(val["label"]) == 0:
            raise StudyError(f"split '{real_data.test_split}' of '{real_data.name}' has no labelled "
                             "images of these classes; use --validation train")

    generated = np.concatenate([sample_images(model, num_per_class) for _, _, model, _ in runs])
    generated_labels = np.repeat(np.asarray(classes, np.int32), num_per_class)
    steps = first.eval.classifier_steps
    metrics = adversarial_metrics(real["image"], real["label"], generated, generated_labels,
                                  val["image"], val["label"], num_classes=int(num_classes), steps=steps)
    return {
        **metrics,
        "classes": classes,
        "workdirs": [run.workdir for run in loaded_runs],
        "models": [config.model.name for _, config, _, _ in runs],
        "dataset": real_data.name,
        "data": data_provenance(real_data),
        "num_classes": int(num_classes),
        "validation": validation,
        "classifier_steps": int(steps),
        "num_per_class": int(num_per_class),
    }
