"""Callbacks of the training harness.

Each writes with its own `tf.summary` writer and an explicit global step:
summaries written from inside `train_step` next to Keras' TensorBoard
callback are unreliable in Keras 3.15 (KERAS3_NOTES, TensorBoard).
"""

from __future__ import annotations

import math
import os
import time
from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfgen.viz import image_grid, save_png
from tfgen.viz.plot import metrics_figure, read_metrics_csv


class StepCounter(keras.callbacks.Callback):
    """Keeps the global step (steps done before this `fit` plus batches since)."""

    def __init__(self, start_step: int):
        super().__init__()
        self.step = start_step

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss or variable, before anything is saved.

    Losses are checked from the step's logs; every floating-point variable is
    checked every step too (one small graph reduction): each sub-network's
    weights, non-trainable ones included (a batch-norm moving variance can
    overflow while every trainable weight is still finite), the optimizers'
    slots and the model's persistent state (chains, latent banks). That
    catches a NaN or Inf the moment it is written, so a checkpoint is only
    ever saved from a state that is finite everywhere. Put it right after the
    `StepCounter`, ahead of the checkpointing callback, so a diverged state
    is never written over the last good checkpoint.
    """

    def __init__(self, counter: StepCounter, model=None):
        super().__init__()
        self.counter = counter
        self.failure: Optional[str] = None
        self._model = model
        self._groups: Optional[Dict[str, list]] = None  # gathered after the first step: optimizers build lazily
        self._check = None

    @staticmethod
    def _variable_groups(model) -> Dict[str, list]:
        """name -> the floating-point variables checked under that name."""
        groups: Dict[str, list] = {}
        for name, net in model.sub_networks().items():
            groups[f"weights of {name}"] = list(net.variables)
        for name, optimizer in model.optimizers_by_name().items():
            groups[f"{name}'s slots"] = list(optimizer.variables)
        groups["persistent state"] = [v for v in model.persistent_state().values() if hasattr(v, "dtype")]
        return {name: [v for v in vs if tf.as_dtype(v.dtype).is_floating] for name, vs in groups.items()}

    def _finite(self):
        if self._check is None:
            self._groups = self._variable_groups(self._model)
            groups = list(self._groups.values())

            @tf.function
            def check():
                return tf.stack([tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in vs] or [True])
                                 for vs in groups])

            self._check = check
        return self._check().numpy()

    def on_train_batch_end(self, batch, logs=None):
        step = self.counter.step
        for name, value in (logs or {}).items():
            if not math.isfinite(float(value)):
                self.failure = f"loss {name} became {value} at step {step}"
                self.model.stop_training = True
                return
        if self._model is not None:
            finite = self._finite()
            for name, ok in zip(self._groups, finite):
                if not ok:
                    self.failure = f"{name} became non-finite at step {step} (a NaN or Inf was written)"
                    self.model.stop_training = True
                    return


class WindowMeans:
    """Means of each logged metric over the steps since the previous `take`.

    Each step's logs are its own values (`GenerativeModel.update_trackers`);
    they are summed in float64, so a window of one step is that step's value
    exactly, and a spike of any size leaves the windows after it untouched.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._sums: Dict[str, float] = {}
        self._counts: Dict[str, int] = {}

    def add(self, logs) -> None:
        """Adds one step's logs."""
        for name, value in (logs or {}).items():
            value = float(np.asarray(value, np.float64).mean())
            self._sums[name] = self._sums.get(name, 0.0) + value
            self._counts[name] = self._counts.get(name, 0) + 1

    def take(self) -> Dict[str, float]:
        """The means since the previous `take` (or `reset`), then starts a new window."""
        means = {name: total / self._counts[name] for name, total in self._sums.items()}
        self.reset()
        return means


class ScalarLogger(keras.callbacks.Callback):
    """Writes the model's metrics to TensorBoard (and a CSV file) every `every` steps.

    Each point written is the mean over the steps since the previous point
    (`WindowMeans`). Also logs `steps_per_sec` and `images_per_sec`.

    With `csv_path`, the same points go to a CSV file (columns: step, then
    the metrics in sorted order), for curves outside TensorBoard (e.g.
    FRAME's energy and response-distance curves). A resumed run first drops
    the rows past its starting step (written after the last checkpoint by
    the interrupted run), so every step appears once.
    """

    def __init__(self, logdir: str, counter: StepCounter, guard: NonFiniteGuard, every: int, batch_size: int,
                 csv_path: Optional[str] = None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(logdir)
        self.counter, self.guard, self.every, self.batch_size = counter, guard, every, batch_size
        self.csv_path = csv_path
        self._columns = None
        self._t0 = None
        self._last_step = None
        self._windows = WindowMeans()

    def on_train_begin(self, logs=None):
        self._t0, self._last_step = time.perf_counter(), self.counter.step
        if self.csv_path and os.path.exists(self.csv_path):
            self._truncate_csv(self.counter.step)

    def _truncate_csv(self, last_step: int) -> None:
        import csv

        with open(self.csv_path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or last_step == 0:  # a run starting over (its predecessor saved nothing): a new table
            os.remove(self.csv_path)
            return
        self._columns = rows[0][1:]
        kept = [rows[0]] + [r for r in rows[1:] if r and int(float(r[0])) <= last_step]
        tmp = self.csv_path + ".tmp"
        with open(tmp, "w", newline="") as f:
            csv.writer(f).writerows(kept)
        os.replace(tmp, self.csv_path)

    def _append_csv(self, step: int, values: Dict[str, float]) -> None:
        import csv

        new = not os.path.exists(self.csv_path)
        if self._columns is None:
            self._columns = sorted(values)
        with open(self.csv_path, "a", newline="") as f:
            out = csv.writer(f)
            if new:
                out.writerow(["step", *self._columns])
            out.writerow([step, *(repr(values[c]) if c in values else "" for c in self._columns)])

    def on_epoch_begin(self, epoch, logs=None):
        self._windows.reset()

    def on_train_batch_end(self, batch, logs=None):
        self._windows.add(logs)
        step = self.counter.step
        if step % self.every or self.guard.failure:
            return
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._t0, 1e-9)
        self._t0, self._last_step = now, step
        windows = self._windows.take()
        with self.writer.as_default(step=step), tf.summary.record_if(True):
            for name, window in windows.items():
                tf.summary.scalar(f"losses/{name}", window)
            tf.summary.scalar("speed/steps_per_sec", rate)
            tf.summary.scalar("speed/images_per_sec", rate * self.batch_size)
        self.writer.flush()
        if self.csv_path:
            self._append_csv(step, windows)

    def on_train_end(self, logs=None):
        self.writer.flush()


def _write_text(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)


class ImageLogger(keras.callbacks.Callback):
    """Writes image grids every `every` steps and at the end of training.

    Panels come from `model.image_panels(fixed_latent, real_batch)`: fixed-noise
    samples for every model, plus whatever the model adds (reconstructions,
    layers, basis functions). Each panel goes to TensorBoard as one grid image
    (rescaled from [-1, 1] to [0, 1]); the samples grid also goes to
    `<workdir>/samples/step_<N>.png` and the model's other `png_panels` to
    `<workdir>/samples/<panel>_step_<N>.png`. `model.histograms` (e.g.
    LR-GAN's pose parameters) go to TensorBoard histograms, and
    `model.text_panels` (Markdown) to TensorBoard text and
    `<workdir>/samples/<name>_step_<N>.md`. With `metrics_csv` and
    `curves_png`, the loss curves of the CSV are redrawn into `curves_png`
    at the same steps.
    """

    def __init__(self, logdir: str, png_dir: str, counter: StepCounter, guard: NonFiniteGuard, every: int,
                 fixed_latent: tf.Tensor, real_batch: Dict[str, tf.Tensor], metrics_csv: Optional[str] = None,
                 curves_png: Optional[str] = None):
        super().__init__()
        self.metrics_csv, self.curves_png = metrics_csv, curves_png
        self.writer = tf.summary.create_file_writer(logdir)
        self.png_dir = png_dir
        self.counter, self.guard, self.every = counter, guard, every
        self.fixed_latent, self.real_batch = fixed_latent, real_batch
        self.last_png: Optional[str] = None
        self._last_written = None

    def write(self, step: int) -> None:
        panels = self.model.image_panels(self.fixed_latent, self.real_batch)
        with self.writer.as_default(step=step), tf.summary.record_if(True):
            for name, images in panels.items():
                grid = image_grid(np.asarray(images))
                tf.summary.image(f"images/{name}", grid[None], step=step)
                if name not in self.model.png_panels:
                    continue
                png = f"step_{step:07d}.png" if name == "samples" else f"{name}_step_{step:07d}.png"
                png = save_png(grid, os.path.join(self.png_dir, png))
                if name == self.model.png_panels[0]:  # the run's headline picture
                    self.last_png = png
            for name, values in self.model.histograms(self.fixed_latent, self.real_batch).items():
                tf.summary.histogram(name, np.asarray(values), step=step)
            for name, text in self.model.text_panels(self.fixed_latent, self.real_batch).items():
                tf.summary.text(f"text/{name}", text, step=step)
                _write_text(os.path.join(self.png_dir, f"{name}_step_{step:07d}.md"), text)
        self.writer.flush()
        self._last_written = step
        if self.metrics_csv and self.curves_png and os.path.exists(self.metrics_csv):
            save_png(metrics_figure(read_metrics_csv(self.metrics_csv)), self.curves_png)

    def on_train_batch_end(self, batch, logs=None):
        if self.counter.step % self.every == 0 and not self.guard.failure:
            self.write(self.counter.step)

    def on_train_end(self, logs=None):
        if not self.guard.failure and self._last_written != self.counter.step:
            self.write(self.counter.step)


class Checkpointer(keras.callbacks.Callback):
    """Saves the training state every `every` steps (never after a non-finite loss)."""

    def __init__(self, state, counter: StepCounter, guard: NonFiniteGuard, every: int):
        super().__init__()
        self.state, self.counter, self.guard, self.every = state, counter, guard, every
        self.last_saved: Optional[int] = None

    def on_train_batch_end(self, batch, logs=None):
        if self.counter.step % self.every == 0 and not self.guard.failure:
            self.state.save(self.counter.step)
            self.last_saved = self.counter.step
