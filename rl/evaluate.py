"""Held-out evaluation with the reward's own grader (`rewards.pool.grade_batch`, the killable worker pool).

Completions are graded exactly as `math_accuracy` grades them in training: the same text conversion (a
prompt-prefilled `<think>` restored), the same extraction and equivalence, the same per-item timeout. Prompts are
rendered as TRL renders them (`rl.data.render_prompt`), left padded, without extra special tokens; completions are
decoded with `skip_special_tokens=True` as TRL does.

Two generation backends: batched transformers `generate` (any machine) and vLLM (`LLM.generate` with `n` samples
per prompt; needs vLLM and a CUDA GPU). Greedy (temperature 0) by default.
"""

from __future__ import annotations

import gc
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rl.data import render_prompt
from rl.metrics import aggregate, k_values, majority_vote, problem_metrics

LABEL_KEYS = ("data_source", "level", "subject")
"""Row columns the metrics are also broken down by, when rows carry them."""

# --------------------------------------------------------------------------------------------------- generation


def sample(
    model,
    tokenizer,
    prompts: list[Any],
    n: int = 1,
    max_new_tokens: int = 256,
    batch_size: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[list[str]], list[list[int]]]:
    """`n` completions per prompt with transformers; returns (texts, token lengths), each one list per prompt.

    `batch_size` counts sequences: each batch holds `batch_size // n` prompts (at least one). Temperature 0 means
    greedy decoding (then `n` must be 1). A completion's length counts its tokens up to and including the end token.
    """
    import torch

    if temperature <= 0 and n > 1:
        raise ValueError("greedy decoding gives n identical samples: use n=1 or a temperature above 0")
    texts = [render_prompt(p, tokenizer) for p in prompts]
    tokenizer.padding_side = "left"
    stop = torch.tensor(sorted(end_token_ids(model, tokenizer)), dtype=torch.long)
    per_batch = max(1, batch_size // n)
    was_training = model.training
    model.eval()
    out_texts: list[list[str]] = []
    out_lengths: list[list[int]] = []
    sampling = temperature > 0
    try:
        for start in range(0, len(texts), per_batch):
            batch = tokenizer(
                texts[start : start + per_batch], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(model.device)
            with torch.inference_mode():
                ids = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=sampling,
                    temperature=temperature if sampling else None,
                    top_p=top_p if sampling else None,
                    top_k=None,
                    num_return_sequences=n,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = ids[:, batch["input_ids"].shape[1] :].cpu()
            decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
            ended = torch.isin(new, stop)
            lengths = torch.where(ended.any(1), ended.int().argmax(1) + 1, new.shape[1]).tolist()
            for i in range(0, len(decoded), n):
                out_texts.append(decoded[i : i + n])
                out_lengths.append(lengths[i : i + n])
            if progress is not None:
                progress(len(out_texts))
    finally:
        model.train(was_training)
    return out_texts, out_lengths


def end_token_ids(model, tokenizer) -> set[int]:
    """Tokens that end generation: the generation config's EOS (int or list) and the tokenizer's."""
    ids: set[int] = set()
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids.update(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def generate(
    model,
    tokenizer,
    prompts: list[Any],
    max_new_tokens: int,
    batch_size: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    progress=None,
) -> list[str]:
    """Complete each prompt once; temperature 0 means greedy decoding."""
    texts, _ = sample(model, tokenizer, prompts, 1, max_new_tokens, batch_size, temperature, top_p, progress)
    return [t[0] for t in texts]


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def sample_vllm(
    location: str,
    tokenizer,
    prompts: list[Any],
    n: int = 1,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> tuple[list[list[str]], list[list[int]]]:
    """`n` completions per prompt with vLLM (`LLM.generate`, one request per prompt with `SamplingParams(n=...)`).

    Prompts are rendered and tokenised here exactly as for transformers and passed as token ids, so vLLM adds no
    special tokens of its own. The engine is torn down before returning (one checkpoint after another fits).
    """
    from vllm import LLM, SamplingParams

    if temperature <= 0 and n > 1:
        raise ValueError("greedy decoding gives n identical samples: use n=1 or a temperature above 0")
    ids = [tokenizer(render_prompt(p, tokenizer), add_special_tokens=False)["input_ids"] for p in prompts]
    params = SamplingParams(
        n=n,
        temperature=max(temperature, 0.0),
        top_p=top_p if temperature > 0 else 1.0,
        max_tokens=max_new_tokens,
        seed=seed,
        skip_special_tokens=True,
    )
    llm = LLM(model=location, tokenizer=location, dtype=dtype, seed=seed, trust_remote_code=trust_remote_code)
    try:
        outputs = llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        texts = [[o.text for o in out.outputs] for out in outputs]
        lengths = [[len(o.token_ids) for o in out.outputs] for out in outputs]
    finally:
        del llm
        _free_vllm()
    return texts, lengths


def _free_vllm() -> None:
    """Release the GPU memory of a deleted `LLM` (the documented teardown, where this vLLM version has it)."""
    import torch

    try:
        from vllm.distributed import cleanup_dist_env_and_memory
    except ImportError:  # older releases keep it in parallel_state only
        try:
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
        except ImportError:
            cleanup_dist_env_and_memory = None
    if cleanup_dist_env_and_memory is not None:
        cleanup_dist_env_and_memory()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------------------------------- grading


def grade_samples(
    completions: Sequence[Any],
    prompts: Sequence[Any],
    golds: Sequence[Any],
    timeout: float = 1.0,
    tokenizer=None,
    rows: Sequence[dict] | None = None,
) -> tuple[list[str | None], list[bool | None], list[float | None]]:
    """(extracted answers, correctness, think_format scores), graded exactly as the `math_accuracy` reward grades.

    With `tokenizer`, chat prompts are rendered first (as for the rewards in training), so a template that prefills
    `<think>` is seen (`rl.templates`). Rows of a Countdown task (`numbers` and `target` columns) are graded by the
    `countdown` reward instead: the equation must use the given numbers, not merely evaluate to the target.
    """
    import rewards
    from rewards.math import extract_answer
    from rewards.pool import grade_batch
    from rewards.text import completions_text
    from rl.templates import render_prompts

    if tokenizer is not None:
        prompts = render_prompts(list(prompts), tokenizer)
    texts = completions_text(list(completions), list(prompts))
    if rows and all("numbers" in r and "target" in r for r in rows):
        scores = rewards.build("countdown")(
            texts, numbers=[r["numbers"] for r in rows], target=[r["target"] for r in rows]
        )
        correct = [None if x is None else x == 1.0 for x in scores]
    else:
        correct = grade_batch(texts, list(golds), timeout=timeout).results
    formats = rewards.build("think_format")(list(completions), prompts=list(prompts))
    return [extract_answer(t) for t in texts], correct, formats


def majority_indices(answers: Sequence[Sequence[str | None]], timeout: float = 1.0) -> list[int | None]:
    """For each problem, the index of a sample holding its majority answer (see `rl.metrics.majority_vote`).

    Answers are the same when their normalised text is equal or `rewards.math.is_equivalent` says so; pairs that
    the exact rules cannot settle go to the worker pool, each within `timeout` (a timeout or error: not the same).
    """
    from rewards import math as grader
    from rewards.normalize import UNKNOWN, normalize, quick_equivalent
    from rewards.pool import run

    keys = [[(normalize(a) or None) if a is not None else None for a in problem] for problem in answers]
    text_of: dict[str, str] = {}
    decided: dict[tuple[str, str], bool] = {}
    pending: dict[tuple[str, str], None] = {}  # ordered set
    for problem, problem_keys in zip(answers, keys, strict=True):
        distinct = list(dict.fromkeys(k for k in problem_keys if k is not None))
        for answer, key in zip(problem, problem_keys, strict=True):
            if key is not None:
                text_of.setdefault(key, answer)
        for i, a in enumerate(distinct):
            for b in distinct[i + 1 :]:
                if (a, b) in decided or (a, b) in pending:
                    continue
                quick = quick_equivalent(text_of[a], text_of[b])
                if quick is UNKNOWN:
                    pending[(a, b)] = None
                else:
                    decided[(a, b)] = quick is True
    outcomes = run(grader.is_equivalent, [(text_of[a], text_of[b]) for a, b in pending], timeout)
    for pair, outcome in zip(list(pending), outcomes, strict=True):
        decided[pair] = outcome.status == "ok" and outcome.value is True

    def same(a: str, b: str) -> bool:
        return a == b or decided.get((a, b), decided.get((b, a), False))

    return [majority_vote(problem_keys, same) for problem_keys in keys]


def score_samples(
    rows: list[dict], texts: list[list[str]], lengths: list[list[int]], timeout: float = 1.0, tokenizer=None
) -> tuple[dict, list[dict]]:
    """Grade n completions per row; return (`rl.metrics.aggregate` result, one record per completion).

    Figures: pass@k for k in 1, 2, 4, ... n (unbiased estimator), maj@n, format rate (think_format), mean length
    in tokens, and the share of problems whose gold is unverifiable; overall and by data_source / level / subject.
    """
    n = len(texts[0]) if texts else 1
    flat = [(row, j, text) for row, group in zip(rows, texts, strict=True) for j, text in enumerate(group)]
    extracted, correct, formats = grade_samples(
        [t for _, _, t in flat],
        [r["prompt"] for r, _, _ in flat],
        [r["answer"] for r, _, _ in flat],
        timeout,
        tokenizer,
        [r for r, _, _ in flat],
    )
    majority = majority_indices([extracted[i * n : (i + 1) * n] for i in range(len(rows))], timeout)
    ks = k_values(n)
    per_problem, labels, records = [], [], []
    for i, row in enumerate(rows):
        span = slice(i * n, (i + 1) * n)
        chosen = majority[i]
        per_problem.append(
            problem_metrics(
                correct[span], None if chosen is None else correct[span][chosen], formats[span], lengths[i], ks
            )
        )
        labels.append({k: row[k] for k in LABEL_KEYS if row.get(k) is not None})
        for j in range(n):
            records.append(
                {
                    "index": i,
                    "sample": j,
                    "prompt": row["prompt"],
                    "answer": row["answer"],
                    "completion": texts[i][j],
                    "extracted": extracted[i * n + j],
                    "correct": correct[i * n + j],
                    "format": formats[i * n + j],
                    "length": lengths[i][j],
                    "majority": j == chosen,
                    **labels[-1],
                }
            )
    return aggregate(per_problem, labels), records


def score(completions: list[str], rows: list[dict], timeout: float = 1.0, tokenizer=None) -> tuple[dict, list[dict]]:
    """Grade one completion per row against its gold answer; return (metrics, per-sample records)."""
    extracted, correct, fmt = grade_samples(
        completions, [r["prompt"] for r in rows], [r["answer"] for r in rows], timeout, tokenizer, rows
    )
    samples = []
    for row, completion, answer, ok, f in zip(rows, completions, extracted, correct, fmt, strict=True):
        samples.append(
            {
                "prompt": row["prompt"],
                "answer": row["answer"],
                "completion": completion,
                "extracted": answer,
                "correct": ok,
                "format": f,
            }
        )
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


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def evaluate(
    model,
    tokenizer,
    rows: list[dict],
    max_new_tokens: int,
    batch_size: int = 64,
    timeout: float = 1.0,
    out_file: Path | None = None,
    description: str = "eval",
) -> dict:
    """Greedy held-out accuracy with a progress bar; writes per-sample results to `out_file` (JSONL)."""
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=len(rows))
        completions = generate(
            model,
            tokenizer,
            [r["prompt"] for r in rows],
            max_new_tokens,
            batch_size,
            progress=lambda done: bar.update(task, completed=done),
        )
    metrics, samples = score(completions, rows, timeout=timeout, tokenizer=tokenizer)
    if out_file is not None:
        write_jsonl(out_file, samples)
    return metrics
