"""Strict config validation: errors name the key and the file."""

import glob
import os

import pytest

import tfgen.models  # noqa: F401  (registers model configs)
from tfgen import config as config_lib
from tfgen.errors import ConfigError
from repo_paths import REPO



def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


BASE = "model:\n  name: dcgan\ndata:\n  name: multidigit\ntrain:\n  batch_size: 8\n  steps: 3\n"


def test_valid_config_loads_with_defaults(tmp_path):
    cfg = config_lib.load_config(write(tmp_path, BASE))
    assert cfg.model.name == "dcgan" and cfg.model.latent_dim == 100
    assert cfg.train.batch_size == 8 and cfg.train.steps == 3 and cfg.train.seed == 0
    assert cfg.data.name == "multidigit"


@pytest.mark.parametrize("text, needle", [
    (BASE + "  bogus: 1\n", "train.bogus: unknown key"),
    (BASE.replace("batch_size: 8", "batch_size: eight"), "train.batch_size: expected an integer"),
    (BASE.replace("batch_size: 8", "batch_size: 0"), "train.batch_size: 0 is below the minimum 1"),
    (BASE.replace("steps: 3", "steps: 2.5"), "train.steps: expected an integer"),
    (BASE + "  xla: maybe\n", "train.xla: 'maybe' is not one of"),
    (BASE.replace("name: dcgan", "name: dcgan\n  latent_dim: -3"), "model.latent_dim: -3 is below"),
    (BASE.replace("name: dcgan", "name: nosuchgan"), "model.name: unknown model 'nosuchgan'"),
    (BASE + "extra:\n  a: 1\n", "extra: unknown section"),
    (BASE.replace("name: dcgan", "name: dcgan\n  beta1: 1.5"), "model.beta1: 1.5 is above the maximum 1.0"),
    (BASE + "  xla: true\n", "train.xla: expected a string"),
    ("model: {}\n", "model.name: required"),
    ("model: [unclosed\n", "not valid YAML"),
    # A number that is not one: YAML reads .nan and .inf as floats.
    (BASE.replace("name: dcgan", "name: dcgan\n  learning_rate: .nan"), "model.learning_rate: expected a finite"),
    (BASE.replace("name: dcgan", "name: dcgan\n  learning_rate: -.inf"), "model.learning_rate: expected a finite"),
    (BASE.replace("steps: 3", "steps: 1e30"), "train.steps: expected an integer"),
    (BASE.replace("steps: 3", "steps: 1000000000000000000000000000000"), "train.steps: 1000000000000000000000000000000 "
                                                                         "is out of range (a 64-bit integer)"),
    # YAML keeps the last of two equal keys silently; a config refuses it.
    (BASE + "  steps: 9\n", "key 'steps' given twice (first on line 7)"),
    (BASE + "model:\n  name: aaae\n", "key 'model' given twice (first on line 1)"),
    (BASE.replace("name: dcgan", "name: [dcgan]"), "model.name: expected a model name (a string), got ['dcgan']"),
    (BASE.replace("name: dcgan", "name: {a: 1}"), "model.name: expected a model name (a string)"),
])
def test_errors_name_key_and_file(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config_lib.load_config(path)
    message = str(info.value)
    assert needle in message
    assert path in message


def test_a_binary_file_is_not_a_config(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="not a text file"):
        config_lib.load_config(str(path))


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found"):
        config_lib.load_config("/nonexistent/exp.yaml")


def test_overrides_are_parsed_and_validated(tmp_path):
    path = write(tmp_path, BASE)
    cfg = config_lib.load_config(path, ["train.steps=7", "model.learning_rate=1e-3", "data.cache=false"])
    assert cfg.train.steps == 7 and cfg.model.learning_rate == 1e-3 and cfg.data.cache is False
    with pytest.raises(ConfigError, match="train.steps: expected an integer"):
        config_lib.load_config(path, ["train.steps=many"])
    with pytest.raises(ConfigError, match="model.learning_rate: expected a finite number"):
        config_lib.load_config(path, ["model.learning_rate=nan"])
    with pytest.raises(ConfigError, match="expected key=value"):
        config_lib.load_config(path, ["train.steps"])
    with pytest.raises(ConfigError, match="train.nope: unknown key"):
        config_lib.load_config(path, ["train.nope=1"])


def test_resolved_config_round_trips(tmp_path):
    cfg = config_lib.load_config(write(tmp_path, BASE), ["train.seed=5"])
    out = str(tmp_path / "resolved.yaml")
    config_lib.save_config(cfg, out)
    assert config_lib.load_config(out) == cfg


def test_every_shipped_config_is_valid():
    paths = sorted(glob.glob(os.path.join(REPO, "configs", "*", "*.yaml")))
    assert paths, "no configs shipped"
    for path in paths:
        cfg = config_lib.load_config(path)
        # configs/<method>/... holds configs of that method (or its special cases).
        assert cfg.model.name and cfg.data.name and cfg.train.batch_size >= 1 and cfg.train.steps >= 1
