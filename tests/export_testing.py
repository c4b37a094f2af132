"""Reloading an exported SavedModel in a process where tfgen cannot be imported.

`reload_without_tfgen(path, inputs)` calls each named signature with random
inputs and returns the signature names and each output's shape and range:
what a server with plain TensorFlow would see.
"""

import json
import subprocess
import sys
import textwrap

PY = sys.executable

RELOAD = textwrap.dedent("""\
    import sys, json
    sys.modules["tfgen"] = None  # any import of tfgen now fails: plain TensorFlow only
    import tensorflow as tf
    m = tf.saved_model.load(sys.argv[1])
    inputs = json.loads(sys.argv[2])
    result = {"signatures": sorted(m.signatures)}
    for name, args in inputs.items():
        feed = {}
        for i, (arg, spec) in enumerate(sorted(args.items())):
            if isinstance(spec, dict):  # {"int": value}: an int32 scalar
                feed[arg] = tf.constant(spec["int"], tf.int32)
            else:  # a shape: float32 uniform in [-1, 1]
                feed[arg] = tf.random.stateless_uniform(spec, seed=[1, 2 + i], minval=-1, maxval=1)
        out = m.signatures[name](**feed)
        result[name] = {k: v.shape.as_list() for k, v in out.items()}
        result[name + "_range"] = {k: [float(tf.reduce_min(v)), float(tf.reduce_max(v))] for k, v in out.items()}
    print(json.dumps(result))
    """)


def reload_without_tfgen(path, inputs):
    """Serves an exported model with plain TensorFlow.

    Args:
      path: SavedModel directory.
      inputs: signature name -> {argument: shape list (random float32 in
        [-1, 1]) or {"int": value} (int32 scalar)}; the older form
        [argument, shape] is accepted too.

    Returns:
      {"signatures": sorted names, NAME: {output: shape}, NAME_range: {output: [min, max]}}.
    """
    inputs = {name: ({spec[0]: spec[1]} if isinstance(spec, list) else spec) for name, spec in inputs.items()}
    proc = subprocess.run([PY, "-c", RELOAD, str(path), json.dumps(inputs)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
