"""Runs that survive the cluster: kill -9 then resume, SIGTERM, NaN, failing rewards, half-written checkpoints."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from rl.config import load_experiment
from rl.errors import RlvrError
from rl.rundir import RunDir
from rl.train.resilience import EXIT_PREEMPTED, TrainingStopped
from tests.conftest import REPO, rlvr

FAST = [
    "data.train_size=256",
    "data.eval_size=16",
    "warmup.enabled=false",
    "eval.before=false",
    "eval.after=false",
    "grpo.per_device_train_batch_size=16",
    "grpo.num_generations=4",
    "grpo.save_steps=2",
    "logging.wandb_mode=disabled",
    "grpo.save_total_limit=10",
]


def sets(items):
    return [arg for item in items for arg in ("--set", item)]


def steps_in(run_dir):
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def weights(run_dir):
    return load_file(str(run_dir / "final" / "model.safetensors"))


def start(out, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "rl", "train", *sets(FAST + list(extra)), "--output-dir", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(path, proc, timeout=300):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    result = rlvr("train", *sets(FAST + ["grpo.max_steps=6"]), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_kill_9_then_resume_matches_an_uninterrupted_run(uninterrupted, tmp_path):
    out = tmp_path / "run"
    proc = start(out, "grpo.max_steps=6")
    wait_for(out / "checkpoints" / "checkpoint-2" / "trainer_state.json", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists()
    result = rlvr("train", "--resume", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert steps_in(out) == [1, 2, 3, 4, 5, 6]
    ours, theirs = weights(out), weights(uninterrupted)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_sigterm_saves_a_checkpoint_and_exits_75(tmp_path):
    out = tmp_path / "run"
    proc = start(out, "grpo.max_steps=200", "grpo.save_steps=1000")
    wait_for(out / "metrics.jsonl", proc)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_PREEMPTED, stderr[-3000:]
    step = steps_in(out)[-1]
    assert step < 200  # stopped at the next step boundary, not at max_steps
    assert (out / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json").is_file()
    assert f"rlvr train --resume {out}" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr


def test_truncated_checkpoint_is_set_aside_on_resume(uninterrupted, tmp_path):
    out = tmp_path / "run"
    proc = start(out, "grpo.max_steps=4")
    assert proc.wait(timeout=300) == 0
    partial = out / "checkpoints" / "checkpoint-6"
    partial.mkdir()
    (partial / "config.json").write_text("{}")  # killed before model, optimizer and trainer_state were written
    result = rlvr("train", "--resume", str(out), "--set", "grpo.max_steps=6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "checkpoints" / "incomplete-checkpoint-6" / "config.json").is_file()
    assert (out / "checkpoints" / "checkpoint-6" / "trainer_state.json").is_file()
    assert steps_in(out) == [1, 2, 3, 4, 5, 6]
    ours, theirs = weights(out), weights(uninterrupted)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def run_in_process(tmp_path, *extra):
    from rl.train.loop import run

    exp = load_experiment(None, FAST + ["grpo.save_steps=1", *extra])
    out = tmp_path / "run"
    RunDir(out).prepare(resume=False, overwrite=False)
    return exp, out, lambda: run(exp, out)


def test_nan_loss_stops_before_the_update_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from trl import GRPOTrainer

    original = GRPOTrainer.compute_loss

    def poisoned(self, *args, **kwargs):
        loss = original(self, *args, **kwargs)
        return loss * float("nan") if self.state.global_step == 2 else loss

    monkeypatch.setattr(GRPOTrainer, "compute_loss", poisoned)
    _, out, go = run_in_process(tmp_path, "grpo.max_steps=5")
    with pytest.raises(TrainingStopped, match=r"non-finite loss at step 3; .*checkpoint-2"):
        go()
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (out / "checkpoints" / "checkpoint-3").exists()
    assert all(
        torch.isfinite(t).all()
        for t in load_file(str(out / "checkpoints" / "checkpoint-2" / "model.safetensors")).values()
    )


def test_nan_gradient_of_a_finite_loss_stops_before_the_update(tmp_path, monkeypatch):
    from trl import GRPOTrainer

    class NanGradient(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            return torch.full_like(grad, float("nan"))

    original = GRPOTrainer.compute_loss

    def poisoned(self, model, *args, **kwargs):
        loss = original(self, model, *args, **kwargs)
        if self.state.global_step != 1:
            return loss
        weight = next(p for p in model.parameters() if p.requires_grad)
        return loss + 0.0 * NanGradient.apply(weight).sum()  # the loss stays finite, one gradient is NaN

    monkeypatch.setattr(GRPOTrainer, "compute_loss", poisoned)
    _, out, go = run_in_process(tmp_path, "grpo.max_steps=3")
    with pytest.raises(TrainingStopped, match=r"non-finite gradient at step 2; .*checkpoint-1"):
        go()
    assert not (out / "checkpoints" / "checkpoint-2").exists()


@pytest.fixture
def flaky_reward():
    from rewards.base import Reward
    from rewards.registry import _REGISTRY, register

    class Flaky(Reward):
        """Raises on odd items (or on every item with always=True); 1.0 otherwise."""

        name = "flaky_test_reward"

        def __init__(self, always: bool = False):
            super().__init__()
            self.always = always

        def score(self, texts, columns, tally):
            def one(i):
                if self.always or i % 2:
                    raise ZeroDivisionError(f"flaky item {i}")
                return 1.0

            return self.each(tally, one, range(len(texts)))

    register(Flaky)
    yield "flaky_test_reward"
    _REGISTRY.pop("flaky_test_reward", None)


def test_reward_raising_on_half_its_items_counts_errors_and_goes_on(tmp_path, flaky_reward):
    extra = ["grpo.max_steps=2", "rewards=[{name: math_accuracy}, {name: flaky_test_reward}]"]
    _, out, go = run_in_process(tmp_path, *extra)
    summary = go()
    assert summary["steps"] == 2
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["rewards/flaky_test_reward/errors"] == 8  # half of 16 completions
    assert last["rewards/flaky_test_reward/mean"] == 1.0  # the failed items are None, not 0
    text = (out / "reward_errors" / "flaky_test_reward.txt").read_text()
    assert "Traceback" in text and "ZeroDivisionError: flaky item 1" in text


def test_reward_failing_on_every_item_stops_the_run(tmp_path, flaky_reward):
    extra = ["grpo.max_steps=2", "rewards=[{name: math_accuracy}, {name: flaky_test_reward, params: {always: true}}]"]
    _, out, go = run_in_process(tmp_path, *extra)
    with pytest.raises(RlvrError, match="reward 'flaky_test_reward' failed on all 16 items of the batch at step 1"):
        go()
    assert (out / "reward_errors" / "flaky_test_reward.txt").is_file()


def test_deepspeed_weight_check_reads_only_the_valid_part_of_a_partition():
    from rl.train.resilience import all_ranks_finite, local_weights

    plain = torch.nn.Linear(3, 2)
    assert all_ranks_finite(local_weights(plain))
    param = torch.nn.Parameter(torch.zeros(0))  # a ZeRO-3 parameter: empty here, its shard in ds_tensor
    param.ds_tensor = torch.tensor([1.0, 2.0, float("nan")])  # 2 values of a 2-element parameter + padding
    param.ds_numel = 2
    holder = torch.nn.Module()
    holder.w = param
    assert [t.tolist() for t in local_weights(holder)] == [[1.0, 2.0]]  # the padding's garbage is never read
    assert all_ranks_finite(local_weights(holder))
    param.ds_tensor[1] = float("inf")
    assert not all_ranks_finite(local_weights(holder))
