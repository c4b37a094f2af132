"""A progress display for long loops: a bar on a terminal, plain lines elsewhere.

Used by training (in global steps, `tfgen.training.progress`) and by the
long silent phases around it (training a domain classifier or a filter
bank). Where the output goes decides the form:

* a terminal: one bar redrawn in place (at most ~10 times a second);
* anything else (CI, `nohup`, a log file): one plain line every `every`
  steps, and at the last step, with no carriage returns.

Each update shows the step, the values given (losses), items per second
and the time left. Free of TensorFlow.
"""

from __future__ import annotations

import sys
import time
from typing import Dict, Optional, TextIO


def format_duration(seconds: Optional[float]) -> str:
    """1:02:03 / 4:05 for a duration in seconds; '?' if not known."""
    if seconds is None or not seconds == seconds or seconds < 0 or seconds > 1e8:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_values(values: Dict[str, float], limit: int = 6) -> str:
    items = sorted(values.items())[:limit]
    return "  ".join(f"{k} {v:.4g}" for k, v in items)


class ProgressDisplay:
    """Step `k` of `total`, drawn as a bar on a terminal or as plain lines.

    Args:
      total: the last step.
      items_per_step: e.g. the batch size, for the items/s figure.
      every: plain-line mode: a line every this many steps.
      label: printed before each line ("step" in training).
      unit: the items' name in the rate ("img/s").
      stream: where to write (default stdout).
      plain: force plain lines (True) or the bar (False); default: the bar
        only when `stream` is a terminal.
    """

    BAR_WIDTH = 24
    REDRAW_SECONDS = 0.1

    def __init__(self, total: int, items_per_step: int = 1, every: int = 50, label: str = "step",
                 unit: str = "img", stream: Optional[TextIO] = None, plain: Optional[bool] = None):
        self.total, self.items_per_step, self.every = total, items_per_step, max(1, every)
        self.label, self.unit = label, unit
        self.stream = stream or sys.stdout
        if plain is None:
            plain = not (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.plain = plain
        self._t_first = None  # after the first step: tracing and compilation are not in the rate
        self._step_first = 0
        self._t_last_draw = 0.0
        self._drawn = False

    def due(self, step: int) -> bool:
        """Whether `update(step)` would write anything (so callers compute values only then)."""
        if self.plain:
            return step % self.every == 0 or step == self.total
        return step == self.total or time.perf_counter() - self._t_last_draw >= self.REDRAW_SECONDS

    def _rate(self, step: int, now: float) -> Optional[float]:
        if self._t_first is None or step <= self._step_first or now <= self._t_first:
            return None
        return (step - self._step_first) / (now - self._t_first)

    def text(self, step: int, values: Dict[str, float], now: float) -> str:
        """The values, rate and time left at `step` (without the step or the bar)."""
        rate = self._rate(step, now)
        speed = f"{rate * self.items_per_step:.1f} {self.unit}/s" if rate else f"- {self.unit}/s"
        eta = format_duration((self.total - step) / rate) if rate else "?"
        shown = _format_values(values)
        return f"{shown}  {speed}  ETA {eta}" if shown else f"{speed}  ETA {eta}"

    def start(self, step: int) -> None:
        """Marks the step the rate is measured from (call after the first, slow, step)."""
        self._t_first, self._step_first = time.perf_counter(), step

    def update(self, step: int, values: Optional[Dict[str, float]] = None) -> None:
        now = time.perf_counter()
        if self._t_first is None:
            self._t_first, self._step_first = now, step
        if not self.due(step):
            return
        values = values or {}
        if self.plain:
            width = len(str(self.total))
            self._write(f"{self.label} {step:>{width}}/{self.total}  {self.text(step, values, now)}\n")
            return
        self._t_last_draw = now
        done = min(1.0, step / max(self.total, 1))
        filled = int(done * self.BAR_WIDTH)
        bar = "=" * filled + (">" if filled < self.BAR_WIDTH else "") + "." * max(0, self.BAR_WIDTH - filled - 1)
        prefix = f"{self.label} " if self.label != "step" else ""
        self._write(f"\r{prefix}{step}/{self.total} [{bar}] {self.text(step, values, now)}\x1b[K")
        self._drawn = True

    def close(self) -> None:
        """Ends the bar's line (plain lines need nothing)."""
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
