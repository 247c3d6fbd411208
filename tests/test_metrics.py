"""pass@k and majority vote against brute-force enumeration; aggregation by data_source / level / subject."""

import itertools
from fractions import Fraction

import pytest

from rl.eval.metrics import aggregate, flatten, k_values, majority_vote, pass_at_k, problem_metrics


def brute_pass_at_k(outcomes: list[bool], k: int) -> Fraction:
    """Share of all k-subsets of the samples that hold at least one correct sample."""
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    return Fraction(sum(any(outcomes[i] for i in s) for s in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_equals_enumeration_of_subsets(n):
    for outcomes in itertools.product([False, True], repeat=n):
        c = sum(outcomes)
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(float(brute_pass_at_k(list(outcomes), k)), abs=1e-12)


def test_pass_at_1_is_mean_accuracy_and_edge_cases():
    assert pass_at_k(16, 5, 1) == pytest.approx(5 / 16)
    assert pass_at_k(8, 0, 8) == 0.0
    assert pass_at_k(8, 1, 8) == 1.0
    assert pass_at_k(200, 3, 100) == pytest.approx(1 - (100 * 99 * 98) / (200 * 199 * 198))  # large n stays exact
    for bad in [(4, 5, 1), (4, 1, 0), (4, 1, 5), (4, -1, 1)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_k_values():
    assert k_values(1) == [1]
    assert k_values(2) == [1, 2]
    assert k_values(8) == [1, 2, 4, 8]
    assert k_values(6) == [1, 2, 4, 6]


def same_number(a: str, b: str) -> bool:
    return float(a) == float(b)


def brute_majority(answers: list) -> set[int]:
    """Indices that hold a most common answer class (by value), restricted to the class that appears first."""
    classes: dict[float, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            classes.setdefault(float(a), []).append(i)
    if not classes:
        return set()
    top = max(len(members) for members in classes.values())
    winners = [members for members in classes.values() if len(members) == top]
    first = min(winners, key=lambda members: members[0])
    return set(first)


@pytest.mark.parametrize("n", range(1, 6))
def test_majority_vote_equals_enumeration(n):
    alphabet = [None, "1", "1.0", "2", "3"]  # "1" and "1.0" are the same answer written differently
    for answers in itertools.product(alphabet, repeat=n):
        expected = brute_majority(list(answers))
        got = majority_vote(list(answers), same_number)
        if not expected:
            assert got is None
        else:
            assert got in expected, (answers, got, expected)
            assert got == min(expected)  # the representative is the group's first member


def test_majority_correctness_follows_the_group_not_the_string():
    answers = ["2", "1", "1.0", "01", "2"]
    winner = majority_vote(answers, same_number)
    assert answers[winner] == "1"  # three ways to write 1 beat two identical "2"s


def test_problem_metrics_and_aggregate():
    ks = k_values(4)
    p1 = problem_metrics([True, False, False, None], True, [1.0, 0.0, 1.0, None], [10, 20, 30, 40], ks)
    assert p1["pass@1"] == pytest.approx(0.25)
    assert p1["pass@2"] == pytest.approx(0.5)
    assert p1["pass@4"] == 1.0
    assert p1["maj@4"] == 1.0 and p1["format_rate"] == 0.5 and p1["mean_length"] == 25 and p1["unverifiable"] == 0
    p2 = problem_metrics([None] * 4, None, [0.0] * 4, [5] * 4, ks)
    assert p2["pass@4"] == 0.0 and p2["maj@4"] == 0.0 and p2["unverifiable"] == 1.0
    p3 = problem_metrics([True] * 4, True, [1.0] * 4, [8] * 4, ks)
    labels = [
        {"data_source": "math500", "level": 10},
        {"data_source": "math500", "level": 2},
        {"data_source": "gsm8k"},
    ]
    result = aggregate([p1, p2, p3], labels)
    overall = result["overall"]
    assert overall["n_problems"] == 3
    assert overall["pass@1"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert overall["unverifiable"] == pytest.approx(1 / 3)
    assert list(result["by"]["level"]) == ["2", "10"]  # numeric order
    assert result["by"]["data_source"]["math500"]["pass@4"] == pytest.approx(0.5)
    assert result["by"]["data_source"]["gsm8k"]["n_problems"] == 1
    assert overall["mean@4"] == pytest.approx(overall["pass@1"])  # the same estimate, named as R1 reports it
    from scipy import stats as sp

    lo, hi = sp.t.interval(0.95, 2, loc=overall["mean@4"], scale=sp.sem([0.25, 0.0, 1.0]))
    assert (overall["mean@4_ci95_low"], overall["mean@4_ci95_high"]) == pytest.approx((lo, hi))
    flat = flatten(result)
    assert flat["eval/pass@1"] == overall["pass@1"]
    assert flat["eval/level/10/maj@4"] == 1.0
