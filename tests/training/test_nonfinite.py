"""Divergence: a NaN in a loss or a gradient stops training with a message
naming the step and the loss, keeps the last good checkpoint, or rolls back
to it with a lowered learning rate."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from tfgen import config as config_lib
from tfgen.models.dcgan.model import DCGAN, DCGANConfig
from tfgen.models.registry import register
from tfgen.training import TrainingDiverged, load_workdir, train


@dataclasses.dataclass
class FaultyConfig(DCGANConfig):
    name: str = config_lib.field("faulty_dcgan")
    nan_at_step: int = config_lib.field(5, help="optimizer step at which to inject the NaN")
    nan_in: str = config_lib.field("loss", choices=["loss", "gradient", "moving_variance"])
    times: int = config_lib.field(1, help="how many times the fault fires")


@register("faulty_dcgan", FaultyConfig)
class FaultyDCGAN(DCGAN):
    """DCGAN that poisons one step: its real batch (-> NaN loss) or its generator gradient."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Kept outside the model's tracked state: a rollback restores the model,
        # not the fault's history (the fault is transient, as real ones often are).
        self._fault = {"fired": tf.Variable(0, trainable=False, dtype=tf.int32)}

    @property
    def fired(self):
        return self._fault["fired"]

    def train_step(self, data):
        cfg = self.model_config
        fire = tf.logical_and(tf.equal(self.g_optimizer.iterations, cfg.nan_at_step - 1), self.fired < cfg.times)
        if cfg.nan_in == "loss":
            poison = tf.where(fire, np.nan, 0.0)
            data = dict(data, image=data["image"] + poison)
            out = super().train_step(data)
        elif cfg.nan_in == "gradient":
            out = super().train_step(data)
            # A NaN gradient applied to one weight, with finite losses.
            v = self.generator.trainable_variables[0]
            v.assign(tf.where(fire, v + np.nan, v))
        else:
            out = super().train_step(data)
            # A batch-norm moving variance overflows (as under a huge learning rate):
            # losses and trainable weights stay finite, since training uses batch statistics.
            v = next(w for w in self.generator.non_trainable_variables if "moving_variance" in w.path)
            v.assign(tf.where(fire, v + np.inf, v))
        self.fired.assign_add(tf.cast(fire, tf.int32))
        return out


def make_config(tmp_path, **model):
    raw = {"model": {"name": "faulty_dcgan", "g_filters": 8, "d_filters": 8, **model},
           "data": {"name": "multidigit", "num_train": 128, "num_test": 64, "shuffle_buffer": 128},
           "train": {"batch_size": 8, "steps": 8, "checkpoint_every": 2, "log_every": 1, "image_every": 100,
                     "num_grid_images": 4, "verbose": 0}}
    return raw


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    config = config_lib.config_from_dict(make_config(tmp_path))
    workdir = str(tmp_path / "run")
    with pytest.raises(TrainingDiverged) as info:
        train(config, workdir, log=lambda s: None)
    message = str(info.value)
    assert "loss" in message and "at step 5" in message and "ckpt-4" in message
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["finished"] is False and "step 5" in status["failure"] and status["step"] == 4
    # The kept checkpoint loads, and its weights are finite.
    latest = tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints"))
    assert latest.endswith("ckpt-4")
    _, model = load_workdir(workdir)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_nan_gradient_is_caught_through_the_weights(tmp_path):
    config = config_lib.config_from_dict(make_config(tmp_path, nan_in="gradient", nan_at_step=3))
    with pytest.raises(TrainingDiverged, match=r"weights of generator became non-finite at step 3.*ckpt-2"):
        train(config, str(tmp_path / "run"), log=lambda s: None)


def test_a_non_trainable_overflow_stops_training_and_every_kept_variable_is_finite(tmp_path):
    # A checkpoint is good only if every variable is finite, batch-norm statistics included.
    config = config_lib.config_from_dict(make_config(tmp_path, nan_in="moving_variance", nan_at_step=3))
    workdir = str(tmp_path / "run")
    with pytest.raises(TrainingDiverged, match=r"weights of generator became non-finite at step 3.*ckpt-2"):
        train(config, workdir, log=lambda s: None)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")))
    floats = [reader.get_tensor(k) for k, dtype in reader.get_variable_to_dtype_map().items() if dtype.is_floating]
    assert floats and all(np.all(np.isfinite(t)) for t in floats)


def test_rollback_continues_with_lower_learning_rate(tmp_path):
    raw = make_config(tmp_path)
    raw["train"].update(on_nonfinite="rollback", rollback_lr_factor=0.5)
    config = config_lib.config_from_dict(raw)
    logs = []
    summary = train(config, str(tmp_path / "run"), log=logs.append)
    assert summary["rollbacks"] == 1 and summary["end_step"] == 8
    assert any("rolled back to" in line and "ckpt-4" in line for line in logs)
    reader = tf.train.load_checkpoint(str(tmp_path / "run" / "checkpoints"))
    lr = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith("g_optimizer/_learning_rate")]
    assert lr and np.isclose(lr[0], 2e-4 * 0.5)


def test_rollbacks_are_bounded(tmp_path):
    raw = make_config(tmp_path, times=10)
    raw["train"].update(on_nonfinite="rollback", max_rollbacks=2)
    config = config_lib.config_from_dict(raw)
    with pytest.raises(TrainingDiverged, match="at step 5"):
        train(config, str(tmp_path / "run"), log=lambda s: None)


# ---------------------------------------------------------------------------
# One trainer per work directory (#22)
# ---------------------------------------------------------------------------

def _plain_config(tmp_path, steps=2):
    raw = make_config(tmp_path)
    raw["model"] = {"name": "dcgan", "g_filters": 8, "d_filters": 8}
    raw["train"].update(steps=steps, checkpoint_every=1)
    return config_lib.config_from_dict(raw)


def test_a_second_trainer_is_refused_naming_the_holder(tmp_path):
    import os

    from tfgen.errors import WorkdirError
    from tfgen.training.workdir import LOCK_FILE, WorkdirLock

    workdir = tmp_path / "run"
    workdir.mkdir()
    with WorkdirLock(str(workdir)):  # stands in for a run in progress
        with pytest.raises(WorkdirError, match=rf"already being trained by process {os.getpid()} on "):
            train(_plain_config(tmp_path), str(workdir), log=lambda s: None)
    assert not (workdir / "checkpoints").exists()  # the refused run wrote nothing
    # A lock file left by a dead process (no flock held) is taken over; the lock
    # is released when training ends, so the next run gets it too.
    (workdir / LOCK_FILE).write_text("process 999999 on a-dead-host\n")
    assert train(_plain_config(tmp_path), str(workdir), log=lambda s: None)["end_step"] == 2
    assert train(_plain_config(tmp_path, steps=3), str(workdir), log=lambda s: None)["end_step"] == 3
    with WorkdirLock(str(workdir)):
        pass


def test_a_rerun_finalises_a_run_killed_before_its_final_weights(tmp_path):
    import json
    import shutil

    workdir = tmp_path / "run"
    first = train(_plain_config(tmp_path, steps=2), str(workdir), log=lambda s: None)
    shutil.copytree(workdir / "final", tmp_path / "final_step2")
    # Killed after its last checkpoint, before final/ and status.json were written.
    shutil.rmtree(workdir / "final")
    (workdir / "status.json").unlink()
    logs = []
    again = train(_plain_config(tmp_path, steps=2), str(workdir), log=logs.append)
    assert any("wrote the final weights of step 2" in line for line in logs)
    assert again["weights_sha256"] == first["weights_sha256"]
    assert json.loads((workdir / "final" / "info.json").read_text())["step"] == 2
    status = json.loads((workdir / "status.json").read_text())
    assert status["finished"] is True and status["step"] == 2
    # Extended to 4 steps, then killed before final/: the stale step-2 final/ is replaced.
    extended = train(_plain_config(tmp_path, steps=4), str(workdir), log=lambda s: None)
    shutil.rmtree(workdir / "final")
    shutil.copytree(tmp_path / "final_step2", workdir / "final")
    train(_plain_config(tmp_path, steps=4), str(workdir), log=lambda s: None)
    assert json.loads((workdir / "final" / "info.json").read_text())["step"] == 4
    _, model = load_workdir(str(workdir))
    from tfgen.training.runner import weights_fingerprint

    assert weights_fingerprint(model) == extended["weights_sha256"]
    # A consistent finished run is left alone.
    logs = []
    train(_plain_config(tmp_path, steps=4), str(workdir), log=logs.append)
    assert any("nothing to do" in line for line in logs)
