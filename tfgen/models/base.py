"""Plumbing shared by every tfgen model.

A tfgen model is a `keras.Model` subclass with a custom `train_step`. This
base class gives each one the same skeleton:

* constructed from its typed config section plus the dataset's image shape,
  with a `get_config()` that round-trips through `from_config`;
* loss trackers created in `__init__` and exposed through `metrics`;
* `maybe_xla(fn)`: wraps a per-replica loss-and-gradient function in
  `tf.function(jit_compile=True)` when XLA is on. Gradients are applied
  outside it because optimizer updates under a strategy all-reduce, which
  cannot run inside an XLA cluster (see KERAS3_NOTES); for the same reason
  XLA and synchronized batch norm exclude each other on several replicas;
* `global_batch_size(x)`: the batch size of the whole step across replicas,
  for `tfgen.losses.reduce_loss`;
* `per_example_normal(batch, shape)`: noise that is the same for an example
  however the global batch is split over replicas;
* `as_batch(data)`: what `fit` hands `train_step` (a tensor of images,
  `(images, labels)` or a dict), checked and turned into the dict every
  `train_step` reads, so `model.fit` takes a user's own `tf.data` pipeline;
* hooks the harness and exporter call without knowing the method:
  `optimizers_by_name()`, `sub_networks()`, `persistent_state()` (what a
  checkpoint must hold beyond weights), `image_panels()`,
  `serving_endpoints()`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

from tfgen import config as config_lib
from tfgen.models.keras_workarounds import DistributedFitWorkarounds, logs_for_reduction
from tfgen.ops.batching import INFERENCE_BATCH_SIZE, map_batches
from tfgen.ops.replicas import per_example_draw

# The latents of every evaluation and study of a run: the same samples each time.
EVAL_SAMPLE_SEED = 31337


def sample_images(model, num: int, seed: int = EVAL_SAMPLE_SEED, batch_size: int = INFERENCE_BATCH_SIZE) -> np.ndarray:
    """`num` samples of a model from latents of a fixed seed: float32 [num, H, W, C] in [-1, 1].

    The latents are `model.latent_batch(num, seed)` (stateless), so two calls
    with the same seed give the same images.
    """
    z = model.latent_batch(num, seed)
    return map_batches(lambda zb: model.generate(zb), z.numpy(), batch_size=batch_size)


class GenerativeModel(DistributedFitWorkarounds):
    """Base of every tfgen model.

    Args:
      model_config: the model's config section (a `ModelConfig` subclass
        instance, or its dict form as stored by `get_config`).
      image_shape: (height, width, channels) of the data.
      num_classes: classes in the data, when labelled (else None).
      xla: compile the inner loss/gradient functions with XLA.
      seed: seed of the model's own noise draws.
      sync_batch_norm: batch-norm statistics over the global batch when
        training under a strategy (N replicas then train like one device).
    """

    config_class = config_lib.ModelConfig
    # Batch entries besides "image" that `train_step` cannot do without
    # (AND-OR: "index", the example's row in the persistent latent bank).
    required_batch_keys: Tuple[str, ...] = ()
    reconstructs = False  # models with an encoder set this and implement `reconstruct`
    # Set by tools/benchmark.py while it builds a model whose train step it
    # traces as one graph to count FLOPs: inner functions are then inlined.
    inline_inner_functions = False

    def __init__(self, model_config, image_shape: Sequence[int], num_classes=None, xla=False, seed=0,
                 sync_batch_norm=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_config, dict):
            model_config = self.config_class(**model_config)
        self.model_config = model_config
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = num_classes
        self.xla = bool(xla)
        self.seed = int(seed)
        self.sync_batch_norm = bool(sync_batch_norm)
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        self._trackers: Dict[str, keras.metrics.Metric] = {}

    def __init_subclass__(cls, **kwargs):
        # Every method's `train_step` reads a dict; `as_batch` makes one from
        # whatever `fit` was given, with a clear error when it cannot.
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("train_step")
        if step is not None and not getattr(step, "_reads_as_batch", False):
            def train_step(self, data, _step=step):
                return _step(self, self.as_batch(data))

            train_step.__doc__, train_step.__name__ = step.__doc__, "train_step"
            train_step._reads_as_batch = True
            cls.train_step = train_step

    def as_batch(self, data) -> Dict[str, tf.Tensor]:
        """The training batch as a dict {"image", "label"?, "index"?}.

        Args:
          data: what `fit` yields: images float32 [batch, H, W, C] in
            [-1, 1] (H, W, C = `image_shape`), a tuple `(images,)` or
            `(images, labels)`, or a dict with "image" (and optionally
            "label" int [batch], "index" int [batch]).

        Raises:
          ValueError: the batch has another structure, shape or dtype; the
            message says what is expected.
        """
        expected = (f"images float32 [batch, {', '.join(map(str, self.image_shape))}] in [-1, 1], as a tensor, "
                    f"(images, labels), or a dict {{'image': ..., 'label': ..., 'index': ...}}")
        if isinstance(data, (tuple, list)):
            parts = [p for p in data if p is not None]
            if not parts or len(parts) > 2:
                raise ValueError(f"{self.name}: training data must be {expected}; got a tuple of {len(data)}")
            batch = dict(parts[0]) if isinstance(parts[0], dict) else {"image": parts[0]}
            if len(parts) == 2:
                batch["label"] = parts[1]
        elif isinstance(data, dict):
            batch = dict(data)
        else:
            batch = {"image": data}
        if "image" not in batch:
            raise ValueError(f"{self.name}: training data must be {expected}; got a dict with keys "
                             f"{sorted(batch)} (no 'image')")
        image = batch["image"]
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        if shape is None:
            raise ValueError(f"{self.name}: training data must be {expected}; got {type(image).__name__}")
        shape = tf.TensorShape(shape)
        # A retraced step may see a relaxed shape (unknown dimensions): only known ones are checked.
        if shape.rank is not None and (shape.rank != 4 or not shape[1:].is_compatible_with(self.image_shape)):
            raise ValueError(f"{self.name}: training data must be {expected}; got images of shape {shape.as_list()}")
        if dtype is None or not tf.as_dtype(dtype).is_floating:
            raise ValueError(f"{self.name}: training data must be {expected}; got dtype {tf.as_dtype(dtype).name} "
                             "(scale to [-1, 1] first, e.g. x / 127.5 - 1)")
        missing = [key for key in self.required_batch_keys if key not in batch]
        if missing:
            raise ValueError(f"{self.name}: each training batch needs {missing} besides 'image' "
                             f"(int [batch]: the example's position in the training set, the same in every "
                             f"epoch); tfgen's data pipeline adds it (data.with_index)")
        batch["image"] = tf.ensure_shape(tf.cast(image, tf.float32), [None, *self.image_shape])
        return batch

    # -- configuration ------------------------------------------------------
    def get_config(self):
        return {
            "model_config": dataclasses.asdict(self.model_config),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "xla": self.xla,
            "seed": self.seed,
            "sync_batch_norm": self.sync_batch_norm,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def resolve_model_config(cls, config) -> config_lib.ModelConfig:
        """The model section to build from, given the whole run config.

        The place for work that needs the data section before the model
        exists (wFRAME learns or finds its filter bank here); the result is
        what `get_config` records. The default is `config.model` itself.
        """
        return config.model

    # -- metrics ------------------------------------------------------------
    def add_trackers(self, *names: str) -> None:
        for n in names:
            self._trackers[n] = keras.metrics.Mean(name=n)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def update_trackers(self, values: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """Adds this step's values to the running-mean trackers; returns the step's own values.

        The logs Keras passes to callbacks are then each step's value (its mean
        over the batch; under a distribution strategy the mean over replicas),
        not a float32 running mean from which a step's value could only be
        recovered by differencing, which fails after a large spike. The
        trackers (`metrics`) keep the running means. A tracker not given a
        value this step reports its running mean.
        """
        logs = {}
        for name, tracker in self._trackers.items():
            if name in values:
                value = tf.reduce_mean(tf.cast(values[name], tf.float32))
                tracker.update_state(value)
                logs[name] = value
            else:
                logs[name] = tracker.result()
        unknown = set(values) - set(self._trackers)
        if unknown:
            raise KeyError(f"update_trackers: no tracker named {sorted(unknown)} (add_trackers first)")
        return logs_for_reduction(logs)

    # -- helpers for train steps --------------------------------------------
    def maybe_xla(self, fn: Callable) -> Callable:
        """`fn` XLA-compiled when `self.xla`, else `fn` itself.

        Without XLA the function runs inline in Keras' compiled train step: a
        nested `tf.function` would gain nothing and would forbid the
        cross-replica all-reduce of synchronized batch norm.
        """
        if not self.xla or GenerativeModel.inline_inner_functions:
            return fn
        return tf.function(fn, jit_compile=True, reduce_retracing=True)

    @staticmethod
    def global_batch_size(x: tf.Tensor) -> tf.Tensor:
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return tf.shape(x)[0] * replicas

    def per_example_normal(self, local_batch, shape: Sequence[int]) -> tf.Tensor:
        """Per-example N(0, I) noise, [local_batch, *shape], for a train step.

        Every replica draws the noise of the *whole* global batch from the
        shared seed and keeps its own slice, so replicas get different noise
        (a mirrored seed alone would hand every replica the same draw) and
        example k of the global batch gets the same noise however the batch
        is split: one device and N replicas train on identical draws.
        """
        return per_example_draw(lambda s: keras.random.normal(s, seed=self.seed_generator), (local_batch, *shape))

    def per_example_uniform(self, local_batch, shape: Sequence[int] = ()) -> tf.Tensor:
        """Per-example U[0, 1) draws, [local_batch, *shape], split like `per_example_normal`."""
        return per_example_draw(lambda s: keras.random.uniform(s, seed=self.seed_generator), (local_batch, *shape))

    def adam(self) -> keras.optimizers.Optimizer:
        """A fresh Adam with the config's `learning_rate`, `beta1`, `beta2`."""
        cfg = self.model_config
        return keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2)

    @staticmethod
    def build_optimizer(optimizer, variables) -> None:
        """Creates optimizer slots now, inside the strategy scope (keras#23085)."""
        if not optimizer.built:
            optimizer.build(variables)

    # -- hooks used by the harness, exporter and tests ----------------------
    @property
    def latent_dim(self) -> int:
        return int(self.model_config.latent_dim)

    def latent_batch(self, n: int, seed: int) -> tf.Tensor:
        """`n` latents from a fixed integer seed (stateless: the same on every call),
        for evaluation and sampling tools."""
        return tf.random.stateless_normal([n, self.latent_dim], seed=[seed, 0])

    def sample_latent(self, n: int, seed=None) -> tf.Tensor:
        """Draws z ~ N(0, I), float32 [n, latent_dim]."""
        return keras.random.normal((n, self.latent_dim), seed=seed if seed is not None else self.seed_generator)

    def generate(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Images from latents: [batch, latent_dim] -> [batch, H, W, C] in [-1, 1]."""
        raise NotImplementedError

    def reconstruct(self, images: tf.Tensor) -> tf.Tensor:
        """Images -> reconstructions, both [batch, H, W, C] in [-1, 1] (when `reconstructs`)."""
        raise NotImplementedError(f"{self.name} does not reconstruct")

    def optimizers_by_name(self) -> Dict[str, keras.optimizers.Optimizer]:
        """Every optimizer the model owns (checkpointed with the model)."""
        raise NotImplementedError

    def persistent_state(self) -> Dict[str, object]:
        """State beyond weights and optimizers that a resumed run must get back.

        Checkpointed with the model: the noise generator's state (so a resumed
        run draws the noise an uninterrupted run would), and whatever a model
        adds (latent banks, Langevin chains, replay buffers).
        """
        return {"noise_seed": self.seed_generator.state}

    def sub_networks(self) -> Dict[str, keras.Model]:
        """Every trainable sub-network, by name."""
        raise NotImplementedError

    def image_panels(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        """Images for TensorBoard: name -> [N, H, W, C] in [-1, 1].

        The default shows samples from the fixed latents and, for models that
        reconstruct, real test images beside their reconstructions
        (alternating columns: real, reconstruction). Models that compose
        layers or have basis functions add their own panels.
        """
        panels = {"samples": self.generate(fixed_latent)}
        if self.reconstructs:
            real = real_batch["image"]
            panels["real_vs_reconstruction"] = self.alternate(real, self.reconstruct(real))
        return panels

    @staticmethod
    def alternate(*groups: tf.Tensor) -> tf.Tensor:
        """[N, H, W, C] x G -> [G*N, H, W, C]: example 0 of every group, then example 1, ...

        E.g. each real image followed by its reconstruction(s).
        """
        stacked = tf.stack(list(groups), axis=1)
        return tf.reshape(stacked, [-1, *stacked.shape[2:]])

    @staticmethod
    def figure_panel(figure) -> tf.Tensor:
        """A rendered figure [H, W, C] in [0, 1] (a grid, captioned blocks) as a one-image panel in [-1, 1]."""
        return tf.constant(2.0 * np.asarray(figure, np.float32)[None] - 1.0)

    # Panels also written as PNG files under <workdir>/samples/ (besides TensorBoard).
    png_panels: Tuple[str, ...] = ("samples",)

    def text_panels(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, str]:
        """Markdown for TensorBoard's text dashboard, name -> text (e.g. the
        AND-OR network's tree of one sample); also saved beside the PNGs."""
        return {}

    def histograms(self, fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor]) -> Dict[str, np.ndarray]:
        """Values for TensorBoard histograms, name -> 1-D array (e.g. LR-GAN's
        poses, AAAE's encoded and approximated codes)."""
        return {}

    def evaluation_extras(self, arrays: Dict[str, np.ndarray]) -> Dict[str, Any]:
        """Model-specific scores for `tfgen evaluate`, JSON-able.

        Args:
          arrays: the test split from `tfgen.data.load_arrays` (images and,
            for the built-in datasets, true masks, labels and poses), plus
            "train_image": as many training images.
        """
        return {}

    def serving_endpoints(self) -> Dict[str, Tuple[Callable, Sequence[tf.TensorSpec], str]]:
        """Named SavedModel signatures: name -> (fn, input_signature, doc).

        `fn` returns a dict of named outputs. Every generative model serves
        `generate`; the exporter adds `serving_default` as its alias.
        """
        spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")

        def generate(z):
            return {"images": self.generate(z, training=False)}

        doc = (f"generate(z: float32 [batch, {self.latent_dim}]) -> "
               f"{{images: float32 [batch, {', '.join(map(str, self.image_shape))}] in [-1, 1]}}")
        return {"generate": (generate, [spec], doc)}
