"""Reward ablations in one command: a spec -> every variant x seed as a run -> (with `rlvr report`) a table and plots.

A spec (experiments/ablations/*.yaml):

    name: tiny-rewards
    base: ../../configs/tiny-arith.yaml        # relative to the spec file
    seeds: [0, 1, 2]
    output_dir: runs/ablations/tiny-rewards    # relative to the current directory
    overrides: {grpo.max_steps: 120}           # optional, applied to every variant
    variants:
      accuracy: {rewards: [{name: math_accuracy}]}
      accuracy+format: {rewards: [{name: math_accuracy}, {name: think_format, weight: 0.1}]}
    metrics: [accuracy_after, format_rate_after]   # optional: the report's columns

A variant is a mapping of config overrides: nested sections are merged into the base, lists replace, and
dotted keys (`grpo.loss_type: dr_grpo`) address one value. Each run is `<output_dir>/<variant>__s<seed>/`,
trained by `rlvr train` in its own process, tagged for wandb with group = ablation name, job_type = variant and
name `<ablation>__<variant>__s<seed>`. A run with a `summary.json` is finished and skipped, so re-running the
command after an interruption finishes only the missing runs: any other run directory of the ablation is continued
with `rlvr train --resume` (from its newest checkpoint; without one, training restarts from step 0 on the run's
saved warm start). Nothing of a run is ever deleted.

A run that fails prints why under its FAILED line: the `rlvr: error: ...` line, or for a crash the last lines of
its log (`<output_dir>/logs/<variant>__s<seed>.log`). Exit code 2 is a mistake in the input, the same for every
seed, so that variant's remaining seeds are skipped; the final summary lists every failed and skipped run with
its reason. `--dry-run` checks each variant as `rlvr train --dry-run` would (the config, rewards, GRPOConfig,
precision, data and the model's location: everything that needs no weights) and each run directory as
`rlvr train` would, and says `invalid: <reason>` instead of `pending`.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rl.config import Experiment, apply_override, dump_yaml, from_dict, read_yaml, validate
from rl.errors import RlvrError
from rl.rundir import RunDir
from rl.train.health import EXIT_HEALTH

SPEC_KEYS = ("name", "base", "seeds", "output_dir", "overrides", "variants", "metrics", "description", "baseline")
DEFAULT_METRICS = ["accuracy_after", "accuracy_delta", "format_rate_after", "mean_completion_length", "mean_reward"]


@dataclass
class Run:
    variant: str
    seed: int
    experiment: Experiment
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{self.variant}__s{self.seed}"

    @property
    def done(self) -> bool:
        return RunDir(self.run_dir).finished()


@dataclass
class Spec:
    name: str
    path: Path
    output_dir: Path
    seeds: list[int]
    variants: dict[str, dict[str, Any]]
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    runs: list[Run] = field(default_factory=list)
    baseline: str | None = None
    """The variant every other one is compared with in `rlvr report` (default: the first)."""


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base`: mappings merge, everything else replaces; dotted keys set."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if "." in str(key):
            apply_override(out, f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    raw = read_yaml(path)
    for key in raw:
        if key not in SPEC_KEYS:
            raise RlvrError(f"{path}: unknown ablation key '{key}' (valid: {', '.join(SPEC_KEYS)})")
    for key in ("name", "base", "seeds", "variants"):
        if key not in raw:
            raise RlvrError(f"{path}: missing '{key}'")
    seeds = raw["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise RlvrError(f"{path}: 'seeds' must be a non-empty list of integers, got {seeds!r}")
    variants = raw["variants"]
    if not isinstance(variants, dict) or not variants:
        raise RlvrError(f"{path}: 'variants' must be a non-empty mapping of name -> overrides")
    base = read_yaml((path.parent / raw["base"]).resolve())
    common = raw.get("overrides") or {}
    if not isinstance(common, dict):
        raise RlvrError(f"{path}: 'overrides' must be a mapping")
    metrics = raw.get("metrics") or list(DEFAULT_METRICS)
    spec = Spec(
        name=str(raw["name"]),
        path=path,
        seeds=seeds,
        variants={},
        metrics=list(metrics),
        output_dir=Path(raw.get("output_dir") or f"runs/ablations/{raw['name']}"),
    )
    for variant, overrides in variants.items():
        if not isinstance(overrides, dict):
            raise RlvrError(f"{path}: variant '{variant}' must be a mapping of config overrides")
        if "__" in str(variant) or "/" in str(variant):
            raise RlvrError(f"{path}: variant name '{variant}' may not contain '__' or '/'")
        spec.variants[str(variant)] = overrides
        for seed in seeds:
            spec.runs.append(make_run(spec, str(variant), seed, merge(merge(base, common), overrides)))
    spec.baseline = str(raw.get("baseline") or next(iter(spec.variants)))
    if spec.baseline not in spec.variants:
        raise RlvrError(f"{path}: baseline '{spec.baseline}' is not a variant ({', '.join(spec.variants)})")
    return spec


def make_run(spec: Spec, variant: str, seed: int, raw: dict[str, Any]) -> Run:
    raw = copy.deepcopy(raw)
    raw.update(seed=seed, variant=variant)
    log = raw.setdefault("logging", {})
    log.update(wandb_group=spec.name, wandb_job_type=variant, wandb_name=f"{spec.name}__{variant}__s{seed}")
    try:
        exp = from_dict(Experiment, raw, "")
        validate(exp)
    except RlvrError as e:
        raise RlvrError(f"{spec.path}: variant '{variant}': {e}") from None
    return Run(variant, seed, exp, spec.output_dir / f"{variant}__s{seed}")


EXIT_INPUT = 2
"""`rlvr train`'s exit code for a mistake in its input (`rlvr: error: ...`): every seed of the variant fails alike."""


def train_command(run: Run, config_file: Path) -> list[str]:
    """`rlvr train` for one run; `--resume` when its directory already holds a run (from its newest checkpoint, or
    without one from step 0 on its saved warm start). Never `--overwrite` or `--discard-run`: nothing is deleted."""
    cmd = [sys.executable, "-m", "rl", "train", str(config_file), "--output-dir", str(run.run_dir)]
    if RunDir(run.run_dir).is_run():
        cmd.append("--resume")
    return cmd


def resume_note(run: Run) -> str | None:
    """How an existing, unfinished run continues, in words; None when it starts afresh."""
    rundir = RunDir(run.run_dir)
    if not rundir.is_run():
        return None
    checkpoint = rundir.last_checkpoint()
    if checkpoint is not None:
        return f"resumes from {checkpoint.name}"
    start = " on its saved warm start" if rundir.start.is_dir() else ""
    return f"resumes: no checkpoint yet, training restarts from step 0{start}"


def check_variant(run: Run) -> str | None:
    """What `rlvr train --dry-run` would refuse in this run's resolved config, without weights (rl/train/preflight.py:
    rewards, GRPOConfig and every value, sampling, optimizer, precision, the model's location, data). None: fine."""
    from rl.train.preflight import preflight

    try:
        preflight(run.experiment, dry_run=True)  # the model's location included
    except RlvrError as e:
        return str(e)
    return None


def check_run_dir(run: Run) -> str | None:
    """What `rlvr train` would refuse about this run's directory with the flags ablate passes. None: fine."""
    try:
        RunDir(run.run_dir).check_prepare(resume=RunDir(run.run_dir).is_run(), overwrite=False)
    except RlvrError as e:
        return str(e)
    return None


def write_configs(spec: Spec) -> dict[str, Path]:
    folder = spec.output_dir / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for run in spec.runs:
        files[run.label] = folder / f"{run.label}.yaml"
        files[run.label].write_text(dump_yaml(run.experiment))
    return files


def slurm_script(spec: Spec, files: dict[str, Path]) -> str:
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={spec.name}",
        f"#SBATCH --array=0-{len(spec.runs) - 1}",
        "#SBATCH --nodes=1",
        "#SBATCH --gpus-per-node=1",
        f"#SBATCH --output={spec.output_dir}/slurm-%A_%a.out",
        "# One array task per variant x seed; finished runs (summary.json present) exit at once, any other existing",
        "# run is continued with --resume (nothing is deleted).",
        "set -euo pipefail",
        "RUNS=(" + " ".join(shlex.quote(f"{files[r.label]}:{r.run_dir}") for r in spec.runs) + ")",
        "ENTRY=${RUNS[$SLURM_ARRAY_TASK_ID]}; CONFIG=${ENTRY%%:*}; DIR=${ENTRY#*:}",
        '[ -f "$DIR/summary.json" ] && exit 0',
        'EXTRA=(); [ -f "$DIR/config.yaml" ] && EXTRA=(--resume)',
        'rlvr train "$CONFIG" --output-dir "$DIR" "${EXTRA[@]}"',
    ]
    return "\n".join(lines) + "\n"


def shape(spec: Spec) -> str:
    """`3 variants x 2 seeds` of the runs at hand (after --only)."""
    variants = len(dict.fromkeys(r.variant for r in spec.runs))
    seeds = len(spec.seeds)
    return f"{variants} variant{'s' if variants != 1 else ''} x {seeds} seed{'s' if seeds != 1 else ''}"


def emit_slurm(spec: Spec, files: dict[str, Path], spec_path: str) -> None:
    """Write the sbatch script and say what it runs and how to submit it."""
    script = spec.output_dir / f"{spec.name}.sbatch"
    script.write_text(slurm_script(spec, files))
    todo = sum(not r.done for r in spec.runs)
    print(
        f"wrote {script}: a slurm job array of {len(spec.runs)} tasks ({shape(spec)}), one GPU each; {todo} to "
        "run, finished runs exit at once:"
    )
    for i, run in enumerate(spec.runs):
        flags = " --resume" if RunDir(run.run_dir).is_run() else ""
        what = "finished, exits at once" if run.done else f"rlvr train {files[run.label]} --output-dir {run.run_dir}"
        print(f"  {i:>3}  {run.label}: {what}{flags if not run.done else ''}")
    print(f"submit with: sbatch {script}")
    print(f"then: rlvr report {spec_path}")


def list_runs(spec: Spec, console) -> int:
    """List every run as done, pending, resumes or invalid (`rlvr train --dry-run`'s checks, once per variant:
    its seeds differ in nothing those checks read). RlvrError when any run is invalid."""
    verdicts: dict[str, str | None] = {}
    invalid = []
    for run in spec.runs:
        if run.done:
            console.print(f"done     {run.run_dir}")
            continue
        if run.variant not in verdicts:
            verdicts[run.variant] = check_variant(run)
        reason = verdicts[run.variant] or check_run_dir(run)
        if reason is not None:
            invalid.append(run)
            console.print(f"invalid  {run.run_dir}: {reason}")
        else:
            note = resume_note(run)
            console.print(f"pending  {run.run_dir}" + (f" ({note})" if note else ""))
    todo = sum(not r.done for r in spec.runs)
    console.print(f"{spec.name}: {shape(spec)}, {todo} to run" + (f", {len(invalid)} invalid" if invalid else ""))
    if invalid:
        names = ", ".join(dict.fromkeys(r.variant for r in invalid))
        raise RlvrError(f"{len(invalid)} run(s) would fail at once (variants: {names}); the reasons are listed above")
    return 0


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROGRESS = re.compile(r"\d+%\||━|^wandb:")
"""Log lines that say nothing about a failure: tqdm and rich progress bars, wandb's chatter."""
CARETS = re.compile(r"[~^\s]+")
"""A traceback's line that only points at the failing expression."""


def failure_reason(text: str, code: int, lines: int = 3) -> str:
    """Why a run failed, from what it wrote: its last `rlvr: error: ...` (or `rlvr: stopped: ...`) line, else
    (a crash) its last `lines` meaningful lines, else the signal that killed it."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    parts = [p.strip() for p in re.split(r"[\r\n]+", ANSI.sub("", text))]
    meaningful = [p for p in parts if p and not PROGRESS.search(p) and not CARETS.fullmatch(p)]
    said = [p for p in meaningful if p.startswith("rlvr: ")]
    if said:
        return said[-1]
    if meaningful:
        return "\n".join(meaningful[-lines:])
    return f"exit code {code} with no output"


@dataclass
class Outcome:
    """What became of one run: finished (or stopped by health.stop_on: it has its summary), failed, or skipped."""

    run: Run
    state: str
    code: int | None = None
    reason: str | None = None
    log: Path | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("finished", "stopped")


class Runner:
    """Trains the runs, each in its own `rlvr train` process with its log; after a variant's first input error
    (exit 2) its seeds not yet started are skipped."""

    def __init__(self, spec: Spec, files: dict[str, Path], env: dict[str, str], console):
        self.spec, self.files, self.env, self.console = spec, files, env, console
        self.input_errors: dict[str, Outcome] = {}  # variant -> the run whose input error skips the rest
        self.lock = threading.Lock()

    def log_of(self, run: Run) -> Path:
        return self.spec.output_dir / "logs" / f"{run.label}.log"

    def one(self, run: Run) -> Outcome:
        with self.lock:
            first = self.input_errors.get(run.variant)
        if first is not None:
            outcome = Outcome(run, "skipped", reason=f"{first.run.label} failed with exit 2, an input error")
            self.console.print(f"skipped  {run.label}: {outcome.reason}")
            return outcome
        log = self.log_of(run)
        log.parent.mkdir(parents=True, exist_ok=True)
        start = log.stat().st_size if log.is_file() else 0  # the log keeps earlier attempts: read only this one's
        with log.open("a") as out:
            code = subprocess.run(
                train_command(run, self.files[run.label]), stdout=out, stderr=subprocess.STDOUT, env=self.env
            ).returncode
        if code in (0, EXIT_HEALTH):
            state = "finished" if code == 0 else "stopped"
            label = "finished" if code == 0 else "stopped by health.stop_on"
            self.console.print(f"{label}  {run.label}  (log: {log})")
            return Outcome(run, state, code, log=log)
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
        outcome = Outcome(run, "failed", code, failure_reason(text, code), log)
        lines = [f"FAILED ({code})  {run.label}  (log: {log})"]
        lines += ["    " + line for line in outcome.reason.splitlines()]
        if code == EXIT_INPUT:
            with self.lock:
                self.input_errors.setdefault(run.variant, outcome)
            if any(r.variant == run.variant and r is not run and not r.done for r in self.spec.runs):
                lines.append(
                    f"    an input error (exit 2) fails every seed alike: {run.variant}'s seeds not started yet "
                    "are skipped"
                )
        self.console.print("\n".join(lines))
        return outcome


def summarize_failures(outcomes: list[Outcome], total: int, console) -> None:
    """The closing list: every failed or skipped run with its reason."""
    bad = [o for o in outcomes if not o.finished]
    console.print(f"{len(bad)} of {total} runs did not finish:")
    for o in bad:
        head = f"FAILED ({o.code})" if o.state == "failed" else "skipped"
        reason = (o.reason or "").splitlines()[-1] if o.reason else ""  # a crash: its exception
        where = f"  (log: {o.log})" if o.log else ""
        console.print(f"  {o.run.label}  {head}: {reason}{where}")


def ablate(
    spec_path: str, jobs: int = 1, emit: str | None = None, dry_run: bool = False, only: list[str] | None = None
) -> int:
    from rl.progress import Phase, make_console

    console = make_console(markup=False)  # reasons and paths are printed as they are
    spec = load_spec(spec_path)
    unknown = [v for v in only or [] if v not in spec.variants]
    if unknown:
        known = ", ".join(spec.variants)
        raise RlvrError(f"--only: no variant {', '.join(unknown)} in {spec_path} (variants: {known})")
    if only:  # a variant that needs another's output first (e.g. a filter of the baseline's warm start)
        spec.runs = [r for r in spec.runs if r.variant in only]
    todo = [r for r in spec.runs if not r.done]
    if dry_run:
        return list_runs(spec, console)
    files = write_configs(spec)
    if emit == "commands":
        for run in todo:
            print(shlex.join(train_command(run, files[run.label])))
        return 0
    if emit == "slurm":
        emit_slurm(spec, files, spec_path)
        return 0
    console.print(
        f"{spec.name}: {len(spec.runs) - len(todo)} of {len(spec.runs)} runs already finished; "
        f"running {len(todo)} with {jobs} job(s) -> {spec.output_dir}"
    )

    env = os.environ.copy()
    if jobs > 1:  # parallel runs share the cores; oversubscribed torch threads spin and slow every run ~10x
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    runner = Runner(spec, files, env, console)
    with Phase(f"ablate {spec.name}", len(todo), "runs") as progress, ThreadPoolExecutor(max(1, jobs)) as pool:
        outcomes = list(pool.map(lambda run: progress.track(run.label, runner.one, run), todo))
    failed = [o for o in outcomes if o.state == "failed"]
    skipped = [o for o in outcomes if o.state == "skipped"]
    if failed or skipped:
        summarize_failures(outcomes, len(spec.runs), console)
        raise RlvrError(
            f"{len(failed)} run(s) failed, {len(skipped)} skipped (listed above; logs in {spec.output_dir}/logs); "
            f"fix the cause and run the same command again: finished runs are kept, the others resume"
        )
    console.print(f"all {len(spec.runs)} runs finished; next: rlvr report {spec_path}")
    return 0
