"""Two training processes through `accelerate launch` (gloo on CPU): 2 GRPO steps, ranks agree on the weights."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_two_process_cpu_run_keeps_ranks_in_sync(tmp_path):
    out = tmp_path / "run"
    overrides = [
        "data.train_size=256",
        "data.eval_size=8",
        "warmup.enabled=false",
        "grpo.max_steps=2",
        "grpo.per_device_train_batch_size=8",
        "grpo.num_generations=4",
        "logging.wandb_mode=disabled",
        "grpo.save_steps=100",
    ]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs" / "accelerate" / "cpu-2proc.yaml"),
        "-m",
        "rl",
        "train",
        "--output-dir",
        str(out),
    ]
    cmd += [x for item in overrides for x in ("--set", item)]
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1"}  # two processes on two cores
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_processes"] == 2
    assert summary["ranks_in_sync"] is True
    assert summary["steps"] == 2
    # held-out evaluation ran inside the trainer, sharded over both ranks, all 8 rows graded once
    assert summary["eval_ranks"] == 2 and summary["eval_backend"] == "transformers"
    assert summary["n_eval"] == 8 and summary["accuracy_before"] is not None and summary["accuracy_after"] is not None
    for label in ("before", "after"):
        records = [json.loads(line) for line in (out / "eval" / f"{label}.jsonl").read_text().splitlines()]
        assert [r["index"] for r in records] == list(range(8))
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["rewards/math_accuracy/items"] == 16 for m in metrics)  # 8 completions per rank, summed


def launch_two(out, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    cmd += [str(REPO / "configs" / "accelerate" / "cpu-2proc.yaml"), "-m", "rl", "train", "--output-dir", str(out)]
    cmd += [x for item in overrides for x in ("--set", item)]
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)


def test_two_processes_stop_together_on_a_health_alert(tmp_path):
    """Regrading every step (a sum over ranks), the replay broadcast at train begin, and a stop_on alert at step 2
    decided across ranks: both ranks stop at the same step, no collective is left waiting."""
    out = tmp_path / "run"
    overrides = [
        "data.train_size=256",
        "data.eval_size=8",
        "warmup.enabled=false",
        "eval.before=false",
        "grpo.max_steps=4",
        "grpo.per_device_train_batch_size=8",
        "grpo.num_generations=4",
        "logging.wandb_mode=disabled",
        "grpo.save_steps=100",
        "health.stop_on=[no_signal]",
        "health.no_signal.steps=2",
        "health.no_signal.max_fraction=0",
        "health.grader_disagreement.every=1",
    ]
    result = launch_two(out, *overrides)
    # each rank exits with 4; torchrun (under accelerate launch) reports a failed child as 1, naming its exit code
    assert result.returncode == 1 and "exitcode  : 4" in result.stderr, result.stderr[-4000:]
    assert result.stderr.count("rlvr: stopped: health.stop_on: no_signal at step 2") == 2  # one line per rank
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["health"]["stopped_by"] == "no_signal"
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all("health/regrade/checked" in m for m in metrics)


def test_multi_process_launch_needs_an_output_dir():
    env = os.environ.copy() | {"WORLD_SIZE": "2", "RANK": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "rl", "train"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 2 and "need --output-dir" in result.stderr
