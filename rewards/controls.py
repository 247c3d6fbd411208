"""Control rewards for ablations: signal with the right statistics and no relation to correctness.

Run one beside the real reward from the same start: if the control "improves" held-out accuracy as much as the
real reward, the gain came from something other than the reward's content (the "spurious rewards" control of
Shao et al. 2025, which found that on Qwen2.5-Math even random rewards raise MATH-500 accuracy).
"""

from __future__ import annotations

import random

from rewards.base import Reward, Score, Tally
from rewards.layout import strict_layout
from rewards.math import extract_answer
from rewards.registry import register


@register
class ShuffledReward(Reward):
    """Another reward's scores for the batch, shuffled among its completions: same mean, no relation to content.

    Each call computes ``of`` (default ``math_accuracy``) on the batch, then hands its scores out in a seeded random
    order, so the batch earns exactly what the real reward would pay while no completion is paid for what it wrote.
    Params: ``of`` (a registered reward name), ``seed`` (0).

    >>> fn = ShuffledReward(seed=1)
    >>> texts = ["<answer>4</answer>", "<answer>5</answer>", "<answer>4</answer>", "<answer>4</answer>"]
    >>> scores = fn(texts, answer=["4"] * 4)
    >>> sorted(scores), sum(scores)
    ([0.0, 1.0, 1.0, 1.0], 3.0)
    """

    name = "shuffled_reward"

    def __init__(self, of: str = "math_accuracy", seed: int = 0) -> None:
        from rewards.registry import build

        if of == self.name:
            raise ValueError("'of' cannot be shuffled_reward itself")
        super().__init__()
        self.of = of
        self.seed = seed
        self._inner = build(of)
        self._calls = 0

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        scores = self._inner(texts, **columns)
        self._inner.pop_metrics()  # its counters belong to this reward's call
        rng = random.Random(f"{self.seed}:{self._calls}")
        self._calls += 1
        shuffled = list(scores)
        rng.shuffle(shuffled)
        return shuffled


@register
class FormatOnly(Reward):
    """1.0 for the strict R1 layout holding an answer the grader can read, right or wrong; else 0.0.

    The format-only control: it pays everything ``math_accuracy`` needs to see except correctness, so a run
    trained on it shows how much of a gain the layout alone explains (format rewards raise scores on benchmarks
    whose graders miss unformatted answers). Unlike ``think_format`` it does not pay an empty or ambiguous answer.

    >>> FormatOnly()(["<think>7+9=16</think><answer>15</answer>", "<think>7+9=16</think><answer></answer>", "16"])
    [1.0, 0.0, 0.0]
    """

    name = "format_only"

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, lambda t: float(strict_layout(t) and extract_answer(t) is not None), texts)
