"""countdown: the expression uses each given number at most once and reaches the target; no eval."""

from __future__ import annotations

from fractions import Fraction

import pytest

import rewards
from rewards.countdown import evaluate

NUMBERS, TARGET = [2, 4, 5, 25], 40


def score(answer: str, numbers=NUMBERS, target=TARGET, **params) -> float | None:
    fn = rewards.build("countdown", **params)
    return fn([f"<think>a</think><answer>{answer}</answer>"], numbers=[numbers], target=[target])[0]


@pytest.mark.parametrize(
    "answer",
    ["(25 - 5) * 4 / 2", "(25-5)*2", "(25 - 5) \\times 2", "[(25-5)*2]", "(25 - 5) * 2 = 40", "2*(25-5)", "4*5*2"],
)
def test_right_expressions(answer):
    assert score(answer) == 1.0


@pytest.mark.parametrize(
    "answer",
    ["25 + 5 + 4 + 2", "25 + 5 * 2 + 5 * 0 + 4 - 4", "4 * (5 + 5)", "40 / 1", "-2 + 42", "2 ** 5", "25 // 5",
     "eval('40')", "__import__('os')", "40", "(25 - 5) * 2 + 1", "25 - 5) * 2", "((25 - 5) * 2", "2.0 * 20",
     "25 5 4", "1 / (5 - 5)", "", "()"],
)  # fmt: skip
def test_wrong_or_malformed_expressions(answer):
    assert score(answer) == 0.0


def test_use_all_requires_every_number():
    assert score("(25 - 5) * 2") == 1.0
    assert score("(25 - 5) * 2", use_all=True) == 0.0
    assert score("(25 - 5) * 4 / 2", use_all=True) == 1.0


def test_answer_after_think_only_and_bad_rows():
    fn = rewards.build("countdown")
    assert fn(["<think><answer>(25-5)*2</answer></think>"], numbers=[NUMBERS], target=[TARGET]) == [0.0]
    assert fn(["<answer>1+1</answer>"] * 3, numbers=[[1, 1], "ab", [1, 1]], target=[2, 2, "x"]) == [1.0, None, None]
    assert fn.pop_metrics()["none"] == 2


def test_evaluate_is_exact_and_bounded():
    assert evaluate("1 / 3 + 1 / 6") == (Fraction(1, 2), [1, 3, 1, 6])
    assert evaluate("999999 * 999999 * 999999") is None
    assert evaluate("(" * 100 + "1" + ")" * 100) == (Fraction(1), [1])
    assert evaluate("(" * 100_000 + "1" + ")" * 100_000) is None
