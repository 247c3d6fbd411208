"""Dynamic sampling (DAPO): zero-variance groups dropped, refill bounded, metric logged."""

import json

import pytest
import torch

from rl.train.dynamic_sampling import informative_groups, merge_batches, plan_batch
from tests.conftest import rlvr


@pytest.mark.parametrize(
    "advantages, size, expected",
    [
        ([0.0, 0.0, 0.0, 0.0], 2, [False, False]),
        ([0.5, -0.5, 0.0, 0.0], 2, [True, False]),
        ([0.0, 0.0, 0.0, 1e-3], 4, [True]),
        ([1e-9, -1e-9, 0.2, -0.2, 0.0, 0.0], 2, [False, True, False]),
    ],
)
def test_informative_groups(advantages, size, expected):
    assert informative_groups(torch.tensor(advantages), size).tolist() == expected


def test_informative_groups_rejects_ragged_batches():
    with pytest.raises(ValueError, match="do not split"):
        informative_groups(torch.zeros(5), 2)


def flags(*values):
    return torch.tensor(values)


@pytest.mark.parametrize(
    "rounds, needed, picks, filler",
    [
        ([flags(True, True)], 2, [(0, 0), (0, 1)], 0),
        ([flags(False, True), flags(True, True)], 2, [(0, 1), (1, 0)], 0),  # refill takes only what is missing
        ([flags(False, False), flags(False, True), flags(False, False)], 2, [(1, 1), (0, 0)], 1),  # bounded: filler
        ([flags(False, False, False)], 3, [(0, 0), (0, 1), (0, 2)], 3),
    ],
)
def test_plan_batch(rounds, needed, picks, filler):
    assert plan_batch(rounds, needed) == (picks, filler)


def test_merge_batches_repads_prompts_left_and_completions_right():
    a = {
        "prompt_ids": torch.tensor([[9, 1], [9, 2], [3, 4], [3, 5]]),
        "prompt_mask": torch.ones(4, 2, dtype=torch.long),
        "completion_ids": torch.tensor([[7], [8], [7], [8]]),
        "completion_mask": torch.ones(4, 1, dtype=torch.long),
        "advantages": torch.tensor([0.0, 0.0, 1.0, -1.0]),
        "num_items_in_batch": torch.tensor(4),
    }
    b = {
        "prompt_ids": torch.tensor([[1, 2, 3], [1, 2, 3]]),
        "prompt_mask": torch.ones(2, 3, dtype=torch.long),
        "completion_ids": torch.tensor([[5, 6], [5, 0]]),
        "completion_mask": torch.tensor([[1, 1], [1, 0]]),
        "advantages": torch.tensor([0.5, -0.5]),
        "num_items_in_batch": torch.tensor(3),
    }
    out = merge_batches([a, b], [(0, 1), (1, 0)], group_size=2, pad_token_id=0)
    assert out["prompt_ids"].tolist() == [[0, 3, 4], [0, 3, 5], [1, 2, 3], [1, 2, 3]]
    assert out["prompt_mask"].tolist() == [[0, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1]]
    assert out["completion_ids"].tolist() == [[7, 0], [8, 0], [5, 6], [5, 0]]
    assert out["completion_mask"].tolist() == [[1, 0], [1, 0], [1, 1], [1, 0]]
    assert out["advantages"].tolist() == [1.0, -1.0, 0.5, -0.5]
    assert int(out["num_items_in_batch"]) == 5


@pytest.mark.slow  # ~120 s: a real run with refill rounds (CI runs it in make test-slow)
def test_tiny_run_with_dynamic_sampling_refills_and_logs_the_dropped_share(tmp_path):
    """Warmed up to ~30% so that groups differ: some are dropped and refilled from fresh prompts."""
    out = tmp_path / "run"
    args = [
        "data.train_size=1024",
        "data.eval_size=16",
        "warmup.target_accuracy=0.3",
        "warmup.check_size=32",
        "eval.before=false",
        "eval.after=false",
        "grpo.max_steps=3",
        "grpo.per_device_train_batch_size=16",
        "grpo.num_generations=4",
        "logging.wandb_mode=disabled",
        "dynamic_sampling.enabled=true",
        "dynamic_sampling.max_rounds=2",
        "grpo.save_steps=100",
    ]
    result = rlvr("train", *[x for a in args for x in ("--set", a)], "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3]
    for m in lines:  # a step's groups may all differ (nothing dropped) or all agree (every round dropped)
        assert 0.0 <= m["dynamic_sampling/dropped_share"] <= 1.0
        assert 0.0 <= m["dynamic_sampling/extra_rounds"] <= 2.0  # bounded by max_rounds
        assert 0.0 <= m["dynamic_sampling/filler_share"] <= m["dynamic_sampling/dropped_share"]
        assert (m["dynamic_sampling/extra_rounds"] > 0) == (m["dynamic_sampling/dropped_share"] > 0)
    assert any(0.0 < m["dynamic_sampling/dropped_share"] < 1.0 for m in lines)
    assert any(m["dynamic_sampling/filler_share"] < m["dynamic_sampling/dropped_share"] for m in lines)  # refilled
