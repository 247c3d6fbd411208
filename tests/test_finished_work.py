"""Finished work is read-only to every `rlvr train` invocation: a resume of a finished run trains nothing, a run is
deleted only by --discard-run, and continuing a finished run (a larger grpo.max_steps) keeps its results."""

import json
import shutil

import pytest

from rl.cli import main
from tests.conftest import one_line_error, rlvr
from tests.test_train_e2e import TINY

NO_WARMUP = [*TINY, "--set", "warmup.enabled=false", "--set", "data.eval_size=8", "--set", "eval.batch_size=8"]


def snapshot(root):
    """Every file under `root` with its size and modification time: what 'unchanged' means here."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 2-step run (no warm-up: seconds, not minutes)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    result = rlvr("train", *NO_WARMUP, "--output-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "summary.json").is_file()
    return out


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_resuming_a_finished_run_trains_nothing_and_says_so(run, capsys):
    before = snapshot(run)
    for argv in (["train", "--resume", str(run)], ["train", "--resume", str(run), "--dry-run"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"{run} is finished (2 steps" in out and "grpo.max_steps=N (N > 2)" in out
    assert snapshot(run) == before


@pytest.mark.parametrize(
    "flags, fragments",
    [
        ([], ["holds a training run", "finished at step 2", "--resume", "--discard-run"]),
        (["--overwrite"], ["holds a training run", "--overwrite never deletes a training run"]),
    ],
)
def test_a_training_run_is_not_replaced_without_discard_run(run, capsys, flags, fragments):
    before = snapshot(run)
    one_line_error(capsys, ["train", *NO_WARMUP, "--output-dir", str(run), *flags], *fragments)
    one_line_error(capsys, ["train", *NO_WARMUP, "--output-dir", str(run), *flags, "--dry-run"], *fragments)
    assert snapshot(run) == before


@pytest.mark.parametrize("inside", ["eval/mine", "final", "checkpoints/new"])
def test_no_run_is_started_inside_a_training_run(run, capsys, inside):
    before = snapshot(run)
    one_line_error(capsys, ["train", *NO_WARMUP, "--output-dir", str(run / inside)], "lies inside the training run")
    assert snapshot(run) == before


def test_a_run_being_trained_on_this_host_is_not_touched(run, capsys):
    import socket
    import subprocess

    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (run / "running.json").write_text(json.dumps({"host": socket.gethostname(), "pid": sleeper.pid}))
        for argv in (["train", "--resume", str(run)], ["train", "--output-dir", str(run), "--discard-run"]):
            one_line_error(capsys, argv, "is being trained right now", f"pid {sleeper.pid}")
    finally:
        sleeper.kill()
        sleeper.wait()
    (run / "running.json").write_text(json.dumps({"host": socket.gethostname(), "pid": sleeper.pid}))
    assert main(["train", "--resume", str(run)]) == 0  # a dead process's marker does not count


def test_discard_run_names_the_loss_and_trains_again(run, capsys):
    assert main(["train", *NO_WARMUP, "--output-dir", str(run), "--discard-run", "--dry-run"]) == 0
    assert "would be deleted (finished at step 2" in capsys.readouterr().out
    (run / "marker").write_text("old")
    result = rlvr("train", *NO_WARMUP, "--set", "grpo.max_steps=1", "--output-dir", str(run), "--discard-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run / "marker").exists()
    assert json.loads((run / "summary.json").read_text())["steps"] == 1


def test_a_larger_max_steps_continues_a_finished_run_and_keeps_its_results(run):
    old_summary = (run / "summary.json").read_text()
    old_after = (run / "eval" / "after.jsonl").read_text()
    result = rlvr("train", "--resume", str(run), "--set", "grpo.max_steps=3")
    assert result.returncode == 0, result.stderr[-3000:]
    said = " ".join(result.stdout.split())  # a console may wrap long lines
    assert "continuing the finished run" in said and "from checkpoint-2 (step 2)" in said
    assert "missing keys" not in result.stdout + result.stderr  # the tied head is not reported as missing
    kept = run / "finished-2"
    assert (kept / "summary.json").read_text() == old_summary
    assert (kept / "eval" / "after.jsonl").read_text() == old_after
    assert (kept / "final" / "config.json").is_file() and "max_steps: 2" in (kept / "config.yaml").read_text()
    assert json.loads((run / "summary.json").read_text())["steps"] == 3
    assert not (run / "running.json").exists()  # released at the end
