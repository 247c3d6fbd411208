"""Rewards for the shape of a completion: the R1 ``<think>...</think><answer>...</answer>`` layout and its steps.

All of them treat a prompt that ends with ``<think>`` (a prefilled template) as if the completion began with it.
"""

from __future__ import annotations

import re

from rewards.base import Reward, Score, Tally
from rewards.registry import register
from rewards.text import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, think_region

TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


def strict_layout(text: str) -> bool:
    """``<think>`` reasoning ``</think>`` [whitespace] ``<answer>`` answer ``</answer>`` [whitespace], nothing else.

    Each tag exactly once; reasoning and answer not blank; whitespace allowed before ``<think>``, between the blocks
    and at the end, and around the contents.

    >>> strict_layout("<think>7+9=16</think><answer>16</answer>"), strict_layout("<think>a</think>b<answer>c</answer>")
    (True, False)
    """
    if any(text.count(tag) != 1 for tag in TAGS):
        return False
    t0, t1 = text.find(THINK_OPEN), text.find(THINK_CLOSE)
    a0, a1 = text.find(ANSWER_OPEN), text.find(ANSWER_CLOSE)
    if not t0 < t1 < a0 < a1:
        return False
    reasoning = text[t0 + len(THINK_OPEN) : t1]
    answer = text[a0 + len(ANSWER_OPEN) : a1]
    gap, tail = text[t1 + len(THINK_CLOSE) : a0], text[a1 + len(ANSWER_CLOSE) :]
    return (
        not text[:t0].strip() and not gap.strip() and not tail.strip() and bool(reasoning.strip() and answer.strip())
    )


@register
class ThinkFormat(Reward):
    """1.0 for the strict R1 layout ``<think>…</think><answer>…</answer>`` and nothing else, else 0.0.

    >>> ThinkFormat()(["<think>7+9=16</think><answer>16</answer>", "<think>7+9=16</think>16"])
    [1.0, 0.0]
    >>> ThinkFormat()(["7+9=16</think>\\n<answer>16</answer>"], prompts=["What is 7+9? <think>"])  # prefilled
    [1.0]
    """

    name = "think_format"

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, lambda t: float(strict_layout(t)), texts)


@register
class SoftFormat(Reward):
    """1.0 when a closed think block is followed somewhere by a closed answer block (other text allowed), else 0.0.

    >>> SoftFormat()(["Sure. <think>a</think> so: <answer>b</answer> done", "<answer>b</answer><think>a</think>"])
    [1.0, 0.0]
    """

    name = "soft_format"

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, lambda t: float(_in_order(t)), texts)


def _in_order(text: str) -> bool:
    position = 0
    for tag in TAGS:
        position = text.find(tag, position)
        if position < 0:
            return False
        position += len(tag)
    return True


@register
class TagCount(Reward):
    """0.25 for each of ``<think>``, ``</think>``, ``<answer>``, ``</answer>`` that appears exactly once (0 to 1).

    A partial-credit shaping reward (as open-r1's ``tag_count_reward``) for models that have not found the layout.

    >>> TagCount()(["<think>a</think><answer>b</answer>", "<think>a</think>", "<think><think>"])
    [1.0, 0.5, 0.0]
    """

    name = "tag_count"

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, lambda t: 0.25 * sum(t.count(tag) == 1 for tag in TAGS), texts)


_STEP = re.compile(
    r"(?m)^[ \t]*(?:step[ \t]*\d+[ \t]*[:.)]|\d+[.)][ \t]|[-*\u2022][ \t])"
    r"|\b(?:first|second|third|next|then|finally),",
    re.IGNORECASE,
)


@register
class ReasoningSteps(Reward):
    """Share of ``min_steps`` explicit steps in the chain of thought ("Step 1:", "1.", "- ", "First,"), capped at 1.

    Counted inside the think block (the whole text when there is none). Params: ``min_steps`` (default 3).

    >>> ReasoningSteps()(["<think>Step 1: a\\nStep 2: b\\nStep 3: c</think>", "<think>First, a. Then, b.</think>"])
    [1.0, 0.6666666666666666]
    """

    name = "reasoning_steps"

    def __init__(self, min_steps: int = 3) -> None:
        if min_steps < 1:
            raise ValueError(f"min_steps must be at least 1, got {min_steps}")
        super().__init__()
        self.min_steps = min_steps

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        return self.each(tally, self._one, texts)

    def _one(self, text: str) -> float:
        found = 0
        for _ in _STEP.finditer(think_region(text)):
            found += 1
            if found >= self.min_steps:
                break
        return min(1.0, found / self.min_steps)
