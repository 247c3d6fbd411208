"""What rlvr shows while it works: live bars on a terminal, plain timed lines in a log file.

Runs are often launched with their output redirected to a file (a cluster job's log). A live bar writes nothing
there until it ends (rich) or writes `\\r`-separated redraws into one endless line (tqdm), and rich hard-wraps
every message at 80 columns. This module owns both halves of the fix, so no phase reinvents it:

- `make_console(stderr=False)` is the one way rlvr makes a rich `Console`. On a terminal (or in Jupyter) it is rich's
  own; anywhere else it writes no colour codes and never wraps or cuts a message or a table (`soft_wrap`, and a
  width no table of rlvr's reaches).
- `Phase(name, total, unit)` reports one long phase (the supervised warm-up, an evaluation, GRPO training, an
  ablation, a benchmark). `update(done, **figures)` says how far it is and gives its key figures. On a terminal it
  draws a live rich bar on stderr; elsewhere it writes one plain, newline-terminated line to stderr when it starts,
  every `interval()` seconds while it runs (from a timer thread, so a phase stuck in one long call still reports)
  and when it ends:

      [progress] warm-up: 25/400 steps (6%), elapsed 0:00:12, ETA 0:03:00, loss 0.812, probe accuracy 0.230
      [progress] warm-up: done, 75/400 steps in 0:00:40, loss 0.084, probe accuracy 0.550

  `track(label, work, *args)` runs one piece of work (an ablation's run, from any thread), naming it in the lines
  while it runs and counting it done after. A phase that ends with an exception writes no closing line (the error
  says what happened). Before each line
  stdout is flushed, so in a log that holds both streams the line lands after what was printed before it.
- `interval()`: RLVR_PROGRESS_SECONDS (default 30), the seconds between two lines.
- `is_live()`: whether progress goes to a terminal (bars) or to a log (lines); `TTY_COMPATIBLE=0` or `1` overrides
  the guess, as for rich.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rl.errors import RlvrError

DEFAULT_SECONDS = 30.0
"""Seconds between two progress lines in a log unless RLVR_PROGRESS_SECONDS says otherwise."""

LOG_WIDTH = 1000
"""The width a console that is not on a terminal lays tables out in: wider than any of rlvr's tables, so none is
wrapped inside its cells (messages are never wrapped: `soft_wrap`)."""

PREFIX = "[progress]"
"""Every progress line starts with this, so `grep '^\\[progress\\]' log` follows a run."""

_write_lock = threading.Lock()
T = TypeVar("T")


def make_console(stderr: bool = False, markup: bool = True):
    """A rich Console on stdout (or stderr): rich's own on a terminal or in Jupyter; elsewhere one that neither wraps
    nor cuts lines at 80 columns and writes no colour codes. `markup=False` for text that is not rlvr's own (error
    messages, paths): rich would read `[a-b]` in it as a style and drop it."""
    from rich.console import Console

    console = Console(stderr=stderr, markup=markup)
    if console.is_terminal or console.is_jupyter:
        return console
    return Console(stderr=stderr, markup=markup, width=LOG_WIDTH, soft_wrap=True, no_color=True, highlight=False)


def is_live() -> bool:
    """Whether progress goes to a terminal (or Jupyter), where a live bar redraws in place; otherwise it goes to a
    log, which gets timed lines."""
    from rich.console import Console

    console = Console(stderr=True)
    return console.is_terminal or console.is_jupyter


def interval() -> float:
    """Seconds between two progress lines: RLVR_PROGRESS_SECONDS, default 30. RlvrError when it is not a number
    above 0."""
    raw = os.environ.get("RLVR_PROGRESS_SECONDS", "").strip()
    if not raw:
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise RlvrError(f"RLVR_PROGRESS_SECONDS must be a number of seconds above 0, got {raw!r}")
    return seconds


def clock(seconds: float) -> str:
    """A duration as H:MM:SS."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def figure(value: Any) -> str:
    """A key figure as text: floats with 3 decimals, anything else as it prints."""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def figures_text(figures: dict[str, Any]) -> str:
    """`name value` pairs joined by commas; an underscore in a name reads as a space; a None value is left out, a
    name whose value is "" stands alone (a status such as `grading`)."""
    parts = []
    for name, value in figures.items():
        if value is None:
            continue
        label = name.replace("_", " ")
        parts.append(label if value == "" else f"{label} {figure(value)}")
    return ", ".join(parts)


def write_line(line: str) -> None:
    """One whole line on stderr, after whatever stdout holds (both streams often go to one log file)."""
    with _write_lock:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):  # a closed or broken stdout must not stop the run
            pass
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


class Phase:
    """One long phase's progress (see the module docstring): a live bar on a terminal, timed lines in a log.

    `total`: how many `unit`s the phase has (None: unknown, no percentage or ETA). `initial`: units already done
    when it starts (a resumed run), left out of the ETA's rate. `transient`: the bar disappears when the phase ends
    (terminal only). `enabled=False`: shows nothing (other ranks of a launch, a nested evaluation). `live`: bar
    (True) or lines (False) whatever `is_live` says. `figures`: the key figures of the first line."""

    def __init__(
        self,
        name: str,
        total: int | None,
        unit: str = "",
        *,
        initial: int = 0,
        transient: bool = False,
        enabled: bool = True,
        live: bool | None = None,
        figures: dict[str, Any] | None = None,
    ):
        self.name, self.total, self.unit = name, total, unit
        self.done, self.initial = initial, initial
        self.figures: dict[str, Any] = dict(figures or {})
        self.running: dict[str, None] = {}  # labels of the work `track` runs now (an ordered set)
        self._lock = threading.RLock()  # the timer thread reads what the phase's threads write
        self.transient, self.enabled = transient, enabled
        self.live = is_live() if live is None and enabled else bool(live)
        self.seconds = interval() if enabled and not self.live else DEFAULT_SECONDS
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._bar = None
        self._task = None

    # ------------------------------------------------------------------ what a phase reports

    def update(self, done: int | None = None, **figures: Any) -> None:
        """Set how many units are done (None: unchanged) and key figures (merged into the ones already set)."""
        with self._lock:
            if done is not None:
                self.done = done
            self.figures.update(figures)
            self._refresh_bar()

    def track(self, label: str, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)`, listed as `running <label>` in the lines while it runs and counted as one unit done when it
        returns or raises (several threads may each track their own work)."""
        with self._lock:
            self.running[label] = None
            self._refresh_bar()
        try:
            return work(*args)
        finally:
            with self._lock:
                self.running.pop(label, None)
                self.done += 1
                self._refresh_bar()

    def _refresh_bar(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, figures=self._figures_text())

    def _figures_text(self) -> str:
        """The key figures, then what is running."""
        running = {"running": ", ".join(self.running)} if self.running else {}
        return figures_text(self.figures | running)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at the rate of this phase so far; None before the first unit or without a total."""
        rate_done = self.done - self.initial
        if self.total is None or rate_done <= 0:
            return None
        return max(0.0, (self.total - self.done) * self.elapsed() / rate_done)

    def count(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.total is None:
            return f"{self.done}{unit}"
        return f"{self.done}/{self.total}{unit}"

    def line(self) -> str:
        """The progress line of this moment."""
        with self._lock:
            return self._line()

    def _line(self) -> str:
        parts = [self.count() + (f" ({100 * self.done / self.total:.0f}%)" if self.total else "")]
        parts.append(f"elapsed {clock(self.elapsed())}")
        if self.total is not None:
            eta = self.eta()
            parts.append(f"ETA {'?' if eta is None else clock(eta)}")
        text = self._figures_text()
        return f"{PREFIX} {self.name}: " + ", ".join(parts + ([text] if text else []))

    def final_line(self) -> str:
        """The line a phase that ended normally writes."""
        with self._lock:
            text = self._figures_text()
            return f"{PREFIX} {self.name}: done, {self.count()} in {clock(self.elapsed())}" + (
                f", {text}" if text else ""
            )

    # ------------------------------------------------------------------ showing it

    def start(self) -> Phase:
        """Begin showing the phase (a `with` block calls it): the bar, or the first line and the timer thread."""
        self.started = time.monotonic()
        if not self.enabled:
            return self
        if self.live:
            self._start_bar()
        else:
            write_line(self.line())
            self._ticker = threading.Thread(target=self._tick, name=f"progress {self.name}", daemon=True)
            self._ticker.start()
        return self

    def finish(self, ok: bool = True) -> None:
        """Stop showing the phase: the closing line when it ended normally (`ok`), none after an error. Idempotent."""
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
            if ok:
                write_line(self.final_line())
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Phase:
        return self.start()

    def __exit__(self, kind, value, traceback) -> None:
        self.finish(ok=kind is None)

    def _tick(self) -> None:
        """Timer thread: one line every `self.seconds` until the phase ends."""
        while not self._stop.wait(self.seconds):
            write_line(self.line())

    def _start_bar(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [TextColumn(self.name), BarColumn(), MofNCompleteColumn()]
        if self.unit:
            columns.append(TextColumn(self.unit))
        columns += [TextColumn("{task.fields[figures]}"), TimeElapsedColumn(), TimeRemainingColumn()]
        self._bar = Progress(*columns, console=make_console(stderr=True), transient=self.transient)
        self._task = self._bar.add_task(self.name, total=self.total, completed=self.done, figures="")
        self._bar.start()
