"""Controls: shuffled_reward (the real reward's payout, handed out at random) and format_only (the layout and a
readable answer, right or wrong)."""

from __future__ import annotations

import random

import pytest

import rewards


def batch(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    golds = [str(rng.randint(0, 99)) for _ in range(n)]
    texts = [f"<think>t</think><answer>{g if rng.random() < 0.5 else int(g) + 1}</answer>" for g in golds]
    return texts, golds


@pytest.mark.parametrize("seed", range(10))
def test_same_payout_as_the_real_reward_in_a_random_order(seed):
    rng = random.Random(seed)
    texts, golds = batch(rng, 64)
    real = rewards.build("math_accuracy")(texts, answer=golds)
    shuffled = rewards.build("shuffled_reward", seed=seed)(texts, answer=golds)
    assert sorted(shuffled) == sorted(real)


def test_no_relation_to_correctness_over_many_batches():
    """Across batches, a right completion is paid no more often than a wrong one (the batch's rate either way)."""
    rng = random.Random(0)
    fn = rewards.build("shuffled_reward", seed=3)
    paid_right = paid_wrong = right = wrong = 0
    for _ in range(200):
        texts, golds = batch(rng, 16)
        real = rewards.build("math_accuracy")(texts, answer=golds)
        for r, s in zip(real, fn(texts, answer=golds), strict=True):
            right, wrong = right + (r == 1.0), wrong + (r == 0.0)
            paid_right, paid_wrong = paid_right + (r == 1.0 and s == 1.0), paid_wrong + (r == 0.0 and s == 1.0)
    assert abs(paid_right / right - paid_wrong / wrong) < 0.05


def test_seeded_and_different_per_call():
    texts, golds = batch(random.Random(1), 32)
    a, b = rewards.build("shuffled_reward", seed=7), rewards.build("shuffled_reward", seed=7)
    first = a(texts, answer=golds)
    assert first == b(texts, answer=golds)  # same seed, same call: same order
    assert any(a(texts, answer=golds) != first for _ in range(5))  # later calls draw new orders


def test_bad_params_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown reward 'nope'"):
        rewards.build("shuffled_reward", of="nope")
    with pytest.raises(ValueError, match="cannot be shuffled_reward itself"):
        rewards.build("shuffled_reward", of="shuffled_reward")


# ------------------------------------------------------------------------------------------------ format_only


@pytest.mark.parametrize("seed", range(10))
def test_format_only_ignores_correctness(seed):
    """Right and wrong answers in the layout earn the same: format_only is think_format restricted to a readable
    answer, whatever math_accuracy says."""
    texts, golds = batch(random.Random(seed), 64)
    paid = rewards.build("format_only")(texts, answer=golds)
    assert paid == [1.0] * 64
    assert 0 < sum(rewards.build("math_accuracy")(texts, answer=golds)) < 64


@pytest.mark.parametrize(
    "text, paid",
    [
        ("<think>7+9=16</think><answer>16</answer>", 1.0),
        ("<think>7+9=16</think>\n<answer>\\boxed{17}</answer>\n", 1.0),
        ("<think>7+9=16</think><answer></answer>", 0.0),  # nothing to grade
        ("<think>7+9=16</think><answer>16</answer><answer>17</answer>", 0.0),  # two answers: not the layout
        ("<think>7+9=16</think><answer>16</answer> trailing", 0.0),
        ("16", 0.0),
        ("#### 16", 0.0),  # readable, but not the layout
    ],
)
def test_format_only_table(text, paid):
    assert rewards.build("format_only")([text], answer=["16"]) == [paid]


def test_format_only_counts_a_prefilled_think_tag():
    fn = rewards.build("format_only")
    assert fn(["7+9=16</think><answer>16</answer>"], prompts=["What is 7+9? <think>"], answer=["16"]) == [1.0]
