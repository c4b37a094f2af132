"""Ctrl-C and SIGTERM during training: finish the step, save it, exit.

The first SIGINT or SIGTERM during `fit` asks training to stop after the
step in flight; the runner then writes a checkpoint of that step and raises
`TrainingInterrupted` (the CLI exits 130 for SIGINT, 143 for SIGTERM, as a
shell reports a process killed by that signal). Before `fit` has started
there is nothing to save and the first signal interrupts at once. A second
signal aborts at once, without saving (the previous checkpoint stays).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Optional

import keras

from tfgen.errors import TfgenError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class TrainingInterrupted(TfgenError):
    """Training was stopped by SIGINT or SIGTERM; `exit_code` is 130 or 143."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 130)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class GracefulInterrupts:
    """Context manager: SIGINT / SIGTERM handlers for one training run.

    Outside `armed()` (data loading, model building) a signal raises
    `TrainingInterrupted` at once. While armed (inside `fit`), it is recorded
    in `received` and `StopOnSignal` ends `fit` after the current step. A
    second signal ends the process at once (`os._exit`). Handlers can only
    be installed from the main thread; elsewhere this does nothing.
    """

    def __init__(self, stream=None):
        self.received: Optional[int] = None
        self.armed_now = False
        self.stream = stream or sys.stderr
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in EXIT_CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        self.release()
        return False

    def release(self) -> None:
        """Puts the previous handlers back (signals act as they did before)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def arm(self, armed: bool = True) -> None:
        """While armed, a first signal is recorded (and acted on after the step) instead of raised."""
        self.armed_now = armed

    def _handle(self, signum, frame):
        if self.received is not None:
            self.stream.write(f"\ntfgen: {signal_name(signum)} again: aborted without saving "
                              f"(the last checkpoint is kept)\n")
            self.stream.flush()
            os._exit(EXIT_CODES.get(signum, 130))
        self.received = signum
        if not self.armed_now:
            raise TrainingInterrupted(f"interrupted by {signal_name(signum)} before training started; "
                                      "nothing was trained or saved", signum)
        self.stream.write(f"\ntfgen: {signal_name(signum)}: stopping after this step to save a checkpoint "
                          f"(press Ctrl-C again to abort at once)\n")
        self.stream.flush()


class StopOnSignal(keras.callbacks.Callback):
    """Ends `fit` after the step in which a signal arrived."""

    def __init__(self, interrupts: GracefulInterrupts):
        super().__init__()
        self.interrupts = interrupts

    def on_train_batch_end(self, batch, logs=None):
        if self.interrupts.received is not None:
            self.model.stop_training = True
