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
command after an interruption finishes only the missing runs (a half-finished run resumes from its checkpoint).
"""

from __future__ import annotations

import copy
import os
import shlex
import subprocess
import sys
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


def train_command(run: Run, config_file: Path) -> list[str]:
    cmd = [sys.executable, "-m", "rl", "train", str(config_file), "--output-dir", str(run.run_dir)]
    if run.run_dir.is_dir() and any(run.run_dir.iterdir()):
        cmd.append("--resume" if RunDir(run.run_dir).last_checkpoint() else "--overwrite")
    return cmd


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
        "# One array task per variant x seed; finished runs (summary.json present) exit at once.",
        "set -euo pipefail",
        "RUNS=(" + " ".join(shlex.quote(f"{files[r.label]}:{r.run_dir}") for r in spec.runs) + ")",
        "ENTRY=${RUNS[$SLURM_ARRAY_TASK_ID]}; CONFIG=${ENTRY%%:*}; DIR=${ENTRY#*:}",
        '[ -f "$DIR/summary.json" ] && exit 0',
        'EXTRA=(); [ -d "$DIR/checkpoints" ] && EXTRA=(--resume); '
        '[ -z "${EXTRA[*]}" ] && [ -d "$DIR" ] && EXTRA=(--overwrite)',
        'rlvr train "$CONFIG" --output-dir "$DIR" "${EXTRA[@]}"',
    ]
    return "\n".join(lines) + "\n"


def ablate(
    spec_path: str, jobs: int = 1, emit: str | None = None, dry_run: bool = False, only: list[str] | None = None
) -> int:
    from rl.progress import Phase, make_console

    console = make_console()
    spec = load_spec(spec_path)
    unknown = [v for v in only or [] if v not in spec.variants]
    if unknown:
        known = ", ".join(spec.variants)
        raise RlvrError(f"--only: no variant {', '.join(unknown)} in {spec_path} (variants: {known})")
    if only:  # a variant that needs another's output first (e.g. a filter of the baseline's warm start)
        spec.runs = [r for r in spec.runs if r.variant in only]
    todo = [r for r in spec.runs if not r.done]
    if dry_run:
        for run in spec.runs:
            console.print(f"{'done   ' if run.done else 'pending'}  {run.run_dir}")
        console.print(f"{spec.name}: {len(spec.variants)} variants x {len(spec.seeds)} seeds, {len(todo)} to run")
        return 0
    files = write_configs(spec)
    if emit == "commands":
        for run in todo:
            print(shlex.join(train_command(run, files[run.label])))
        return 0
    if emit == "slurm":
        script = spec.output_dir / f"{spec.name}.sbatch"
        script.write_text(slurm_script(spec, files))
        print(script)
        return 0
    console.print(
        f"{spec.name}: {len(spec.runs) - len(todo)} of {len(spec.runs)} runs already finished; "
        f"running {len(todo)} with {jobs} job(s) -> {spec.output_dir}"
    )

    env = os.environ.copy()
    if jobs > 1:  # parallel runs share the cores; oversubscribed torch threads spin and slow every run ~10x
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))

    def one(run: Run) -> tuple[Run, int]:
        log = spec.output_dir / "logs" / f"{run.label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            command = train_command(run, files[run.label])
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
        state = {0: "finished", EXIT_HEALTH: "stopped by health.stop_on"}.get(code, f"FAILED ({code})")
        console.print(f"{state}  {run.label}  (log: {log})")
        return run, code

    with Phase(f"ablate {spec.name}", len(todo), "runs") as progress, ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(lambda run: progress.track(run.label, one, run), todo))
    failed = [r.label for r, code in results if code not in (0, EXIT_HEALTH)]  # a stopped run has its summary
    if failed:
        raise RlvrError(f"{len(failed)} run(s) failed: {', '.join(failed)} (see {spec.output_dir}/logs)")
    console.print(f"all {len(spec.runs)} runs finished; next: rlvr report {spec_path}")
    return 0
