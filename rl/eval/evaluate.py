"""Held-out evaluation with the reward's own grader (`rewards.pool.grade_batch`, the killable worker pool).

Completions are graded exactly as `math_accuracy` grades them in training: the same text conversion (a
prompt-prefilled `<think>` restored), the same extraction and equivalence, the same per-item timeout. Prompts are
rendered as TRL renders them (`rl.data.render_prompt`), left padded, without extra special tokens; completions are
decoded with `skip_special_tokens=True` as TRL does.

Two generation backends: batched transformers `generate` (any machine) and vLLM (`LLM.generate` with `n` samples
per prompt; needs vLLM and a CUDA GPU). Greedy (temperature 0) by default.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl.data import render_prompt
from rl.eval.metrics import aggregate, k_values, majority_vote, problem_metrics

LABEL_KEYS = ("data_source", "level", "subject")
"""Row columns the metrics are also broken down by, when rows carry them."""

# --------------------------------------------------------------------------------------------------- generation
#
# One sampling definition for both backends. Every parameter is passed explicitly: transformers 5 fills each
# generation field left unset (None) from the model's own `generation_config` (`GenerationMixin.
# _prepare_generation_config`), so a checkpoint's repetition penalty or top-k (Qwen2.5-Instruct ships both) would
# otherwise change what is evaluated; on top of that the model's config is swapped for a neutral one while generating.
# Sampling is seeded per problem and per sample (`sample_seed`), as vLLM seeds each request: a problem's samples do
# not depend on the batch or the rank it lands in, so sharded and single-process evaluation agree.


@dataclass(frozen=True)
class Sampling:
    """How completions are drawn, the same for transformers and vLLM: n per prompt, temperature 0 = greedy."""

    n: int = 1
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.temperature <= 0 and self.n > 1:
            raise ValueError("greedy decoding gives n identical samples: use n=1 or a temperature above 0")

    @classmethod
    def greedy(cls, max_new_tokens: int, seed: int = 0) -> Sampling:
        return cls(1, max_new_tokens, 0.0, 1.0, seed)

    def vllm(self, seed: int | None = None) -> dict[str, Any]:
        """`vllm.SamplingParams` keyword arguments of one request (seeded `seed`, default `self.seed`): the
        definition `sample` uses, every field explicit."""
        greedy = self.temperature <= 0
        return dict(
            n=self.n,
            temperature=max(self.temperature, 0.0),
            top_p=1.0 if greedy else self.top_p,
            top_k=0,  # 0 (or -1): no top-k
            min_p=0.0,
            repetition_penalty=1.0,
            presence_penalty=0.0,
            frequency_penalty=0.0,
            max_tokens=self.max_new_tokens,
            seed=self.seed if seed is None else seed,
            skip_special_tokens=True,
        )


def sample_seed(seed: int, index: int, j: int = 0) -> int:
    """The seed of sample `j` of problem `index` (global index in the evaluated rows)."""
    return (seed * 1_000_003 + index * 1_009 + j) % (2**63 - 1)


class SeededSampling:
    """A logits processor that samples each row with its own generator (temperature, then top-p), as one vLLM
    request with its own seed does, and returns scores that make greedy decoding pick the sampled token."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float, device):
        import torch

        self.temperature, self.top_p = temperature, top_p
        self.generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    def __call__(self, input_ids, scores):
        import torch

        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            ordered, order = logits.sort(dim=-1, descending=True)
            probs = ordered.softmax(-1)
            outside = probs.cumsum(-1) - probs >= self.top_p  # keep the smallest prefix whose mass reaches top_p
            logits = logits.scatter(1, order, ordered.masked_fill(outside, float("-inf")))
        probs = logits.softmax(-1)
        chosen = torch.cat([torch.multinomial(probs[i], 1, generator=g) for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, chosen.unsqueeze(1), 0.0)


@contextlib.contextmanager
def neutral_generation_config(model):
    """Swap the model's `generation_config` for one with no sampling or penalty defaults while generating."""
    from transformers import GenerationConfig

    holder = model.get_base_model() if hasattr(model, "get_base_model") else model
    original = holder.generation_config
    holder.generation_config = GenerationConfig(
        eos_token_id=original.eos_token_id, pad_token_id=original.pad_token_id, bos_token_id=original.bos_token_id
    )
    try:
        yield
    finally:
        holder.generation_config = original


def sample(
    model,
    tokenizer,
    prompts: list[Any],
    sampling: Sampling = Sampling(),
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
    indices: Sequence[int] | None = None,
    synced_gpus: bool = False,
) -> tuple[list[list[str]], list[list[int]]]:
    """`sampling.n` completions per prompt with transformers; returns (texts, token lengths), one list per prompt.

    `batch_size` counts sequences: each batch holds `batch_size // n` prompts (at least one). A completion's length
    counts its tokens up to and including the end token. Sample j of prompt i is drawn with
    `sample_seed(sampling.seed, indices[i], j)` (`indices`: the prompts' global indices, default 0..len-1).
    `synced_gpus`: every rank runs the same number of forward passes (sharded ZeRO-3 / FSDP weights, whose forward
    is a collective).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    n, seed = sampling.n, sampling.seed
    indices = list(range(len(prompts))) if indices is None else list(indices)
    texts = [render_prompt(p, tokenizer) for p in prompts]
    tokenizer.padding_side = "left"
    ends = sorted(end_token_ids(model, tokenizer))
    stop = torch.tensor(ends, dtype=torch.long)
    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        do_sample=False,  # sampling, when asked for, is SeededSampling's: greedy over its one-hot scores
        num_beams=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        min_new_tokens=0,
        eos_token_id=ends,
        pad_token_id=tokenizer.pad_token_id,
    )
    per_batch = max(1, batch_size // n)
    was_training = model.training
    model.eval()
    out_texts: list[list[str]] = []
    out_lengths: list[list[int]] = []
    try:
        with neutral_generation_config(model):
            for start in range(0, len(texts), per_batch):
                batch = tokenizer(
                    texts[start : start + per_batch], return_tensors="pt", padding=True, add_special_tokens=False
                )
                # n rows per prompt (num_return_sequences needs transformers' own sampling)
                batch = {k: v.repeat_interleave(n, dim=0).to(model.device) for k, v in batch.items()}
                processors = LogitsProcessorList()
                if sampling.temperature > 0:
                    seeds = [sample_seed(seed, i, j) for i in indices[start : start + per_batch] for j in range(n)]
                    processors.append(SeededSampling(seeds, sampling.temperature, sampling.top_p, model.device))
                with torch.no_grad():  # not inference_mode: FSDP2 makes its gather buffers on a first forward
                    ids = model.generate(
                        **batch, generation_config=config, logits_processor=processors, synced_gpus=synced_gpus
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


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def vllm_generate(
    llm, tokenizer, prompts: list[Any], sampling: Sampling = Sampling(), indices: Sequence[int] | None = None
) -> tuple[list[list[str]], list[list[int]]]:
    """`sampling.n` completions per prompt from a vLLM `LLM` (rlvr's own, or TRL's colocated engine): one request
    per prompt, seeded with `sample_seed(sampling.seed, index)`. Prompts are rendered and tokenised exactly as for
    transformers and passed as token ids, so vLLM adds no special tokens of its own."""
    from vllm import SamplingParams

    indices = list(range(len(prompts))) if indices is None else list(indices)
    ids = [tokenizer(render_prompt(p, tokenizer), add_special_tokens=False)["input_ids"] for p in prompts]
    params = [SamplingParams(**sampling.vllm(sample_seed(sampling.seed, i))) for i in indices]
    outputs = llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
    texts = [[o.text for o in out.outputs] for out in outputs]
    lengths = [[len(o.token_ids) for o in out.outputs] for out in outputs]
    return texts, lengths


def sample_vllm(
    location: str,
    tokenizer,
    prompts: list[Any],
    sampling: Sampling = Sampling(),
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> tuple[list[list[str]], list[list[int]]]:
    """`sampling.n` completions per prompt with a vLLM engine of its own (`vllm_generate`), torn down before
    returning (one checkpoint after another fits). `generation_config="vllm"`: the checkpoint's sampling defaults
    are not used."""
    from vllm import LLM

    llm = LLM(
        model=location,
        tokenizer=location,
        dtype=dtype,
        seed=sampling.seed,
        trust_remote_code=trust_remote_code,
        generation_config="vllm",
    )
    try:
        return vllm_generate(llm, tokenizer, prompts, sampling)
    finally:
        del llm
        _free_vllm()


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
    lenient: bool = False,
) -> tuple[list[str | None], list[bool | None], list[float | None]]:
    """(extracted answers, correctness, think_format scores), graded exactly as the `math_accuracy` reward grades.

    With `tokenizer`, chat prompts are rendered first (as for the rewards in training), so a template that prefills
    `<think>` is seen (`rl.templates`). Rows of a Countdown task (`numbers` and `target` columns) are graded by the
    `countdown` reward instead: the equation must use the given numbers, not merely evaluate to the target.
    `lenient` (evaluation of base models that never box; never training): see `rewards.math.extract_answers`.
    """
    import rewards
    from rewards.math import extract_answers
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
        correct = grade_batch(texts, list(golds), timeout=timeout, lenient=lenient).results
    formats = rewards.build("think_format")(list(completions), prompts=list(prompts))
    found = [extract_answers(t, lenient) for t in texts]
    return [a[0] if len(a) == 1 else (", ".join(a) if a else None) for a in found], correct, formats


def majority_indices(answers: Sequence[Sequence[str | None]], timeout: float = 1.0) -> list[int | None]:
    """For each problem, the index of a sample holding its majority answer (see `rl.eval.metrics.majority_vote`).

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


def grade_problems(
    rows: list[dict],
    texts: list[list[str]],
    lengths: list[list[int]],
    timeout: float = 1.0,
    tokenizer=None,
    lenient: bool = False,
) -> list[tuple[dict[str, float], dict[str, Any], list[dict]]]:
    """Grade n completions per row: one (figures, labels, records) per problem.

    Figures (`rl.eval.metrics.problem_metrics`): pass@k for k in 1, 2, 4, ... n (unbiased estimator), mean@n, maj@n,
    format rate (think_format), mean length in tokens, unverifiable. Labels: the row's data_source / level /
    subject. Records: one per completion, with the row's other columns (`rlvr filter` writes rows back).
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
        lenient,
    )
    majority = majority_indices([extracted[i * n : (i + 1) * n] for i in range(len(rows))], timeout)
    ks = k_values(n)
    problems = []
    for i, row in enumerate(rows):
        span = slice(i * n, (i + 1) * n)
        chosen = majority[i]
        figures = problem_metrics(
            correct[span], None if chosen is None else correct[span][chosen], formats[span], lengths[i], ks
        )
        labels = {k: row[k] for k in LABEL_KEYS if row.get(k) is not None}
        columns = {k: v for k, v in row.items() if k not in ("prompt", "question", "answer", *LABEL_KEYS)}
        records = [
            {
                "index": i,
                "sample": j,
                "question": row.get("question"),
                "prompt": row["prompt"],
                "answer": row["answer"],
                "completion": texts[i][j],
                "extracted": extracted[i * n + j],
                "correct": correct[i * n + j],
                "format": formats[i * n + j],
                "length": lengths[i][j],
                "majority": j == chosen,
                **labels,
                "columns": columns,
            }
            for j in range(n)
        ]
        problems.append((figures, labels, records))
    return problems


def score_samples(
    rows: list[dict],
    texts: list[list[str]],
    lengths: list[list[int]],
    timeout: float = 1.0,
    tokenizer=None,
    lenient: bool = False,
) -> tuple[dict, list[dict]]:
    """Grade n completions per row; return (`rl.eval.metrics.aggregate` result, one record per completion)."""
    problems = grade_problems(rows, texts, lengths, timeout, tokenizer, lenient)
    return _combine(problems)


def _combine(problems) -> tuple[dict, list[dict]]:
    result = aggregate([figures for figures, _, _ in problems], [labels for _, labels, _ in problems])
    return result, [record for _, _, records in problems for record in records]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------------------------------- sharding


@dataclass(frozen=True)
class Shards:
    """How evaluation prompts are split over the ranks of a launch.

    Rank r takes a contiguous slice; every rank gets the same number of prompts (the last rows padded with repeats
    of the last row), so every rank runs the same number of generation batches: a forward under sharded ZeRO-3 or
    FSDP weights is a collective. `group` ranks share one slice (a vLLM tensor-parallel group, or every rank when
    one vLLM server generates for all).
    """

    rank: int = 0
    world: int = 1
    group: int = 1

    @classmethod
    def current(cls, group: int = 1) -> Shards:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        return cls(dist.get_rank(), dist.get_world_size(), group)

    def indices(self, n: int) -> list[int]:
        """The row indices this rank evaluates."""
        shards = self.world // self.group
        per = -(-n // shards)
        first = (self.rank // self.group) * per
        return [min(i, n - 1) for i in range(first, first + per)] if n else []

    def gather(self, items: list, n: int) -> list:
        """Every rank's `items` (one per index of `indices`), in row order, padding dropped: the same on every rank."""
        if self.world == 1:
            return items[:n]
        everything = [x for part in gather_from_ranks(items) for x in part]
        per = len(items)
        blocks = [everything[r * per : (r + 1) * per] for r in range(0, self.world, self.group)]
        return [x for block in blocks for x in block][:n]


def gather_from_ranks(item) -> list:
    """Every rank's `item`, in rank order (one process: just its own). A collective: every rank must call it."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [item]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, item)
    return out


Complete = Callable[[list[Any], list[int], Callable[[int], None]], tuple[list[list[str]], list[list[int]]]]
"""`complete(prompts, indices, progress)`: (texts, token lengths), n per prompt, for this rank's prompts; `indices`
are their global row indices (each problem's samples are seeded by it); `progress(done)` counts prompts."""


def evaluate(
    complete: Complete,
    rows: list[dict],
    tokenizer,
    timeout: float = 1.0,
    lenient: bool = False,
    shards: Shards | None = None,
    description: str | None = "eval",
    out_file: Path | None = None,
) -> tuple[dict, list[dict]]:
    """The one evaluation (`rlvr train` before and after GRPO, the warm-up's probe, `rlvr eval`): this rank's shard
    of `rows` is completed by `complete` and graded with the reward's own grader; every rank's problems are
    gathered (identical on every rank). Returns (`rl.eval.metrics.aggregate` result, one record per completion, in row
    order); `out_file` (JSONL) gets the records. `description`: the name its progress is shown under (rank 0's
    prompts generated, then the completions graded and pass@1; `rl.progress.Phase`), None: not shown."""
    from rl.progress import Phase

    shards = shards or Shards()
    mine = shards.indices(len(rows))
    local = [rows[i] for i in mine]
    shown = shards.rank == 0 and description is not None
    with Phase(
        description or "eval", len(local), "prompts", transient=True, enabled=shown, figures={"generating": ""}
    ) as progress:
        texts, lengths = complete([r["prompt"] for r in local], mine, progress.update)
        progress.update(len(local), generating=None, grading="")  # vLLM reports no batches
        problems = grade_problems(local, texts, lengths, timeout, tokenizer, lenient)
        for index, (_, _, records) in zip(mine, problems, strict=True):
            for record in records:
                record["index"] = index
        result, records = _combine(shards.gather(problems, len(rows)))
        progress.update(grading=None, graded=len(records), **{"pass@1": result["overall"].get("pass@1")})
    if out_file is not None:
        write_jsonl(out_file, records)
    return result, records


def hf_complete(model, tokenizer, sampling: Sampling, batch_size: int = 64, synced_gpus: bool = False) -> Complete:
    """A `complete` function over a transformers model."""

    def complete(prompts, indices, progress=None):
        return sample(model, tokenizer, prompts, sampling, batch_size, progress, indices, synced_gpus)

    return complete
