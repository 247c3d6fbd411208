"""Run health on whole tiny runs (slow: ~6 minutes together on 2 cores; `make test-slow` runs them).

- the embedded demo (`make demo`) learns and raises no alert;
- `experiments/health/hackable.yaml` (a length bonus by a sign slip, accuracy watched at weight 0) raises
  `reward_hacking` while accuracy does not rise, and `stop_on` ends it with exit code 4;
- `experiments/health/entropy-collapse.yaml` raises `entropy_collapse`.
"""

from __future__ import annotations

import json

import pytest

from rl.train.health import KINDS
from tests.conftest import REPO, rlvr

pytestmark = pytest.mark.slow


def train(config: str | None, out, timeout: float = 900):
    result = rlvr("train", *([config] if config else []), "--output-dir", str(out), timeout=timeout)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else None
    return result, summary


def alert_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("health: ")]


def test_the_demo_learns_with_no_health_alert(tmp_path):
    result, summary = train(None, tmp_path / "demo")
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["accuracy_delta"] > 0.1
    assert summary["health"]["alerts"] == [] and alert_lines(result.stdout) == []
    assert set(summary["health"]["checked"]) == set(KINDS)  # every detector had the data to decide
    records = [json.loads(x) for x in (tmp_path / "demo" / "metrics.jsonl").read_text().splitlines()]
    checks = [r for r in records if "health/regrade/checked" in r]
    assert len(checks) == 12 and sum(r["health/regrade/checked"] for r in checks) >= 300
    assert sum(r["health/regrade/rejected"] for r in checks) == 0  # math-verify agrees with every paid answer


def test_the_hackable_run_is_caught_and_stopped(tmp_path):
    out = tmp_path / "hackable"
    result, summary = train(str(REPO / "experiments" / "health" / "hackable.yaml"), out)
    assert result.returncode == 4, result.stderr[-3000:]
    assert "rlvr: stopped: health.stop_on: reward_hacking at step" in result.stderr
    first = next(a for a in summary["health"]["alerts"] if a["kind"] == "reward_hacking")
    assert "overlong_penalty x weight -1 rose" in first["message"]
    assert summary["health"]["stopped_by"] == "reward_hacking" and summary["steps"] == first["step"] < 80
    printed = f"health: step {first['step']} reward_hacking: "
    assert any(line.startswith(printed) for line in alert_lines(result.stdout))
    # while the trained reward climbed, held-out accuracy did not rise
    assert summary["accuracy_after"] <= summary["accuracy_before"] + 0.02
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["reward"] > records[0]["reward"] and records[-1]["health/reward_hacking"] == 1.0
    assert (out / "checkpoints" / f"checkpoint-{first['step']}" / "trainer_state.json").is_file()


def test_the_entropy_collapse_run_raises_entropy_collapse(tmp_path):
    result, summary = train(str(REPO / "experiments" / "health" / "entropy-collapse.yaml"), tmp_path / "collapse")
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = [a["kind"] for a in summary["health"]["alerts"]]
    assert "entropy_collapse" in kinds
    assert any(" entropy_collapse: entropy " in line for line in alert_lines(result.stdout))
