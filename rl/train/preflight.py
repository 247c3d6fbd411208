"""Every check a run makes before it needs model weights, shared by `rlvr train --dry-run` and the real start.

The rule: whatever the real run would reject after minutes (a traceback after the warm-up or the first
evaluation), the dry run rejects in seconds with the same one-line error, before a run directory exists. So the
checks build what the run builds, with the libraries the run uses, not a copy of their rules:
- the rewards with their params, and `trl.GRPOConfig` from the `grpo:` section (TRL's own checks);
- the sampling the rollouts will use: transformers' `GenerationConfig` as TRL 1.16's `GRPOTrainer.__init__` makes
  it, and the logits processors `generate` would build from it (a temperature of 0 fails only there);
- the optimizer and learning-rate schedule as `Trainer.create_optimizer_and_scheduler` makes them, on one dummy
  parameter (a negative learning rate, bad betas, an unknown scheduler);
- the precision policy, and the warm-up against the engine;
- the model's location (`rl.models.check_location`: a local directory that holds a model, a known `builtin:`
  model, a hub name in the local cache or on the hub; one that is neither cached nor reachable is an error for a
  real start, whose load would fail after retries, and a note for a dry run, which may run on another machine);
- the data: loaded and counted (unless it comes from the hub), enough training rows for one step's prompts.
Each check adds one line to what `--dry-run` prints (`# checked: ...`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rl.config import Experiment
from rl.errors import RlvrError, first_line


@dataclass
class Preflight:
    """What `preflight` checked (one line each) and the data it loaded, so the run does not load it twice."""

    lines: list[str]
    data: tuple[list[dict], list[dict]] | None
    rewards: list


def preflight(exp: Experiment, dry_run: bool = False) -> Preflight:
    """Run every weight-free check in the order the run meets them; raise RlvrError on the first problem.
    `dry_run`: what cannot be checked from here (the hub unreachable) is said, not refused; a real start refuses
    it, since its load would fail after retries."""
    from rl.data import from_hub, load_data
    from rl.models import check_location
    from rl.train.loop import build_reward_funcs, check_warmup_engine, grpo_args
    from rl.train.precision import decide

    lines = []
    funcs = build_reward_funcs(exp)
    lines.append("rewards: " + ", ".join(f"{r.name} (weight {r.weight:g})" for r in exp.rewards) + " built")
    with tempfile.TemporaryDirectory() as tmp:
        args = grpo_args(exp, Path(tmp) / "run", "none")
    per_step = args.generation_batch_size // args.num_generations
    lines.append(
        f"grpo: GRPOConfig built for this process count: {args.generation_batch_size} completions per generation "
        f"= {per_step} prompts x {args.num_generations}"
    )
    lines.append(check_sampling(args))
    lines.append(check_optimizer(args))
    precision = decide(exp.model, args)
    if exp.warmup.enabled:
        check_warmup_engine(args)
    lines.append(precision.describe())
    if exp.curriculum.enabled:
        from rl.train.curriculum import accuracy_reward_index

        cur = exp.curriculum
        mix = ", ".join(f"{k} {v:g}" for k, v in cur.mix_weights().items())
        lines.append(
            f"curriculum: on, judged by {exp.rewards[accuracy_reward_index(exp)].name} (right above "
            f"{cur.solved_above:g}); retire after {cur.window} all-same visit(s); mix {mix}"
        )
    lines.append("model: " + check_location(exp.model, strict=not dry_run))
    data = None
    if from_hub(exp.data):
        lines.append(f"data: {exp.data.source} comes from the hub: not loaded here (the run loads it)")
    else:
        data = load_data(exp.data)
        check_data_sizes(exp, data, per_step)
        lines.append(f"data: {exp.data.source}: {len(data[0])} training rows, {len(data[1])} held-out rows")
    return Preflight(lines, data, funcs)


# ------------------------------------------------------------------------------------------------ sampling


def check_sampling(args) -> str:
    """The rollouts' sampling settings, checked by the code that will apply them. With transformers: TRL's
    `GenerationConfig` (validated strictly) and the logits processors `generate` builds from it. With vLLM (not
    installed on CPU machines) the same values fall under `rl.config.GRPO_BOUNDS`, which hold for both."""
    from transformers import GenerationConfig
    from transformers.generation import logits_process as lp

    if args.use_vllm:
        return f"sampling: vLLM ({args.vllm_mode}), temperature {args.temperature:g}, top_p {args.top_p:g}"
    kwargs = dict(
        max_new_tokens=args.max_completion_length,
        do_sample=True,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        cache_implementation=args.cache_implementation,
    ) | (args.generation_kwargs or {})
    try:
        config = GenerationConfig(**kwargs, disable_compile=True)
        config.validate(strict=True)
        # the processors `GenerationMixin._get_logits_processor` adds for these values (neutral values add none)
        if config.temperature is not None and config.temperature != 1.0:
            lp.TemperatureLogitsWarper(config.temperature)
        if config.top_k is not None and config.top_k != 0:
            lp.TopKLogitsWarper(config.top_k)
        if config.top_p is not None and config.top_p < 1.0:
            lp.TopPLogitsWarper(config.top_p)
        if config.min_p is not None:
            lp.MinPLogitsWarper(config.min_p)
        if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
            lp.RepetitionPenaltyLogitsProcessor(config.repetition_penalty)
    except ValueError as e:
        raise RlvrError(f"grpo: the rollouts' sampling settings fail in transformers: {first_line(e)}") from None
    return (
        f"sampling: transformers generate, temperature {config.temperature:g}, top_p {config.top_p:g}, "
        f"top_k {config.top_k}, {config.max_new_tokens} new tokens at most"
    )


# ------------------------------------------------------------------------------------------------ optimizer


def check_optimizer(args) -> str:
    """Build the optimizer and schedule the Trainer will build (`Trainer.get_optimizer_cls_and_kwargs`,
    `transformers.get_scheduler`) on one dummy parameter: their own checks run on the run's values."""
    import torch
    from transformers import Trainer, get_scheduler

    try:
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    except (ImportError, ModuleNotFoundError) as e:
        return f"optimizer: {args.optim} not checked here ({first_line(e)})"
    except ValueError as e:
        raise RlvrError(f"grpo.optim: {first_line(e)}") from None
    steps = args.max_steps if args.max_steps > 0 else 1000
    try:
        optimizer = cls([torch.nn.Parameter(torch.zeros(1))], **kwargs)
    except (ImportError, RuntimeError) as e:  # an optimizer that needs a GPU or another package
        return f"optimizer: {cls.__name__} not built here ({first_line(e)})"
    except (ValueError, TypeError) as e:
        raise RlvrError(f"grpo: the optimizer ({args.optim}) rejects these settings: {first_line(e)}") from None
    try:
        get_scheduler(
            args.lr_scheduler_type,
            optimizer,
            num_warmup_steps=args.get_warmup_steps(steps),
            num_training_steps=steps,
            scheduler_specific_kwargs=args.lr_scheduler_kwargs,
        )
    except (ValueError, TypeError) as e:
        schedule = _value(args.lr_scheduler_type)
        raise RlvrError(
            f"grpo: the learning-rate schedule ({schedule}) rejects these settings: {first_line(e)}"
        ) from None
    return f"optimizer: {cls.__name__} (lr {args.learning_rate:g}), schedule {_value(args.lr_scheduler_type)}"


# ------------------------------------------------------------------------------------------------ data


def check_data_sizes(exp: Experiment, data: tuple[list[dict], list[dict]], per_step: int) -> None:
    """Enough training rows for one step's prompts; held-out rows when an evaluation will run."""
    train, held_out = data
    if len(train) < per_step:
        raise RlvrError(
            f"data: {len(train)} training rows, but each step draws {per_step} prompts; raise data.train_size or "
            "lower grpo.per_device_train_batch_size"
        )
    if (exp.eval.before or exp.eval.after) and not held_out:
        raise RlvrError(
            f"data: no held-out rows in {exp.data.eval_source or exp.data.source} ({exp.data.eval_split}) to "
            "evaluate; set eval.before and eval.after to false to train without an evaluation"
        )


def _value(v) -> str:
    return str(getattr(v, "value", v))
