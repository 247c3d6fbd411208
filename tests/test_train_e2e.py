"""The whole loop through the CLI on a tiny budget: warm-up, eval, 2 GRPO steps, eval, run directory, resume."""

import json

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


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e") / "run"
    result = rlvr("train", *TINY, "--output-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
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
