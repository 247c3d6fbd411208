"""Progress a person can follow in a log file (rl/progress.py): timed, newline-terminated lines for every long phase
when the output is not a terminal, consoles that do not wrap at 80 columns, training's lines in place of tqdm's
redraws and `rlvr ablate`'s runs under way. (The redirected `rlvr train` and `rlvr eval` run is
tests/test_train_e2e.py's.)"""

import io
import os
import re
import subprocess
import sys
import threading

import pytest

from rl.errors import RlvrError
from rl.progress import Phase, clock, figures_text, interval, make_console
from tests.conftest import REPO

LINE = re.compile(  # a timed line
    r"^\[progress\] (?P<name>[^:]+): (?P<count>\d+/\d+ \w+) \(\d+%\), elapsed \d+:\d\d:\d\d, ETA (\?|\d+:\d\d:\d\d)"
)
DONE = re.compile(r"^\[progress\] (?P<name>[^:]+): done, \d+/\d+ \w+ in \d+:\d\d:\d\d")


def test_interval_reads_rlvr_progress_seconds(monkeypatch):
    monkeypatch.delenv("RLVR_PROGRESS_SECONDS", raising=False)
    assert interval() == 30.0
    monkeypatch.setenv("RLVR_PROGRESS_SECONDS", "0.5")
    assert interval() == 0.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv("RLVR_PROGRESS_SECONDS", bad)
        with pytest.raises(RlvrError, match="RLVR_PROGRESS_SECONDS must be a number of seconds above 0"):
            interval()


def test_clock_and_figures():
    assert clock(0) == "0:00:00" and clock(75.4) == "0:01:15" and clock(3 * 3600 + 61) == "3:01:01"
    assert figures_text({"loss": 0.81234, "probe_accuracy": 0.5, "graded": 256}) == (
        "loss 0.812, probe accuracy 0.500, graded 256"
    )
    assert figures_text({"generating": "", "hidden": None, "pass@1": 0.25}) == "generating, pass@1 0.250"


def test_a_phase_in_a_log_writes_a_first_line_timed_lines_and_a_closing_line(monkeypatch, capsys):
    import rl.progress

    monkeypatch.setenv("RLVR_PROGRESS_SECONDS", "0.05")
    written, timed = [], threading.Event()
    write = rl.progress.write_line

    def spy(line):
        write(line)
        written.append(line)
        if sum("25/400" in x for x in written) >= 2:  # two from the timer thread after the update
            timed.set()

    monkeypatch.setattr(rl.progress, "write_line", spy)
    with Phase("warm-up", 400, "steps", live=False) as phase:
        phase.update(25, loss=0.8)
        assert timed.wait(30)
        phase.update(40, probe_accuracy=0.25)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert err.endswith("\n") and "\r" not in err and lines == written
    assert lines[0] == "[progress] warm-up: 0/400 steps (0%), elapsed 0:00:00, ETA ?"
    assert all(LINE.match(line) for line in lines[1:-1])
    updated = [line for line in lines if "25/400" in line]
    assert len(updated) >= 2 and all(
        line.startswith("[progress] warm-up: 25/400 steps (6%), elapsed ") for line in updated
    )
    assert all(line.endswith(", loss 0.800") and "ETA ?" not in line for line in updated)  # 25 done: a rate
    assert re.fullmatch(
        r"\[progress\] warm-up: done, 40/400 steps in 0:00:\d\d, loss 0.800, probe accuracy 0.250", lines[-1]
    )


def test_eta_is_the_rate_so_far_and_leaves_out_what_a_resume_started_with(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("rl.progress.time.monotonic", lambda: now[0])
    phase = Phase("train", 120, "steps", initial=60, live=False)
    phase.started = 100.0
    assert phase.eta() is None and "ETA ?" in phase.line()
    now[0] = 130.0
    phase.update(70, reward=0.5)  # 10 steps in 30 s: 50 steps left take 150 s
    assert phase.eta() == pytest.approx(150.0)
    assert phase.line() == "[progress] train: 70/120 steps (58%), elapsed 0:00:30, ETA 0:02:30, reward 0.500"


def test_a_phase_that_raises_writes_no_closing_line_and_a_disabled_one_writes_nothing(monkeypatch, capsys):
    monkeypatch.setenv("RLVR_PROGRESS_SECONDS", "60")
    with pytest.raises(ValueError), Phase("eval before", 8, "prompts", live=False):
        raise ValueError("boom")
    assert capsys.readouterr().err.splitlines() == ["[progress] eval before: 0/8 prompts (0%), elapsed 0:00:00, ETA ?"]
    with Phase("eval", 8, "prompts", enabled=False) as phase:
        phase.update(8)
    assert capsys.readouterr() == ("", "")


def test_a_live_phase_draws_a_bar_not_lines(capsys):
    with Phase("warm-up", 4, "steps", live=True) as phase:
        phase.update(4, loss=0.1)
    assert "[progress]" not in capsys.readouterr().err


def test_tracked_work_from_several_threads_is_listed_while_it_runs_and_counted(monkeypatch, capsys):
    monkeypatch.setenv("RLVR_PROGRESS_SECONDS", "60")
    started, release = threading.Barrier(3), threading.Event()

    def work(label):
        started.wait()
        release.wait()
        return label

    with Phase("ablate tiny", 2, "runs", live=False) as phase:
        threads = [threading.Thread(target=phase.track, args=(name, work, name)) for name in ("a__s0", "b__s0")]
        for t in threads:
            t.start()
        started.wait()
        assert phase.line().endswith("running a__s0, b__s0") or phase.line().endswith("running b__s0, a__s0")
        release.set()
        for t in threads:
            t.join()
        assert phase.done == 2 and "running" not in phase.line()
    assert capsys.readouterr().err.splitlines()[-1].startswith("[progress] ablate tiny: done, 2/2 runs in ")


def test_a_console_off_a_terminal_neither_wraps_nor_cuts_lines_nor_colours(monkeypatch):
    from rich.table import Table

    monkeypatch.setenv("TTY_COMPATIBLE", "0")  # not a terminal, even under `pytest -s` in one
    console = make_console()
    console.file = buffer = io.StringIO()  # rich writes to its file; the console was made for a non-terminal stdout
    message = "precision: fp32 compute, fp32 trainable parameters (plain); " + "x" * 150 + " end"
    console.print(f"[bold]{message}[/]")
    table = Table(title="tiny-arith (seed 0): /a/very/long/run/directory/" + "y" * 120)
    table.add_column("metric")
    table.add_column("a column of long values " * 4)
    table.add_row("held-out pass@1", "0.559 " * 20)
    console.print(table)
    out = buffer.getvalue()
    assert message + "\n" in out and "\x1b[" not in out
    assert ("0.559 " * 20).strip() in out and "y" * 120 in out  # no table cell wrapped


def test_quiet_progress_in_a_log_writes_steps_and_the_reward_not_tqdm_redraws(monkeypatch, capsys):
    from transformers import TrainerControl, TrainerState

    from rl.train.callbacks import QuietProgress

    monkeypatch.setenv("RLVR_PROGRESS_SECONDS", "60")
    monkeypatch.setenv("TTY_COMPATIBLE", "0")  # a log, even under `pytest -s` in a terminal
    callback, control = QuietProgress(), TrainerControl()
    state = TrainerState(max_steps=4, global_step=2)  # resumed at step 2
    callback.on_train_begin(None, state, control)
    for step in (3, 4):
        state.global_step = step
        callback.on_step_end(None, state, control)
        callback.on_log(None, state, control, logs={"reward": step / 10, "loss": 0.0})
    callback.on_train_end(None, state, control)
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err
    assert err.splitlines()[0] == "[progress] train: 2/4 steps (50%), elapsed 0:00:00, ETA ?"
    assert re.fullmatch(r"\[progress\] train: done, 4/4 steps in 0:00:0\d, reward 0.400", err.splitlines()[-1])


def test_ablate_in_a_log_says_which_runs_are_under_way(tmp_path):
    """`rlvr ablate` redirected: timed lines name the run in progress (its own output goes to its log), then a
    closing line. The run fails at once (no such model), so the test takes one process start."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: abl\nbase: {REPO / 'configs' / 'tiny-arith.yaml'}\nseeds: [0]\noutput_dir: {tmp_path / 'runs'}\n"
        f"variants:\n  missing: {{model.name_or_path: {tmp_path / 'no-model'}}}\n"
    )
    log = tmp_path / "ablate.log"
    with log.open("w") as out:
        code = subprocess.run(
            [sys.executable, "-m", "rl", "ablate", str(spec)],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"RLVR_PROGRESS_SECONDS": "0.2"},
            timeout=600,
        ).returncode
    lines = log.read_text().splitlines()
    assert code == 2, lines[-20:]
    progress = [line for line in lines if line.startswith("[progress] ablate abl: ")]
    assert progress[0] == "[progress] ablate abl: 0/1 runs (0%), elapsed 0:00:00, ETA ?"
    assert any(LINE.match(line) and line.endswith(", running missing__s0") for line in progress), progress
    assert DONE.match(progress[-1]) and progress[-1].startswith("[progress] ablate abl: done, 1/1 runs in ")
