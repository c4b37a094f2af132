"""Model registry: name -> (model class, config class).

The harness, exporter and CLI look models up here and never import a method
module by name. The built-in methods are imported on first lookup (their
config sections, TensorFlow-free, are listed in `tfgen.config`); a model
defined elsewhere registers itself with `@register(name, ConfigClass)`.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Optional, Tuple, Type

from tfgen import config as config_lib
from tfgen.errors import ConfigError

_MODELS: Dict[str, type] = {}

# The modules of each built-in method (in its folder under tfgen/models/) that
# register it: its model class, then its evaluation extras where they have a
# module of their own. Imported on first lookup.
BUILTIN_MODEL_MODULES: Dict[str, Tuple[str, ...]] = {
    "dcgan": ("tfgen.models.dcgan.model",),
    "lrgan": ("tfgen.models.lrgan.model",),
    "conditional_lrgan": ("tfgen.models.lrgan.conditional",),
    "aaae": ("tfgen.models.aaae.model",),
    "hali": ("tfgen.models.hali.model", "tfgen.models.hali.studies"),
    "wframe": ("tfgen.models.wframe.model",),
    "andor": ("tfgen.models.andor.model",),
}


def register(name: str, config_class: Type[config_lib.ModelConfig]):
    """Class decorator registering a model and its config section."""

    def wrap(cls):
        cls.config_class = config_class
        cls.registered_name = name
        _MODELS[name] = cls
        config_lib.register_model_config(name, config_class)
        return cls

    return wrap


# name -> the method's own scores for `tfgen evaluate` (see `register_evaluation_extras`).
_EVALUATION_EXTRAS: Dict[str, Callable[..., Dict[str, Any]]] = {}


def register_evaluation_extras(name: str):
    """Function decorator registering a method's own scores for `tfgen evaluate`.

    The function is called as `fn(model, arrays, extractor)` and returns a
    JSON-able dict: `model` the trained model, `arrays` the test split from
    `tfgen.data.load_arrays` (images and, for the built-in datasets, true
    masks, labels and poses) plus "train_image" (as many training images),
    `extractor` the evaluation's `FeatureExtractor` (a `DomainClassifier`
    with eval.extractor=domain), or None. Evaluation knows a method's scores
    only through this registration, and the method never imports evaluation.
    """

    def wrap(fn):
        _EVALUATION_EXTRAS[name] = fn
        return fn

    return wrap


def evaluation_extras(name: str) -> Optional[Callable[..., Dict[str, Any]]]:
    """The registered scores of model `name` (its modules are imported here, which registers them), or None."""
    _import_builtin(name)
    get_model_class(name)  # an unknown name is an error
    return _EVALUATION_EXTRAS.get(name)


def _import_builtin(name: str) -> None:
    """Imports the modules of built-in method `name` (none for other names); importing registers them."""
    for module in BUILTIN_MODEL_MODULES.get(name, ()):
        importlib.import_module(module)


def get_model_class(name: str):
    """The model class registered as `name` (a built-in method is imported here)."""
    if name not in _MODELS:
        _import_builtin(name)
    if name not in _MODELS:
        raise ConfigError(f"model.name: unknown model '{name}' (known: {', '.join(names())})")
    return _MODELS[name]


def names():
    """Every model name: the built-in methods and any registered since."""
    return sorted(set(_MODELS) | set(config_lib.BUILTIN_MODEL_CONFIGS))


def build_model(config: config_lib.Config, image_shape=None, num_classes=None, xla=False, precision=None):
    """Instantiates the configured model (call inside the strategy scope).

    Args:
      config: a whole `Config` (`load_config`, `config_from_dict`).
      image_shape: (height, width, channels) of the training images; None
        reads it (and `num_classes`) from the config's data section.
      num_classes: classes of a labelled dataset (None: unlabelled).
      xla: XLA-compile the inner loss/gradient step.
      precision: the dtype policy to build under (see
        `tfgen.models.precision`); None: `config.train.precision`.

    Raises:
      ConfigError: the model does not train in that precision.
    """
    # Imports Keras: the registry itself is read without TensorFlow (config checks, start-up time).
    from tfgen.models.precision import precision_policy

    precision = precision or config.train.precision
    cls = get_model_class(config.model.name)
    if precision not in cls.precisions:
        raise ConfigError(
            f"train.precision {precision}: {config.model.name} trains in {' or '.join(cls.precisions)} "
            f"(its numerics have not been checked in 16 bits)")
    if image_shape is None:
        # The data pipeline imports TensorFlow; config checks use the registry without it (start-up time).
        from tfgen.data import dataset_info

        info = dataset_info(config.data)
        image_shape, num_classes = info.image_shape, num_classes or info.num_classes
    model_config = cls.resolve_model_config(config)
    with precision_policy(precision):
        return cls(model_config, image_shape=image_shape, num_classes=num_classes, xla=xla,
                   seed=config.train.seed, sync_batch_norm=config.train.sync_batch_norm, name=config.model.name)
