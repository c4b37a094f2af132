"""The base of every tfgen model: construction and configuration, and the contracts it composes.

A tfgen model is a `keras.Model` subclass with a custom `train_step`,
constructed from its typed config section plus the dataset's image shape,
with a `get_config()` that round-trips through `from_config`. Its other
duties are small contracts, one module each, named after their clients:

* `Trainable` (trainable.py): what `fit`, the runner and checkpoints use:
  batch checking, loss trackers, train-step helpers (XLA, global batch
  size, per-example noise, optimizers), `optimizers_by_name`,
  `sub_networks`, `persistent_state`;
* `Panels` (panels.py): what the TensorBoard and PNG callbacks show;
* `Servable` (servable.py): generation and the SavedModel's signatures.

A method's own scores for `tfgen evaluate` are not part of the model: they
are registered by method name (`registry.register_evaluation_extras`) and
handed the model, the test arrays and the extractor.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Sequence

import keras

from tfgen import config as config_lib
from tfgen.models.keras_workarounds import DistributedFitWorkarounds
from tfgen.models.panels import Panels
from tfgen.models.servable import EVAL_SAMPLE_SEED, Servable, sample_images
from tfgen.models.trainable import Trainable

__all__ = ["EVAL_SAMPLE_SEED", "GenerativeModel", "sample_images"]


class GenerativeModel(Trainable, Panels, Servable, DistributedFitWorkarounds):
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

    def __init__(self, model_config, image_shape: Sequence[int], num_classes=None, xla=False, seed=0,
                 sync_batch_norm=True, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_config, dict):
            model_config = self.config_class(**self.config_class.upgrade(model_config))
        self.model_config = model_config
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes = num_classes
        self.xla = bool(xla)
        self.seed = int(seed)
        self.sync_batch_norm = bool(sync_batch_norm)
        self.seed_generator = keras.random.SeedGenerator(seed, name="noise_seed")
        # The dtype policy the model is built under (tfgen.models.precision.precision_policy).
        self.precision = keras.config.dtype_policy().name
        self._trackers: Dict[str, keras.metrics.Metric] = {}

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

    def prepare_training(self, data) -> None:
        """Called by the trainer once the model is built and compiled, before its checkpoint is restored.

        The place for data a train step needs beside its batches (HALI's
        semi-supervised labelled examples). The default does nothing.

        Args:
          data: the experiment's `tfgen.config.DataConfig`.
        """
