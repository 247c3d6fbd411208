"""The worker pool: per-item timeouts that kill and replace workers, any calling thread, the in-process fast path."""

from __future__ import annotations

import threading
import time

import pytest

import rewards
from rewards import pool
from rewards.base import Reward, Tally
from rewards.math import grade

SLOW_GOLD = r"\int_0^1 \frac{\ln(1+x)}{1+x^2} dx"  # sympy never finishes comparing this integral with 5
TINY = "<think>7+9=16 4+8+1=13 3+5+1=9</think><answer>936</answer>"


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    pool.grade_many([r"<answer>\sqrt{8}</answer>"], [r"2\sqrt{2}"])
    yield
    rewards.shutdown()


def test_an_overrunning_item_is_killed_and_its_worker_replaced():
    start = time.perf_counter()
    outcomes = pool.run(time.sleep, [(30,), (0,), (30,), (0,)], timeout=0.5)
    elapsed = time.perf_counter() - start
    assert [o.status for o in outcomes] == ["timeout", "ok", "timeout", "ok"]
    assert elapsed < 0.5 + 1.5  # two workers: the two sleepers overlap
    assert [o.status for o in pool.run(abs, [(-1,), (-2,)], timeout=1.0)] == ["ok", "ok"]


def test_an_item_that_raises_is_an_error_not_a_crash():
    outcomes = pool.run(int, [("x",), ("7",)], timeout=1.0)
    assert [o.status for o in outcomes] == ["error", "ok"] and outcomes[1].value == 7


def test_math_accuracy_counts_a_timeout_and_scores_it_zero():
    fn = rewards.build("math_accuracy", timeout=0.5)
    start = time.perf_counter()
    scores = fn(["<answer>5</answer>", r"<answer>\sqrt{8}</answer>"], answer=[SLOW_GOLD, r"2\sqrt{2}"])
    elapsed = time.perf_counter() - start
    assert scores == [0.0, 1.0]
    assert fn.pop_metrics()["timeouts"] == 1
    assert elapsed < 0.5 + 0.5


def test_works_from_other_threads_in_process_and_in_the_pool():
    fn = rewards.build("math_accuracy")
    results: dict[str, object] = {}

    def work(key: str) -> None:
        results[key] = (fn([r"<answer>\sqrt{8}</answer>"] * 3, answer=[r"2\sqrt{2}"] * 3),
                        grade(r"<answer>\frac{1}{\sqrt{3}}</answer>", r"\frac{\sqrt{3}}{3}"))  # fmt: skip

    threads = [threading.Thread(target=work, args=(str(i),)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == {str(i): ([1.0, 1.0, 1.0], True) for i in range(3)}


def test_identical_pairs_go_to_the_pool_once():
    batch = pool.grade_batch([r"<answer>\sqrt{8}</answer>"] * 64, [r"2\sqrt{2}"] * 64)
    assert batch.results == [True] * 64 and batch.in_pool == 1


def test_the_tiny_task_never_reaches_the_pool_and_costs_milliseconds():
    rewards.shutdown()
    fn = rewards.build("math_accuracy")
    completions = [TINY.replace("936", str(900 + i % 50)) for i in range(64)]
    fn(completions, answer=["936"] * 64)
    start = time.perf_counter()
    scores = fn(completions, answer=["936"] * 64)
    elapsed = time.perf_counter() - start
    assert scores == [1.0 if i % 50 == 36 else 0.0 for i in range(64)]
    assert pool._pool is None  # nothing needed sympy
    assert elapsed < 0.05


def test_reward_errors_are_counted_per_item():
    class Fragile(Reward):
        name = "fragile"

        def score(self, texts: list[str], columns: dict, tally: Tally) -> list[float | None]:
            return self.each(tally, lambda t: 1.0 / len(t), texts)

    fn = Fragile()
    assert fn(["ab", "", "a"]) == [0.5, None, 1.0]
    expected = {"items": 3, "none": 1, "timeouts": 0, "errors": 1, "seconds": pytest.approx(0, abs=0.1)}
    assert fn.pop_metrics() == expected


def test_shutdown_then_reuse():
    rewards.shutdown()
    rewards.shutdown()  # twice is fine
    assert pool.grade_many([r"<answer>\sqrt{8}</answer>"], [r"2\sqrt{2}"]) == [True]


def test_a_prefilled_think_that_never_closes_has_no_answer():
    completion = r"the answer must be \boxed{5}"
    assert pool.grade_many([completion], ["5"]) == [True]  # no think tags at all: read whole
    assert pool.grade_many([completion], ["5"], prompts=["Q? <think>"]) == [False]
    fn = rewards.build("math_accuracy")
    assert fn([completion, completion + r"</think> \boxed{5}"], answer=["5", "5"], prompts=["Q? <think>"] * 2) == [
        0.0,
        1.0,
    ]
