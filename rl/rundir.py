"""The run directory: every file a run writes, named once. Standard library only, so any command can use it.

RUN/config.yaml            the resolved experiment (what makes a directory a run)
RUN/state.json             what survives a resume: the warm-up's result, the held-out evaluation before GRPO
RUN/metrics.jsonl          one line per logging step
RUN/start/                 the warm start (when warmup.enabled)
RUN/checkpoints/checkpoint-N/   the Trainer's checkpoints (trainer_state.json is written last)
RUN/final/                 the trained model, or its LoRA adapter
RUN/eval/                  held-out completions (before.jsonl, step-N.jsonl with eval.every_steps, after.jsonl) and
                           `rlvr eval` outputs (RUN/eval/<name>/)
RUN/summary.json           written at the end: a run that has it is finished
RUN/PREEMPT, preempted.json   a preemption request, and where it stopped
RUN/reward_errors/         the first traceback of each failing reward
RUN/wandb/, wandb_id       the wandb run (offline files) and its id, so a resume continues it
RUN/running.json           while `rlvr train` runs on it: host and pid (a second start on this host is refused)
RUN/finished-N/            a finished run continued past step N (a larger grpo.max_steps) keeps its step-N results here

Finished work is read-only: a directory holding a training run is never deleted or replaced by `--overwrite`
(only `rlvr train --discard-run`, which names what is lost, does that). No other command writes into a run outside
`RUN/eval/<name>` (`refuse_inside_run`), but for `rlvr dashboard`'s import cache `RUN/dashboard/` of a run logged
without trackio (rebuilt from the run's files each time).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rl.errors import RlvrError

CHECKPOINT = re.compile(r"checkpoint-(\d+)")

FAILED_START = {"config.yaml", "state.json", "reward_errors", "trackio", "trackio.json", "running.json"}
"""What a run writes before it has done any work worth keeping (no warm start, metrics or checkpoint yet)."""

RUN_MARKERS = ("state.json", "metrics.jsonl", "summary.json", "checkpoints", "start", "final")
"""Besides config.yaml, a training run holds at least one of these (a project folder with a config.yaml does not)."""

EVAL_RECORD = re.compile(r"(before|after|step-\d+)\.jsonl")
"""The held-out records training writes into RUN/eval/; `rlvr eval` outputs go beside them in RUN/eval/<name>/."""


def write_json(path: Path, data: dict) -> None:
    """Write a JSON file atomically: other ranks may be reading it at that moment."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def is_model_dir(path: str | Path) -> bool:
    """A directory holding a full model (config.json) or a LoRA adapter (adapter_config.json)."""
    return (Path(path) / "config.json").is_file() or (Path(path) / "adapter_config.json").is_file()


def is_adapter_dir(path: str | Path) -> bool:
    """A directory holding a peft adapter only (adapter_config.json, no config.json of a full model)."""
    return (Path(path) / "adapter_config.json").is_file() and not (Path(path) / "config.json").is_file()


def is_complete_checkpoint(path: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint folder without it was cut off mid-save."""
    return (path / "trainer_state.json").is_file()


def step_of(checkpoint: Path | None) -> int:
    """The step of a `checkpoint-N` folder; 0 for none."""
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0


@dataclass(frozen=True)
class RunDir:
    """A run directory and the paths in it."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    # ------------------------------------------------------------------ files
    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def state(self) -> Path:
        return self.path / "state.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def start(self) -> Path:
        return self.path / "start"

    @property
    def final(self) -> Path:
        return self.path / "final"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def eval(self) -> Path:
        return self.path / "eval"

    @property
    def preempt_flag(self) -> Path:
        return self.path / "PREEMPT"

    @property
    def preempted(self) -> Path:
        return self.path / "preempted.json"

    @property
    def reward_errors(self) -> Path:
        return self.path / "reward_errors"

    @property
    def wandb_id(self) -> Path:
        return self.path / "wandb_id"

    @property
    def running(self) -> Path:
        return self.path / "running.json"

    @property
    def name(self) -> str:
        return self.path.name

    def __str__(self) -> str:
        return str(self.path)

    # ------------------------------------------------------------------ state
    def is_run(self) -> bool:
        return self.path.is_dir() and self.config.is_file()

    def holds_training(self) -> bool:
        """A training run is here: config.yaml beside what training writes (not a model's config.json)."""
        return (
            self.config.is_file()
            and not (self.path / "config.json").is_file()
            and any((self.path / m).exists() for m in RUN_MARKERS)
        )

    def has_work(self) -> bool:
        """It holds more than a start that failed before doing anything (warm start, metrics, checkpoints...)."""
        return self.path.is_dir() and not {p.name for p in self.path.iterdir()} <= FAILED_START

    def finished(self) -> bool:
        return self.summary.is_file()

    def running_here(self) -> str | None:
        """`pid N` when another live process on this host is training in this directory (running.json), else None.
        A file left by a process that died, or written on another host, does not count (its pid means nothing
        here: a preempted job resumes on whatever node it gets)."""
        info = read_json(self.running) if self.running.is_file() else None
        if not info or info.get("host") != socket.gethostname() or info.get("pid") == os.getpid():
            return None
        try:
            os.kill(int(info["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError, TypeError):
            return None
        except PermissionError:  # alive, another user's
            pass
        return f"pid {info['pid']}"

    def refuse_if_running(self) -> None:
        """RlvrError when another live process on this host is training in this directory."""
        other = self.running_here()
        if other is not None:
            raise RlvrError(f"{self.path} is being trained right now ({other} on this host); wait for it or stop it")

    def claim(self) -> None:
        """Mark the directory as being trained by this process; refused when another live process on this host is."""
        self.refuse_if_running()
        write_json(self.running, {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()})

    def release(self) -> None:
        info = read_json(self.running) if self.running.is_file() else None
        if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
            self.running.unlink(missing_ok=True)

    def describe(self) -> str:
        """What a person would lose with this run, in a few words: `finished at step 6, 2 checkpoints, final/`."""
        parts = []
        summary = self.read_summary()
        if summary is not None:
            parts.append(f"finished at step {summary.get('steps')}")
        done = self.complete_checkpoints()
        if done:
            parts.append(f"{len(done)} checkpoint{'s' if len(done) != 1 else ''} (newest step {done[-1][0]})")
        parts += [f"{p.name}/" for p in (self.start, self.final) if p.is_dir()]
        if summary is None and not done and self.metrics.is_file():
            parts.append("metrics.jsonl")
        return ", ".join(parts) or "a started run"

    def read_summary(self) -> dict | None:
        return read_json(self.summary)

    def complete_checkpoints(self) -> list[tuple[int, Path]]:
        """(step, folder) of every complete `checkpoints/checkpoint-N`, oldest first."""
        folder = self.checkpoints
        found = [
            (int(match.group(1)), p)
            for p in (folder.glob("checkpoint-*") if folder.is_dir() else [])
            if (match := CHECKPOINT.fullmatch(p.name)) and is_complete_checkpoint(p)
        ]
        return sorted(found)

    def last_checkpoint(self) -> Path | None:
        """The newest complete checkpoint."""
        done = self.complete_checkpoints()
        return done[-1][1] if done else None

    def model_checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints that hold a model or an adapter, by step."""
        return [(step, p) for step, p in self.complete_checkpoints() if is_model_dir(p)]

    def final_step(self) -> int:
        """The step `final/` was saved at: the summary's, else the last checkpoint's."""
        steps = (self.read_summary() or {}).get("steps")
        if isinstance(steps, int):
            return steps
        done = self.model_checkpoints()
        return done[-1][0] if done else 0

    # ------------------------------------------------------------------ creating
    @classmethod
    def new(cls, name: str, seed: int, root: Path = Path("runs"), variant: str | None = None) -> RunDir:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        parts = [name] + ([variant] if variant else []) + [f"s{seed}", stamp]
        return cls(root / "__".join(parts))

    def check_prepare(self, resume: bool, overwrite: bool, discard: bool = False) -> None:
        """Raise RlvrError when `prepare` would refuse; touches nothing (the dry run asks this too).

        --resume continues a run; --discard-run deletes a training run (it names what is lost); --overwrite replaces
        only a directory holding nothing worth keeping (a start that failed before any work). A directory that is
        not a run is never deleted."""
        run_dir = self.path
        if run_dir.exists() and not run_dir.is_dir():
            raise RlvrError(f"output directory {run_dir} is a file")
        inside = run_inside(run_dir)
        if inside is not None and inside.path != run_dir.resolve():
            raise RlvrError(f"output directory {run_dir} lies inside the training run {inside}; pick one outside it")
        occupied = run_dir.is_dir() and any(run_dir.iterdir())
        if not occupied:
            if resume:
                raise RlvrError(f"--resume: no run to continue in {run_dir}")
            return
        self.refuse_if_running()
        if resume:
            if not self.is_run():
                raise RlvrError(f"--resume: {run_dir} holds no run (no config.yaml)")
            return
        if not self.is_run():
            names = sorted(p.name for p in run_dir.iterdir())
            listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise RlvrError(
                f"output directory {run_dir} already exists and holds no rlvr run ({listed}); rlvr deletes only its "
                "own runs: pick another --output-dir"
            )
        if discard or (overwrite and not self.has_work()):
            return
        if not self.has_work():
            raise RlvrError(
                f"output directory {run_dir} already exists (a run that stopped before doing any work); pass --resume "
                "to continue it or --overwrite to replace it"
            )
        raise RlvrError(
            f"output directory {run_dir} already exists and holds a training run ({self.describe()}); continue it "
            "with --resume, or delete it and train again with --discard-run"
            + (" (--overwrite never deletes a training run)" if overwrite else "")
        )

    def prepare(self, resume: bool, overwrite: bool, discard: bool = False) -> None:
        """Create the directory; never touch existing work without --resume, --discard-run, or (for a start that did
        nothing) --overwrite."""
        self.check_prepare(resume, overwrite, discard)
        if not resume and self.path.is_dir() and any(self.path.iterdir()):
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def remove_failed_start(self) -> bool:
        """Remove a directory this start created and left with nothing worth keeping, so a retry after fixing the
        mistake needs no --overwrite. Returns whether it was removed."""
        if self.path.is_dir() and {p.name for p in self.path.iterdir()} <= FAILED_START:
            shutil.rmtree(self.path)
            return True
        return False

    # ------------------------------------------------------------------ finding
    @classmethod
    def find(cls, path: Path) -> tuple[RunDir, str] | None:
        """(run, what `path` is in it: run | start | final | checkpoint) when `path` belongs to a run."""
        path = Path(path)
        if (path / "config.yaml").is_file() and not (path / "config.json").is_file():
            return cls(path), "run"
        if path.name in ("start", "final") and (path.parent / "config.yaml").is_file():
            return cls(path.parent), path.name
        if path.parent.name == "checkpoints" and CHECKPOINT.fullmatch(path.name):
            if (path.parent.parent / "config.yaml").is_file():
                return cls(path.parent.parent), "checkpoint"
        return None

    @staticmethod
    def newest(root: Path = Path("runs")) -> Path | None:
        """The run in `root` whose config was written last."""
        found = [p.parent for p in root.glob("*/config.yaml")] if root.is_dir() else []
        return max(found, key=lambda p: (p / "config.yaml").stat().st_mtime) if found else None


def run_inside(path: Path) -> RunDir | None:
    """The training run that `path` is, or lies inside (looking upwards); None when it belongs to none."""
    path = Path(path).resolve()  # a symlink into a run is inside it
    for folder in (path, *path.parents):
        if RunDir(folder).holds_training():
            return RunDir(folder)
    return None


def refuse_inside_run(path: Path, what: str) -> None:
    """Raise RlvrError when writing `path` would change a training run: it is a run, or lies inside one anywhere but
    in a folder or file of its own under RUN/eval/ (where `rlvr eval` writes by default). `what` names the option,
    e.g. "--output"."""
    path = Path(path)
    run = run_inside(path)
    if run is None:
        return
    rel = path.resolve().relative_to(run.path).parts
    if len(rel) >= 2 and rel[0] == "eval" and not EVAL_RECORD.fullmatch(rel[1]):
        return
    place = "is the training run" if not rel else f"lies inside the training run {run.path}"
    raise RlvrError(
        f"{what} {path} {place} ({run.describe()}); rlvr never writes over a training run's files: pick a "
        f"directory outside it, or one under {run.eval}/"
    )


def saving_checkpoint_folder(trainer, trial) -> Path:
    """The folder the Trainer's `_save_checkpoint` is about to write (created): files written there first precede
    trainer_state.json, which the Trainer writes last."""
    folder = Path(trainer._get_output_dir(trial=trial)) / f"checkpoint-{trainer.state.global_step}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
