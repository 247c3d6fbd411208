"""Worker processes that grade with a per-item timeout; an overrunning worker is killed and replaced.

One ``pebble.ProcessPool`` per process, created on first use, reused, stopped by ``rewards.shutdown()`` (also at
exit). It uses the ``forkserver`` context: the server is a fresh interpreter (the trainer has torch threads, so fork
is unsafe) that preloads sympy and math-verify once, so replacing a killed worker is a cheap fork, not a
two-second import. Each item is its own task with its own timeout, so one bad item never costs its neighbours;
scheduling costs ~0.1 ms per item. It can be called from any thread.

Before anything is sent to the pool, ``grade_batch`` extracts answers and settles what it can in-process (plain
numbers, identical strings, choice letters), and sends each distinct remaining (gold, answer) pair once.

>>> grade_many(["<think>..</think><answer>\\\\sqrt{8}</answer>"], ["2\\\\sqrt{2}"])  # doctest: +SKIP
[True]
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from rewards.normalize import UNKNOWN
from rewards.text import completions_text

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 1.0
_PRELOAD = ["__main__", "rewards._symbolic"]
_lock = threading.Lock()
_pool = None
_workers = 0
_atexit_registered = False


def default_workers() -> int:
    """``min(os.cpu_count(), 4)``."""
    return max(1, min(os.cpu_count() or 1, 4))


def _init_worker() -> None:
    import rewards._symbolic  # noqa: F401  (already there when the forkserver preloaded it)


def get_pool(workers: int | None = None):
    """The shared pool, started on first use (``workers`` only matters then)."""
    global _pool, _workers, _atexit_registered
    with _lock:
        if _pool is None or not _pool.active:
            from pebble import ProcessPool

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _workers = workers or default_workers()
            _pool = ProcessPool(max_workers=_workers, initializer=_init_worker, context=context)
            if not _atexit_registered:
                atexit.register(shutdown)
                _atexit_registered = True
        return _pool


def shutdown() -> None:
    """Stop the worker processes (the next use starts new ones)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop()
        pool.join(timeout=10)


@dataclass
class Outcome:
    """One item's fate: ``status`` is ``ok`` (``value`` holds the result), ``timeout`` or ``error``."""

    status: str
    value: object = None


def _schedule(fn: Callable, args: Sequence[tuple], timeout: float) -> list:
    pool = get_pool()
    return [pool.schedule(fn, args=tuple(a), timeout=timeout) for a in args]


def run(fn: Callable, args: Sequence[tuple], timeout: float = DEFAULT_TIMEOUT) -> list[Outcome]:
    """Run ``fn(*a)`` for each ``a`` in the pool, each with its own ``timeout`` seconds; never raises for an item.

    ``fn`` must be importable by name (a module-level function).
    """
    if not args:
        return []
    try:
        futures = _schedule(fn, args, timeout)
    except RuntimeError:  # another thread's shutdown() stopped the pool under us: start a fresh one, once
        futures = _schedule(fn, args, timeout)
    # last line of defence if the pool itself stalls (workers cannot start): generous, never hit in normal use
    deadline = time.monotonic() + 60.0 + 2.0 * timeout * len(args) / max(_workers, 1)
    outcomes = []
    for future in futures:
        try:
            outcomes.append(Outcome("ok", future.result(timeout=max(deadline - time.monotonic(), 0.01))))
        except FutureTimeout:
            future.cancel()
            outcomes.append(Outcome("timeout"))
        except Exception as error:  # the item raised, or its worker died: counted, never propagated
            logger.debug("pool item failed: %r", error)
            outcomes.append(Outcome("error", repr(error)))
    return outcomes


@dataclass
class GradeBatch:
    """Results of ``grade_batch``: one ``True``/``False``/``None`` per item, plus what it cost."""

    results: list[bool | None] = field(default_factory=list)
    timeouts: int = 0
    errors: int = 0
    seconds: float = 0.0
    in_pool: int = 0  # distinct (gold, answer) pairs that needed sympy


def grade_batch(
    completions: Sequence[str],
    golds: Sequence[object],
    timeout: float = DEFAULT_TIMEOUT,
    prompts: Sequence[object] | None = None,
    lenient: bool = False,
) -> GradeBatch:
    """``rewards.math.grade`` for many items: exact rules in-process, the rest in the pool, per-item timeouts.

    A timed-out item grades ``False`` (counted in ``timeouts``); an item whose grading raised grades ``None``
    (counted in ``errors``). Pass ``prompts`` when a template prefills ``<think>``: a completion whose prompt ends
    with ``<think>`` and that never writes ``</think>`` then has no answer, as in training.
    """
    from rewards import math as grader

    if len(completions) != len(golds):
        raise ValueError(f"grade_batch got {len(completions)} completions but {len(golds)} golds")
    if prompts is not None:
        completions = completions_text(completions, prompts)
    start = time.perf_counter()
    batch = GradeBatch(results=[None] * len(completions))
    pending: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, (completion, gold) in enumerate(zip(completions, golds, strict=True)):
        gold_text = grader._gold_text(gold)
        answers = grader.extract_answers(completion, lenient)
        quick = grader.quick_grade_answers(gold_text, answers)
        if quick is UNKNOWN:
            pending.setdefault((gold_text, answers), []).append(i)
        else:
            batch.results[i] = quick
    keys = list(pending)
    for key, outcome in zip(keys, run(grader.grade_answers, keys, timeout), strict=True):
        if outcome.status == "timeout":
            batch.timeouts += len(pending[key])
            value = False
        elif outcome.status == "error":
            batch.errors += len(pending[key])
            value = None
        else:
            value = outcome.value
        for i in pending[key]:
            batch.results[i] = value
    batch.in_pool = len(keys)
    batch.seconds = time.perf_counter() - start
    return batch


def grade_many(
    completions: Sequence[str],
    golds: Sequence[object],
    timeout: float = DEFAULT_TIMEOUT,
    prompts: Sequence[object] | None = None,
    lenient: bool = False,
) -> list[bool | None]:
    """``grade_batch(...).results``: one ``True``/``False``/``None`` per completion."""
    return grade_batch(completions, golds, timeout, prompts, lenient).results
