"""Checkpoints written before the one-folder-per-method layout still load, with the same outputs.

`tests/fixtures/pre_layout/<model>/` was written by tfgen as it was before
the methods moved into `tfgen/models/<method>/` (commit 1efd72b): each
registered model with its tiny config at 32x32x1, its `get_config()`
(model.json), its weights (a `tf.train.Checkpoint` of the model, as
`final/` holds them) and its samples of `latent_batch(4, seed=7)` drawn
after the weights (and noise state) were written. The model rebuilt from
model.json by today's registry must take every weight and give the same
samples.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from tfgen.models import get_model_class
from tfgen.models.registry import BUILTIN_MODEL_MODULES
from repo_paths import TESTS

FIXTURES = pathlib.Path(TESTS) / "fixtures" / "pre_layout"


def test_every_built_in_model_has_a_fixture():
    # Other tests register models of their own: the built-in methods are the ones to keep loading.
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(BUILTIN_MODEL_MODULES)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir()))
def test_pre_layout_checkpoint_loads_and_generates_the_same(name):
    folder = FIXTURES / name
    config = json.loads((folder / "model.json").read_text())
    model = get_model_class(name).from_config(config)
    z = model.latent_batch(4, 7)
    model.generate(z)  # builds every variable before the read
    tf.train.Checkpoint(model=model).read(str(folder / "model")).assert_existing_objects_matched()
    np.testing.assert_allclose(model.generate(z).numpy(), np.load(folder / "samples.npy"), atol=1e-6)
