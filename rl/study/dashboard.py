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

The page leads with held-out pass@1, the accuracy reward, completion length, KL/entropy and run health, hides the
bookkeeping series, and colours an ablation's runs by variant, through trackio's own settings (rl.study.layout).
`--screenshot PNG` saves the lead panels as headless Chromium (rl.study.chromium) sees them, the viewport grown
until they all fit and trackio's alerts panel sits below them.

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
from rl.study.layout import Layout, lead_keys_first

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
                # the rewards, completions and health subsections first on the page (rl.study.layout, rule 3)
                metrics = lead_keys_first({**metrics, "train/global_step": state.global_step})
                run.log(metrics, step=state.global_step)
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
        rows.append(lead_keys_first(metrics | {"train/global_step": step}))
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


def page_settings(project: str) -> Layout:
    """Set trackio's page settings for `project` from its runs (rl.study.layout): TRACKIO_PLOT_ORDER and, when
    runs share a variant, TRACKIO_COLOR_PALETTE; a value the user exported wins. Trackio's server reads both at
    each request, so this runs before the page is first opened."""
    from rl.study.layout import layout_of

    layout = layout_of(project)
    os.environ.setdefault("TRACKIO_PLOT_ORDER", ",".join(layout.plot_order))
    if layout.palette:
        os.environ.setdefault("TRACKIO_COLOR_PALETTE", ",".join(layout.palette))
    return layout


def page_url(base: str, project: str, metric_filter: str | None) -> str:
    """The Metrics page of `project`, showing only the series `metric_filter` (trackio's URL parameter) keeps."""
    from urllib.parse import urlencode

    query = {"project": project} | ({"metric_filter": metric_filter} if metric_filter else {})
    return f"{base.rstrip('/')}/?{urlencode(query)}"


def serve(target: str | None, host: str, port: int | None, screenshot: Path | None = None) -> int:
    """Serve the dashboard until interrupted (Ctrl-C or SIGTERM), leading with the panels that matter
    (rl.study.layout); with `screenshot`, save a headless-Chromium PNG of the lead panels instead and stop."""
    import signal

    store, project, what = resolve(target)
    use_store(store)
    layout = page_settings(project)
    import trackio

    with contextlib.redirect_stdout(io.StringIO()):  # it says "opened in browser"; nothing is opened
        server, url, _, _ = trackio.show(
            project=project, open_browser=False, block_thread=False, host=host, server_port=port, footer=True
        )
    stops = "taking a screenshot" if screenshot is not None else "Ctrl-C stops it"
    print(f"dashboard: {page_url(url, project, layout.page_filter)}  ({what}; store {store}; {stops})", flush=True)
    print(f"  first: {', '.join(layout.lead)}")
    if layout.hidden:
        print(f"  hidden by the Metric Filter (clear it to see them): {', '.join(layout.hidden)}")
    print(f"  the lead panels alone: {page_url(url, project, layout.screenshot_filter)}")
    if layout.palette:
        print("  colours: one per variant (trackio group); the sidebar's Group by: Group lists the runs by variant")

    if screenshot is not None:
        try:
            shown = look(page_url(url, project, layout.screenshot_filter), screenshot, fit=True)
        finally:
            server.close()
        width, height = shown["width"], shown["height"]
        print(f"screenshot: {screenshot} ({width}x{height}): {', '.join(drawn(shown))}")
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


# --------------------------------------------------------------------------------------------------- the page

PAGE_STATE = """(() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const page = document.querySelector(".metrics-page");
  const alerts = document.querySelector(".alert-panel");
  return {
    view: window.trackio && window.trackio.getViewState ? window.trackio.getViewState() : null,
    panels: [...document.querySelectorAll(".plot-container[data-metric]")].map(
      (el) => ({metric: el.dataset.metric, drawn: !!el.querySelector("canvas"), ...box(el)})),
    runs: [...document.querySelectorAll(".checkbox-item")].filter((el) => el.querySelector(".color-dot")).map(
      (el) => ({name: el.querySelector(".run-name").textContent.trim(),
                colour: getComputedStyle(el.querySelector(".color-dot")).backgroundColor})),
    alerts: alerts ? box(alerts) : null,
    scroll: page ? page.scrollTop : 0,
    width: innerWidth,
    height: innerHeight,
  };
})()"""
"""What trackio's Metrics page shows: its own view state (`window.trackio.getViewState()`: the series in page
order, those on screen), each drawn panel's box, each run's colour in the sidebar, the alerts panel's box."""


def look(url: str, screenshot: Path | None = None, fit: bool = False, size: tuple[int, int] = (1400, 1000)) -> dict:
    """PAGE_STATE of the dashboard at `url` once its panels are drawn, plus its `html`. With `fit`, the viewport
    first grows until every panel is in it and the alerts panel (trackio fixes it at the bottom right, over
    whatever is there) sits below the last one; with `screenshot`, a PNG of the viewport."""
    from rl.study.chromium import Chromium

    with Chromium(*size) as chrome:
        chrome.open(url)
        state = settled(chrome)
        if fit:
            for _ in range(3):  # a taller page can draw more: measure again
                height = needed_height(state)
                if height <= chrome.size[1] and not covered(state):
                    break
                chrome.resize(size[0], max(height, chrome.size[1]))
                state = settled(chrome)
            if covered(state):
                raise RlvrError(f"the alerts panel still covers {', '.join(covered(state))} at {chrome.size}")
        if screenshot is not None:
            chrome.screenshot(screenshot)
        state["html"] = chrome.evaluate("document.documentElement.outerHTML")
    return state


def settled(chrome, timeout: float = 60) -> dict:
    """PAGE_STATE once trackio has listed its series and drawn every panel in the viewport, unchanged over two
    looks half a second apart."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = chrome.evaluate(PAGE_STATE)
        ready = (state["view"] or {}).get("metrics") and state["panels"]
        ready = ready and all(p["drawn"] for p in state["panels"] if p["top"] < state["height"] and p["bottom"] > 0)
        looks = {k: v for k, v in state.items() if k != "view"} | {
            "metrics": state["view"] and state["view"]["metrics"]
        }
        if ready and looks == last:  # (the view state's own `captured_at` changes at every look)
            return state
        last = looks if ready else None
        time.sleep(0.5)
    raise RlvrError(f"the dashboard did not finish drawing its panels within {timeout:.0f} s ({chrome.size})")


def needed_height(state: dict) -> int:
    """The viewport height that holds every panel, and below them the alerts panel (its height, plus the 16 px
    trackio keeps under it)."""
    bottom = max(p["bottom"] for p in state["panels"]) + state["scroll"] + 24
    alerts = state["alerts"]
    return int(bottom + (alerts["bottom"] - alerts["top"] + 16 if alerts else 0)) + 1


def covered(state: dict) -> list[str]:
    """The panels the alerts panel overlaps."""
    a = state["alerts"]
    if a is None:
        return []
    return [
        p["metric"]
        for p in state["panels"]
        if p["left"] < a["right"] and a["left"] < p["right"] and p["top"] < a["bottom"] and a["top"] < p["bottom"]
    ]


def drawn(state: dict) -> list[str]:
    """The series drawn on screen, in page order."""
    return [name for name in state["view"]["metrics"] if name in state["view"]["metrics_on_screen"]]
