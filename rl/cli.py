"""`rlvr` command line. Mistakes in the input print one line `rlvr: error: ...` on stderr and exit with code 2."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rl.errors import RlvrError


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        self.exit(2, f"rlvr: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> Parser:
    parser = Parser(prog="rlvr", description="GRPO with verifiable rewards on top of TRL.")
    parser.add_argument("--version", action="version", version=f"rlvr {version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train one experiment config (default: the embedded tiny-arith demo)")
    train.add_argument("config", nargs="?", help="experiment YAML (default: configs/tiny-arith.yaml, embedded)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by dotted path, e.g. grpo.beta=0.04 (repeatable)",
    )
    train.add_argument("--output-dir", type=Path, help="run directory (default: runs/<name>__s<seed>__<time>)")
    train.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (or --output-dir) from its newest checkpoint",
    )
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a run directory that holds nothing worth keeping (a start that failed before any work)",
    )
    train.add_argument(
        "--discard-run",
        action="store_true",
        help="delete the training run in --output-dir (checkpoints, final model, evaluations, summary) and train "
        "again from scratch",
    )
    train.add_argument(
        "--dry-run", action="store_true", help="print the resolved config, run every weight-free check, and exit"
    )

    rewards = sub.add_parser("rewards", help="list the registered rewards and their params")
    rewards.add_argument("name", nargs="?", help="one reward: its whole description and params")
    add_eval_parser(sub)
    add_filter_parser(sub)

    ablate = sub.add_parser("ablate", help="run every variant x seed of an ablation spec (skips finished runs)")
    ablate.add_argument("spec", help="ablation spec YAML (experiments/ablations/*.yaml)")
    ablate.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1: honest wall times)")
    ablate.add_argument("--emit", choices=["commands", "slurm"], help="write the commands or a slurm array instead")
    ablate.add_argument(
        "--dry-run",
        action="store_true",
        help="list the runs (done, pending, invalid) and check each as `rlvr train --dry-run` would",
    )
    ablate.add_argument(
        "--only", type=lambda v: [x for x in v.split(",") if x], metavar="V1,V2", help="run only these variants"
    )

    launch = sub.add_parser("launch", help="multi-GPU / multi-node training with accelerate and vLLM (GPU machines)")
    launch.add_argument("config", help="experiment YAML")
    launch.add_argument("--gpus", type=int, help="GPUs per node (default: the recipe's launch.gpus)")
    launch.add_argument("--nodes", type=int, help="nodes (default: launch.nodes; more than 1 needs --emit slurm)")
    launch.add_argument(
        "--vllm",
        choices=["colocate", "server", "off"],
        help="only for recipes that do not say: vLLM in each training process, `trl vllm-serve` on GPUs of its own",
    )
    launch.add_argument(
        "--strategy", help="ddp, zero2, zero3, fsdp2 or an accelerate .yaml (default: the planner picks)"
    )
    launch.add_argument("--gpu-memory", type=float, help="GiB per GPU to plan for (default: launch.gpu_memory)")
    launch.add_argument("--params", type=float, help="model size in billions, when its config cannot be read")
    launch.add_argument("--activate", help="shell line that activates rlvr's environment in emitted scripts")
    launch.add_argument("--emit", choices=["shell", "slurm"], help="write a bash or sbatch script instead of running")
    launch.add_argument("--dry-run", action="store_true", help="print the memory plan and script; run nothing")
    launch.add_argument("--output-dir", help="run directory (default: runs/<name>)")
    launch.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value by dotted path, e.g. grpo.per_device_train_batch_size=8 (repeatable); planned, "
        "and passed on to every training process",
    )

    dash = sub.add_parser(
        "dashboard",
        help="serve the local (trackio) dashboard of a run, an ablation or a project; runs until interrupted",
    )
    dash.add_argument(
        "target",
        nargs="?",
        metavar="RUN_DIR | ABLATION_SPEC | PROJECT",
        help="a run directory, an ablation spec (or a directory of runs), or a project in $RLVR_TRACKIO_DIR "
        "(default: the newest run in runs/). Runs made without trackio are imported from their metrics.jsonl",
    )
    dash.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    dash.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="save a headless-Chromium PNG of the lead panels (viewport grown to hold them, the alerts panel below "
        "them) and exit",
    )

    report = sub.add_parser(
        "report",
        help="tables (mean ± std, 95%% intervals, per seed) and plots with 95%% t-intervals of an ablation's runs",
    )
    report.add_argument("target", help="ablation spec YAML or a directory of <variant>__s<seed> runs")
    report.add_argument("--out", help="output directory (default: <runs>/report)")
    return parser


def add_eval_parser(sub) -> None:
    from rl.config import TEMPLATES, WANDB_MODES
    from rl.eval.command import BACKENDS, DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS
    from rl.eval.command import __doc__ as eval_doc

    p = sub.add_parser(
        "eval",
        help="held-out pass@k / maj@n of a model, a run, or every checkpoint of a run",
        description=eval_doc.split("\n\n")[0],
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
        help="sequences per generate call with transformers "
        f"(default: the run's eval.batch_size, else {DEFAULT_BATCH_SIZE})",
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
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier `rlvr eval` output in --output (never another folder, never a training run)",
    )
    p.add_argument(
        "--all-checkpoints",
        action="store_true",
        help="evaluate RUN/start (step 0), then every RUN/checkpoints/checkpoint-N: a curve",
    )
    p.add_argument("--gguf-file", metavar="F", help="load this GGUF file from the model directory (transformers)")
    p.add_argument(
        "--template",
        choices=TEMPLATES,
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
        choices=WANDB_MODES,
        default="auto",
        help="auto: online if WANDB_API_KEY is set, else offline (default)",
    )
    p.add_argument("--wandb-project", help="default: the run's logging.wandb_project, else rlvr")


def add_filter_parser(sub) -> None:
    from rl.eval.passrate import __doc__ as filter_doc

    p = sub.add_parser(
        "filter",
        help="keep the problems of an `rlvr eval` output whose pass rate lies in a range (a training file)",
        description=filter_doc.split("\n\n")[0],
    )
    p.add_argument("source", metavar="EVAL_DIR_OR_SAMPLES", help="an `rlvr eval` output folder or its samples.jsonl")
    p.add_argument("--min-pass-rate", type=float, default=0.0, metavar="A", help="keep pass rate >= A (default 0)")
    p.add_argument("--max-pass-rate", type=float, default=1.0, metavar="B", help="keep pass rate <= B (default 1)")
    p.add_argument("--output", type=Path, required=True, metavar="FILE.jsonl", help="the kept rows")
    p.add_argument(
        "--overwrite", action="store_true", help="replace an earlier `rlvr filter` output (or an empty file)"
    )


def cmd_filter(args) -> int:
    from rl.eval.passrate import cmd_filter

    return cmd_filter(args)


def cmd_eval(args) -> int:
    from rl.eval.command import cmd_eval

    return cmd_eval(args)


def cmd_train(args) -> int:
    from rl.config import dump_yaml, load_experiment
    from rl.distenv import is_main_process, world_size
    from rl.rundir import RunDir

    resume = args.resume is not None
    if resume and (args.overwrite or args.discard_run):
        flag = "--overwrite" if args.overwrite else "--discard-run"
        raise RlvrError(f"--resume and {flag} contradict each other; pick one")
    path = args.output_dir
    if isinstance(args.resume, str):
        if path is not None and Path(args.resume) != path:
            raise RlvrError("--resume RUN_DIR and --output-dir name different directories")
        path = Path(args.resume)
    if resume and path is None:
        raise RlvrError("--resume needs the run directory: --resume RUN_DIR (or --output-dir RUN_DIR --resume)")
    config = args.config
    if config is None and resume and RunDir(path).config.is_file():
        config = RunDir(path).config
    exp = load_experiment(config, args.overrides)
    if not args.dry_run and world_size() > 1 and path is None:
        raise RlvrError("multi-process launches need --output-dir (every process must write to the same run)")
    run = RunDir(path) if path is not None else RunDir.new(exp.name, exp.seed, variant=exp.variant)
    run.check_prepare(resume=resume, overwrite=args.overwrite, discard=args.discard_run)
    finished = None
    if resume:
        from rl.train.resume import finished_run

        finished = finished_run(run, exp)
        if finished is not None and not finished.continues:
            print(finished.message)  # finished work is read-only: nothing trains, nothing is written
            return 0
    from rl.train.preflight import preflight

    checked = preflight(exp, dry_run=args.dry_run)  # every check that needs no weights, before a directory exists
    if args.dry_run:
        sys.stdout.write(dump_yaml(exp))
        print("\n".join("# " + line for line in _dry_run_memory(exp, config, args.overrides).splitlines()))
        print("\n".join("# checked: " + line for line in [*checked.lines, _output_line(run, args, finished)]))
        return 0
    fresh = not resume and not (run.path.is_dir() and any(run.path.iterdir()))
    main = is_main_process()
    # Under a launch every rank has made the checks above on the same, untouched directory (so all agree); then
    # rank 0 prepares it while the others wait.
    barrier = _barrier() if world_size() > 1 else (lambda: None)
    barrier()
    if main:
        run.prepare(resume=resume, overwrite=args.overwrite, discard=args.discard_run)
        if finished is not None:
            from rl.train.resume import set_aside_finished

            set_aside_finished(run)
            print(finished.message)
        run.claim()
    barrier()

    from rl.train.loop import run as train

    try:
        train(exp, run.path, resume=resume, checked=checked)
    except RlvrError:
        if fresh and world_size() == 1:
            run.remove_failed_start()  # running.json included: it marks no work
        raise
    finally:
        if main:
            run.release()
    return 0


def _barrier():
    from accelerate import PartialState

    return PartialState().wait_for_everyone


def _output_line(run, args, finished) -> str:
    """The dry run's last line: what the real start would do with the run directory."""
    from rl.train.resume import resume_point

    if args.resume is not None:
        return finished.message if finished is not None else resume_point(run)
    if args.discard_run and run.path.is_dir() and any(run.path.iterdir()):
        return f"output: {run} would be deleted ({run.describe()}) and trained again (--discard-run)"
    if not run.path.exists():
        return f"output: {run} (new)"
    if any(run.path.iterdir()):
        return f"output: {run} would be replaced (it holds no work: --overwrite)"
    return f"output: {run} (an empty directory)"


def _dry_run_memory(exp, config, overrides: list[str]) -> str:
    """The memory plan as text (refused with RlvrError when it does not fit): under a launch, for this launch;
    otherwise, for the recipe's stated hardware as `rlvr launch` would run it. A GPU plan printed on a machine
    without a CUDA GPU says so: `rlvr train` there trains on the CPU."""
    import os

    from rl.config import BUILTIN_PREFIX
    from rl.distenv import world_size
    from rl.launch.memory import dry_run_budget

    cpu = cpu_note()
    if world_size() == 1 and exp.launch.gpus and not exp.model.name_or_path.startswith(BUILTIN_PREFIX) and config:
        from rl.launch.plan import LaunchOptions, make_plan

        try:
            plan = make_plan(LaunchOptions(str(config), overrides=list(overrides or [])))
        except RlvrError as err:
            if "cannot read" not in str(err):
                raise
            return f"memory: not planned: {err}"
        where = f"{cpu}; for the recipe's hardware, " if cpu else ""
        return f"{plan.budget}\n{where}as `rlvr launch` would run it: {plan.strategy} ({plan.why}), vLLM {plan.vllm}"
    if cpu:
        return f"memory: {cpu} (the GPU plan of a recipe: rlvr launch CONFIG --dry-run)"
    budget = dry_run_budget(exp, os.environ)
    if isinstance(budget, str):
        return f"memory: {budget}"
    budget.require_fit()
    return budget.table()


def cpu_note() -> str:
    """What a GPU memory plan means here: nothing for `rlvr train` when this machine has no CUDA GPU."""
    import torch

    return "" if torch.cuda.is_available() else "no CUDA GPU on this machine: `rlvr train` here trains on the CPU"


def cmd_rewards(args) -> int:
    """Each reward with its one-line summary and its params (`name=default`; `name` alone: required); with a name,
    the whole docstring."""
    import inspect

    import rewards

    if args.name is not None:
        try:
            listed = reward_params(args.name)  # the registry's lookup: an unknown name says which one was meant
        except ValueError as e:
            raise RlvrError(str(e)) from None
        print(f"{args.name}({listed})\n")
        print(inspect.getdoc(rewards.registry._lookup(args.name)) or "")
        return 0
    width = max(len(n) for n in rewards.names())
    for name in rewards.names():
        print(f"{name:<{width}}  {rewards.describe(name)}")
        listed = reward_params(name)
        print(f"{'':<{width}}  params: {listed or 'none'}")
    return 0


def reward_params(name: str) -> str:
    """`a=1, b` for a reward's params (no default: required)."""
    import inspect

    import rewards

    items = rewards.params(name).items()
    return ", ".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in items)


def cmd_ablate(args) -> int:
    from rl.study.ablate import ablate

    if args.jobs < 1:
        raise RlvrError("--jobs must be at least 1")
    return ablate(args.spec, jobs=args.jobs, emit=args.emit, dry_run=args.dry_run, only=args.only)


def cmd_launch(args) -> int:
    from rl.launch.plan import LaunchOptions, launch

    return launch(LaunchOptions.from_args(args))


def cmd_report(args) -> int:
    from rl.study.report import report

    out = report(args.target, args.out)
    print((out / "report.md").read_text())
    files = [out / "report.md", out / "report.json", *sorted(out.glob("*.png"))]
    print("written: " + ", ".join(str(f) for f in files))
    return 0


def cmd_dashboard(args) -> int:
    from rl.study.dashboard import serve

    if args.port is not None and not 0 < args.port < 65536:
        raise RlvrError(f"--port must be between 1 and 65535, got {args.port}")
    return serve(args.target, args.host, args.port, args.screenshot)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("rlvr")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not sys.stdout.isatty() and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # in a log, a line appears when it is printed
    try:
        from rl.progress import interval

        interval()  # a bad RLVR_PROGRESS_SECONDS is told now, not when the first long phase starts
        commands = {
            "train": cmd_train,
            "rewards": cmd_rewards,
            "ablate": cmd_ablate,
            "report": cmd_report,
            "eval": cmd_eval,
            "filter": cmd_filter,
            "launch": cmd_launch,
            "dashboard": cmd_dashboard,
        }
        return commands[args.command](args)
    except RlvrError as e:
        print(f"rlvr: {'stopped' if getattr(e, 'exit_code', 2) != 2 else 'error'}: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rlvr ... | head`: the reader left; say nothing more (the shell's convention)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python would flush stdout again at exit and fail once more
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
