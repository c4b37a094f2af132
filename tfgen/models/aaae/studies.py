"""Studies of a trained autoencoder's code space: `tfgen interpolate`, `tfgen manipulate`.

Both are handed a loaded run (`LoadedRun`: workdir, config, model, step;
the CLI loads it with `tfgen.training.workdir.load_run`) of a model that
encodes images (`encode`, `interpolate`, `manipulate`, as AAAE has):

* `interpolation_study`: pairs of test images, decoded along the straight
  line between their codes (AAAE Fig. 7, Fig. 14): each row is the first
  image, `steps` decodes, the second image.
* `manipulation_study`: the code direction of an attribute, the mean code
  of test images with the attribute minus that of images without (Fig. 8),
  added at growing scales to images that lack it.

Attributes are named as `KEY=VALUE` on the arrays of `tfgen.data.load_arrays`
(`label=3`: digit 3 in `multidigit`, shape class in `shapes`;
`colors=2`: the first shape's colour; 2-D arrays are read in their first
column) or, for datasets with binary attributes (CelebA), by name
(`Eyeglasses`, `Male`, ...; `Male=0` selects their absence).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np

from tfgen.data import attribute_names, load_arrays
from tfgen.errors import StudyError
from tfgen.models.aaae.model import attribute_direction
from tfgen.ops.batching import map_batches
from tfgen.viz import image_grid

__all__ = ["interpolation_study", "manipulation_study", "select_attribute"]


def _check_encodes(model, config) -> None:
    if not hasattr(model, "encode") or not hasattr(model, "manipulate"):
        raise StudyError(f"model '{config.model.name}' does not encode images; interpolation and attribute "
                         "manipulation need an autoencoder (e.g. aaae)")


def _test_arrays(config, max_examples: int) -> Dict[str, np.ndarray]:
    return load_arrays(config.data, config.data.test_split, max_examples=max_examples)


def select_attribute(spec: str, arrays: Dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """Which examples have the attribute `spec`: bool [N].

    Args:
      spec: "KEY=VALUE" (an integer array of `arrays`, first column of 2-D
        ones) or an attribute name of `names`, optionally "NAME=0|1".
      arrays: from `load_arrays`.
      names: the columns of arrays["attributes"] (may be empty).

    Raises:
      StudyError: unknown key or name, or a value that is not an integer.
    """
    key, _, value = spec.partition("=")
    key = key.strip()
    if key in names:
        column = arrays["attributes"][:, list(names).index(key)]
        target = 1 if not value else _integer(value, spec)
        return column == target
    candidates = sorted(k for k, v in arrays.items()
                        if k not in ("image", "index", "attributes") and v.dtype.kind in "iu" and v.ndim in (1, 2))
    if key not in candidates or not value:
        known = ", ".join(f"{k}=N" for k in candidates)
        if names:
            known += "; or one of the attributes " + ", ".join(names)
        raise StudyError(f"--attribute {spec}: name it as KEY=VALUE on the dataset's arrays ({known or 'none'})")
    column = arrays[key] if arrays[key].ndim == 1 else arrays[key][:, 0]
    return column == _integer(value, spec)


def _integer(value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise StudyError(f"--attribute {spec}: the value must be an integer") from None


def _encode_all(model, images: np.ndarray) -> np.ndarray:
    return map_batches(model.encode, images)


def interpolation_study(run, num: int = 8, steps: int = 8, seed: int = 0,
                        ) -> Tuple[Dict[str, Any], np.ndarray]:
    """Decodes straight lines between the codes of `num` pairs of test images.

    Returns:
      (report, figure): the report has the pairs' test indices and the mean
      squared difference between consecutive frames of a row (small and
      even along a row for a smooth code space); the figure is a grid
      [rows = pairs, columns = image a, steps decodes, image b] in [0, 1].
    """
    workdir, config, model, step = run
    _check_encodes(model, config)
    if steps < 2:
        raise StudyError("--steps must be at least 2")
    arrays = _test_arrays(config, max_examples=max(2 * num, 2))
    images = arrays["image"]
    if len(images) < 2:
        raise StudyError("the test split has fewer than two images")
    order = np.random.default_rng(seed).permutation(len(images))
    num = min(num, len(images) // 2)
    a, b = images[order[:num]], images[order[num:2 * num]]
    path = model.interpolate(a, b, steps).numpy()  # [num, steps, H, W, C]
    rows = np.concatenate([a[:, None], path, b[:, None]], axis=1)
    frame_gaps = np.mean(np.square(np.diff(path, axis=1)), axis=(2, 3, 4))  # [num, steps - 1]
    report = {
        "workdir": workdir, "step": step, "pairs": [[int(i), int(j)] for i, j in zip(order[:num], order[num:2 * num])],
        "steps": steps,
        "mean_frame_gap": float(frame_gaps.mean()),
        "max_frame_gap": float(frame_gaps.max()),
        "endpoint_mse": float(np.mean(np.square(path[:, 0] - a)) / 2 + np.mean(np.square(path[:, -1] - b)) / 2),
    }
    return report, image_grid(rows.reshape(-1, *rows.shape[2:]), ncols=steps + 2)


def manipulation_study(run, attribute: str, num: int = 8,
                       scales: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0), max_examples: int = 5000,
                       ) -> Tuple[Dict[str, Any], np.ndarray]:
    """Adds an attribute's code direction to test images that lack it.

    Returns:
      (report, figure): the report counts the images with and without the
      attribute, the direction's norm against the codes' typical spread,
      and, per scale, how far the decodes moved from the reconstructions
      (mean squared pixel change); the figure has one row per image: the
      input, then the decodes at each scale (scale 0 is the reconstruction).
    """
    workdir, config, model, step = run
    _check_encodes(model, config)
    arrays = _test_arrays(config, max_examples)
    has = select_attribute(attribute, arrays, attribute_names(config.data))
    if has.all() or not has.any():
        raise StudyError(f"--attribute {attribute}: {int(has.sum())} of {len(has)} test images have it; "
                         "the direction needs images with and without it")
    codes = _encode_all(model, arrays["image"])
    direction = attribute_direction(codes, has)
    without = arrays["image"][~has][:num]
    moved = model.manipulate(without, direction, list(scales)).numpy()  # [n, S, H, W, C]
    change = np.mean(np.square(moved - moved[:, :1]), axis=(0, 2, 3, 4))
    report = {
        "workdir": workdir, "step": step, "attribute": attribute,
        "with_attribute": int(has.sum()), "without_attribute": int((~has).sum()),
        "direction_norm": float(np.linalg.norm(direction)),
        "code_spread": float(np.sqrt(np.mean(np.sum(np.square(codes - codes.mean(axis=0)), axis=1)))),
        "scales": [float(s) for s in scales],
        "mean_squared_change": [float(c) for c in change],
    }
    rows = np.concatenate([without[:, None], moved], axis=1)
    return report, image_grid(rows.reshape(-1, *rows.shape[2:]), ncols=len(scales) + 1)
