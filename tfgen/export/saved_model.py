"""Writes a model's serving functions as a SavedModel.

The SavedModel loads with plain TensorFlow, without tfgen installed::

    m = tf.saved_model.load(path)
    images = m.signatures["generate"](z=tf.random.normal([8, 100]))["images"]

Signatures come from `model.serving_endpoints()`; `serving_default` is
`generate`. Inputs are checked inside the graph: a non-finite input is an
`InvalidArgumentError` naming the input and its expected shape, and a wrong dtype
or rank is rejected by the signature itself before anything runs. `signatures.json`
beside `saved_model.pb` documents every signature.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf


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


def export_model(model, out_dir: str) -> dict:
    """Exports `model`'s serving endpoints to `out_dir` (replaced atomically).

    Args:
      model: a built `GenerativeModel` with trained weights.
      out_dir: destination folder.

    Returns:
      {signature name: description} as also written to signatures.json.
    """
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
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return docs
