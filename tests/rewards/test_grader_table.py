"""The hand-labelled equivalence table: the grader must be right on every case (a new miss is a regression)."""

from __future__ import annotations

import pytest
from equivalence_table import CASES

from rewards.math import grade
from rewards.pool import grade_many


def _misses(results):
    return [(c, r) for c, r in zip(CASES, results, strict=True) if r != c.expected]


def test_table_is_large_and_covers_every_kind():
    kinds = {c.kind for c in CASES}
    assert len(CASES) >= 350
    assert kinds == {"equivalent", "near_miss", "extraction", "hacking", "unverifiable"}


def test_grade_agrees_with_the_table():
    results = [grade(c.completion, c.gold) for c in CASES]
    misses = _misses(results)
    false_positives = [(c, r) for c, r in zip(CASES, results, strict=True) if r is True and c.expected is not True]
    report = "\n".join(f"{c.kind}: gold={c.gold!r} got={r} completion={c.completion[-80:]!r}" for c, r in misses)
    assert not false_positives, report
    assert not misses, report


def test_pool_grades_the_table_like_the_in_process_grader():
    in_process = [grade(c.completion, c.gold) for c in CASES]
    assert grade_many([c.completion for c in CASES], [c.gold for c in CASES], timeout=2.0) == in_process


@pytest.mark.parametrize("kind", ["near_miss", "hacking"])
def test_no_wrong_answer_scores(kind):
    cases = [c for c in CASES if c.kind == kind]
    assert cases and not [c for c in cases if grade(c.completion, c.gold)]
