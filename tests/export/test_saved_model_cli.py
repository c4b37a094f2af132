"""Every model's export served by TensorFlow's own client, `saved_model_cli`.

For each registered model a tiny version is exported, then the
`saved_model_cli` console script that ships with TensorFlow

* `show --all` lists every signature of `signatures.json` (and no other),
  each with the inputs the exported functions declare;
* `run` feeds each signature inputs of the declared shapes and dtypes (float
  tensors from .npy files, int32 scalars as literals) and saves every output
  the signature declares, with the batch size fed.

Both run in subprocesses, as a serving engineer would run them: the tool sees
only the folder on disk. The export's folders and files must also be readable
by other users (a server rarely runs as the user who exported).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfgen.models
from tfgen import config as config_lib
from tfgen.export import export_model
from tfgen.models import build_model

from model_testing import make_config

BATCH = 3  # fed to every signature; not 1, so that a dropped or broadcast batch axis shows
# Image shapes the models' own tests use (AND-OR's tiny generator draws 32x32).
IMAGE_SHAPES = {"andor": (32, 32, 1)}
DEFAULT_IMAGE_SHAPE = (16, 16, 1)
# Extra config beyond TINY, as in the models' own tests (AND-OR keeps one latent per example).
EXTRA_OVERRIDES = {"andor": {"latent_bank_size": 32}}
# Values of the int32 scalar inputs, each valid for every signature that takes it:
# aaae interpolate steps >= 2; hali reconstruct level in 1..2; andor basis_functions
# layer in 2..5; andor reconstruct and wframe synthesize Langevin steps.
INT_SCALARS = {"steps": 3, "level": 2, "layer": 3}
# Each `saved_model_cli` call is a fresh process that imports TensorFlow (~4 s on a
# CPU), and the seven models have 29 signatures: ~4 minutes in all. `-m "not slow"`
# keeps dcgan and hali, which between them cover every kind of input (float
# latents and images, a mask, int32 scalars); every model's signatures are also
# served by plain TensorFlow in its own export test.
SLOW_MODELS = ("lrgan", "conditional_lrgan", "aaae", "wframe", "andor")
# HALI's loads take ~9 s a call: the default suite runs the two signatures with
# the inputs dcgan lacks (reconstruct: an int32 scalar; inpaint: a mask), the
# slow tests the others. `show --all` checks every signature in both.
QUICK_SIGNATURES = {"hali": ("reconstruct", "inpaint")}

SHOW_DTYPES = {"DT_FLOAT": tf.float32, "DT_INT32": tf.int32, "DT_INT64": tf.int64}


def saved_model_cli() -> str:
    """The `saved_model_cli` console script of the TensorFlow under test.

    The one beside this Python comes first: another on PATH could belong to a
    different TensorFlow. A missing script is a failure, not a skip, since it
    means the installed TensorFlow cannot be served with its own tool.
    """
    beside = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    path = beside if os.path.isfile(beside) else shutil.which("saved_model_cli")
    assert path and os.access(path, os.X_OK), (
        f"saved_model_cli not found beside {sys.executable} nor on PATH: it is installed with tensorflow")
    return path


def run_cli(args, cwd):
    """Runs `saved_model_cli ARGS`; returns (returncode, stdout, stderr)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([saved_model_cli(), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def parse_show(text: str) -> dict:
    """Parses `saved_model_cli show --all` output.

    Returns:
      {signature: {"inputs": {key: (dtype name, shape text)}, "outputs": {...}}}
      where the shape text is as printed, e.g. "(-1, 100)" or "()".
    """
    signatures = {}
    blocks = re.split(r"^signature_def\['([^']+)'\]:\n", text, flags=re.M)
    for name, body in zip(blocks[1::2], blocks[2::2]):
        # A block ends where the next section ("The MetaGraph ... ops", "Concrete Functions") starts.
        body = re.split(r"^\S", body, maxsplit=1, flags=re.M)[0]
        entry = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in re.findall(
                r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\)|unknown_rank)",
                body):
            entry[kind][key] = (dtype, shape)
        signatures[name] = entry
    return signatures


def shape_text(shape: tf.TensorShape) -> str:
    """A TensorShape as `saved_model_cli show` prints it: (-1, 100), (), (-1,)."""
    dims = [-1 if d is None else d for d in shape.as_list()]
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


def feed_value(name: str, spec: tf.TensorSpec, rng) -> np.ndarray:
    """An input of `spec`'s dtype and shape, the batch axis BATCH long."""
    if spec.shape.rank == 0:
        assert spec.dtype == tf.int32 and name in INT_SCALARS, (
            f"no test value for scalar input {name!r} ({spec.dtype.name}): add one to INT_SCALARS")
        return np.int32(INT_SCALARS[name])
    assert spec.dtype == tf.float32, f"input {name!r}: no test values for {spec.dtype.name}"
    shape = [BATCH if d is None else d for d in spec.shape.as_list()]
    assert spec.shape.as_list()[0] is None and None not in spec.shape.as_list()[1:], (name, spec.shape)
    if name == "mask":  # hali inpaint: 1 = known pixel, 0 = hole
        return (rng.uniform(size=shape) > 0.5).astype(np.float32)
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def tiny_export(name: str, path: str) -> dict:
    """Builds `name`'s tiny model the way its own tests do and exports it."""
    keras.utils.set_random_seed(0)
    overrides = {**config_lib.tiny_overrides(name), **EXTRA_OVERRIDES.get(name, {})}
    model = build_model(make_config(name, overrides), IMAGE_SHAPES.get(name, DEFAULT_IMAGE_SHAPE))
    model.compile()
    return export_model(model, path)


@pytest.fixture
def umask_022():
    """Runs the test under umask 0o022, the usual default, restoring the caller's after."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes_under(root: str) -> dict:
    """{path relative to root ("." for root): (is_dir, permission bits)} of the whole tree."""
    modes = {".": (True, stat.S_IMODE(os.lstat(root).st_mode))}
    for folder, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = os.path.join(folder, entry)
            st = os.lstat(path)
            assert not stat.S_ISLNK(st.st_mode), f"unexpected link in the export: {path}"
            modes[os.path.relpath(path, root)] = (stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode))
    return modes


def model_params():
    # The built-in methods (the registry also holds test doubles other test files register).
    from tfgen.config import BUILTIN_MODEL_CONFIGS

    params = []
    for name in sorted(BUILTIN_MODEL_CONFIGS):
        if name in QUICK_SIGNATURES:
            params += [pytest.param(name, "quick", id=f"{name}-quick"),
                       pytest.param(name, "rest", id=f"{name}-rest", marks=pytest.mark.slow)]
        else:
            params.append(pytest.param(name, "all", id=name, marks=[pytest.mark.slow] * (name in SLOW_MODELS)))
    return params


def test_registry_has_the_models_this_file_covers():
    """The parametrization below follows the registry; this pins what it holds,
    so that a model dropped from the registry cannot silently drop its check."""
    assert set(tfgen.models.names()) >= {"dcgan", "lrgan", "conditional_lrgan", "aaae", "hali", "wframe",
                                         "andor"}


@pytest.mark.parametrize("name,part", model_params())
def test_every_signature_serves_with_saved_model_cli(name, part, tmp_path, umask_022):
    """Export modes, then `show --all` once and `run` once per signature, all by the real client.

    `part`: which signatures are run: "all", or for a model in
    QUICK_SIGNATURES "quick" (those) or "rest" (the others).
    """
    export = str(tmp_path / "export")
    docs = tiny_export(name, export)

    # Readable by others: mkdir/open under umask 0o022 give 0o755 folders and 0o644 files.
    modes = modes_under(export)
    assert any(not is_dir for is_dir, _ in modes.values()), modes
    for rel, (is_dir, mode) in modes.items():
        if is_dir:
            assert mode & 0o005 == 0o005 and mode == 0o755, f"{rel}: folder mode {oct(mode)}"
        else:
            assert mode & 0o004 and mode == 0o644, f"{rel}: file mode {oct(mode)}"

    listed = json.load(open(os.path.join(export, "signatures.json")))["signatures"]
    assert set(listed) == set(docs) and "serving_default" in listed
    # What the exported functions declare, to compare the tool's view against.
    loaded = tf.saved_model.load(export).signatures
    assert set(loaded) == set(listed)
    declared_inputs = {sig: loaded[sig].structured_input_signature[1] for sig in listed}
    declared_outputs = {sig: loaded[sig].structured_outputs for sig in listed}

    rc, out, err = run_cli(["show", "--all", "--dir", export], tmp_path)
    assert rc == 0, err[-3000:]
    shown = parse_show(out)
    shown.pop("__saved_model_init_op", None)  # TensorFlow's own restore op, not a serving signature
    assert set(shown) == set(listed), out[:3000]
    for sig in listed:
        expected = {k: (spec.dtype, shape_text(spec.shape)) for k, spec in declared_inputs[sig].items()}
        got = {k: (SHOW_DTYPES.get(dtype, dtype), shape) for k, (dtype, shape) in shown[sig]["inputs"].items()}
        assert got == expected, (sig, got, expected)
        assert set(shown[sig]["outputs"]) == set(declared_outputs[sig]), (sig, shown[sig]["outputs"])

    rng = np.random.default_rng(0)
    quick = set(QUICK_SIGNATURES.get(name, ()))
    assert quick <= set(listed), (quick, listed)
    chosen = {"all": set(listed), "quick": quick, "rest": set(listed) - quick}[part]
    for sig in sorted(chosen):
        files, exprs = [], []
        for key, spec in sorted(declared_inputs[sig].items()):
            value = feed_value(key, spec, rng)
            if value.ndim == 0:
                # --input_exprs is parsed with ast.literal_eval (no numpy calls), so a
                # scalar goes as a plain literal; the session casts it to the input's int32.
                exprs.append(f"{key}={int(value)}")
            else:
                np.save(tmp_path / f"{sig}-{key}.npy", value)
                files.append(f"{key}={tmp_path / f'{sig}-{key}.npy'}")
        outdir = tmp_path / "out" / sig
        args = ["run", "--dir", export, "--tag_set", "serve", "--signature_def", sig, "--outdir", str(outdir)]
        if files:
            args += ["--inputs", ";".join(files)]
        if exprs:
            args += ["--input_exprs", ";".join(exprs)]
        rc, out, err = run_cli(args, tmp_path)
        assert rc == 0, f"saved_model_cli {' '.join(args)}\n{err[-3000:]}"
        for key, spec in declared_outputs[sig].items():
            assert f"Result for output key {key}:" in out, (sig, key, out[-2000:])
            value = np.load(outdir / f"{key}.npy")
            assert value.dtype == spec.dtype.as_numpy_dtype, (sig, key, value.dtype)
            assert value.shape[0] == BATCH, (sig, key, value.shape)
            assert spec.shape.is_compatible_with(value.shape), (sig, key, value.shape, spec.shape)
            if value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), (sig, key)
        if sig == "interpolate":  # [batch, steps, ...]: the literal fed reached the graph as steps
            assert np.load(outdir / "images.npy").shape[1] == INT_SCALARS["steps"]


def test_export_modes_follow_the_umask(tmp_path):
    """Modes are those of plain creation under the umask, not fixed ones, and
    reading the umask leaves it unchanged; replacing an export keeps them."""
    old = os.umask(0o027)
    try:
        path = str(tmp_path / "export")
        tiny_export("dcgan", path)
        assert os.umask(0o027) == 0o027  # export_model put the umask back
        tiny_export("dcgan", path)  # replaces the earlier export
    finally:
        os.umask(old)
    modes = modes_under(path)
    assert modes["."] == (True, 0o750)
    for rel, (is_dir, mode) in modes.items():
        assert mode == (0o750 if is_dir else 0o640), f"{rel}: {oct(mode)}"
