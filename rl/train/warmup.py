"""Supervised warm-up: teach a from-scratch model the answer format and some skill before GRPO.

GRPO only learns from groups whose rewards differ, so a policy that is never right learns nothing
(docs/measurements.md: from 14% accuracy GRPO gave no gain; from ~55% it gained ~25 points). The warm-up trains
on the rows' `solution` column (loss on the completion only) and stops as soon as greedy accuracy on a probe of
*training* prompts reaches `target_accuracy` - more robust than a fixed step count, since accuracy jumps from ~2%
to ~50% within a few dozen steps. The result is cached by a hash of exactly what determines it (`cache_key`), so
another held-out size (a built-in task's training rows stay the same up to 256 held-out problems:
`rl.data.HELD_OUT_RESERVE`), other evaluation settings than the probe's, or other GRPO settings reuse it.
"""

from __future__ import annotations

import hashlib
import json
import random

from rl.config import EvalConfig, Experiment, ModelConfig, WarmupConfig
from rl.data import render_prompt
from rl.distenv import is_main_process
from rl.errors import RlvrError
from rl.models import cache_dir

WARMUP_FIELDS_OUTSIDE_KEY = ("enabled", "cache")
"""`warmup:` settings that decide whether a warm-up runs or is cached, not what it computes."""

MODEL_FIELDS_IN_KEY = ("revision", "gguf_file", "attn_implementation", "trust_remote_code")
"""`model:` settings that change what a location loads or how it computes, beyond the loaded dtypes (which the key
reads off the model itself: `dtype`, `pure_bf16` and `lora.quantize` show there)."""


def weights_of(model) -> str:
    """The dtypes the model's parameters hold (after rlvr's upcast of the trainable ones) and its device type:
    both change the warm-up's numbers."""
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()})
    return f"{'+'.join(dtypes)} on {model.device.type}"


def cache_key(
    location: str,
    model_cfg: ModelConfig,
    weights: str,
    cfg: WarmupConfig,
    train_rows: list[dict],
    seed: int,
    probe: EvalConfig,
) -> str:
    """A hash of exactly what determines the warm-up's result, so that an identical warm-up is reused and no other
    is: the weights it starts from (`location`, the `MODEL_FIELDS_IN_KEY` settings, `weights_of` the model), the
    `warmup:` settings but `WARMUP_FIELDS_OUTSIDE_KEY`, the seed, the training rows' prompts and solutions (in
    order: it samples them by position), and what the probe's greedy evaluation depends on (`eval.max_new_tokens`,
    `eval.timeout`). The held-out rows, the other `eval:` settings and every `grpo:` setting leave it unchanged."""
    settings = {
        "location": location,
        "model": {k: getattr(model_cfg, k) for k in MODEL_FIELDS_IN_KEY},
        "weights": weights,
        "warmup": {k: v for k, v in cfg.__dict__.items() if k not in WARMUP_FIELDS_OUTSIDE_KEY},
        "seed": seed,
        "probe": {"max_new_tokens": probe.max_new_tokens, "timeout": probe.timeout},
    }
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for row in train_rows:
        h.update(json.dumps([row["prompt"], row.get("solution")], sort_keys=True).encode())
    return h.hexdigest()[:16]


def _batch(tokenizer, rows: list[dict]):
    import torch

    ids, labels = [], []
    for row in rows:
        prompt = tokenizer(render_prompt(row["prompt"], tokenizer), add_special_tokens=False)["input_ids"]
        target = tokenizer(row["solution"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(prompt + target)
        labels.append([-100] * len(prompt) + target)
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
    attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
    return input_ids, attention, label_ids


def train_warmup(model, tokenizer, rows: list[dict], cfg: WarmupConfig, seed: int, evaluation: EvalConfig) -> dict:
    """Run the warm-up in place on `model`; return {steps, probe_accuracy, seconds}."""
    import time

    import torch

    from rl.eval.evaluate import Sampling, evaluate, hf_complete
    from rl.progress import Phase

    if not all(row.get("solution") for row in rows):
        raise RlvrError("warmup.enabled needs a 'solution' column in the training data (this source has none)")
    rng = random.Random(seed)
    probe = rng.sample(rows, min(cfg.check_size, len(rows)))
    torch.manual_seed(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    model.train()
    start, step, accuracy = time.time(), 0, 0.0
    with Phase("warm-up", cfg.max_steps, "steps", enabled=is_main_process()) as progress:
        while step < cfg.max_steps:
            batch = _batch(tokenizer, rng.sample(rows, min(cfg.batch_size, len(rows))))
            input_ids, attention, labels = (t.to(model.device) for t in batch)  # train.run moved it to its device
            loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            progress.update(step, loss=loss.item())
            if step % cfg.check_every == 0 or step == cfg.max_steps:
                greedy = hf_complete(model, tokenizer, Sampling.greedy(evaluation.max_new_tokens))
                result, _ = evaluate(greedy, probe, tokenizer, evaluation.timeout, description=None)  # inside its bar
                accuracy = result["overall"]["pass@1"]
                progress.update(probe_accuracy=accuracy)
                if accuracy >= cfg.target_accuracy:
                    break
    model.train()
    return {"steps": step, "probe_accuracy": accuracy, "seconds": round(time.time() - start, 1)}


def warm_start(model, tokenizer, location: str, rows: list[dict], exp: Experiment, console) -> dict:
    """Warm the model up (`exp.warmup`, probed as `exp.eval` evaluates), or load the cached result of an identical
    warm-up. Returns its info dict."""
    import torch
    from safetensors.torch import load_file, save_file

    cfg, seed = exp.warmup, exp.seed
    key = cache_key(location, exp.model, weights_of(model), cfg, rows, seed, exp.eval)
    folder = cache_dir() / "warmup" / key
    weights, info_file = folder / "model.safetensors", folder / "info.json"
    if cfg.cache and weights.is_file() and info_file.is_file():
        model.load_state_dict(load_file(str(weights)), strict=False)
        info = json.loads(info_file.read_text()) | {"cached": True}
        console.print(
            f"warm-up: reused cached result {folder} ({info['steps']} steps, "
            f"probe accuracy {info['probe_accuracy']:.2f})"
        )
        return info
    info = train_warmup(model, tokenizer, rows, cfg, seed, exp.eval)
    if cfg.cache and is_main_process():  # every rank computes the same warm-up; one writes it
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        # tied embeddings share storage: safetensors wants each tensor once
        seen, unique = set(), {}
        for k, v in state.items():
            if v.data_ptr() in seen:
                continue
            seen.add(v.data_ptr())
            unique[k] = v.clone() if v.dtype != torch.bool else v
        tmp = folder / "model.safetensors.tmp"
        save_file(unique, str(tmp))
        tmp.rename(weights)
        info_file.write_text(json.dumps(info))
    return info | {"cached": False}
