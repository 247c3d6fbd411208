"""The registry: names, help text, params checked with one-line errors, and the TRL calling convention."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import rewards

REPO = Path(__file__).resolve().parents[2]
EXPECTED = [
    "cosine_length", "countdown", "format_only", "language_consistency", "majority_vote", "math_accuracy",
    "overlong_penalty", "reasoning_steps", "repetition_penalty", "shuffled_reward", "soft_format", "tag_count",
    "think_format",
]  # fmt: skip
TRL_KWARGS = {"prompts": ["q"], "completion_ids": [[1, 2, 3]], "trainer_state": object(), "log_extra": None,
              "log_metric": None, "answer": ["5"], "numbers": [[5]], "target": [5], "data_source": ["x"]}  # fmt: skip


def test_names_are_sorted_and_complete():
    assert rewards.names() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_reward_builds_with_defaults_and_follows_trl_conventions(name):
    fn = rewards.build(name)
    assert fn.__name__ == name
    summary = rewards.describe(name)
    assert summary and "\n" not in summary and "``" not in summary
    assert isinstance(rewards.params(name), dict)
    scores = fn(["<think>a</think><answer>5</answer>"], **TRL_KWARGS)
    assert len(scores) == 1 and (scores[0] is None or isinstance(scores[0], float))
    chat = fn([[{"role": "assistant", "content": "<think>a</think><answer>5</answer>"}]], **TRL_KWARGS)
    assert chat == scores
    metrics = fn.pop_metrics()
    assert set(metrics) == {"items", "none", "timeouts", "errors", "seconds"}
    assert metrics["seconds"] > 0 and fn.pop_metrics()["seconds"] == 0
    clone = pickle.loads(pickle.dumps(fn))
    assert clone.__name__ == name and clone(["<think>a</think><answer>5</answer>"], **TRL_KWARGS) == scores


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("math_acuracy", {}, "unknown reward 'math_acuracy'; did you mean 'math_accuracy'?"),
        ("nonsense_xyz", {}, "known: cosine_length, countdown"),
        ("math_accuracy", {"timeuot": 1.0}, "has no param 'timeuot'; did you mean 'timeout'? (its params: timeout"),
        ("think_format", {"x": 1}, "has no param 'x' (its params: none)"),
        ("math_accuracy", {"timeout": "fast"}, "param 'timeout' must be float, got str 'fast'"),
        ("overlong_penalty", {"max_length": 1.5}, "param 'max_length' must be int, got float 1.5"),
        ("countdown", {"use_all": 1}, "param 'use_all' must be bool, got int 1"),
        ("math_accuracy", {"timeout": -1.0}, "timeout must be in (0, 60] seconds, got -1.0"),
        ("overlong_penalty", {"max_length": 10, "buffer": 20}, "need max_length > 0 and 0 <= buffer <= max_length"),
        ("repetition_penalty", {"max_penalty": 0.5}, "max_penalty must not be positive"),
        ("repetition_penalty", {"unit": "chars"}, "unit must be 'words' or 'tokens'"),
        ("language_consistency", {"language": "xx"}, "language must be one of"),
        ("reasoning_steps", {"min_steps": 0}, "min_steps must be at least 1"),
        ("cosine_length", {"min_value_correct": 2.0}, "min_value_* must not exceed max_value_*"),
    ],
)
def test_build_errors_are_one_line_and_say_what_is_wrong(name, params, message):
    with pytest.raises(ValueError) as error:
        rewards.build(name, **params)
    text = str(error.value)
    assert message in text and "\n" not in text


def test_describe_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown reward"):
        rewards.describe("nope")


def test_int_is_accepted_where_a_float_is_expected():
    assert rewards.build("math_accuracy", timeout=2).timeout == 2.0


def test_a_missing_dataset_column_is_a_clear_error():
    with pytest.raises(ValueError, match="needs the dataset column 'answer'; the call has: solution"):
        rewards.build("math_accuracy")(["x"], solution=["5"])
    with pytest.raises(ValueError, match="needs the dataset column 'completion_ids'"):
        rewards.build("overlong_penalty")(["x"])


def test_math_accuracy_reads_another_gold_column_when_told():
    fn = rewards.build("math_accuracy", column="solution")
    assert fn(["<think>a</think><answer>5</answer>"], solution=["5"]) == [1.0]


def test_import_is_cheap():
    heavy = "('sympy', 'math_verify', 'torch', 'pebble')"
    code = f"import sys, rewards; rewards.names(); print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
