"""Label-free rewards: agreement inside a prompt's group of completions, with no gold answer.

Test-time reinforcement learning (TTRL, Zuo et al. 2025) trains on unlabelled prompts by paying each completion
that gives the answer most of its group gives. It rewards consensus, not correctness: a group that agrees on a wrong
answer is paid in full, and the policy sharpens onto whatever it already prefers, so entropy falls fast. Watch
correctness beside it (`math_accuracy` at weight 0 where golds exist) and keep run health's `entropy_collapse` on.
"""

from __future__ import annotations

import json
from collections import Counter

from rewards.base import Reward, Score, Tally
from rewards.math import extract_answer
from rewards.normalize import as_number, normalize
from rewards.registry import register


def answer_key(text: str) -> str | None:
    """The value a completion votes for: its final answer's exact value when it is a plain number, else its
    canonical spelling; None when it has no single final answer (see ``rewards.math.extract_answer``)."""
    answer = extract_answer(text)
    if answer is None:
        return None
    canonical = normalize(answer)
    number = as_number(canonical)
    return f"={number}" if number is not None else canonical or None


def _group(prompt: object) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)


@register
class MajorityVote(Reward):
    """1.0 when the completion's final answer is the one most completions of the same prompt give, else 0.0.

    No gold is read (TTRL's label-free reward). Completions are grouped by their prompt; answers are compared by
    value (``936`` and ``936.0`` agree); a completion with no single final answer scores 0 and does not vote; a tie
    goes to the answer given first. It pays for agreement, right or wrong.

    >>> MajorityVote()(["<answer>4</answer>", "<answer>4.0</answer>", "<answer>5</answer>", "no answer"],
    ...                prompts=["2+2?"] * 4)
    [1.0, 1.0, 0.0, 0.0]
    """

    name = "majority_vote"

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        prompts = columns.get("prompts")
        groups = [_group(p) for p in prompts] if isinstance(prompts, (list, tuple)) else [""] * len(texts)
        if len(groups) != len(texts):
            raise ValueError(f"reward 'majority_vote': {len(groups)} prompts for {len(texts)} completions")
        keys: list[str | None] = []
        for text in texts:
            try:
                keys.append(answer_key(text))
            except Exception:  # an answer the normaliser cannot read: it does not vote
                tally.errors += 1
                keys.append(None)
        votes: dict[str, Counter] = {}
        for group, key in zip(groups, keys, strict=True):
            if key is not None:
                votes.setdefault(group, Counter())[key] += 1
        winner = {group: counter.most_common(1)[0][0] for group, counter in votes.items()}  # ties: first seen
        return [float(key is not None and key == winner.get(group)) for group, key in zip(groups, keys, strict=True)]
