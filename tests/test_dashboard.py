"""Dashboards: `logging.backends` reaches TRL's `report_to`; runs made without trackio import from their files;
`rlvr dashboard` serves a run and an ablation, checked in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rl.config import load_experiment
from rl.errors import RlvrError
from rl.study.dashboard import browser, group_of, load_page, run_records
from tests.conftest import REPO, rlvr
from tests.test_train_e2e import TINY

needs_browser = pytest.mark.skipif(browser() is None, reason="no Chromium on PATH (.ci/run installs it)")


def test_backends_reach_report_to(tmp_path):
    from rl.train.loop import grpo_args, report_to

    exp = load_experiment(None, ["logging.backends=[wandb, trackio]"])
    assert report_to(exp, main=True) == ["wandb", "trackio"]
    assert report_to(exp, main=False) == []  # only rank 0 talks to the backends
    args = grpo_args(exp, tmp_path / "run", report_to(exp, True))
    assert args.report_to == ["wandb", "trackio"] and args.project == "rlvr" and args.log_completions
    off = load_experiment(None, ["logging.backends=[wandb, trackio]", "logging.wandb_mode=disabled"])
    assert report_to(off, main=True) == ["trackio"]
    none = grpo_args(off, tmp_path / "run", [])
    assert none.report_to == [] and not none.log_completions
    with pytest.raises(RlvrError, match="logging.backends"):
        load_experiment(None, ["logging.backends=[tensorboard]"])


def test_the_demo_logs_to_both_and_ablations_group_by_variant():
    exp = load_experiment(None, [])
    assert exp.logging.backends == ["wandb", "trackio"]
    assert (REPO / "configs/tiny-arith.yaml").read_text() == (REPO / "rl/configs/tiny-arith.yaml").read_text()
    exp.logging.wandb_group, exp.logging.wandb_job_type = "tiny-rewards", "accuracy"
    assert group_of(exp.logging) == "tiny-rewards/accuracy"


def fake_run(run_dir: Path, name: str, variant: str | None = None, steps: int = 3) -> Path:
    """A run directory as an rlvr run made before trackio leaves it: config, metrics.jsonl, state, summary."""
    run_dir.mkdir(parents=True)
    log = {"wandb_project": "rlvr", "wandb_name": name}
    if variant:
        log |= {"wandb_group": "tiny-rewards", "wandb_job_type": variant}
    (run_dir / "config.yaml").write_text(json.dumps({"name": "tiny-arith", "logging": log}))
    with (run_dir / "metrics.jsonl").open("w") as f:
        for step in range(1, steps + 1):
            row = {"step": step, "time": 1.7e9 + step, "loss": 0.1, "reward": 0.2 * step}
            row |= {"rewards/math_accuracy/mean": 0.1 * step, "health/alerts": 0, "kl": None}
            f.write(json.dumps(row) + "\n")
        f.write(json.dumps({"step": steps, "train_runtime": 9.0}) + "\n")  # the end-of-training line
    (run_dir / "state.json").write_text(json.dumps({"before": {"accuracy": 0.25, "format_rate": 0.5, "n": 32}}))
    summary = {"steps": steps, "accuracy_after": 0.5, "format_rate_after": 0.75}
    summary["health"] = {"alerts": [{"kind": "entropy_collapse", "step": 2, "message": "entropy fell"}]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_a_run_without_trackio_imports_under_the_live_names(tmp_path):
    rows, steps, _ = run_records(fake_run(tmp_path / "old", "old-run"))
    assert steps == [0, 1, 2, 3, 3]
    assert rows[0] == {"eval/pass@1": 0.25, "eval/format_rate": 0.5, "eval/n": 32, "train/global_step": 0}
    assert rows[1]["train/rewards/math_accuracy/mean"] == pytest.approx(0.1) and "train/kl" not in rows[1]
    assert rows[1]["train/health/alerts"] == 0 and rows[1]["train/global_step"] == 1
    assert rows[-1] == {"eval/pass@1": 0.5, "eval/format_rate": 0.75, "train/global_step": 3}


def test_a_periodic_evaluation_in_metrics_jsonl_imports_under_its_own_name(tmp_path):
    run_dir = fake_run(tmp_path / "old", "old-run")
    path = run_dir / "metrics.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[1] |= {"eval/pass@1": 0.375, "eval/data_source/arithmetic/pass@1": 0.375}  # step 2: eval.every_steps
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows, steps, _ = run_records(run_dir)
    assert steps[2] == 2 and rows[2]["eval/pass@1"] == 0.375 and rows[2]["eval/data_source/arithmetic/pass@1"] == 0.375
    assert rows[2]["train/reward"] == pytest.approx(0.4) and not any(k.startswith("train/eval") for k in rows[2])


def test_dashboard_mistakes_are_one_line(tmp_path):
    result = rlvr("dashboard", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "RLVR_TRACKIO_DIR" in result.stderr
    result = rlvr("dashboard", str(tmp_path), "--port", "0")
    assert result.returncode == 2 and "--port" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard:
    """`rlvr dashboard ...` in its own process; `stop()` ends it by its process id."""

    def __init__(self, *args: str, cwd: Path = REPO):
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"dashboard-{os.getpid()}-{time.time()}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rl", "dashboard", *args],
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ.copy(),
        )

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def url(self, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = re.search(r"^dashboard: (\S+)", self.output(), flags=re.MULTILINE)
            if found:
                return found.group(1)
            assert self.proc.poll() is None, self.output()
            time.sleep(0.2)
        raise AssertionError("no URL printed: " + self.output())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Two GRPO steps logged to wandb (offline) and trackio, the demo's backends."""
    out = tmp_path_factory.mktemp("dash") / "tiny-dashboard-run"
    small = ["data.train_size=64", "data.eval_size=8", "eval.batch_size=8", "grpo.per_device_train_batch_size=8"]
    small += ["grpo.max_completion_length=16", "eval.max_new_tokens=16", "warmup.enabled=false"]
    result = rlvr("train", *TINY, *[f"--set={s}" for s in small], "--output-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def test_the_run_logs_the_same_names_to_trackio(tiny_run):
    pointer = json.loads((tiny_run / "trackio.json").read_text())
    assert Path(pointer["dir"]) == (tiny_run / "trackio").resolve() and pointer["project"] == "rlvr"
    code = (
        "import json, sys; from trackio.sqlite_storage import SQLiteStorage as S; "
        "p, r = sys.argv[1:]; logs = S.get_logs(p, r); "
        "print(json.dumps({'keys': sorted({k for l in logs for k in l}), 'steps': [l['step'] for l in logs], "
        "'tables': [l['step'] for l in logs if 'completions' in l]}))"
    )
    env = os.environ | {"TRACKIO_DIR": pointer["dir"]}
    found = subprocess.run(
        [sys.executable, "-c", code, pointer["project"], pointer["run"]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout.strip().splitlines()[-1])
    keys = set(data["keys"])
    assert {"eval/pass@1", "train/reward", "train/rewards/math_accuracy/mean", "train/global_step"} <= keys
    assert any(k.startswith("train/health/") for k in keys) and "completions" in keys
    assert 0 in data["steps"] and max(data["steps"]) == 2  # eval before at step 0; the last step, eval after: 2
    assert set(data["tables"]) == {1, 2}  # TRL's completions table at the step it was sampled at
    assert list((tiny_run / "wandb").glob("offline-run-*")), "wandb (offline) still gets the run"


@needs_browser
@pytest.mark.slow  # headless Chromium: `make test-slow` (CI runs it), keeps `make test` near 15 minutes
def test_dashboard_of_a_run_in_a_real_browser(tiny_run, tmp_path):
    dash = Dashboard(str(tiny_run), "--port", str(free_port()))
    try:
        url = dash.url()
        assert url.startswith("http://127.0.0.1:")
        dom = load_page(url, tmp_path / "run.png")
    finally:
        dash.stop()
    assert dash.proc.returncode is not None
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", dom, flags=re.DOTALL))
    assert tiny_run.name in text, text[-2000:]  # the run, in the run list and each panel's legend
    # panels under trackio's section headers: train/reward as "reward", train/rewards/<name>/mean as "<name>/mean"
    assert re.search(r"\breward\b", text) and "math_accuracy/mean" in text and "eval (" in text, text[-2000:]
    assert (tmp_path / "run.png").stat().st_size > 10_000  # not a blank page


@needs_browser
@pytest.mark.slow  # headless Chromium: `make test-slow` (CI runs it), keeps `make test` near 15 minutes
def test_dashboard_of_an_ablation_made_without_trackio(tmp_path):
    spec = tmp_path / "spec.yaml"
    root = tmp_path / "runs"
    spec.write_text(
        f"name: tiny-rewards\nbase: {REPO / 'configs/tiny-arith.yaml'}\nseeds: [0]\noutput_dir: {root}\n"
        "variants:\n  accuracy: {rewards: [{name: math_accuracy}]}\n"
        "  accuracy+format: {rewards: [{name: math_accuracy}, {name: think_format, weight: 0.1}]}\n"
    )
    for variant in ("accuracy", "accuracy+format"):
        fake_run(root / f"{variant}__s0", f"tiny-rewards__{variant}__s0", variant)
    dash = Dashboard(str(spec), "--port", str(free_port()))
    try:
        dom = load_page(dash.url())
    finally:
        dash.stop()
    assert "imported 2 runs" in dash.output() and "?project=tiny-rewards " in dash.output()
    for variant in ("accuracy", "accuracy+format"):
        assert f"tiny-rewards__{variant}__s0" in dom, dom[-2000:]
