"""`eval.every_steps`: the held-out evaluation every N optimizer steps during training, into that step's line of
metrics.jsonl (`eval/pass@1`, ...), trackio and wandb under the names of the evaluations before and after, and
RUN/eval/step-N.jsonl; validated in one line; a resume never repeats an evaluation already done."""

import json
import shutil
import sqlite3

import pytest
from transformers.integrations.integration_utils import rewrite_logs

from rl.config import EvalConfig, load_experiment
from rl.errors import RlvrError
from rl.eval.heldout import HeldOutEval
from rl.rundir import RunDir
from rl.train.callbacks import metrics_name
from tests.conftest import rlvr
from tests.test_train_e2e import TINY


@pytest.mark.parametrize("value", ["0", "-2"])
def test_every_steps_below_one_is_refused_in_one_line(value):
    with pytest.raises(RlvrError, match=rf"eval.every_steps must be >= 1, got {value} \(null turns it off\)"):
        load_experiment(None, [f"eval.every_steps={value}"])
    result = rlvr("train", "--dry-run", "--set", f"eval.every_steps={value}")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("rlvr: error: eval.every_steps must be >= 1")


def test_every_steps_is_off_by_default_and_takes_integers():
    assert load_experiment().eval.every_steps is None
    assert load_experiment(None, ["eval.every_steps=5"]).eval.every_steps == 5
    with pytest.raises(RlvrError, match="config key 'eval.every_steps' must be an integer"):
        load_experiment(None, ["eval.every_steps=often"])


def heldout(tmp_path, **cfg) -> HeldOutEval:
    return HeldOutEval([], None, EvalConfig(**cfg), 0, RunDir(tmp_path), {}, None)


def test_due_at_every_multiple_but_the_last_step_the_evaluation_after_measures(tmp_path):
    every = heldout(tmp_path, every_steps=2)
    assert [s for s in range(1, 7) if every.due(s, max_steps=6)] == [2, 4]
    no_after = heldout(tmp_path, every_steps=2, after=False)
    assert [s for s in range(1, 7) if no_after.due(s, max_steps=6)] == [2, 4, 6]
    assert not any(heldout(tmp_path).due(s, max_steps=6) for s in range(1, 7))  # off


def test_a_resume_forgets_the_step_files_of_steps_it_trains_again(tmp_path):
    folder = RunDir(tmp_path).eval
    folder.mkdir()
    names = ["before.jsonl", "after.jsonl", "step-2.jsonl", "step-4.jsonl", "step-10.jsonl", "gsm8k__x"]
    for name in names:
        (folder / name).write_text("x")
    assert heldout(tmp_path, every_steps=2).forget_after(4) == ["step-10.jsonl"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(set(names) - {"step-10.jsonl"})


def test_the_logged_names_are_the_names_of_the_evaluations_before_and_after():
    # metrics.jsonl writes `eval/x`; wandb and trackio get transformers' rewrite of the log key: the same name
    assert metrics_name("eval_pass@1") == "eval/pass@1" and metrics_name("reward") == "reward"
    assert rewrite_logs({"eval_pass@1": 0.5, "eval_data_source/arithmetic/pass@1": 0.5}) == {
        "eval/pass@1": 0.5,
        "eval/data_source/arithmetic/pass@1": 0.5,
    }


PERIODIC = [
    "--set",
    "eval.every_steps=2",
    "--set",
    "grpo.max_steps=4",
    "--set",
    "grpo.save_steps=2",
    "--set",
    "grpo.logging_steps=3",  # step 2 is logged anyway: its evaluation needs a line
    "--set",
    "data.eval_size=16",
]


@pytest.fixture(scope="module")
def periodic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("periodic") / "run"
    result = rlvr("train", *TINY, *PERIODIC, "--output-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout


def eval_lines(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {x["step"]: x for x in lines if any(k.startswith("eval/") for k in x)}, [x["step"] for x in lines]


def test_every_steps_evaluates_into_metrics_trackio_wandb_and_a_step_file(periodic_run):
    run_dir, stdout = periodic_run
    samples = [json.loads(x) for x in (run_dir / "eval" / "step-2.jsonl").read_text().splitlines()]
    assert len(samples) == 16 and {"prompt", "completion", "correct"} <= set(samples[0])
    assert not (run_dir / "eval" / "step-4.jsonl").exists()  # the last step: the evaluation after measures it
    evals, logged = eval_lines(run_dir)
    assert list(evals) == [2] and logged == [2, 3]
    line = evals[2]
    assert line["eval/pass@1"] == pytest.approx(sum(bool(s["correct"]) for s in samples) / 16)
    assert (
        line["eval/n_problems"] == 16 and "eval/format_rate" in line and "eval/data_source/arithmetic/pass@1" in line
    )
    assert "reward" in line and "loss" in line  # the step's own training log, one line
    assert f"held-out pass@1 at step 2: {line['eval/pass@1']:.3f}" in stdout
    with sqlite3.connect(run_dir / "trackio" / "rlvr.db") as db:
        rows = [(step, json.loads(m)) for step, m in db.execute("select step, metrics from metrics order by step")]
    assert [step for step, m in rows if "eval/pass@1" in m] == [0, 2, 4]  # before, every 2 steps, after
    assert not any(k.startswith("train/eval") for _, m in rows for k in m)
    wandb_log = next((run_dir / "wandb").glob("offline-run-*/run-*.wandb")).read_bytes()
    assert b"eval/pass@1" in wandb_log and b"train/eval" not in wandb_log


def test_a_resume_does_not_repeat_an_evaluation_already_done(periodic_run):
    run_dir, _ = periodic_run
    run = RunDir(run_dir)
    # the run as it stands when stopped after checkpoint-2 (checkpoint-4 and the end never happened) ...
    for name in ("summary.json", "eval/after.jsonl"):
        (run_dir / name).unlink()
    for folder in (run.final, run.checkpoints / "checkpoint-4"):
        shutil.rmtree(folder)
    (run.eval / "step-6.jsonl").write_text("from a step that will be trained again\n")
    step2 = run.eval / "step-2.jsonl"
    before = (step2.stat().st_mtime_ns, step2.read_bytes())
    # ... continued to step 6
    result = rlvr("train", "--resume", str(run_dir), "--set", "grpo.max_steps=6")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "at step 2" not in result.stdout and "before GRPO:" not in result.stdout
    assert "held-out pass@1 at step 4:" in result.stdout
    assert (step2.stat().st_mtime_ns, step2.read_bytes()) == before
    assert (run.eval / "step-4.jsonl").is_file() and not (run.eval / "step-6.jsonl").exists()
    evals, logged = eval_lines(run_dir)
    assert list(evals) == [2, 4] and logged == [2, 3, 4, 6]
    assert json.loads(run.summary.read_text())["steps"] == 6
