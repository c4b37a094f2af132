"""The README's Python example runs as printed, and trains, generates and exports."""

import os
import re

import numpy as np
import tensorflow as tf
from repo_paths import REPO

README = os.path.join(REPO, "README.md")


def readme_block(marker: str) -> str:
    text = open(README, encoding="utf-8").read()
    match = re.search(rf"<!-- {marker}[^>]*-->\s*```python\n(.*?)```\s*<!-- /{marker} -->", text, re.S)
    assert match, f"README has no ```python block between <!-- {marker} --> markers"
    return match.group(1)


def test_python_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(readme_block("python-api"), "README.md (python-api)", "exec"), namespace)
    history, samples, model = namespace["history"], namespace["samples"], namespace["model"]
    assert all(np.isfinite(v).all() for v in history.history.values()) and len(history.history["d_loss"]) == 2
    assert samples.shape == (16, 32, 32, 1) and float(tf.reduce_max(tf.abs(samples))) <= 1.0
    served = tf.saved_model.load(str(tmp_path / "my_dcgan"))
    out = served.signatures["generate"](z=tf.zeros([2, model.latent_dim]))["images"]
    assert out.shape == (2, 32, 32, 1)
