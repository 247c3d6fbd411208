"""Weights & Biases: offline unless WANDB_API_KEY is set; files land in the run's (or evaluation's) directory.

One starter for `rlvr train` (a resume continues the same wandb run: its id is kept in RUN/wandb_id) and `rlvr
eval` (`job_type=eval`, grouped with the run it evaluates). Standard library only until a run starts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def wandb_mode(mode: str) -> str:
    """auto: online when WANDB_API_KEY is set, else offline."""
    if mode == "auto":
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return mode


def start_wandb(
    log,
    folder: Path,
    config: dict[str, Any],
    *,
    resume_id: Path | None = None,
    mode: str | None = None,
    project: str | None = None,
    name: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
):
    """Start a wandb run from a `LoggingConfig` (`mode`, `project`, `name`, `group`, `job_type` override its
    fields); files land in `folder`/wandb. `resume_id`: a file keeping the run's id, so a resume continues it.
    Returns the run, or None when wandb is disabled. Call it on the main process only."""
    mode = wandb_mode(mode or log.wandb_mode)
    if mode == "disabled":
        return None
    import wandb

    run_id = None
    if resume_id is not None:
        run_id = resume_id.read_text().strip() if resume_id.is_file() else secrets.token_hex(4)
        resume_id.write_text(run_id)
    return wandb.init(
        project=project or log.wandb_project,
        entity=log.wandb_entity,
        group=group or log.wandb_group,
        job_type=job_type or log.wandb_job_type,
        name=name or log.wandb_name or folder.name,
        tags=log.wandb_tags or None,
        config=config,
        dir=str(folder),
        mode=mode,
        id=run_id,
        resume="allow" if run_id else None,
        settings=wandb.Settings(console="off", silent=True),
    )


@contextlib.contextmanager
def offline_run_unseen() -> Iterator[None]:
    """Inside the block `wandb.run` is None when the current run is offline (otherwise nothing changes).

    TRL writes a model card with every checkpoint (`create_model_card`) and puts `wandb.run.url` in it; on an
    offline run that property is None and prints `wandb: WARNING URL not available in offline run`, once per
    checkpoint of every run without WANDB_API_KEY. With the run unseen the card is the same (no URL) and that
    warning is not printed; wandb's other warnings are untouched."""
    wandb = sys.modules.get("wandb")  # not imported: no run to hide
    run = getattr(wandb, "run", None)
    if run is None or not run.offline:
        yield
        return
    wandb.run = None
    try:
        yield
    finally:
        wandb.run = run
