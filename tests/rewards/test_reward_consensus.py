"""majority_vote: the label-free (TTRL) reward. Table cases, then properties over random groups."""

from __future__ import annotations

import random

import pytest

import rewards

fn = rewards.build("majority_vote")


def ans(x: str) -> str:
    return f"<think>working</think><answer>{x}</answer>"


@pytest.mark.parametrize(
    ("answers", "scores"),
    [
        (["4", "4", "5"], [1, 1, 0]),
        (["4", "4.0", r"\frac{8}{2}", "5"], [1, 1, 1, 0]),  # agreement by value
        (["5", "4", "4", "5"], [1, 0, 0, 1]),  # a tie goes to the answer given first
        (["1,000", "1000", "999"], [1, 1, 0]),
        (["x", "x", "y"], [1, 1, 0]),  # non-numeric answers compare by canonical spelling
        (["", "", "4"], [0, 0, 1]),  # no answer does not vote
        (["4", "5", "6"], [1, 0, 0]),
    ],
)
def test_table(answers, scores):
    texts = [ans(a) if a else "<think>no answer</think>" for a in answers]
    assert fn(texts, prompts=["q"] * len(texts)) == [float(s) for s in scores]


def test_no_gold_is_read_and_a_wrong_consensus_is_paid():
    texts = [ans("7"), ans("7"), ans("4")]
    assert fn(texts, prompts=["What is 2+2?"] * 3, answer=["4"] * 3) == [1.0, 1.0, 0.0]


def test_groups_are_separate_prompts_and_conversations_group_too():
    texts = [ans("1"), ans("1"), ans("2"), ans("2"), ans("2"), ans("1")]
    prompts = ["a", "a", "a", "b", "b", "b"]
    assert fn(texts, prompts=prompts) == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0]
    chat = [[{"role": "user", "content": "a"}]] * 3
    assert fn(texts[:3], prompts=chat) == [1.0, 1.0, 0.0]


def test_several_answers_in_one_completion_do_not_vote():
    texts = [r"<think>t</think> \boxed{3} or \boxed{4}", ans("3"), ans("4"), ans("4")]
    assert fn(texts, prompts=["q"] * 4) == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("seed", range(30))
def test_properties_over_random_groups(seed):
    """Scores are 0/1; in every group with an answer at least one completion is paid; every paid completion in a
    group gives the same value; the majority is paid; order inside a group only matters for ties."""
    rng = random.Random(seed)
    texts, prompts = [], []
    for g in range(rng.randint(1, 4)):
        for _ in range(rng.randint(1, 8)):
            choice = rng.choice(["1", "2", "2.0", "3", "", r"\frac{4}{2}"])
            texts.append(ans(choice) if choice else "<think>none</think>")
            prompts.append(f"prompt {g}")
    scores = fn(texts, prompts=prompts)
    assert set(scores) <= {0.0, 1.0}
    from rewards.consensus import answer_key

    for g in set(prompts):
        idx = [i for i, p in enumerate(prompts) if p == g]
        keys = [answer_key(texts[i]) for i in idx]
        paid = {keys[j] for j, i in enumerate(idx) if scores[i] == 1.0}
        voted = [k for k in keys if k is not None]
        assert len(paid) == (1 if voted else 0)
        if voted:
            assert voted.count(paid.pop()) == max(voted.count(k) for k in voted)
        shuffled = idx[:]
        rng.shuffle(shuffled)
        again = fn([texts[i] for i in shuffled], prompts=[g] * len(shuffled))
        counts = sorted(voted.count(k) for k in set(voted))
        if len(counts) < 2 or counts[-1] > counts[-2]:  # a unique majority: order does not matter
            assert sorted(again) == sorted(scores[i] for i in idx)
