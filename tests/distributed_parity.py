"""Run as a script (it must configure two logical CPUs before TensorFlow starts).

For the models named on the command line (default: every registered one): a few training steps on one device and under
MirroredStrategy over two logical CPUs, from the same seed and data, with
per-replica input pipelines. Prints one JSON line: per model the largest
weight difference, whether the losses were finite and whether the weights
changed.

Run one model per process: collective instance keys restart with every
MirroredStrategy while the runtime keeps the previous strategy's collective
state, so a second strategy over the same devices in one process trips over
the first one's tensor shapes ("Shape mismatch in the collective instance").
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfgen.models  # noqa: E402,F401
from tfgen import config as config_lib  # noqa: E402
from tfgen.data import dataset_info  # noqa: E402
from tfgen.models import build_model, names  # noqa: E402
from tfgen.training.runner import distributed_train_data  # noqa: E402

STEPS = 3


def train(strategy, config):
    keras.utils.set_random_seed(config.train.seed)
    info = dataset_info(config.data)
    with strategy.scope():
        model = build_model(config, info.image_shape, num_classes=info.num_classes)
        model.compile()
    before = [w.copy() for w in model.get_weights()]
    data = distributed_train_data(strategy, config, batches_per_step=model.batches_per_step())
    history = model.fit(data, steps_per_epoch=STEPS, epochs=1, verbose=0,
                        shuffle=False).history
    return before, model.get_weights(), history


results = {}
for name in sys.argv[1:] or names():
    config = config_lib.config_from_dict({
        "model": {"name": name, **config_lib.tiny_overrides(name)},
        "data": {"name": "multidigit", "num_train": 128, "num_test": 32, "shuffle_buffer": 0},
        "train": {"batch_size": 16, "seed": 3}})
    _, one, h1 = train(tf.distribute.get_strategy(), config)
    before, two, h2 = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), config)
    results[name] = {
        "max_abs_diff": float(max(np.abs(a - b).max() for a, b in zip(one, two))),
        "max_weight": float(max(np.abs(a).max() for a in one)),
        "finite": bool(all(np.all(np.isfinite(v)) for h in (h1, h2) for v in h.values())),
        "changed": bool(any(not np.array_equal(a, b) for a, b in zip(before, two))),
        "losses_one_device": {k: v[-1] for k, v in h1.items()},
        "losses_mirrored": {k: v[-1] for k, v in h2.items()},
    }
print(json.dumps(results))
