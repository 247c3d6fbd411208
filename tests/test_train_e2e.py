"""The whole loop through the CLI on a tiny budget: warm-up, eval, 2 GRPO steps, eval, run directory, resume."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, rlvr

TINY = [
    "--set",
    "data.train_size=256",
    "--set",
    "data.eval_size=32",
    "--set",
    "warmup.max_steps=10",
    "--set",
    "warmup.check_every=10",
    "--set",
    "warmup.check_size=16",
    "--set",
    "grpo.max_steps=2",
    "--set",
    "grpo.save_steps=1",
    "--set",
    "grpo.per_device_train_batch_size=16",
    "--set",
    "grpo.num_generations=4",
    "--set",
    "eval.batch_size=32",
    "--set",
    "logging.wandb_mode=offline",
]


PROGRESS_LINE = re.compile(r"^\[progress\] [^:]+: \d+/\d+ \w+ \(\d+%\), elapsed \d+:\d\d:\d\d, ETA (\?|\d+:\d\d:\d\d)")
PROGRESS_DONE = re.compile(r"^\[progress\] [^:]+: done, \d+/\d+ \w+ in \d+:\d\d:\d\d")


def redirected(args: list[str], log: Path, **env: str) -> int:
    """`rlvr ARGS` as a cluster job runs it: stdout and stderr into one log file; progress lines every 0.2 s."""
    with log.open("w") as out:
        return subprocess.run(
            [sys.executable, "-m", "rl", *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"RLVR_PROGRESS_SECONDS": "0.2"} | env,
            timeout=900,
        ).returncode


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The tiny run, its output redirected to `train.log` beside it; a cache of its own, so the warm-up runs."""
    root = tmp_path_factory.mktemp("e2e")
    out, log = root / "run", root / "train.log"
    code = redirected(["train", *TINY, "--output-dir", str(out)], log, RLVR_CACHE_DIR=str(root / "cache"))
    assert code == 0, log.read_text()[-6000:]
    return out


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_run_directory_layout(run_dir):
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "summary.json",
        "eval/before.jsonl",
        "eval/after.jsonl",
        "final/config.json",
        "checkpoints/checkpoint-2",
    ):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "wandb").glob("offline-run-*")), "wandb offline run missing"
    assert "name: tiny-arith" in (run_dir / "config.yaml").read_text()


def test_summary_and_metrics(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["n_eval"] == 32
    assert summary["precision"] == "fp32 compute, fp32 trainable parameters (plain)"
    assert summary["eval_backend"] == "transformers" and summary["eval_ranks"] == 1
    for key in ("accuracy_before", "accuracy_after", "wall_seconds"):
        assert isinstance(summary[key], float), key
    metrics = read_metrics(run_dir)
    assert [m["step"] for m in metrics] == [1, 2]
    for key in (
        "loss",
        "reward",
        "rewards/math_accuracy/mean",
        "rewards/think_format/mean",
        "kl",
        "completions/mean_length",
        "learning_rate",
        "step_time",
        "rewards/math_accuracy/timeouts",
        "rewards/math_accuracy/none",
        "rewards/math_accuracy/items",
        "health/alerts",
        "health/reward_hacking",
    ):
        assert key in metrics[-1], key
    assert metrics[-1]["rewards/math_accuracy/items"] == 16 and metrics[-1]["health/alerts"] == 0
    # two steps are too few for any window: nothing checked yet, nothing raised
    assert summary["health"] == {"alerts": [], "checked": [], "stopped_by": None}
    samples = [json.loads(line) for line in (run_dir / "eval" / "after.jsonl").read_text().splitlines()]
    assert len(samples) == 32 and {"prompt", "completion", "correct", "extracted"} <= set(samples[0])
    assert sum(bool(s["correct"]) for s in samples) / 32 == pytest.approx(summary["accuracy_after"])


def test_resume_continues_from_the_newest_checkpoint(run_dir):
    run_id = (run_dir / "wandb_id").read_text().strip()
    before = set((run_dir / "wandb").glob("offline-run-*"))
    result = rlvr("train", "--resume", str(run_dir), "--set", "grpo.max_steps=3", "--set", "grpo.save_steps=1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [m["step"] for m in read_metrics(run_dir)] == [1, 2, 3]
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 3
    # the resumed start writes to the same wandb run: one offline folder per start, every one with the run's id
    after = set((run_dir / "wandb").glob("offline-run-*"))
    assert len(before) == 1 and len(after - before) == 1
    assert {p.name.rsplit("-", 1)[-1] for p in after} == {run_id}
    assert all((p / f"run-{run_id}.wandb").is_file() for p in after)
    assert (run_dir / "wandb_id").read_text().strip() == run_id


def test_one_grpo_step_with_three_weighted_rewards_from_yaml(tmp_path):
    config = tmp_path / "three.yaml"
    config.write_text(
        (REPO / "configs" / "tiny-arith.yaml")
        .read_text()
        .replace(
            "  - {name: think_format, weight: 0.1}\n",
            "  - {name: think_format, weight: 0.1}\n"
            "  - {name: overlong_penalty, weight: 0.5, params: {max_length: 40, buffer: 8}}\n",
        )
    )
    out = tmp_path / "run"
    overrides = [
        "data.train_size=64",
        "data.eval_size=8",
        "warmup.enabled=false",
        "eval.before=false",
        "eval.after=false",
        "grpo.max_steps=1",
        "grpo.per_device_train_batch_size=16",
        "grpo.num_generations=4",
        "logging.wandb_mode=disabled",
        "grpo.save_steps=100",
    ]
    result = rlvr("train", str(config), *[x for o in overrides for x in ("--set", o)], "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    (step,) = read_metrics(out)
    names = ("math_accuracy", "think_format", "overlong_penalty")
    for name in names:
        assert f"rewards/{name}/mean" in step and f"rewards/{name}/seconds" in step
    # the logged total reward is the weighted sum of the per-reward means (TRL applies reward_weights)
    weighted = sum(w * step[f"rewards/{n}/mean"] for n, w in zip(names, (1.0, 0.1, 0.5), strict=True))
    assert step["reward"] == pytest.approx(weighted, abs=1e-5)


def test_a_run_redirected_to_a_file_logs_lines_a_person_can_follow(run_dir, tmp_path):
    """In the log of a redirected `rlvr train` (and `rlvr eval`) each long phase has newline-terminated progress
    lines with elapsed time and ETA and its key figure, tqdm's `\\r` redraws are gone, no message or table line is
    cut at 80 columns, and offline wandb prints no URL warning."""
    text = (run_dir.parent / "train.log").read_text()
    lines = text.splitlines()
    assert "\r" not in text and "it/s]" not in text
    assert "URL not available in offline run" not in text
    for phase, unit, figure in (
        ("warm-up", "steps", "probe accuracy "),
        ("eval before", "prompts", "graded 32, pass@1 "),
        ("train", "steps", "reward "),
        ("eval after", "prompts", "graded 32, pass@1 "),
    ):
        mine = [line for line in lines if line.startswith(f"[progress] {phase}: ")]
        assert PROGRESS_LINE.match(mine[0]) and f" {unit} " in mine[0], (phase, mine)
        assert PROGRESS_DONE.match(mine[-1]) and figure in mine[-1], (phase, mine)
    header = next(line for line in lines if line.startswith("rlvr tiny-arith"))
    assert header.endswith(f"-> {run_dir}") and len(header) > 80  # one line, not wrapped at 80 columns
    assert any(line.startswith("precision: ") and line.endswith("trainable parameters: float32") for line in lines)
    assert any(line.strip() == f"tiny-arith (seed 0): {run_dir}" for line in lines)  # the table's title whole

    log = tmp_path / "eval.log"
    assert redirected(["eval", str(run_dir), "--output", str(tmp_path / "eval")], log) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "\r" not in text and "URL not available in offline run" not in text
    mine = [line for line in text.splitlines() if line.startswith("[progress] eval final: ")]
    assert PROGRESS_LINE.match(mine[0]) and PROGRESS_DONE.match(mine[-1]) and "graded 32, pass@1 " in mine[-1], mine
    assert any(
        line.startswith("rlvr eval ") and line.endswith(f"-> {tmp_path / 'eval'}") for line in text.splitlines()
    )
