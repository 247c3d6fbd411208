"""A small-budget hack search (experiments/bench/hack_search.py): mutated wrong answers to real GSM8K and MATH-500
golds; none may be graded right. The full run (100,000 mutations) is `python experiments/bench/hack_search.py`."""

import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "experiments" / "bench"))


def test_no_mutation_of_a_wrong_answer_is_graded_right():
    hack_search = pytest.importorskip("hack_search")
    from rl.data import data_root

    if not (data_root() / "gsm8k" / "test.jsonl").is_file():
        pytest.skip("no ../shared/data")
    graded, found = hack_search.search(budget=2500, seed=1, show=0)
    assert graded == 2500
    assert not found, "\n".join(f"{gold!r}: {completion[-120:]!r}" for gold, completion in found[:20])
