"""What every registered reward shares: the TRL calling convention, per-item error containment, and metrics.

A reward is an instance of a ``Reward`` subclass, called as ``fn(completions, **columns)`` the way TRL's
``GRPOTrainer`` calls it (``prompts=``, ``completions=``, ``completion_ids=``, ``trainer_state=``, every dataset
column as a list, and whatever else; unused keywords are ignored). It returns one float or None per completion.
Instances are plain picklable objects (TRL may ship rewards to a spawned rollout process).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rewards.text import completions_text

logger = logging.getLogger(__name__)

Score = float | None


@dataclass
class Tally:
    """Timeouts and errors of one call."""

    timeouts: int = 0
    errors: int = 0


class Reward:
    """Base class; subclasses set ``name`` and implement ``score(texts, columns)``."""

    name: ClassVar[str] = ""
    checks_answer: ClassVar[bool] = False
    """True for rewards that grade the final answer against a gold (run health watches them as accuracy)."""

    def __init__(self) -> None:
        self.__name__ = self.name  # TRL logs rewards/<__name__>/mean
        self._lock = threading.Lock()
        self._metrics = self._zero()
        self.first_traceback: str | None = None  # the first item failure's traceback, kept for the run directory
        self.last_call_errors = 0  # items of the latest call that raised (the trainer stops when all of them did)

    @staticmethod
    def _zero() -> dict[str, float]:
        return {"items": 0, "none": 0, "timeouts": 0, "errors": 0, "seconds": 0.0}

    def __call__(self, completions: Sequence[object], **columns: object) -> list[Score]:
        start = time.perf_counter()
        texts = completions_text(completions, columns.get("prompts"))
        tally = Tally()
        scores = self.score(texts, columns, tally)
        with self._lock:
            self._metrics["items"] += len(scores)
            self._metrics["none"] += sum(s is None for s in scores)
            self._metrics["timeouts"] += tally.timeouts
            self._metrics["errors"] += tally.errors
            self._metrics["seconds"] += time.perf_counter() - start
            self.last_call_errors = tally.errors
        return scores

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        """One score per text; ``columns`` holds TRL's keyword arguments; record timeouts/errors in ``tally``."""
        raise NotImplementedError

    def pop_metrics(self) -> dict[str, float]:
        """Counts since the last call, unprefixed: ``items`` (completions scored), ``none``, ``timeouts``, ``errors``,
        ``seconds``."""
        with self._lock:
            metrics, self._metrics = self._metrics, self._zero()
        return metrics

    def each(self, tally: Tally, fn: Callable[..., Score], *rows: Sequence[object]) -> list[Score]:
        """``fn(*row)`` per item; an item that raises scores None and counts as an error."""
        scores: list[Score] = []
        for row in zip(*rows, strict=True):
            try:
                value = fn(*row)
                scores.append(None if value is None else float(value))
            except Exception:  # counted and logged, never propagated: one bad item must not stop training
                logger.debug("reward %s failed on an item", self.name, exc_info=True)
                if self.first_traceback is None:
                    self.first_traceback = traceback.format_exc()
                tally.errors += 1
                scores.append(None)
        return scores

    def column(self, columns: dict, key: str, n: int) -> list:
        """The dataset column ``key`` as a list of ``n`` values; a clear error when the data lacks it."""
        values = columns.get(key)
        if values is None:
            known = ", ".join(sorted(k for k in columns if k not in {"prompts", "trainer_state"})) or "none"
            raise ValueError(f"reward {self.name!r} needs the dataset column {key!r}; the call has: {known}")
        values = list(values)
        if len(values) != n:
            raise ValueError(f"reward {self.name!r}: column {key!r} has {len(values)} values for {n} completions")
        return values

    def lengths(self, columns: dict, texts: list[str]) -> list[int]:
        """Completion lengths in tokens, from TRL's ``completion_ids``."""
        ids = self.column(columns, "completion_ids", len(texts))
        return [len(x) if x is not None else 0 for x in ids]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        params = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
