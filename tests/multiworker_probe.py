"""Run as one of two worker processes (TF_CONFIG set): does Keras 3 still
mis-reduce under MultiWorkerMirroredStrategy? Prints one JSON line."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()

from keras.src.backend.tensorflow.trainer import reduce_per_replica  # noqa: E402


@tf.function
def step():
    return strategy.run(lambda: {"loss": tf.constant(2.0), "image": tf.ones([2, 3])})


values = step()
result = {}
try:  # what fit's metric reduction does with a scalar log
    reduce_per_replica(values["loss"], strategy, "auto")
    result["scalar_log_reduction"] = "ok"
except Exception as e:  # noqa: BLE001
    result["scalar_log_reduction"] = f"fails: {type(e).__name__}"
try:  # what fit's symbolic build does with a dict batch
    strategy.reduce("MEAN", values, axis=None)
    result["dict_batch_reduction"] = "ok"
except Exception as e:  # noqa: BLE001
    result["dict_batch_reduction"] = f"fails: {type(e).__name__}"
print(json.dumps(result))
