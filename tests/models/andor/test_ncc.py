"""Fast NCC template matching: against a brute-force NumPy NCC, exact-match
and invariance properties, flat inputs, chunking, support cropping and the
basis-function matching score."""

import numpy as np
import pytest

from tfgen.models.andor.ncc import (
    best_match_scores,
    crop_to_support,
    matching_score,
    null_templates,
    score_against_null,
    normalized_cross_correlation,
)


def brute_force_ncc(images, template, eps=1e-6):
    """Direct per-window Pearson correlation in float64; 0 where flat."""
    images = np.asarray(images, np.float64)
    t = np.asarray(template, np.float64)
    n, height, width, _ = images.shape
    h, w, _ = t.shape
    t0 = t - t.mean()
    out = np.zeros((n, height - h + 1, width - w + 1))
    for k in range(n):
        for y in range(height - h + 1):
            for x in range(width - w + 1):
                win = images[k, y:y + h, x:x + w]
                w0 = win - win.mean()
                if (w0 ** 2).mean() < eps or (t0 ** 2).mean() < eps:
                    continue
                out[k, y, x] = (w0 * t0).sum() / np.sqrt((w0 ** 2).sum() * (t0 ** 2).sum())
    return out


@pytest.mark.parametrize("shape,tshape", [
    ((2, 9, 11, 1), (3, 4)),
    ((3, 8, 8, 3), (5, 5)),
    ((1, 7, 6, 3), (7, 6)),   # template as large as the image: one position
    ((2, 10, 5, 1), (1, 5)),
    ((2, 6, 9, 3), (1, 1)),   # 1x1xC template still has a channel variance
])
def test_matches_brute_force(shape, tshape):
    rng = np.random.default_rng(sum(shape) + sum(tshape))
    images = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    template = rng.normal(size=tshape + (shape[3],)).astype(np.float32)
    got = normalized_cross_correlation(images, template).numpy()
    want = brute_force_ncc(images, template)
    assert got.shape == (shape[0], shape[1] - tshape[0] + 1, shape[2] - tshape[1] + 1)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_brute_force_reference_is_not_trivial():
    # Guard the reference itself: a non-degenerate case must give non-zero values.
    rng = np.random.default_rng(0)
    ref = brute_force_ncc(rng.uniform(size=(1, 6, 6, 1)), rng.normal(size=(3, 3, 1)))
    assert np.abs(ref).max() > 0.3


@pytest.mark.parametrize("channels", [1, 3])
def test_cut_template_scores_one_at_its_position(channels):
    rng = np.random.default_rng(1)
    images = rng.uniform(0.0, 1.0, (3, 20, 24, channels)).astype(np.float32)
    k, y, x, h, w = 1, 7, 13, 6, 5
    template = images[k, y:y + h, x:x + w]
    ncc = normalized_cross_correlation(images, template).numpy()
    assert ncc[k, y, x] == pytest.approx(1.0, abs=1e-4)
    assert np.unravel_index(np.argmax(ncc), ncc.shape) == (k, y, x)
    assert np.all(ncc <= 1.0) and np.all(ncc >= -1.0)


def test_affine_intensity_invariance_and_template_sign_flip():
    rng = np.random.default_rng(2)
    images = rng.uniform(0.0, 1.0, (2, 12, 12, 3)).astype(np.float32)
    template = rng.normal(size=(4, 5, 3)).astype(np.float32)
    base = normalized_cross_correlation(images, template).numpy()
    scaled = normalized_cross_correlation(2.5 * images - 0.7, template).numpy()
    np.testing.assert_allclose(scaled, base, atol=1e-4)
    # The template too may be rescaled and shifted.
    np.testing.assert_allclose(
        normalized_cross_correlation(images, 0.3 * template + 4.0).numpy(), base, atol=1e-4)
    flipped = normalized_cross_correlation(images, -template).numpy()
    np.testing.assert_allclose(flipped, -base, atol=1e-4)
    assert np.abs(base).max() > 0.1  # the comparisons above are not all 0 == 0


def test_flat_windows_and_flat_template_give_zero():
    rng = np.random.default_rng(3)
    images = rng.uniform(0.0, 1.0, (1, 10, 10, 1)).astype(np.float32)
    images[0, :5, :5] = 0.4  # a flat corner: windows inside it have no variance
    template = rng.normal(size=(3, 3, 1)).astype(np.float32)
    ncc = normalized_cross_correlation(images, template).numpy()
    assert np.all(np.isfinite(ncc))
    np.testing.assert_array_equal(ncc[0, :3, :3], 0.0)
    assert np.abs(ncc[0, 5:, 5:]).max() > 0.1  # textured windows are still scored

    flat_t = np.full((3, 3, 1), 0.8, np.float32)
    ncc_flat = normalized_cross_correlation(images, flat_t).numpy()
    assert np.all(np.isfinite(ncc_flat))
    np.testing.assert_array_equal(ncc_flat, 0.0)

    # All-flat image and all-flat template together: still 0, no NaN.
    both = normalized_cross_correlation(np.ones((2, 5, 5, 3), np.float32), flat_t.repeat(3, axis=2))
    np.testing.assert_array_equal(both.numpy(), 0.0)


def test_rejects_bad_shapes():
    images = np.zeros((1, 5, 5, 3), np.float32)
    with pytest.raises(ValueError):
        normalized_cross_correlation(images, np.zeros((6, 2, 3), np.float32))
    with pytest.raises(ValueError):
        normalized_cross_correlation(images, np.zeros((2, 2, 1), np.float32))


def test_best_match_scores_chunked_equals_unchunked():
    rng = np.random.default_rng(4)
    images = rng.uniform(0.0, 1.0, (11, 14, 14, 3)).astype(np.float32)
    templates = [
        images[6, 2:7, 3:9],                                   # exact patch: best = 1
        rng.normal(size=(3, 3, 3)).astype(np.float32),
        rng.normal(size=(8, 4, 3)).astype(np.float32),
        np.full((4, 4, 3), 0.5, np.float32),                   # flat: 0
    ]
    whole = best_match_scores(images, templates, batch_size=len(images))
    chunked = best_match_scores(images, templates, batch_size=3)  # uneven last chunk
    assert whole.shape == (4,)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
    assert whole[0] == pytest.approx(1.0, abs=1e-4)
    assert whole[3] == 0.0
    for i in (1, 2):
        want = brute_force_ncc(images, templates[i]).max()
        assert whole[i] == pytest.approx(want, abs=1e-4)


def test_crop_to_support_bounding_box():
    b = np.zeros((10, 12, 2), np.float32)
    b[2, 3, 0] = -1.0      # negative peak counts by magnitude
    b[6, 8, 1] = 0.5
    b[4, 10, 0] = 0.005    # below 1% of the peak: outside the support
    b[0, 0, 1] = 0.02      # between 1% and 3% of the peak: in the support only at 1%
    crop = crop_to_support(b, rel_threshold=0.03)
    assert crop.shape == (5, 6, 2)  # rows 2..6, cols 3..8
    np.testing.assert_array_equal(crop, b[2:7, 3:9])
    assert crop_to_support(b, rel_threshold=0.01).shape == (7, 9, 2)  # rows 0..6, cols 0..8
    # 2-D input is treated as one channel.
    assert crop_to_support(b[:, :, 0], rel_threshold=0.03).shape == (3, 3, 1)


def test_crop_to_support_min_size_growth():
    b = np.zeros((8, 8, 1), np.float32)
    b[4, 4] = 1.0
    crop = crop_to_support(b, min_size=3)
    np.testing.assert_array_equal(crop, b[3:6, 3:6])  # grown symmetrically
    b = np.zeros((8, 8, 1), np.float32)
    b[0, 7] = 2.0  # top-right corner: growth must stay in the image
    crop = crop_to_support(b, min_size=3)
    assert crop.shape == (3, 3, 1)
    np.testing.assert_array_equal(crop, b[0:3, 5:8])
    assert crop[0, 2, 0] == 2.0
    # min_size larger than the image is capped at the image size.
    assert crop_to_support(np.ones((2, 4, 1), np.float32), min_size=5).shape == (2, 4, 1)


def test_crop_to_support_all_zero_is_none():
    assert crop_to_support(np.zeros((5, 5, 3), np.float32)) is None


def test_matching_score_mean_equals_mean_of_scores():
    rng = np.random.default_rng(5)
    images = rng.uniform(0.0, 1.0, (6, 12, 12, 1)).astype(np.float32)
    exact = np.zeros((12, 12, 1), np.float32)
    exact[3:8, 4:9] = images[2, 3:8, 4:9] - 0.5  # a patch padded with zeros
    bases = [exact, rng.normal(size=(12, 12, 1)).astype(np.float32), np.zeros((12, 12, 1), np.float32)]
    result = matching_score(images, bases, rel_threshold=0.0001)
    assert result["count"] == 2 == len(result["scores"])
    assert result["skipped"] == [2]
    assert result["mean"] == pytest.approx(float(np.mean(result["scores"])), abs=1e-7)
    assert result["scores"][0] == pytest.approx(1.0, abs=1e-4)
    assert all(-1.0 <= s <= 1.0 for s in result["scores"])


def test_null_templates_have_the_shapes_and_no_learned_structure():
    shapes = [(3, 3, 1), (8, 5, 1), (6, 6, 3)]
    for kind in ("noise", "blobs"):
        nulls = null_templates(shapes, kind, seed=1)
        assert [t.shape for t in nulls] == shapes and all(t.dtype == np.float32 for t in nulls)
        again = null_templates(shapes, kind, seed=1)
        assert all(np.array_equal(a, b) for a, b in zip(nulls, again))
    blob = null_templates([(9, 9, 1)], "blobs")[0][..., 0]
    assert blob.max() <= 0.0 and blob.min() < -0.9  # one dark bump on a flat background
    with pytest.raises(ValueError, match="kind"):
        null_templates(shapes, "stripes")


def test_patches_of_the_images_beat_the_null_and_nulls_have_no_margin():
    """Templates cut from the images score 1 (a perfect match); null templates of the same sizes
    score what chance gives, so the margin is what the patches add."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 20, 20, 1)).astype(np.float32)
    patches = []
    for k in range(5):
        y, x = rng.integers(0, 12, size=2)
        patch = np.zeros((20, 20, 1), np.float32)
        patch[:8, :8] = images[k, y:y + 8, x:x + 8]  # image-shaped, cropped back to 8x8 by the score
        patches.append(patch)
    result = score_against_null(images, patches, rel_threshold=1e-6, min_size=8)
    assert result["mean"] == pytest.approx(1.0, abs=1e-4)
    assert set(result["null"]) == {"noise", "blobs"} and all(0 < v < 0.9 for v in result["null"].values())
    assert result["margin"] == pytest.approx(1.0 - max(result["null"].values()), abs=1e-4)
    nulls = null_templates([(8, 8, 1)] * 5, "noise", seed=0)  # scored like bases: margin about 0
    null_result = score_against_null(images, nulls, rel_threshold=1e-6, min_size=8)
    assert abs(null_result["margin"]) < 0.15
