"""The training contract of a tfgen model: what `fit`, the runner and checkpoints use.

A mixin of `GenerativeModel` (tfgen.models.base), which sets the attributes
it reads (`model_config`, `image_shape`, `xla`, `seed_generator`,
`_trackers`):

* `as_batch(data)`: what `fit` hands `train_step` (a tensor of images,
  `(images, labels)` or a dict), checked and turned into the dict every
  `train_step` reads, so `model.fit` takes a user's own `tf.data` pipeline;
* loss trackers (`add_trackers`, `update_trackers`, `metrics`) that give
  Keras each step's own values;
* train-step helpers: `maybe_xla(fn)` (XLA for the per-replica
  loss-and-gradient function; gradients are applied outside it, because
  optimizer updates under a strategy all-reduce, which cannot run inside an
  XLA cluster: see KERAS3_NOTES), `global_batch_size(x)` for
  `tfgen.losses.reduce_loss`, per-example noise (`per_example_normal`,
  `per_example_uniform`, from `tfgen.ops.replicas`), `adam()`,
  `build_optimizer`;
* what the runner and checkpoints ask for: `optimizers_by_name()`,
  `sub_networks()`, `persistent_state()`.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Dict, Sequence, Tuple

import keras
import tensorflow as tf

from tfgen.models.keras_workarounds import logs_for_reduction
from tfgen.ops.fused_adam import FusedAdam
from tfgen.ops.replicas import per_example_draw

__all__ = ["AdversarialPair", "Trainable", "inline_inner_functions"]

_INLINE = [False]


@contextlib.contextmanager
def inline_inner_functions():
    """Models built inside run `maybe_xla`'s functions inline, as one graph.

    For tools that trace a whole train step to count its FLOPs
    (tools/benchmark.py): an XLA-compiled inner function is opaque to them.
    """
    before = _INLINE[0]
    _INLINE[0] = True
    try:
        yield
    finally:
        _INLINE[0] = before


class Trainable:
    """Training hooks of a tfgen model (a mixin; see the module docstring)."""

    # Batch entries besides "image" that `train_step` cannot do without
    # (AND-OR: "index", the example's row in the persistent latent bank).
    required_batch_keys: Tuple[str, ...] = ()
    # The `train.precision` values a model's numerics have been checked in (tfgen.models.precision).
    precisions: Tuple[str, ...] = ("float32",)

    def batches_per_step(self) -> int:
        """Batches of `train.batch_size` one train step consumes (default 1).

        The trainer feeds steps batches this many times larger; a step that
        draws several independent batches (AAAE with fresh approximator
        codes: 1 + k) splits what it gets into that many equal parts.
        """
        return 1

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
        if not self.xla or _INLINE[0]:
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
        """A fresh Adam with the config's `learning_rate`, `beta1`, `beta2`.

        Keras' Adam with each variable's update as TensorFlow's one fused
        kernel (`FusedAdam`: same formula, variables and checkpoints; x1.02-1.05
        in the bf16 LR-GAN step on a CPU, where Keras' ~15 ops per variable
        are mostly executor overhead).
        """
        cfg = self.model_config
        adam = FusedAdam(cfg.learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2)
        if getattr(self, "precision", "float32") == "mixed_float16":
            # float16 gradients underflow below ~6e-8: scale the loss (dynamically), skip non-finite steps.
            return keras.optimizers.LossScaleOptimizer(adam)
        return adam

    @staticmethod
    def build_optimizer(optimizer, variables) -> None:
        """Creates optimizer slots now, inside the strategy scope (keras#23085)."""
        if not optimizer.built:
            optimizer.build(variables)

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


class AdversarialPair:
    """`compile()` of a two-player game: a generator-side and a discriminator optimizer.

    A mixin placed before `GenerativeModel` by models whose players are
    `generator_variables()` (everything but the discriminator: DCGAN's and
    LR-GAN's generator, HALI's encoder and decoder) and `self.discriminator`.
    Both optimizers default to the config's Adam (`adam()`) and are built
    now, inside the strategy scope.
    """

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer or self.adam()
        self.d_optimizer = d_optimizer or self.adam()
        self.build_optimizer(self.g_optimizer, self.generator_variables())
        self.build_optimizer(self.d_optimizer, self.discriminator.trainable_variables)

    def optimizers_by_name(self):
        return {"g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}
