"""`tfgen evaluate`: scores a trained work directory and returns a JSON-able report."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

from tfgen.data import data_provenance, load_arrays
from tfgen.evaluation.evaluate import get_extractor, score_samples
from tfgen.metrics import frechet_distance_from_features, reconstruction_baselines, reconstruction_mse
from tfgen.models.base import EVAL_SAMPLE_SEED, sample_images  # noqa: F401 (EVAL_SAMPLE_SEED re-exported)
from tfgen.models.registry import evaluation_extras
from tfgen.ops.batching import map_batches
from tfgen.training.workdir import load_workdir, loaded_from


def evaluate_workdir(workdir: str, num_samples: Optional[int] = None, extractor: Optional[str] = None,
                     log: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """FID and Inception score of a run's samples against its test split.

    Also reports the same FID between the training and test splits (the
    floor a perfect model would reach with this many samples), and, for
    models that reconstruct, the per-pixel reconstruction MSE on the test split
    (also in [0, 1] units) beside `metrics.reconstruction_baselines` (mean
    image, random image, random image of the class, nearest training image),
    and the method's own scores, registered with
    `registry.register_evaluation_extras` and handed the model, the test
    arrays and the extractor (LR-GAN: pose statistics; its conditional
    variant: mask IoU against the true masks).

    Args:
      workdir: a trained work directory.
      num_samples: overrides eval.num_samples.
      extractor: overrides eval.extractor ("domain" or "inception").
      log: receives one line per phase (the CLI prints them on stderr).

    Returns:
      The scores, with `step` (the training step of the weights scored),
      `weights` (the checkpoint read) and `data` (`data_provenance`: the
      dataset, digit source and distinct source images).
    """
    config, model = load_workdir(workdir)
    loaded = loaded_from(model)
    for problem in loaded.get("skipped", []):
        log(f"tfgen: skipped {problem}")
    log(f"tfgen: evaluating the weights of step {loaded.get('step')} ({loaded.get('path')})")
    eval_config = config.eval
    if num_samples is not None:
        eval_config = dataclasses.replace(eval_config, num_samples=num_samples)
    if extractor is not None:
        eval_config = dataclasses.replace(eval_config, extractor=extractor)
    n = eval_config.num_samples
    log(f"tfgen: preparing the {eval_config.extractor} feature extractor (a domain classifier not cached yet "
        f"is trained first, with a progress bar)" if eval_config.extractor == "domain" else
        "tfgen: loading InceptionV3")
    feature_net = get_extractor(eval_config, config.data)
    log(f"tfgen: loading {n} test images of {config.data.name}")
    test_arrays = load_arrays(config.data, config.data.test_split, max_examples=n)
    real = test_arrays["image"]
    log(f"tfgen: generating {n} samples")
    generated = sample_images(model, n)
    log("tfgen: scoring (FID, IS)")
    report = score_samples(generated, real, feature_net)
    accuracy = getattr(feature_net, "accuracy", None)
    if accuracy is not None:  # a domain score is only as good as its classifier
        report["extractor_test_accuracy"] = float(accuracy)
    train_arrays = load_arrays(config.data, config.data.train_split, max_examples=len(real))
    train_real = train_arrays["image"]
    report["fid_train_vs_test"] = float(frechet_distance_from_features(
        feature_net.features(train_real), feature_net.features(real)))
    if model.reconstructs:
        recon = map_batches(model.reconstruct, real)
        report["reconstruction_mse"] = float(reconstruction_mse(real, recon))
        report["reconstruction_mse_01"] = report["reconstruction_mse"] / 4.0  # pixels in [0, 1]
        # What the MSE would be without looking at the image (same [-1, 1] scale).
        report["reconstruction_baselines"] = reconstruction_baselines(
            real, train_real, test_arrays.get("label"), train_arrays.get("label"))
    log("tfgen: the method's own measurements")
    extras = evaluation_extras(config.model.name)
    if extras is not None:
        report.update(extras(model, {**test_arrays, "train_image": train_real}, feature_net))
    report.update(model=config.model.name, dataset=config.data.name, step=loaded.get("step"),
                  weights=loaded.get("path"), workdir=workdir, data=data_provenance(config.data))
    return report
