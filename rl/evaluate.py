"""Held-out evaluation with the reward's own grader (`rewards.math.grade`, run in the killable worker pool).

Greedy by default. Prompts are rendered exactly as TRL renders them in training (`rl.data.render_prompt`), left
padded, without extra special tokens, and completions are decoded with `skip_special_tokens=True` as TRL does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rl.data import render_prompt


def generate(model, tokenizer, prompts: list[Any], max_new_tokens: int, batch_size: int = 64,
             temperature: float = 0.0, top_p: float = 1.0, progress=None) -> list[str]:
    """Complete each prompt once; temperature 0 means greedy decoding."""
    import torch

    texts = [render_prompt(p, tokenizer) for p in prompts]
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    out: list[str] = []
    sample = temperature > 0
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            with torch.inference_mode():
                ids = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=sample,
                                     temperature=temperature if sample else None, top_p=top_p if sample else None,
                                     top_k=None, pad_token_id=tokenizer.pad_token_id)
            new = ids[:, batch["input_ids"].shape[1]:]
            out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
            if progress is not None:
                progress(len(out))
    finally:
        model.train(was_training)
    return out


def score(completions: list[str], rows: list[dict], timeout: float = 1.0) -> tuple[dict, list[dict]]:
    """Grade completions against their rows' gold answers; return (metrics, per-sample records)."""
    import rewards
    from rewards.math import extract_answer
    from rewards.pool import grade_many

    golds = [r["answer"] for r in rows]
    correct = grade_many(completions, golds, timeout=timeout)
    fmt = rewards.build("think_format")(completions, prompts=[r["prompt"] for r in rows])
    samples = []
    for row, completion, ok, f in zip(rows, completions, correct, fmt, strict=True):
        samples.append({"prompt": row["prompt"], "answer": row["answer"], "completion": completion,
                        "extracted": extract_answer(completion), "correct": ok, "format": f})
    verifiable = [c for c in correct if c is not None]
    n = len(completions)
    metrics = {
        "accuracy": sum(bool(c) for c in correct) / n if n else 0.0,
        "format_rate": sum(f or 0.0 for f in fmt) / n if n else 0.0,
        "unverifiable": (n - len(verifiable)) / n if n else 0.0,
        "mean_length": sum(len(c) for c in completions) / n if n else 0.0,
        "n": n,
    }
    return metrics, samples


def evaluate(model, tokenizer, rows: list[dict], max_new_tokens: int, batch_size: int = 64, timeout: float = 1.0,
             out_file: Path | None = None, description: str = "eval") -> dict:
    """Greedy held-out accuracy with a progress bar; writes per-sample results to `out_file` (JSONL)."""
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=len(rows))
        completions = generate(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens, batch_size,
                               progress=lambda done: bar.update(task, completed=done))
    metrics, samples = score(completions, rows, timeout=timeout)
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        with out_file.open("w") as f:
            for s in samples:
                f.write(json.dumps(s, ensure_ascii=False) + "\n")
    return metrics
