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
from rl.study import layout
from rl.study.chromium import browser
from rl.study.dashboard import covered, group_of, look, needed_height, run_records
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
    rewards = [{"name": "think_format", "weight": 0.1}, {"name": "math_accuracy", "weight": 1.0}]
    (run_dir / "config.yaml").write_text(json.dumps({"name": "tiny-arith", "rewards": rewards, "logging": log}))
    with (run_dir / "metrics.jsonl").open("w") as f:
        for step in range(1, steps + 1):
            row = {"step": step, "time": 1.7e9 + step, "loss": 0.1, "learning_rate": 1e-4, "epoch": step / 64}
            row |= {"completions/mean_length": 30 - step, "entropy": 0.1 / step, "reward": 0.2 * step}
            row |= {"rewards/math_accuracy/items": 64, "rewards/math_accuracy/mean": 0.1 * step, "kl": None}
            row |= {"health/alerts": float(step >= 2), "health/entropy_collapse": float(step == 2)}
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
    # trackio lists a section's subsections in the order their first key was logged: rewards, completions, health
    sections = [k.split("/")[1] for k in rows[1] if k.count("/") > 1]
    assert sections == ["rewards", "rewards", "completions", "health", "health"]


def test_the_page_leads_with_what_matters_and_hides_bookkeeping():
    configs = [
        {"rewards": [{"name": "think_format"}, {"name": "math_accuracy"}]},  # the first reward that checks answers
        {"rewards": [{"name": "math_accuracy"}], "health": {"accuracy_reward": "countdown"}},  # named: it wins
        {"rewards": [{"name": "a_reward_this_version_lacks"}]},
    ]
    accuracy = layout.accuracy_rewards(configs)
    assert accuracy == ["math_accuracy", "countdown"]
    rows = [
        {"train/learning_rate": 1e-4, "train/epoch": 0.1, "train/global_step": 1, "eval/n_problems": 256},
        {"train/learning_rate": 1e-4, "train/rewards/math_accuracy/items": 64, "train/health/no_signal": 1.0},
        {"train/rewards/think_format/mean": 0.9, "train/rewards/math_accuracy/mean": 0.5, "train/entropy": 0.1},
        {"train/health/entropy_collapse": 0.0, "train/reward": 0.6, "train/completions/mean_length": 30},
    ]
    fired = layout.fired(rows)
    assert fired == ["no_signal"]  # a detector that fired at some step; entropy_collapse never did
    lead = layout.lead_metrics(accuracy[:1], fired)
    assert lead == [
        "eval/pass@1",
        "train/rewards/math_accuracy/mean",
        "train/completions/mean_length",
        "train/kl",
        "train/entropy",
        "train/health/alerts",
        "train/health/no_signal",
    ]
    names = {name for row in rows for name in row}
    order = layout.plot_order(accuracy[:1], fired, names)
    assert order[: len(lead)] == lead and order.index("train/reward") == len(lead)
    # trackio would list a wildcard's matches in reverse: rlvr names them, the accuracy reward's first
    assert order.index("train/rewards/math_accuracy/mean") < order.index("train/rewards/think_format/mean")
    hidden = layout.bookkeeping(rows)
    assert hidden == [
        "eval/n_problems",
        "train/epoch",
        "train/global_step",
        "train/learning_rate",  # one value in every row: no schedule to look at
        "train/rewards/math_accuracy/items",
    ]
    assert not set(hidden) & set(order)  # named nowhere in the plot order: last in their section
    assert "train/learning_rate" not in layout.bookkeeping(rows + [{"train/learning_rate": 5e-5}])
    # the screenshot: the lead panels that were logged, then the companions that fill their rows
    assert layout.screenshot_metrics(layout.matching(lead, names), names) == [
        "train/rewards/math_accuracy/mean",
        "train/completions/mean_length",
        "train/entropy",
        "train/health/no_signal",
        "train/reward",
        "train/rewards/think_format/mean",
    ]


def test_held_out_duplicates_are_hidden_and_the_filters_keep_what_they_say():
    one_source = {"eval/pass@1": 0.5, "eval/mean@1": 0.5, "eval/maj@1": 0.5, "eval/data_source/gsm8k/pass@1": 0.5}
    assert layout.duplicates([one_source]) == ["eval/data_source/gsm8k/pass@1", "eval/maj@1", "eval/mean@1"]
    later = one_source | {"eval/pass@1": 0.7, "eval/mean@1": 0.7}  # equal at one row is not a duplicate
    assert layout.duplicates([one_source, later]) == ["eval/mean@1"]
    two_sources = one_source | {"eval/data_source/math/pass@1": 0.4, "eval/data_source/gsm8k/pass@1": 0.6}
    sampled = two_sources | {"eval/maj@1": 0.55}  # n > 1: majority vote differs from pass@1
    assert layout.duplicates([sampled]) == ["eval/mean@1"]
    names = ["eval/pass@1", "eval/n_problems", "train/epoch", "train/rewards/math_accuracy/mean", "Train/Epoch"]
    keeps = layout.all_but(["eval/n_problems", "train/epoch"])
    # trackio tests the filter as a case-insensitive JavaScript RegExp; Python's re reads this one the same way
    assert [n for n in names if re.search(keeps, n, re.IGNORECASE)] == ["eval/pass@1", names[3]]
    only = layout.only(["eval/pass@1", "train/rewards/math_accuracy/mean"])
    assert [n for n in names if re.search(only, n, re.IGNORECASE)] == ["eval/pass@1", names[3]]
    assert not re.search(layout.only(["eval/pass@1"]), "eval/pass@10")


def test_a_variant_has_one_colour():
    palette = ["#1", "#2", "#3", "#4"]
    groups = ["abl/a", "abl/b", "abl/a", None, "abl/b", None]
    assert layout.variant_palette(groups, palette) == ["#1", "#2", "#1", "#3", "#2", "#4"]
    assert layout.variant_palette(["abl/a", "abl/b", None], palette) is None  # no two runs share one: per run
    assert layout.variant_palette([], palette) is None


def test_the_layout_of_an_imported_ablation(tmp_path):
    runs = [fake_run(tmp_path / f"{v}__s{s}", f"tiny-rewards__{v}__s{s}", v) for v in ("a", "b") for s in (0, 1)]
    code = (
        "import dataclasses, json, sys; from pathlib import Path; from rl.study import dashboard as d; "
        "d.use_store(Path(sys.argv[1])); from rl.study.layout import layout_of; "
        "[d.import_run(Path(run), 'tiny-rewards') for run in sys.argv[2:]]; "
        "from trackio.sqlite_storage import SQLiteStorage as S; "
        "order = [r['name'] for r in reversed(S.get_run_records('tiny-rewards'))]; "
        "print(json.dumps(dataclasses.asdict(layout_of('tiny-rewards')) | {'order': order}))"
    )
    found = subprocess.run(  # trackio reads its store's place once per process: a process of its own
        [sys.executable, "-c", code, str(tmp_path / "store"), *map(str, runs)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert found.returncode == 0, found.stderr[-3000:]
    page = json.loads(found.stdout.strip().splitlines()[-1])
    assert page["lead"] == [  # the config's first reward is think_format; math_accuracy is the one that checks
        "eval/pass@1",
        "train/rewards/math_accuracy/mean",
        "train/completions/mean_length",
        "train/entropy",
        "train/health/alerts",
        "train/health/entropy_collapse",  # it fired at step 2
    ]
    assert page["plot_order"][:2] == ["eval/pass@1", "train/rewards/math_accuracy/mean"]
    assert page["hidden"] == [
        "eval/n",
        "train/epoch",
        "train/global_step",
        "train/learning_rate",
        "train/rewards/math_accuracy/items",
    ]
    colour = dict(zip(page["order"], page["palette"], strict=True))  # the palette follows the page's run order
    assert colour["tiny-rewards__a__s0"] == colour["tiny-rewards__a__s1"] != colour["tiny-rewards__b__s0"]
    assert colour["tiny-rewards__b__s0"] == colour["tiny-rewards__b__s1"], colour


def test_the_alerts_panel_goes_below_the_panels():
    panels = [
        {"metric": "eval/pass@1", "top": 100, "bottom": 450, "left": 300, "right": 700},
        {"metric": "train/entropy", "top": 500, "bottom": 850, "left": 1000, "right": 1380},
    ]
    alerts = {"top": 700, "bottom": 984, "left": 1004, "right": 1384}  # fixed 16 px above the viewport's bottom
    state = {"panels": panels, "alerts": alerts, "scroll": 0, "height": 1000}
    assert covered(state) == ["train/entropy"]
    height = needed_height(state)
    moved = {"top": height - 16 - 284, "bottom": height - 16, "left": 1004, "right": 1384}
    assert covered(state | {"alerts": moved}) == [] and moved["top"] > 850
    assert needed_height(state | {"alerts": None}) < height


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


BOOKKEEPING = ["train/epoch", "train/global_step", "train/num_tokens", "eval/n_problems"]


@needs_browser
@pytest.mark.slow  # headless Chromium: `make test-slow` (CI runs it), keeps `make test` near 15 minutes
def test_dashboard_of_a_run_in_a_real_browser(tiny_run):
    dash = Dashboard(str(tiny_run), "--port", str(free_port()))
    try:
        url = dash.url()
        assert url.startswith("http://127.0.0.1:")
        page = look(url)
    finally:
        dash.stop()
    assert dash.proc.returncode is not None
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", page["html"], flags=re.DOTALL))
    assert tiny_run.name in text, text[-2000:]  # the run, in the run list and each panel's legend
    # panels under trackio's section headers: train/reward as "reward", train/rewards/<name>/mean as "<name>/mean"
    assert re.search(r"\breward\b", text) and "math_accuracy/mean" in text and "eval (" in text, text[-2000:]
    # the page's own account of what it lists, in page order (trackio's window.trackio.getViewState())
    shown = page["view"]["metrics"]
    assert shown[0] == "eval/pass@1" and "eval/pass@1" in page["view"]["metrics_on_screen"]
    lead = ["train/entropy", "train/rewards/math_accuracy/mean", "train/completions/mean_length"]
    assert [shown.index(name) for name in lead + ["train/health/alerts"]] == sorted(
        shown.index(name) for name in lead + ["train/health/alerts"]
    )
    subsections = list(dict.fromkeys(name.split("/")[1] for name in shown if name.count("/") > 1))
    assert subsections[:3] == ["rewards", "completions", "health"], subsections  # before clip_ratio, tokens, ...
    assert not set(BOOKKEEPING) & set(shown)  # hidden by the printed URL's Metric Filter, still in the store


@needs_browser
@pytest.mark.slow
def test_the_screenshot_shows_the_lead_panels(tiny_run, tmp_path):
    png, port = tmp_path / "dashboard.png", free_port()
    result = rlvr("dashboard", str(tiny_run), "--screenshot", str(png), "--port", str(port))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    shot = re.search(r"^screenshot: (\S+) \((\d+)x(\d+)\): (.*)$", result.stdout, flags=re.MULTILINE)
    assert shot and Path(shot[1]) == png and png.stat().st_size > 10_000, result.stdout
    drawn = shot[4].split(", ")  # every series on screen, in page order
    assert drawn[0] == "eval/pass@1"
    lead = {
        "train/rewards/math_accuracy/mean",
        "train/completions/mean_length",
        "train/entropy",
        "train/health/alerts",
    }
    assert lead <= set(drawn) and not set(BOOKKEEPING) & set(drawn) and "train/loss" not in drawn
    assert int(shot[3]) > 1000  # the viewport grew to hold them all


@needs_browser
@pytest.mark.slow  # headless Chromium: `make test-slow` (CI runs it), keeps `make test` near 15 minutes
def test_dashboard_of_an_ablation_made_without_trackio(tmp_path):
    spec = tmp_path / "spec.yaml"
    root = tmp_path / "runs"
    spec.write_text(
        f"name: tiny-rewards\nbase: {REPO / 'configs/tiny-arith.yaml'}\nseeds: [0, 1]\noutput_dir: {root}\n"
        "variants:\n  accuracy: {rewards: [{name: math_accuracy}]}\n"
        "  accuracy+format: {rewards: [{name: math_accuracy}, {name: think_format, weight: 0.1}]}\n"
    )
    for variant in ("accuracy", "accuracy+format"):
        for seed in (0, 1):
            fake_run(root / f"{variant}__s{seed}", f"tiny-rewards__{variant}__s{seed}", variant)
    dash = Dashboard(str(spec), "--port", str(free_port()))
    try:
        dash.url()
        lead_url = re.search(r"the lead panels alone: (\S+)", dash.output())[1]
        page = look(lead_url, tmp_path / "ablation.png", fit=True)  # what --screenshot does
    finally:
        dash.stop()
    assert "imported 4 runs" in dash.output() and "?project=tiny-rewards&" in dash.output()
    colours = {run["name"]: run["colour"] for run in page["runs"]}
    assert len(colours) == 4, page["runs"]
    for variant in ("accuracy", "accuracy+format"):  # one colour per variant, whichever seed
        assert colours[f"tiny-rewards__{variant}__s0"] == colours[f"tiny-rewards__{variant}__s1"], colours
    assert colours["tiny-rewards__accuracy__s0"] != colours["tiny-rewards__accuracy+format__s0"], colours
    # the imported health alerts open trackio's alerts panel; the screenshot's viewport puts it below every panel
    assert page["alerts"] is not None and covered(page) == [] and page["height"] > 1000
    on_screen = page["view"]["metrics_on_screen"]
    assert on_screen[0] == "eval/pass@1" and len(on_screen) == len(page["panels"])
    lead = {"train/rewards/math_accuracy/mean", "train/completions/mean_length", "train/entropy"}
    assert lead | {"train/health/alerts", "train/health/entropy_collapse"} <= set(on_screen)  # it fired at step 2
