"""Penalties on length and repetition (0 for a clean completion, negative otherwise)."""

from __future__ import annotations

from rewards.base import Reward, Score, Tally
from rewards.registry import register


@register
class OverlongPenalty(Reward):
    """DAPO's soft overlong punishment on token length: 0 up to ``max_length - buffer``, then down to -1 at the limit.

    Eq. 13 of DAPO (Yu et al., 2025): with ``L`` tokens (TRL's ``completion_ids``), 0 when
    ``L <= max_length - buffer``, ``(max_length - buffer - L) / buffer`` up to ``max_length``, -1 beyond.
    Set ``max_length`` to the trainer's ``max_completion_length``. Params: ``max_length`` (4096), ``buffer`` (1024).

    >>> OverlongPenalty(max_length=100, buffer=20)(["a", "b", "c"], completion_ids=[[0] * 80, [0] * 90, [0] * 101])
    [0.0, -0.5, -1.0]
    """

    name = "overlong_penalty"

    def __init__(self, max_length: int = 4096, buffer: int = 1024) -> None:
        if max_length <= 0 or not 0 <= buffer <= max_length:
            raise ValueError(f"need max_length > 0 and 0 <= buffer <= max_length, got {max_length} and {buffer}")
        super().__init__()
        self.max_length = max_length
        self.buffer = buffer

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, self.value, self.lengths(columns, texts))

    def value(self, length: int) -> float:
        """The penalty of one completion of ``length`` tokens."""
        free = self.max_length - self.buffer
        if length <= free:
            return 0.0
        if length <= self.max_length:
            return (free - length) / self.buffer
        return -1.0


@register
class RepetitionPenalty(Reward):
    """Share of repeated n-grams times ``max_penalty``: 0 for no repeats, near ``max_penalty`` for a loop.

    From "Demystifying Long Chain-of-Thought Reasoning in LLMs" (appendix C.2). ``unit="words"`` (default) counts
    whitespace-separated words of the text; ``unit="tokens"`` counts TRL's ``completion_ids``. Completions shorter
    than one n-gram score 0. Params: ``ngram_size`` (3), ``max_penalty`` (-1.0, not positive), ``unit``.

    >>> RepetitionPenalty(ngram_size=2)(["a b c d", "go go go go go"])
    [0.0, -0.75]
    """

    name = "repetition_penalty"

    def __init__(self, ngram_size: int = 3, max_penalty: float = -1.0, unit: str = "words") -> None:
        if ngram_size < 1:
            raise ValueError(f"ngram_size must be at least 1, got {ngram_size}")
        if max_penalty > 0:
            raise ValueError(f"max_penalty must not be positive, got {max_penalty}")
        if unit not in ("words", "tokens"):
            raise ValueError(f"unit must be 'words' or 'tokens', got {unit!r}")
        super().__init__()
        self.ngram_size = ngram_size
        self.max_penalty = max_penalty
        self.unit = unit

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        if self.unit == "tokens":
            units = [list(x or []) for x in self.column(columns, "completion_ids", len(texts))]
        else:
            units = [t.lower().split() for t in texts]
        return self.each(tally, self.value, units)

    def value(self, units: list) -> float:
        """The penalty of one sequence of words or token ids."""
        total = len(units) - self.ngram_size + 1
        if total <= 0:
            return 0.0
        distinct = len(set(zip(*(units[i:] for i in range(self.ngram_size)), strict=False)))
        repeated = 1.0 - distinct / total
        return repeated * self.max_penalty if repeated else 0.0
