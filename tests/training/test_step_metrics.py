"""Per-step metrics are logged exactly: each step's own value, float64 in metrics.csv.

Keras' trackers hold float32 running means; recovering a step's value by
differencing two of them leaves errors of ~1e5 after a spike of 1e12. Train
steps now return the step's own values and the loggers sum them in float64.
"""

import csv

import keras
import numpy as np
import pytest

from model_testing import make_config, random_batches
from tfgen import config as config_lib
from tfgen.models import build_model
from tfgen.training import callbacks as cb

# A spiky series: the kind of energy curve FRAME produces when it collapses.
SPIKY = [3.2e5, -1.7e5, 1e20, 2.5e5, -3.1e5, 1e12, 4.0e5, -2.2e5, 1.0, 7.5e4]


def test_window_means_are_exact_after_spikes():
    windows = cb.WindowMeans()
    for value in SPIKY:
        windows.add({"energy": np.float32(value)})
        assert windows.take() == {"energy": float(np.float32(value))}  # one step: its own value
    for value in SPIKY[:4]:
        windows.add({"energy": np.float32(value), "other": 1.0})
    out = windows.take()
    assert out["energy"] == pytest.approx(np.mean(np.float32(SPIKY[:4]).astype(np.float64)), rel=1e-15)
    assert out["other"] == 1.0 and windows.take() == {}


def test_csv_holds_each_steps_own_value(tmp_path):
    # The logger as Keras drives it: one batch-end call per step with that step's logs.
    counter = cb.StepCounter(0)
    guard = cb.NonFiniteGuard(counter)
    path = tmp_path / "metrics.csv"
    logger = cb.ScalarLogger(str(tmp_path / "logs"), counter, guard, every=1, batch_size=4, csv_path=str(path))
    logger.on_train_begin()
    logger.on_epoch_begin(0)
    for value in SPIKY:
        counter.on_train_batch_end(0)
        logger.on_train_batch_end(0, {"energy": np.float32(value)})
    rows = list(csv.DictReader(open(path)))
    assert [int(r["step"]) for r in rows] == list(range(1, len(SPIKY) + 1))
    np.testing.assert_array_equal([float(r["energy"]) for r in rows], np.float32(SPIKY).astype(np.float64))


def test_train_step_logs_are_the_steps_own_values():
    # The logs a real model gives Keras each step are that step's losses: the
    # running-mean trackers end at the mean of exactly those values.
    model = build_model(make_config("dcgan", config_lib.tiny_overrides("dcgan")), (32, 32, 1))
    model.compile()
    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append({k: float(v) for k, v in logs.items()})

    model.fit(random_batches((32, 32, 1), 8), steps_per_epoch=5, epochs=1, verbose=0, callbacks=[Recorder()],
              shuffle=False)
    assert len(seen) == 5
    for name in ("d_loss", "g_loss"):
        steps = np.array([s[name] for s in seen])
        running = {m.name: float(m.result()) for m in model.metrics}[name]
        assert running == pytest.approx(steps.mean(), rel=1e-5)
        # Not running means: those would make the first value the mean of the first two, etc.
        assert not np.allclose(steps[1:], np.cumsum(steps)[1:] / np.arange(2, 6))
