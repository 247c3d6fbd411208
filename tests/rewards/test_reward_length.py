"""overlong_penalty, repetition_penalty, cosine_length."""

from __future__ import annotations

import pytest

import rewards


@pytest.mark.parametrize(("length", "score"), [(0, 0.0), (80, 0.0), (81, -0.05), (90, -0.5), (100, -1.0), (101, -1.0)])
def test_overlong_penalty_follows_dapo(length, score):
    fn = rewards.build("overlong_penalty", max_length=100, buffer=20)
    assert fn(["x"], completion_ids=[[7] * length]) == [pytest.approx(score)]


def test_overlong_penalty_without_buffer_is_a_cliff():
    fn = rewards.build("overlong_penalty", max_length=10, buffer=0)
    assert fn(["a", "b"], completion_ids=[[0] * 10, [0] * 11]) == [0.0, -1.0]


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("the cat sat on the mat", 0.0),
        ("go go go go go", -0.75),
        ("a b", 0.0),
        ("", 0.0),
        ("Go go GO go", -2 / 3),
    ],
)
def test_repetition_penalty_on_words(text, score):
    assert rewards.build("repetition_penalty", ngram_size=2)([text]) == [pytest.approx(score)]


def test_repetition_penalty_on_tokens_and_scale():
    fn = rewards.build("repetition_penalty", ngram_size=2, max_penalty=-0.5, unit="tokens")
    assert fn(["ignored", "ignored"], completion_ids=[[1, 2, 3, 4], [5, 5, 5, 5, 5]]) == [0.0, pytest.approx(-0.375)]


def test_cosine_length_orders_rewards_by_correctness_then_length():
    fn = rewards.build("cosine_length", max_length=100)
    right, wrong = "<think>a</think><answer>3</answer>", "<think>a</think><answer>4</answer>"
    ids = [[0] * 0, [0] * 50, [0] * 100, [0] * 500]
    scores = fn([right] * 4 + [wrong] * 4, answer=["3"] * 8, completion_ids=ids + ids)
    assert scores == pytest.approx([1.0, 0.75, 0.5, 0.5, -1.0, -0.75, -0.5, -0.5])


def test_cosine_length_is_none_for_an_unparseable_gold():
    fn = rewards.build("cosine_length", max_length=100)
    assert fn(["<answer>3</answer>"], answer=[""], completion_ids=[[0]]) == [None]
    assert fn.pop_metrics()["none"] == 1
