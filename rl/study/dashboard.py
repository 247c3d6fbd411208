"""A local dashboard for every run: Trackio (a SQLite store and a small web server) next to wandb.

A run whose `logging.backends` holds `trackio` logs the metrics wandb gets, under the same names (`train/*` as
transformers' `rewrite_logs` writes them, `eval/*` before and after, the completions table, health alerts as
`trackio.alert`), into a store at `RUN_DIR/trackio/` (or `$RLVR_TRACKIO_DIR` when set: one store for many runs),
and writes `RUN_DIR/trackio.json` saying where. Trackio's project is `logging.wandb_project`, its run name the wandb
name, its group `<wandb_group>/<wandb_job_type>` (an ablation's runs: `<ablation>/<variant>`).

`rlvr dashboard TARGET` serves:

- a run directory: its own store, or (runs made without trackio) `RUN_DIR/dashboard/`, imported from its files
  at each start: `metrics.jsonl`, the held-out evaluation before (`state.json`) and after (`summary.json`), and
  the health alerts;
- an ablation spec (or a directory of runs): every run of it imported into `<output_dir>/dashboard/`, rebuilt from
  the runs' files at each start, grouped by variant;
- a project name: that project in `$RLVR_TRACKIO_DIR`.

Trackio reads its store's place (`TRACKIO_DIR`) once, when it is first imported: `use_store` sets it before.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rl.errors import RlvrError
from rl.rundir import RunDir

STORE_ENV = "RLVR_TRACKIO_DIR"
POINTER = "trackio.json"
VIEW = "dashboard"


def store_for(run_dir: Path) -> Path:
    """Where a run's trackio store lives: $RLVR_TRACKIO_DIR, else RUN_DIR/trackio."""
    shared = os.environ.get(STORE_ENV)
    return (Path(shared) if shared else run_dir / "trackio").resolve()


def use_store(path: Path) -> None:
    """Point trackio at `path` (before its first import in this process)."""
    path = Path(path).resolve()
    if "trackio.utils" in sys.modules:
        current = Path(sys.modules["trackio.utils"].TRACKIO_DIR).resolve()
        if current != path:
            raise RlvrError(f"trackio is already loaded in this process with its store at {current}, not {path}")
        return
    os.environ["TRACKIO_DIR"] = str(path)  # trackio creates it when it first writes


def group_of(log) -> str | None:
    """The trackio group: `<wandb_group>/<wandb_job_type>` (trackio has one grouping level, wandb two)."""
    return "/".join(str(x) for x in (log.wandb_group, log.wandb_job_type) if x) or None


def run_name(exp, run_dir: Path) -> str:
    return exp.logging.wandb_name or run_dir.name


def start_trackio(exp, run_dir: Path, config: dict[str, Any], resume: bool):
    """Start (or, on resume, continue) the run's trackio run; None unless `trackio` is among the backends."""
    from rl.distenv import is_main_process
    from rl.rundir import write_json

    if "trackio" not in exp.logging.backends or not is_main_process():
        return None
    store = store_for(run_dir)
    use_store(store)
    import trackio

    name = run_name(exp, run_dir)
    with contextlib.redirect_stdout(io.StringIO()):  # its hints name `trackio show`, which looks elsewhere
        run = trackio.init(
            project=exp.logging.wandb_project,
            name=name,
            group=group_of(exp.logging),
            config=config,
            resume="allow" if resume else "never",
            embed=False,
        )
    write_json(run_dir / POINTER, {"dir": str(store), "project": exp.logging.wandb_project, "run": name})
    print(f"trackio: run {name} in {store} (look at it with: rlvr dashboard {run_dir})")
    return run


def finish_trackio(run) -> None:
    """Flush and close the run (quietly: it announces an "upload", which is a local write)."""
    from trackio import context_vars

    with contextlib.redirect_stdout(io.StringIO()):
        run.finish()
    if context_vars.current_run.get() is run:  # else its exit hook finishes it again, out loud
        context_vars.current_run.set(None)


def adopt_trackio_callback(trainer, run) -> None:
    """Swap transformers' TrackioCallback (which `report_to: trackio` adds) for one that logs into the run rlvr
    started, at step = the trainer's global step, and leaves finishing it to rlvr (the held-out evaluation after
    training comes after `on_train_end`). It starts no run of its own, as WandbCallback does not when one exists."""
    from transformers.integrations import TrackioCallback
    from transformers.integrations.integration_utils import rewrite_logs

    class RlvrTrackioCallback(TrackioCallback):
        SINGLE = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")

        def setup(self, args, state, model, **kwargs):
            self._initialized = True

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                metrics = rewrite_logs({k: v for k, v in logs.items() if k not in self.SINGLE})
                run.log({**metrics, "train/global_step": state.global_step}, step=state.global_step)
                # TRL logs its completions table right after, without a step: let it land on this step too
                # (trackio would otherwise count on to step + 1)
                if hasattr(run, "_next_step"):
                    run._next_step = state.global_step

        def on_train_end(self, args, state, control, **kwargs):
            pass

    callbacks = trainer.callback_handler.callbacks
    for i, cb in enumerate(callbacks):
        if isinstance(cb, TrackioCallback):
            callbacks[i] = RlvrTrackioCallback()
            callbacks[i]._initialized = True


# --------------------------------------------------------------------------------------------------- imports


def _iso(t: float | None) -> str:
    return datetime.fromtimestamp(t or time.time(), tz=UTC).isoformat()


def _numbers(prefix: str, metrics: dict) -> dict[str, float]:
    return {
        prefix + k: v
        for k, v in (metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None
    }


def run_records(run_dir: Path) -> tuple[list[dict], list[int], list[str]]:
    """A finished or running run's metrics from its files, named as the live backends name them."""
    from transformers.integrations.integration_utils import rewrite_logs

    from rl.eval.metrics import current_names
    from rl.train.callbacks import SKIP_KEYS

    rows, steps, stamps = [], [], []
    run = RunDir(run_dir)
    state = _read(run.state) or {}
    if state.get("before"):
        rows.append(_numbers("eval/", current_names(state["before"])) | {"train/global_step": 0})
        steps.append(0)
        stamps.append(_iso(run.state.stat().st_mtime))
    path = run.metrics
    lines = path.read_text().splitlines() if path.is_file() else []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        step, stamp = record.pop("step", 0), record.pop("time", None)
        if any(k in record for k in SKIP_KEYS):
            continue
        held_out = {k: v for k, v in record.items() if k.startswith("eval/")}  # named as logged already
        named = rewrite_logs({k: v for k, v in record.items() if k not in held_out}) | held_out
        metrics = {k: v for k, v in named.items() if isinstance(v, (int, float)) and v is not None}
        rows.append(metrics | {"train/global_step": step})
        steps.append(step)
        stamps.append(_iso(stamp))
    summary = _read(run.summary) or {}
    after = {k.removesuffix("_after"): v for k, v in summary.items() if k.endswith("_after")}
    if _numbers("", after):
        step = summary.get("steps") or (steps[-1] if steps else 0)
        rows.append(_numbers("eval/", current_names(after)) | {"train/global_step": step})
        steps.append(step)
        stamps.append(_iso(run.summary.stat().st_mtime))
    return rows, steps, stamps


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def _run_config(run_dir: Path) -> dict:
    import yaml

    path = RunDir(run_dir).config
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def import_run(run_dir: Path, project: str | None = None) -> tuple[str, str, int]:
    """Write a run's files into the trackio store `use_store` chose: (project, run name, rows). Needs trackio
    imported after `use_store`."""
    from trackio.sqlite_storage import SQLiteStorage

    config = _run_config(run_dir)
    log = config.get("logging") or {}
    project = project or log.get("wandb_project") or "rlvr"
    name = log.get("wandb_name") or run_dir.name
    group = "/".join(str(x) for x in (log.get("wandb_group"), log.get("wandb_job_type")) if x) or None
    rows, steps, stamps = run_records(run_dir)
    if not rows:
        return project, name, 0
    safe = {k: v for k, v in config.items() if not str(k).startswith("_")} | {"_Group": group}
    SQLiteStorage.bulk_log(project=project, run=name, metrics_list=rows, steps=steps, timestamps=stamps, config=safe)
    alerts = ((_read(RunDir(run_dir).summary) or {}).get("health") or {}).get("alerts") or []
    if alerts:
        SQLiteStorage.bulk_alert(
            project=project,
            run=name,
            titles=[f"{a['kind']} at step {a['step']}"[:63] for a in alerts],
            texts=[a.get("message") for a in alerts],
            levels=["warn"] * len(alerts),
            steps=[a.get("step") for a in alerts],
        )
    return project, name, len(rows)


# --------------------------------------------------------------------------------------------------- targets


def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def newest_run(root: Path = Path("runs")) -> Path:
    found = RunDir.newest(root)
    if found is None:
        raise RlvrError(f"no run in {root}/: name one (rlvr dashboard RUN_DIR | ABLATION_SPEC | PROJECT)")
    return found


def resolve(target: str | None) -> tuple[Path, str, str]:
    """(store, project, what) for `rlvr dashboard TARGET`; imports runs made without trackio on the way. Run in
    a process that has not imported trackio yet."""
    path = Path(target) if target else newest_run()
    if is_run_dir(path):
        return _run_view(path)
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        from rl.study.ablate import load_spec

        spec = load_spec(path)
        runs = [r.run_dir for r in spec.runs if is_run_dir(r.run_dir)]
        if not runs:
            raise RlvrError(f"{path}: none of its runs exist yet under {spec.output_dir} (rlvr ablate {path})")
        return _collection_view(spec.output_dir, runs, f"ablation {spec.name}", spec.name)
    if path.is_dir():
        runs = sorted(p.parent for p in path.glob("*/config.yaml"))
        if not runs:
            raise RlvrError(f"{path}: neither a run directory (no config.yaml) nor a directory of runs")
        return _collection_view(path, runs, f"runs in {path}", path.resolve().name)
    shared = os.environ.get(STORE_ENV)
    if not shared:
        raise RlvrError(
            f"{target}: no such run directory or ablation spec, and ${STORE_ENV} (where a project lives) is not set"
        )
    store = Path(shared).resolve()
    use_store(store)
    from trackio.sqlite_storage import SQLiteStorage

    if target not in SQLiteStorage.get_projects():
        known = ", ".join(SQLiteStorage.get_projects()) or "none"
        raise RlvrError(f"{target}: no such run directory, ablation spec or project in {store} (projects: {known})")
    return store, target, f"project {target} in {store}"


def _run_view(run_dir: Path) -> tuple[Path, str, str]:
    pointer = _read(run_dir / POINTER)
    if pointer and Path(pointer["dir"]).is_dir():  # logged live to trackio
        return Path(pointer["dir"]), pointer["project"], f"run {pointer['run']}"
    store = (run_dir / VIEW).resolve()
    shutil.rmtree(store, ignore_errors=True)  # a view, rebuilt from the run's files at each start
    use_store(store)
    project, name, n = import_run(run_dir)
    if not n:
        raise RlvrError(f"{run_dir}: nothing logged yet (no metrics.jsonl rows, no held-out evaluation)")
    print(f"imported {n} rows of {run_dir} (metrics.jsonl, state.json, summary.json) into {store}")
    return store, project, f"run {name}"


def _collection_view(root: Path, runs: list[Path], what: str, project: str) -> tuple[Path, str, str]:
    """Every run imported into one project (the ablation's name) in ROOT/dashboard/."""
    store = (root / VIEW).resolve()
    shutil.rmtree(store, ignore_errors=True)  # a view, rebuilt from the runs' files at each start
    use_store(store)
    total = sum(import_run(run, project)[2] for run in runs)
    print(f"imported {len(runs)} runs ({total} rows) of {what} into {store}")
    return store, project, what


# --------------------------------------------------------------------------------------------------- serving


PLOT_ORDER = "train/reward,train/entropy,train/frac_reward_zero_std,train/completions/mean_length,eval/pass@1"
"""The panels a reader looks at first (TRACKIO_PLOT_ORDER overrides it)."""


def serve(target: str | None, host: str, port: int | None, screenshot: Path | None = None) -> int:
    """Serve the dashboard until interrupted (Ctrl-C or SIGTERM); with `screenshot`, save a headless-Chromium
    PNG of the page instead and stop."""
    import signal

    store, project, what = resolve(target)
    use_store(store)
    os.environ.setdefault("TRACKIO_PLOT_ORDER", PLOT_ORDER)
    import trackio

    with contextlib.redirect_stdout(io.StringIO()):  # it says "opened in browser"; nothing is opened
        server, url, _, _ = trackio.show(
            project=project, open_browser=False, block_thread=False, host=host, server_port=port, footer=True
        )
    stops = "taking a screenshot" if screenshot is not None else "Ctrl-C stops it"
    print(f"dashboard: {url.rstrip('/')}/?project={project}  ({what}; store {store}; {stops})", flush=True)

    if screenshot is not None:
        try:
            load_page(f"{url.rstrip('/')}/?project={project}", screenshot)
        finally:
            server.close()
        print(f"screenshot: {screenshot}")
        return 0

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("dashboard stopped")
    finally:
        try:
            server.close()
        except Exception:  # noqa: BLE001 - closing a server that is going down anyway
            pass
    return 0


# --------------------------------------------------------------------------------------------------- browser

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str | None:
    """A headless-capable Chromium on PATH (Debian: `apt-get install -y chromium`), or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def load_page(url: str, screenshot: Path | None = None, wait_ms: int = 15000, size: str = "1400,1000") -> str:
    """The page's DOM after its scripts ran for up to `wait_ms` (virtual time) in headless Chromium; with
    `screenshot`, also a PNG of it."""
    import subprocess
    import tempfile

    binary = browser()
    if binary is None:
        raise RlvrError("no Chromium on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        base = [
            binary,
            "--headless",
            "--no-sandbox",  # root in containers
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            f"--virtual-time-budget={wait_ms}",
        ]
        dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([*base, f"--screenshot={screenshot.resolve()}", url], capture_output=True, timeout=120)
            if not screenshot.is_file():
                raise RlvrError(f"Chromium wrote no screenshot to {screenshot}")
    return dom
