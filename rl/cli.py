"""`rlvr` command line. Mistakes in the input print one line `rlvr: error: ...` on stderr and exit with code 2."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rl.errors import RlvrError


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        self.exit(2, f"rlvr: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> Parser:
    parser = Parser(prog="rlvr", description="GRPO with verifiable rewards on top of TRL.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser("train", help="train one experiment config (default: the embedded tiny-arith demo)")
    train.add_argument("config", nargs="?", help="experiment YAML (default: configs/tiny-arith.yaml, embedded)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config value by dotted path, e.g. grpo.beta=0.04 (repeatable)")
    train.add_argument("--output-dir", type=Path, help="run directory (default: runs/<name>__s<seed>__<time>)")
    train.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                       help="continue the run in RUN_DIR (or --output-dir) from its newest checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    train.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")

    sub.add_parser("rewards", help="list the registered rewards")
    return parser


def cmd_train(args) -> int:
    from rl.config import dump_yaml, load_experiment
    from rl.tracking import new_run_dir, prepare_run_dir

    if args.resume is not None and args.overwrite:
        raise RlvrError("--resume and --overwrite contradict each other; pick one")
    run_dir = args.output_dir
    if isinstance(args.resume, str):
        if run_dir is not None and Path(args.resume) != run_dir:
            raise RlvrError("--resume RUN_DIR and --output-dir name different directories")
        run_dir = Path(args.resume)
    if args.resume is not None and run_dir is None:
        raise RlvrError("--resume needs the run directory: --resume RUN_DIR (or --output-dir RUN_DIR --resume)")
    config = args.config
    if config is None and args.resume is not None and (run_dir / "config.yaml").is_file():
        config = run_dir / "config.yaml"
    exp = load_experiment(config, args.overrides)
    if args.dry_run:
        sys.stdout.write(dump_yaml(exp))
        return 0
    run_dir = run_dir or new_run_dir(exp.name, exp.seed)
    prepare_run_dir(run_dir, resume=args.resume is not None, overwrite=args.overwrite)

    from rl.train import run

    run(exp, run_dir, resume=args.resume is not None)
    return 0


def cmd_rewards(args) -> int:
    import rewards

    width = max(len(n) for n in rewards.names())
    for name in rewards.names():
        print(f"{name:<{width}}  {rewards.describe(name)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"train": cmd_train, "rewards": cmd_rewards}[args.command](args)
    except RlvrError as e:
        print(f"rlvr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlvr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
