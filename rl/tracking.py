"""Run bookkeeping: the run directory, `metrics.jsonl` (always), and Weights & Biases (offline unless a key is set).

Metric names follow TRL (`loss`, `reward`, `rewards/<name>/mean`, `kl`, `completions/mean_length`,
`learning_rate`, `step_time`, ...) plus rlvr's per-reward counters
`rewards/<name>/{items,none,timeouts,errors,seconds}` and the run-health monitor's `health/*` (rl/health.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from rl.errors import RlvrError

SKIP_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of an accelerate/torchrun launch (or the only process): the one that writes run files."""
    return int(os.environ.get("RANK", "0")) == 0


def new_run_dir(name: str, seed: int, root: Path = Path("runs"), variant: str | None = None) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parts = [name] + ([variant] if variant else []) + [f"s{seed}", stamp]
    return root / "__".join(parts)


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Create the run directory; never touch existing work without --resume or --overwrite."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RlvrError(f"output directory {run_dir} is a file")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if overwrite:
            shutil.rmtree(run_dir)
        elif not resume:
            raise RlvrError(
                f"output directory {run_dir} already exists; pass --resume to continue it or --overwrite to replace it"
            )
    elif resume:
        raise RlvrError(f"--resume: no run to continue in {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)


FAILED_START = {"config.yaml", "state.json", "reward_errors", "trackio", "trackio.json"}
"""What a run writes before it has done any work worth keeping (no warm start, metrics or checkpoint yet)."""


def remove_failed_start(run_dir: Path) -> bool:
    """Remove a run directory this start created and left with nothing worth keeping, so a retry after fixing the
    mistake needs no --overwrite. Returns whether it was removed."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= FAILED_START:
        shutil.rmtree(run_dir)
        return True
    return False


def saving_checkpoint_folder(trainer, trial) -> Path:
    """The folder the Trainer's `_save_checkpoint` is about to write (created): files written there first precede
    trainer_state.json, which the Trainer writes last."""
    folder = Path(trainer._get_output_dir(trial=trial)) / f"checkpoint-{trainer.state.global_step}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def is_complete_checkpoint(path: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint folder without it was cut off mid-save."""
    return (path / "trainer_state.json").is_file()


def complete_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete `checkpoints/checkpoint-N` of a run, oldest first."""
    folder = run_dir / "checkpoints"
    found = [
        (int(match.group(1)), p)
        for p in (folder.glob("checkpoint-*") if folder.is_dir() else [])
        if (match := re.fullmatch(r"checkpoint-(\d+)", p.name)) and is_complete_checkpoint(p)
    ]
    return sorted(found)


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint."""
    done = complete_checkpoints(run_dir)
    return done[-1][1] if done else None


def write_json(path: Path, data: dict) -> None:
    """Write a JSON file atomically: other ranks may be reading it at that moment."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class MetricsFile(TrainerCallback):
    """Appends one JSON line per logging step to `metrics.jsonl`; on resume drops lines past the checkpoint."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.is_file() and is_main_process():
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            path.write_text("".join(line + "\n" for line in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or any(k in logs for k in SKIP_KEYS):
            return
        record = {"step": state.global_step, "time": round(time.time(), 3)}
        record.update({k: _clean(v) for k, v in logs.items()})
        record.setdefault("kl", None)  # TRL computes KL only when beta > 0 (it then needs a reference model)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


class QuietProgress(ProgressCallback):
    """The Trainer's progress bar without its per-step dump of the logs dict (metrics.jsonl and wandb have them)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


def wandb_mode(mode: str) -> str:
    if mode == "auto":
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return mode


def start_wandb(exp, run_dir: Path, config: dict[str, Any]):
    """Start (or, on resume, continue) the wandb run; files land in run_dir/wandb. Returns the run or None."""
    mode = wandb_mode(exp.logging.wandb_mode)
    if mode == "disabled" or not is_main_process():
        return None
    import wandb

    id_file = run_dir / "wandb_id"
    run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
    id_file.write_text(run_id)
    log = exp.logging
    return wandb.init(
        project=log.wandb_project,
        entity=log.wandb_entity,
        group=log.wandb_group,
        job_type=log.wandb_job_type,
        name=log.wandb_name or run_dir.name,
        tags=log.wandb_tags or None,
        config=config,
        dir=str(run_dir),
        mode=mode,
        id=run_id,
        resume="allow",
        settings=wandb.Settings(console="off", silent=True),
    )
