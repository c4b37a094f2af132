"""The generic model test, over every built-in method the registry knows.

For each registered built-in model, with its tiny config (`tiny_overrides`):
`check_generative_model` (config round trip, output shapes and ranges, a
short fit with finite losses that changes every sub-network), and its
registered evaluation extras on a small labelled batch (JSON-able, finite).
A method added to the registry without a case here fails
`test_every_built_in_model_has_a_case`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model_testing import check_generative_model
from tfgen import config as config_lib
from tfgen.models.registry import BUILTIN_MODEL_MODULES, evaluation_extras

# Image shape and extra overrides per method (the tiny config's widths are the registry's).
CASES = {
    "dcgan": ((16, 16, 3), {}),
    "lrgan": ((16, 16, 1), {}),
    "conditional_lrgan": ((16, 16, 1), {}),
    "aaae": ((16, 16, 1), {}),
    "hali": ((16, 16, 1), {}),
    "wframe": ((16, 16, 1), {}),
    "andor": ((32, 32, 1), {"latent_bank_size": 32}),
}


def test_every_built_in_model_has_a_case():
    assert sorted(CASES) == sorted(BUILTIN_MODEL_MODULES)


def _finite_numbers(value):
    if isinstance(value, dict):
        return all(_finite_numbers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite_numbers(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


@pytest.mark.parametrize("name", sorted(CASES))
def test_generic_model_and_its_evaluation_extras(name):
    shape, overrides = CASES[name]
    batch = 4 if name == "wframe" else 8
    model, history = check_generative_model(name, {**config_lib.tiny_overrides(name), **overrides},
                                            image_shape=shape, batch_size=batch, steps=2)
    assert set(history) == {m.name for m in model.metrics}
    rng = np.random.default_rng(0)
    n = 12
    arrays = {"image": rng.uniform(-1, 1, (n, *shape)).astype(np.float32),
              "label": rng.integers(0, 10, n).astype(np.int32),
              "masks": (rng.uniform(size=(n, *shape[:2], 1)) > 0.5).astype(np.float32),
              "train_image": rng.uniform(-1, 1, (n, *shape)).astype(np.float32)}
    extras = evaluation_extras(name)
    if name == "dcgan":  # the baseline has no scores of its own
        assert extras is None
        return
    assert extras is not None, f"{name} registers no evaluation extras"
    scores = extras(model, arrays, None)
    assert scores, f"{name}'s evaluation extras returned nothing"
    json.dumps(scores)
    assert _finite_numbers(scores), scores
