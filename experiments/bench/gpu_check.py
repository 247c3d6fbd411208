"""GPU check for an offline single-GPU box (no hub, no vLLM): GRPO through `rlvr train` on CUDA, bf16 + checkpointing.

Random-init models with the real shapes of Qwen2.5-0.5B and Qwen2.5-1.5B (configs only, no weights; the character
tokenizer, vocabulary padded to Qwen's 151,936) train a few GRPO steps on the tiny arithmetic task. For each:
  - the step time split: generation (rollouts + rewards, rlvr's `time/generation_s`) vs the rest (the update),
  - generated tokens/s during rollouts (transformers `generate`),
  - peak allocated memory (rlvr's `gpu/peak_allocated_gib`) against the memory planner's estimate
  (rl/launch/memory.py),
  - the rlvr / bare-TRL step-time ratio (the same GRPOConfig through `trl.GRPOTrainer` with a plain reward),
  - that the weights changed (fp32 checkpoint against the initial weights),
and, when DeepSpeed is importable, the 0.5B model again under ZeRO-2 and ZeRO-3 with world size 1.

    experiments/bench/gpu_check                  # on the GPU box (installs carried wheels first; see that script)
    python experiments/bench/gpu_check.py --smoke   # on CPU: the same pipeline with the tiny model, 2 steps
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SHAPES = {"qwen2.5-0.5b": "qwen/qwen2.5-0.5b", "qwen2.5-1.5b": "qwen/qwen2.5-1.5b-instruct"}
PROMPT_TOKENS = 32  # "What is 347 + 589?" through the character tokenizer, with the plain template


def build_model(label: str, out: Path, smoke: bool) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from rl.launch.memory import KNOWN
    from rl.models import TINY_SHAPES, build_char_tokenizer

    tok = build_char_tokenizer()
    if smoke:
        fields = dict(TINY_SHAPES, vocab_size=len(tok), tie_word_embeddings=True)
    else:
        fields = {k: v for k, v in KNOWN[SHAPES[label]].items() if k != "model_type"}
        fields["max_position_embeddings"] = 4096
    config = Qwen2Config(**fields, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    dtype = torch.float32 if smoke else torch.bfloat16
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(out)
    tok.model_max_length = config.max_position_embeddings
    tok.save_pretrained(out)
    return out


def settings(path: Path, steps: int, smoke: bool) -> list[str]:
    sets = [
        f"model.name_or_path={path}",
        f"model.dtype={'float32' if smoke else 'bfloat16'}",
        "warmup.enabled=false",
        # a random-init model never answers right: a reward that varies between its samples gives the groups a
        # spread, so the update is not zero and the weights move
        "rewards=[{name: math_accuracy}, {name: repetition_penalty}, {name: tag_count}]",
        "eval.before=false",
        "eval.after=false",
        "logging.wandb_mode=disabled",
        f"grpo.max_steps={steps}",
        f"grpo.save_steps={steps}",
        f"grpo.bf16={'false' if smoke else 'true'}",
        f"grpo.gradient_checkpointing={'false' if smoke else 'true'}",
        "grpo.use_vllm=false",
        "grpo.num_generations=8",
        f"grpo.per_device_train_batch_size={16 if smoke else 32}",
        "grpo.gradient_accumulation_steps=1",
        f"grpo.max_completion_length={16 if smoke else 256}",
        "grpo.learning_rate=1.0e-5",
        "grpo.logging_steps=1",
    ]
    if smoke:
        sets.append("grpo.use_cpu=true")
    return sets


def rlvr_train(path: Path, run_dir: Path, steps: int, smoke: bool, zero: int | None = None) -> list[dict]:
    cmd = [sys.executable, "-m", "rl", "train", "--output-dir", str(run_dir), "--overwrite"]
    if zero is not None:
        from rl.launch.plan import STRATEGY_FLAGS

        launcher = [sys.executable, "-m", "accelerate.commands.launch", *STRATEGY_FLAGS[f"zero{zero}"]]
        launcher += ["--mixed_precision", "bf16"]
        cmd = [*launcher, "--num_processes", "1", "--num_machines", "1", *cmd[1:]]
    for item in settings(path, steps, smoke):
        cmd += ["--set", item]
    subprocess.run(cmd, cwd=REPO, check=True)
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if "loss" in line]


def bare_trl(path: Path, out: Path, steps: int, smoke: bool) -> float:
    """Mean step time of the same GRPO run through trl.GRPOTrainer alone (steps after the first)."""
    result = subprocess.run(
        [sys.executable, __file__, "--bare-trl", str(path), str(out), str(steps)] + (["--smoke"] if smoke else []),
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def _bare_trl_main(path: str, out: str, steps: int, smoke: bool) -> None:
    import random

    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    rng = random.Random(0)
    pairs = [(rng.randrange(1000), rng.randrange(1000)) for _ in range(512)]
    prompts = [f"What is {a} + {b}?" for a, b in pairs]
    data = Dataset.from_dict({"prompt": prompts, "answer": [a + b for a, b in pairs]})

    def exact(completions, answer, **_):
        return [float(f"<answer>{a}</answer>" in c) for c, a in zip(completions, answer, strict=True)]

    def variety(completions, **_):  # plays repetition_penalty + tag_count's part: a spread on random text
        return [-(1 - len(set(zip(c, c[1:], c[2:], strict=False))) / max(1, len(c) - 2)) for c in completions]

    values = dict(s.split("=", 1) for s in settings(Path(path), steps, smoke) if s.startswith("grpo."))
    grpo = {k[5:]: json.loads(v) if v not in ("true", "false") else v == "true" for k, v in values.items()}
    args = GRPOConfig(
        output_dir=out, report_to="none", save_strategy="no", temperature=1.0, loss_type="dr_grpo", beta=0.0,
        scale_rewards="none", **{k: v for k, v in grpo.items() if k != "save_steps"},
    )  # fmt: skip
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto")
    rewards = [exact, variety]
    trainer = GRPOTrainer(model=model, reward_funcs=rewards, args=args, train_dataset=data, processing_class=tok)
    trainer.train()
    times = [log["step_time"] for log in trainer.state.log_history if "step_time" in log][1:]
    print(sum(times) / max(1, len(times)))


def weights_changed(initial: Path, run_dir: Path) -> float:
    """Share of parameter elements that differ between the initial weights and the last (fp32) checkpoint."""
    from safetensors.torch import load_file

    before = {}
    for f in sorted(initial.glob("*.safetensors")):
        before.update(load_file(f))
    checkpoint = max((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    after = {}
    for f in sorted(checkpoint.glob("*.safetensors")):
        after.update(load_file(f))
    changed = total = 0
    for name, tensor in before.items():
        if name in after:
            changed += int((after[name].float() != tensor.float()).sum())
            total += tensor.numel()
    return changed / max(total, 1)


def planned_peak(path: Path, steps: int, smoke: bool, strategy: str) -> float:
    from rl.config import load_experiment
    from rl.launch import memory

    exp = load_experiment(None, settings(path, steps, smoke))
    shape, _ = memory.resolve_shape(str(path))
    return memory.plan_memory(shape, memory.setup_for(exp, strategy, 1, 1e9, PROMPT_TOKENS)).peak


def summarize(label: str, logs: list[dict], path: Path, run_dir: Path, steps: int, smoke: bool, strategy: str):
    later = logs[1:] or logs
    step = sum(m["step_time"] for m in later) / len(later)
    generation = sum(m["time/generation_s"] for m in later) / len(later)
    completions = 16 if smoke else 32
    tokens = sum(m["completions/mean_length"] * completions for m in later) / len(later)
    peak = max((m.get("gpu/peak_allocated_gib", 0.0) for m in logs), default=0.0)
    return {
        "model": label,
        "strategy": strategy,
        "step_s": step,
        "generation_s": generation,
        "update_s": step - generation,
        "gen_tok_s": tokens / generation if generation else 0.0,
        "peak_gib": peak,
        "planned_gib": planned_peak(path, steps, smoke, strategy),
        "changed": weights_changed(path, run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model, 2 steps: checks the pipeline only")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--bare-trl", nargs=3, metavar=("MODEL", "OUT", "STEPS"))
    args = parser.parse_args()
    if args.bare_trl:
        return _bare_trl_main(args.bare_trl[0], args.bare_trl[1], int(args.bare_trl[2]), args.smoke)

    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device (use --smoke on CPU)")
    steps = 2 if args.smoke else args.steps
    root = Path(tempfile.mkdtemp(prefix="rlvr-gpu-"))
    os.environ.setdefault("RLVR_CACHE_DIR", str(root / "cache"))
    os.environ.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", PYTHONUNBUFFERED="1")
    labels = ["tiny"] if args.smoke else list(SHAPES)
    rows, started = [], time.time()
    for label in labels:
        path = build_model(label, root / f"model-{label}", args.smoke)
        run_dir = root / f"run-{label}"
        row = summarize(label, rlvr_train(path, run_dir, steps, args.smoke), path, run_dir, steps, args.smoke, "ddp")
        row["bare_trl_step_s"] = bare_trl(path, root / f"trl-{label}", steps, args.smoke)
        rows.append(row)
        print(f"done: {label} ({time.time() - started:.0f} s)", flush=True)
    try:
        import deepspeed  # noqa: F401

        zero_ok = not args.smoke
    except ImportError:
        zero_ok = False
        print("DeepSpeed not importable: ZeRO rows skipped", flush=True)
    if zero_ok:
        path = root / f"model-{labels[0]}"
        for stage in (2, 3):
            run_dir = root / f"run-zero{stage}"
            logs = rlvr_train(path, run_dir, steps, args.smoke, zero=stage)
            rows.append(summarize(labels[0], logs, path, run_dir, steps, args.smoke, f"zero{stage}"))
            print(f"done: zero{stage} ({time.time() - started:.0f} s)", flush=True)

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(
        f"\n{device}, torch {torch.__version__}: GRPO through `rlvr train`, {16 if args.smoke else 32} completions "
        f"(x{16 if args.smoke else 256} new tokens) per step, transformers rollouts, mean of steps 2..{steps}"
    )
    print(
        "| model | strategy | step s | generation s | update s | gen tok/s | peak GiB | planned GiB "
        "| rlvr / TRL step | weights changed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = f"{r['step_s'] / r['bare_trl_step_s']:.2f}" if r.get("bare_trl_step_s") else "-"
        print(
            f"| {r['model']} | {r['strategy']} | {r['step_s']:.2f} | {r['generation_s']:.2f} | {r['update_s']:.2f} "
            f"| {r['gen_tok_s']:,.0f} | {r['peak_gib']:.1f} | {r['planned_gib']:.1f} | {ratio} "
            f"| {100 * r['changed']:.1f}% |"
        )
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
