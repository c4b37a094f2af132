"""Writes a model's serving functions as a SavedModel.

The SavedModel loads with plain TensorFlow, without tfgen installed::

    m = tf.saved_model.load(path)
    images = m.signatures["generate"](z=tf.random.normal([8, 100]))["images"]

Signatures come from `model.serving_endpoints()`; `serving_default` is
`generate`. Inputs are checked inside the graph: a non-finite input is an
`InvalidArgumentError` naming the input, a wrong shape or rank one naming
the input and its expected shape; a wrong dtype is rejected by TensorFlow
before the graph runs, with a message that gives the input's position
("input #0") rather than its name. `signatures.json`
beside `saved_model.pb` documents every signature. The export's folders
and files get the modes the umask gives newly created ones (usually
readable by everyone), so that a server running as another user can load it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from tfgen.errors import TfgenError


def _describe(spec) -> str:
    dims = ["batch" if d is None and i == 0 else ("?" if d is None else str(d))
            for i, d in enumerate(spec.shape.as_list())]
    return f"{spec.dtype.name} [{', '.join(dims)}]"


def _checked(fn, specs):
    """Wraps `fn` so that inputs must have the declared shape and be finite.

    A concrete signature accepts any shape of the right rank, so the fixed
    dimensions are asserted here, with a message naming the input.
    """

    def wrapped(*args):
        checked = []
        for spec, arg in zip(specs, args):
            expected = _describe(spec)
            # Rank first (a wrong rank would otherwise fail deep inside the graph).
            arg = tf.ensure_shape(arg, [None] * spec.shape.rank, name=f"check_{spec.name}")
            for axis, dim in enumerate(spec.shape.as_list()):
                if dim is not None:
                    tf.debugging.assert_equal(
                        tf.shape(arg)[axis], dim,
                        message=f"input '{spec.name}' must be {expected}; wrong size on axis {axis}")
            if spec.dtype.is_floating:
                arg = tf.debugging.assert_all_finite(arg, f"input '{spec.name}' contains NaN or Inf")
            checked.append(arg)
        return fn(*checked)

    return wrapped


def _check_destination(out_dir: str) -> None:
    """Refuses to replace anything but an earlier export (never a run or a folder of runs)."""
    if not os.path.exists(out_dir):
        return
    if not os.path.isdir(out_dir) or not os.path.exists(os.path.join(out_dir, "saved_model.pb")):
        raise TfgenError(f"--out {out_dir}: exists and is not an earlier SavedModel export; "
                         "choose a new path (tfgen only replaces its own exports)")


def _current_umask() -> int:
    """The process umask, read without leaving it changed.

    `os.umask` can only be read by setting it, so it is set and restored at
    once. The value set meanwhile is 0o077, the most private one: a file that
    another thread happens to create in that instant ends up private rather
    than more readable than intended.

    Returns:
      The umask's permission bits, e.g. 0o022.
    """
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _apply_default_permissions(root: str) -> None:
    """Gives `root` and everything under it the modes plain creation would give.

    `tempfile.mkdtemp` creates the staging folder with mode 0o700 whatever the
    umask, and `os.replace` keeps that mode, so without this an export could be
    read only by its owner: a model server running as another user (or a
    colleague) could not load it. Directories get `0o777 & ~umask` and files
    `0o666 & ~umask`, as `mkdir` and `open(..., "w")` would give, so the
    export is exactly as private as the user's umask asks for, and no more.

    Args:
      root: the staging folder of an export; links under it are left alone.
    """
    mask = _current_umask()
    dir_mode, file_mode = 0o777 & ~mask, 0o666 & ~mask
    os.chmod(root, dir_mode)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):  # chmod follows links: never change modes outside the export
                os.chmod(path, dir_mode)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, file_mode)


def export_model(model, out_dir: str) -> dict:
    """Exports `model`'s serving endpoints to `out_dir` (replaced atomically).

    Args:
      model: a built `GenerativeModel` with trained weights.
      out_dir: destination folder.

    Returns:
      {signature name: description} as also written to signatures.json.
    """
    _check_destination(out_dir)
    endpoints = model.serving_endpoints()
    if "generate" not in endpoints:
        raise ValueError(f"{model.name} has no 'generate' endpoint")
    archive = keras.export.ExportArchive()
    archive.track(model)
    docs = {}
    for name, (fn, specs, doc) in endpoints.items():
        archive.add_endpoint(name, _checked(fn, specs), input_signature=list(specs))
        docs[name] = doc
    gen_fn, gen_specs, gen_doc = endpoints["generate"]
    archive.add_endpoint("serving_default", _checked(gen_fn, gen_specs), input_signature=list(gen_specs))
    docs["serving_default"] = "same as generate: " + gen_doc

    parent = os.path.dirname(os.path.abspath(out_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        archive.write_out(tmp, verbose=False)
        with open(os.path.join(tmp, "signatures.json"), "w") as f:
            json.dump({"model": model.name, "signatures": docs}, f, indent=2)
        # Before the rename, so that the export never appears at out_dir owner-only.
        _apply_default_permissions(tmp)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return docs
