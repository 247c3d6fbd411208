"""What rlvr's glue costs per GRPO step: the tiny config through `rl.train.loop.run` vs a bare TRL script, one process.

Both sides train the same model from the same weights on the same rows with the same reward callables (the
registry's, so reward scoring costs the same), the same `GRPOConfig` and wandb off. The bare side is the
ten lines a user would write around `trl.GRPOTrainer`; the rlvr side adds the run directory, metrics.jsonl,
per-reward counters, step timers and the run-health monitor (its regrade every 10 steps starts the worker pool
once per run). A third side, rlvr with `health.enabled=false`, isolates the monitor's cost. Runs alternate
(rlvr, bare, rlvr without health, ...) so drift in this machine's speed hits all; the ratios of median seconds per
step are printed. Target: rlvr/bare <= 1.10.

    .venv/bin/python experiments/bench/overhead.py [--steps 20] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

OVERRIDES = [
    "warmup.enabled=false",
    "eval.before=false",
    "eval.after=false",
    "logging.wandb_mode=disabled",
    "grpo.save_steps=1000000",
    "grpo.disable_tqdm=true",
]


def rlvr_side(exp, root: Path) -> float:
    from rl.rundir import RunDir
    from rl.train.loop import run

    run_dir = root / f"rlvr-{time.time_ns()}"
    RunDir(run_dir).prepare(resume=False, overwrite=False)
    summary = run(exp, run_dir)
    return summary["train_seconds"] / summary["steps"]


def bare_side(exp, root: Path) -> float:
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    import rewards
    from rl.data import load_data, to_dataset
    from rl.models import load_policy

    set_seed(exp.seed)
    train_rows, _ = load_data(exp.data)
    model, tokenizer, _ = load_policy(exp.model, exp.seed)
    funcs = [rewards.build(r.name, **r.params) for r in exp.rewards]
    args = GRPOConfig(
        **exp.grpo,
        output_dir=str(root / f"bare-{time.time_ns()}"),
        seed=exp.seed,
        report_to="none",
        reward_weights=[r.weight for r in exp.rewards],
        use_cpu=True,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=funcs, args=args, train_dataset=to_dataset(train_rows), processing_class=tokenizer
    )
    output = trainer.train()
    return output.metrics["train_runtime"] / trainer.state.global_step


def main() -> None:
    from rl.config import load_experiment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    exp = load_experiment(None, OVERRIDES + [f"grpo.max_steps={args.steps}"])
    quiet = load_experiment(None, OVERRIDES + [f"grpo.max_steps={args.steps}", "health.enabled=false"])
    times: dict[str, list[float]] = {"rlvr": [], "bare": [], "no-health": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bare_side(exp, root)  # warm caches (model build, imports) before measuring
        for _ in range(args.repeats):
            times["rlvr"].append(rlvr_side(exp, root))
            times["bare"].append(bare_side(exp, root))
            times["no-health"].append(rlvr_side(quiet, root))
    median = {side: statistics.median(values) for side, values in times.items()}
    print(f"\nsteps per run {args.steps}, repeats {args.repeats}")
    print(f"{'side':<10} {'median s/step':>14}  all")
    for side, values in times.items():
        print(f"{side:<10} {median[side]:>14.3f}  {', '.join(f'{v:.3f}' for v in values)}")
    print(f"ratio rlvr/bare = {median['rlvr'] / median['bare']:.3f}  (target <= 1.10)")
    print(f"ratio rlvr/rlvr-without-health = {median['rlvr'] / median['no-health']:.3f}  (the monitor's share)")


if __name__ == "__main__":
    main()
