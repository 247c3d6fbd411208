"""Rewards for a right final answer, graded by ``rewards.math`` (in-process fast path, the rest in the pool)."""

from __future__ import annotations

import math

from rewards import pool
from rewards.base import Reward, Score, Tally
from rewards.registry import register


def _check_timeout(timeout: float) -> None:
    if not 0 < timeout <= 60:
        raise ValueError(f"timeout must be in (0, 60] seconds, got {timeout}")


def _correctness(texts: list[str], golds: list, timeout: float, tally: Tally) -> list[bool | None]:
    batch = pool.grade_batch(texts, golds, timeout)
    tally.timeouts += batch.timeouts
    tally.errors += batch.errors
    return batch.results


@register
class MathAccuracy(Reward):
    r"""1.0 when the final answer after the chain of thought equals the gold answer, else 0.0 (None: gold unparseable).

    The answer is the ``<answer>`` tag, else the last ``\boxed{}``, else a ``#### N`` line, read only after
    ``</think>`` (see ``rewards.math``). Items sympy must settle run in worker processes, each within ``timeout``
    seconds; one that overruns scores 0.0 and counts in ``timeouts``.

    Params: ``timeout`` (seconds per item, default 1.0); ``column`` (the dataset column with the gold, "answer").

    >>> fn = MathAccuracy()
    >>> fn(["<think>7+9=16</think><answer>16</answer>", r"<think>..</think> \boxed{17}"], answer=["16", "16"])
    [1.0, 0.0]
    """

    name = "math_accuracy"
    checks_answer = True

    def __init__(self, timeout: float = 1.0, column: str = "answer") -> None:
        _check_timeout(timeout)
        super().__init__()
        self.timeout = timeout
        self.column_name = column

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        golds = self.column(columns, self.column_name, len(texts))
        correct = _correctness(texts, golds, self.timeout, tally)
        return [None if c is None else float(c) for c in correct]


@register
class CosineLength(Reward):
    """Correctness scaled by length on a cosine: short right answers earn most, short wrong ones lose most.

    From "Demystifying Long Chain-of-Thought Reasoning in LLMs" (Yeo et al., 2025, appendix C.1). With progress
    ``p = min(tokens / max_length, 1)``, a right answer scores from ``max_value_correct`` (p=0) down to
    ``min_value_correct`` (p=1); a wrong one from ``min_value_wrong`` (p=0) up to ``max_value_wrong`` (p=1). Length
    is in tokens (TRL's ``completion_ids``). Correctness as in ``math_accuracy``; None when the gold is unparseable.

    >>> fn = CosineLength(max_length=100)
    >>> fn(["<answer>3</answer>", "<answer>4</answer>"], answer=["3", "3"], completion_ids=[[0] * 50, [0] * 50])
    [0.75, -0.75]
    """

    name = "cosine_length"

    def __init__(
        self,
        max_length: int = 4096,
        min_value_correct: float = 0.5,
        max_value_correct: float = 1.0,
        min_value_wrong: float = -1.0,
        max_value_wrong: float = -0.5,
        timeout: float = 1.0,
        column: str = "answer",
    ) -> None:
        if max_length <= 0:
            raise ValueError(f"max_length must be positive, got {max_length}")
        if min_value_correct > max_value_correct or min_value_wrong > max_value_wrong:
            raise ValueError("min_value_* must not exceed max_value_*")
        _check_timeout(timeout)
        super().__init__()
        self.max_length = max_length
        self.min_value_correct, self.max_value_correct = min_value_correct, max_value_correct
        self.min_value_wrong, self.max_value_wrong = min_value_wrong, max_value_wrong
        self.timeout = timeout
        self.column_name = column

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        golds = self.column(columns, self.column_name, len(texts))
        lengths = self.lengths(columns, texts)
        correct = _correctness(texts, golds, self.timeout, tally)
        return [None if c is None else self.value(c, n) for c, n in zip(correct, lengths, strict=True)]

    def value(self, correct: bool, length: int) -> float:
        """The reward of one completion of ``length`` tokens."""
        cosine = math.cos(min(length / self.max_length, 1.0) * math.pi)
        if correct:
            low, high = self.min_value_correct, self.max_value_correct
        else:  # swapped: a short wrong answer is punished hardest
            low, high = self.max_value_wrong, self.min_value_wrong
        return low + 0.5 * (high - low) * (1.0 + cosine)
