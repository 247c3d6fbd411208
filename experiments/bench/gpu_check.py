"""GPU check sized for a 15-minute single-GPU lease (no hub access needed): rollout speed and GRPO step split.

Two random-init models built offline: the tiny demo model and one with Qwen2.5-1.5B's shapes (1.5B parameters,
bf16, the char tokenizer; the vocabulary is padded to Qwen's 151,936). For each it prints
  1. rollout tokens/s: vLLM `LLM.generate` vs transformers `generate`, same prompts, 256 forced new tokens;
  2. the GRPO step time through `rl.train.run` with `use_vllm: true, vllm_mode: colocate`, split into generation
     (+ reward scoring) / reward scoring alone / update, averaged over the steps after the first.

    bash experiments/bench/gpu_check.sh          # installs the vllm extra, then runs this
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PROMPTS = [f"What is {a} + {b}?" for a, b in zip(range(100, 164), range(900, 964), strict=True)]
NEW_TOKENS = 256


def build_qwen_shaped(out: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from rl.models import build_char_tokenizer

    tok = build_char_tokenizer()
    config = Qwen2Config(
        hidden_size=1536,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        intermediate_size=8960,
        vocab_size=151936,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    tok.model_max_length = 4096
    tok.save_pretrained(out)
    return out


def hf_tokens_per_second(path: Path) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16).cuda().eval()
    batch = tok(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False).to("cuda")
    with torch.inference_mode():
        model.generate(**batch, max_new_tokens=8, do_sample=True)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = model.generate(
            **batch,
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,
            do_sample=True,
            pad_token_id=tok.pad_token_id,
        )
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del model
    torch.cuda.empty_cache()
    return (out.shape[1] - batch["input_ids"].shape[1]) * len(PROMPTS) / seconds


def vllm_tokens_per_second(path: Path) -> float:
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(path), dtype="bfloat16", gpu_memory_utilization=0.35, max_model_len=1024, seed=0)
    params = SamplingParams(max_tokens=NEW_TOKENS, min_tokens=NEW_TOKENS, ignore_eos=True, temperature=1.0)
    llm.generate(PROMPTS[:4], SamplingParams(max_tokens=8))  # warm-up
    start = time.perf_counter()
    outputs = llm.generate(PROMPTS, params)
    seconds = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    del llm
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()
    return tokens / seconds


def grpo_step_split(path: str, root: Path, steps: int = 6) -> dict[str, float]:
    from rl.config import load_experiment
    from rl.tracking import prepare_run_dir
    from rl.train import make_trainer_class, run

    timings: list[float] = []
    cls = make_trainer_class()
    original = cls.__mro__[1]._generate_and_score_completions  # the dynamic-sampling mixin's hook

    def timed(self, inputs):
        import torch

        torch.cuda.synchronize()
        start = time.perf_counter()
        out = original(self, inputs)
        torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
        return out

    cls.__mro__[1]._generate_and_score_completions = timed
    exp = load_experiment(
        None,
        [
            f"model.name_or_path={path}",
            "model.dtype=bfloat16",
            "warmup.enabled=false",
            "eval.before=false",
            "eval.after=false",
            "logging.wandb_mode=disabled",
            f"grpo.max_steps={steps}",
            "grpo.bf16=true",
            "grpo.use_vllm=true",
            "grpo.vllm_mode=colocate",
            "grpo.vllm_gpu_memory_utilization=0.3",
            "grpo.max_completion_length=256",
            "grpo.save_steps=100000",
            "grpo.use_cpu=false",
        ],
    )
    run_dir = root / f"grpo-{Path(path).name}"
    prepare_run_dir(run_dir, resume=False, overwrite=True)
    try:
        run(exp, run_dir)
    finally:
        cls.__mro__[1]._generate_and_score_completions = original
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][1:]
    step = sum(m["step_time"] for m in metrics) / len(metrics)
    reward = sum(
        m.get("rewards/math_accuracy/seconds", 0) + m.get("rewards/think_format/seconds", 0) for m in metrics
    ) / len(metrics)
    generation = sum(timings[1:]) / max(1, len(timings) - 1)
    return {"step": step, "generation": generation - reward, "reward": reward, "update": step - generation}


def main() -> None:
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device")
    from rl.models import resolve_builtin

    root = Path(tempfile.mkdtemp(prefix="rlvr-gpu-"))
    os.environ.setdefault("RLVR_CACHE_DIR", str(root / "cache"))
    models = {
        "tiny (1M)": resolve_builtin("builtin:tiny-qwen2", 0),
        "qwen2.5-1.5b shapes": build_qwen_shaped(root / "qwen-shaped"),
    }
    rows = []
    for label, path in models.items():
        hf = hf_tokens_per_second(path)
        vl = vllm_tokens_per_second(path)
        split = grpo_step_split(str(path), root)
        rows.append((label, hf, vl, split))
        print(f"done: {label}", flush=True)
    print(
        f"\n{torch.cuda.get_device_name()}: rollout of {len(PROMPTS)} prompts x {NEW_TOKENS} tokens; GRPO step with"
        " vLLM colocate, 64 completions (8 prompts x 8), mean of steps 2..6"
    )
    print("| model | HF generate tok/s | vLLM tok/s | vLLM / HF | step s | generation s | reward s | update s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, hf, vl, s in rows:
        print(
            f"| {label} | {hf:,.0f} | {vl:,.0f} | {vl / hf:.1f}x | {s['step']:.2f} | {s['generation']:.2f} | "
            f"{s['reward']:.3f} | {s['update']:.2f} |"
        )


if __name__ == "__main__":
    main()
