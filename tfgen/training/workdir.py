"""The work directory of a run, and loading a trained model back from it.

Layout::

    <workdir>/config.yaml        resolved experiment config
    <workdir>/model.json         the model's get_config() (shapes included)
    <workdir>/checkpoints/       periodic training checkpoints (resume)
    <workdir>/final/model*       final weights (what sample/export/evaluate read)
    <workdir>/logs/train         TensorBoard scalars
    <workdir>/metrics.csv        the same scalars as a table (step, metrics...)
    <workdir>/logs/images        TensorBoard image grids
    <workdir>/samples/*.png      sample grids
    <workdir>/status.json        last step reached and whether training finished
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfgen import config as config_lib
from tfgen.errors import WorkdirError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.json"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"


def write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def read_status(workdir: str) -> dict:
    path = os.path.join(workdir, STATUS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def load_workdir(workdir: str):
    """Rebuilds the trained model of a work directory.

    Returns:
      (config, model): the resolved `Config` and the model with its trained
      weights (final weights if training finished, else the latest checkpoint).

    Raises:
      WorkdirError: the directory is missing, holds no run, or no checkpoint.
    """
    import tfgen.models  # noqa: F401  (registers the models)
    from tfgen.models import get_model_class
    from tfgen.training.checkpoints import CHECKPOINT_DIR, FINAL_DIR

    if not os.path.isdir(workdir):
        raise WorkdirError(f"{workdir}: no such work directory")
    config_path = os.path.join(workdir, CONFIG_FILE)
    model_path = os.path.join(workdir, MODEL_FILE)
    if not (os.path.exists(config_path) and os.path.exists(model_path)):
        raise WorkdirError(f"{workdir}: not a tfgen work directory (no {CONFIG_FILE}/{MODEL_FILE}); "
                           f"create one with `tfgen train CONFIG --workdir {workdir}`")
    config = config_lib.load_config(config_path)
    with open(model_path) as f:
        model_config = json.load(f)
    model_config["xla"] = False  # serving and sampling: plain graph functions
    model = get_model_class(config.model.name).from_config(model_config)
    final = os.path.join(workdir, FINAL_DIR, "model")
    if tf.io.gfile.exists(final + ".index"):
        tf.train.Checkpoint(model=model).read(final).expect_partial().assert_existing_objects_matched()
    else:
        latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
        if not latest:
            raise WorkdirError(f"{workdir}: no checkpoint yet (training has not saved one); "
                               f"run `tfgen train` on it first")
        tf.train.Checkpoint(model=model).restore(latest).expect_partial()
    return config, model
