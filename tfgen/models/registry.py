"""Model registry: name -> (model class, config class).

The harness, exporter and CLI look models up here and never import a method
module by name. The built-in methods are imported on first lookup (their
config sections, TensorFlow-free, are listed in `tfgen.config`); a model
defined elsewhere registers itself with `@register(name, ConfigClass)`.
"""

from __future__ import annotations

import importlib
from typing import Dict, Type

from tfgen import config as config_lib
from tfgen.errors import ConfigError

_MODELS: Dict[str, type] = {}


def register(name: str, config_class: Type[config_lib.ModelConfig]):
    """Class decorator registering a model and its config section."""

    def wrap(cls):
        cls.config_class = config_class
        cls.registered_name = name
        _MODELS[name] = cls
        config_lib.register_model_config(name, config_class)
        return cls

    return wrap


def get_model_class(name: str):
    """The model class registered as `name` (a built-in method is imported here)."""
    if name not in _MODELS and name in config_lib.BUILTIN_MODEL_CONFIGS:
        importlib.import_module(f"tfgen.models.{name}")  # registers it
    if name not in _MODELS:
        raise ConfigError(f"model.name: unknown model '{name}' (known: {', '.join(names())})")
    return _MODELS[name]


def names():
    """Every model name: the built-in methods and any registered since."""
    return sorted(set(_MODELS) | set(config_lib.BUILTIN_MODEL_CONFIGS))


def build_model(config: config_lib.Config, image_shape=None, num_classes=None, xla=False):
    """Instantiates the configured model (call inside the strategy scope).

    Args:
      config: a whole `Config` (`load_config`, `config_from_dict`).
      image_shape: (height, width, channels) of the training images; None
        reads it (and `num_classes`) from the config's data section.
      num_classes: classes of a labelled dataset (None: unlabelled).
      xla: XLA-compile the inner loss/gradient step.
    """
    if image_shape is None:
        from tfgen.data import dataset_info

        info = dataset_info(config.data)
        image_shape, num_classes = info.image_shape, num_classes or info.num_classes
    cls = get_model_class(config.model.name)
    return cls(cls.resolve_model_config(config), image_shape=image_shape, num_classes=num_classes, xla=xla,
               seed=config.train.seed, sync_batch_norm=config.train.sync_batch_norm, name=config.model.name)
