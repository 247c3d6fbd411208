"""What `rlvr train --resume RUN` does with what RUN holds. Standard library and rl.config only.

- A run without `summary.json` continues from its newest complete checkpoint (or, with none yet, trains again from
  its warm start); the line `resuming RUN from checkpoint-N` says which.
- A run stopped by run health (`health.stop_on`, exit code 4) wrote its summary at the stop but did not reach its
  end: a resume continues it (the alert that stopped it does not stop it again).
- A finished run (`summary.json`) is read-only: resuming it with the settings that ended it trains nothing, says
  so and exits 0. It continues only when the resume raises what stopped it — `grpo.max_steps` above the steps it
  ran, or `budget.max_generated_tokens` above its budget — and then its results at that point (`summary.json`,
  `final/`, `eval/after.jsonl`, a copy of `config.yaml`) move to `RUN/finished-N/` first: nothing is overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rl.config import Experiment, parse_yaml
from rl.rundir import RunDir, step_of


@dataclass
class FinishedRun:
    """A finished run asked to resume: whether it continues, and the line that says so."""

    continues: bool
    message: str


def stopping_settings(exp_or_raw) -> tuple:
    """The settings that end a run: (grpo.max_steps, budget.max_generated_tokens)."""
    if isinstance(exp_or_raw, Experiment):
        return exp_or_raw.grpo.get("max_steps", -1), exp_or_raw.budget.max_generated_tokens
    grpo = exp_or_raw.get("grpo") or {}
    budget = exp_or_raw.get("budget") or {}
    return grpo.get("max_steps", -1), budget.get("max_generated_tokens")


def raised(new, old) -> bool:
    """`new` allows more than `old` (None: no limit)."""
    if new is None or new == -1:
        return old is not None and old != -1
    return old not in (None, -1) and new > old


def finished_run(run: RunDir, exp: Experiment) -> FinishedRun | None:
    """None when `run` is not finished; otherwise whether `exp` (the resume's resolved config) continues it."""
    summary = run.read_summary()
    if summary is None:
        return None
    steps = summary.get("steps") or 0
    old = stopping_settings(parse_yaml(run.config.read_text()) or {}) if run.config.is_file() else (None, None)
    new_steps, new_budget = stopping_settings(exp)
    room = new_steps == -1 or new_steps > steps
    kept = (
        f"its step-{steps} results (summary.json, final/, eval/after.jsonl) move to {run.path / f'finished-{steps}'}"
    )
    stopped_by = (summary.get("health") or {}).get("stopped_by")
    if stopped_by and room:
        return FinishedRun(
            True,
            f"continuing {run}, stopped by run health ({stopped_by}) at step {steps}, to grpo.max_steps {new_steps}; "
            f"{kept}",
        )
    more_steps = raised(new_steps, old[0])
    if room and (more_steps or raised(new_budget, old[1])):
        target = f"grpo.max_steps {new_steps}" if more_steps else f"budget.max_generated_tokens {new_budget}"
        return FinishedRun(True, f"continuing the finished run {run} from step {steps} to {target}; {kept}")
    before, after = summary.get("accuracy_before"), summary.get("accuracy_after")
    result = f", held-out pass@1 {before:.3f} -> {after:.3f}" if before is not None and after is not None else ""
    return FinishedRun(
        False,
        f"{run} is finished ({steps} steps{result}): nothing to train. To train it further, raise what stopped it: "
        f"rlvr train --resume {run} --set grpo.max_steps=N (N > {steps})",
    )


def set_aside_finished(run: RunDir) -> Path:
    """Move a finished run's end results to RUN/finished-N/ (renames: no copy of a model) before it continues."""
    steps = (run.read_summary() or {}).get("steps") or 0
    folder = run.path / f"finished-{steps}"
    folder.mkdir(exist_ok=True)
    (folder / "eval").mkdir(exist_ok=True)
    if run.config.is_file():  # the resume rewrites config.yaml with its own settings: keep the ones that ran
        (folder / "config.yaml").write_text(run.config.read_text())
    for src, dst in (
        (run.summary, folder / "summary.json"),
        (run.final, folder / "final"),
        (run.eval / "after.jsonl", folder / "eval" / "after.jsonl"),
    ):
        if src.exists():
            src.rename(dst)
    return folder


def resume_point(run: RunDir) -> str:
    """The line that says where a resume starts."""
    last = run.last_checkpoint()
    if last is not None:
        return f"resuming {run} from {last.name} (step {step_of(last)})"
    start = " from its warm start" if run.start.is_dir() else ""
    return f"resuming {run}: no complete checkpoint yet, training starts again at step 0{start}"
