"""Training progress on the console, counted in global steps.

Keras' own bar counts the batches of one `fit` call, so a run resumed at
step 100 of 6000 would show `1/5900`. `Progress` counts the run's global
steps instead (`101/6000`), through `tfgen.progress.ProgressDisplay`: a bar
on a terminal, one plain line every N steps anywhere else. The losses shown
are averaged over the steps since the previous update.
"""

from __future__ import annotations

from typing import Optional, TextIO

import keras

from tfgen.progress import ProgressDisplay
from tfgen.training.callbacks import StepCounter, WindowMeans


class Progress(keras.callbacks.Callback):
    """Shows the run's progress in global steps.

    Args:
      counter: the run's `StepCounter` (global steps).
      total: train.steps, the step the run ends at.
      batch_size: the global batch, for images per second.
      every: plain-line mode: a line every this many steps.
      stream: where to write (default stdout).
      plain: force plain lines (True) or the bar (False); default: the bar
        only when `stream` is a terminal.
    """

    def __init__(self, counter: StepCounter, total: int, batch_size: int, every: int = 50,
                 stream: Optional[TextIO] = None, plain: Optional[bool] = None):
        super().__init__()
        self.counter = counter
        self.display = ProgressDisplay(total, items_per_step=batch_size, every=every, stream=stream, plain=plain)
        self._windows = WindowMeans()
        self._seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._seen = 0
        self._windows.reset()

    def on_train_batch_end(self, batch, logs=None):
        self._seen += 1
        self._windows.add(logs)
        step = self.counter.step
        if self._seen == 1:
            self.display.start(step)  # the first step traces and compiles: not in the rate
        if self.display.due(step):
            self.display.update(step, self._windows.take())

    def on_train_end(self, logs=None):
        self.display.close()
