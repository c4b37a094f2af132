"""The generic model test every tfgen model reuses.

`check_generative_model("name", overrides, image_shape)` builds the model
from its config section and checks, in order:

1. config round trip: `from_config(get_config())` rebuilds an equal config,
   and the rebuilt model with the same weights gives the same outputs;
2. output shapes and value ranges of `generate` and of every image panel;
3. a short `fit` on a small batch stream: every reported loss is finite, and
   **every** sub-network's weights changed.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import yaml

import tfgen.models  # noqa: F401
from tfgen import config as config_lib
from tfgen.data.pipeline import without_autotune_thread
from tfgen.models import build_model, get_model_class


def tiny_run_yaml(train=None, data=None, eval=None) -> str:
    """The YAML of a tiny DCGAN run on the built-in digits (seconds on a CPU).

    Command-line tests write it to a file; keyword dicts override fields of
    the train, data and eval sections.
    """
    sections = {
        "model": {"name": "dcgan", **config_lib.tiny_overrides("dcgan")},
        "data": {"name": "multidigit", "num_train": 256, "num_test": 128, "shuffle_buffer": 256, **(data or {})},
        "train": {"batch_size": 16, "steps": 4, "log_every": 1, "image_every": 2, "checkpoint_every": 2,
                  "num_grid_images": 16, "verbose": 0, **(train or {})},
        "eval": {"num_samples": 64, "classifier_steps": 30, **(eval or {})},
    }
    return yaml.safe_dump(sections, sort_keys=False)


def make_config(model_name: str, overrides=None, batch_size: int = 8):
    return config_lib.config_from_dict(
        {"model": {"name": model_name, **(overrides or {})}, "train": {"batch_size": batch_size}})


def random_batches(image_shape, batch_size: int, num_classes: int = 10, seed: int = 0) -> tf.data.Dataset:
    """A repeating stream of dict batches shaped like the real pipeline's."""
    rng = np.random.default_rng(seed)
    n = batch_size * 4
    images = rng.uniform(-1, 1, size=(n, *image_shape)).astype("float32")
    data = {"image": images, "label": rng.integers(0, num_classes, n).astype("int32"),
            "index": np.arange(n, dtype="int64")}
    ds = tf.data.Dataset.from_tensor_slices(data).batch(batch_size, drop_remainder=True).repeat()
    return without_autotune_thread(ds)  # as the real pipeline: fit ends without waiting for tf.data's tuner


def weights_of(model):
    return {name: [v.numpy().copy() for v in net.trainable_variables]
            for name, net in model.sub_networks().items()}


def check_generative_model(model_name: str, overrides=None, image_shape=(32, 32, 1), batch_size: int = 8,
                           steps: int = 2, num_classes: int = 10, xla: bool = False, prepare=None):
    """Runs the generic checks; returns the trained model for further checks.

    `prepare(model)`, if given, runs after compile, where the trainer calls
    `prepare_training` (e.g. to hand a model data its steps need).
    """
    config = make_config(model_name, overrides, batch_size)
    model = build_model(config, image_shape, num_classes=num_classes, xla=xla)
    model.compile()
    if prepare is not None:
        prepare(model)

    # 1. Config round trip.
    clone = get_model_class(model_name).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.model_config == config.model
    clone.set_weights(model.get_weights())
    z = model.sample_latent(batch_size, seed=3)
    np.testing.assert_allclose(clone.generate(z).numpy(), model.generate(z).numpy(), atol=1e-5)

    # 2. Shapes and ranges.
    images = model.generate(z).numpy()
    assert images.shape == (batch_size, *image_shape), images.shape
    assert images.dtype == np.float32
    assert np.all(np.isfinite(images)) and images.min() >= -1.0 and images.max() <= 1.0
    ds = random_batches(image_shape, batch_size, num_classes)
    real = next(iter(ds))
    for name, panel in model.image_panels(z, real).items():
        panel = np.asarray(panel)
        assert panel.ndim == 4 and panel.shape[-1] in (1, 3), (name, panel.shape)
        assert np.all(np.isfinite(panel)) and panel.min() >= -1.0 - 1e-5 and panel.max() <= 1.0 + 1e-5, name

    # 3. A short fit: finite losses, every sub-network changed. Steps get the batches the trainer feeds.
    if model.batches_per_step() > 1:
        ds = random_batches(image_shape, batch_size * model.batches_per_step(), num_classes)
    before = weights_of(model)
    history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False).history
    assert history, "fit reported no metrics"
    for name, values in history.items():
        assert np.all(np.isfinite(values)), (name, values)
    after = weights_of(model)
    for net, old in before.items():
        assert old, f"{net} has no trainable weights"
        changed = any(not np.array_equal(a, b) for a, b in zip(old, after[net]))
        assert changed, f"training did not change {net}'s weights"
    return model, history
