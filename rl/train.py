"""GRPO with verifiable rewards: seed -> data -> model -> rewards -> (warm-up) -> eval -> TRL GRPOTrainer -> eval.

The update is TRL's `GRPOTrainer` unchanged; every loss knob comes from the config's `grpo:` section (the shipped
configs state them all, since TRL's defaults move between releases). rlvr adds only bookkeeping around it: a
run directory, `metrics.jsonl`, per-reward counters (None / timeouts / errors / seconds), step times, wandb, and a
held-out evaluation before and after training graded by the reward's own grader.

    rlvr train                                   # the embedded tiny-arith demo (CPU, ~80 s)
    rlvr train configs/gsm8k-1gpu.yaml --set grpo.learning_rate=1e-6
    accelerate launch --config_file configs/accelerate/zero2.yaml -m rl train configs/x.yaml   # N GPUs
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl.config import Experiment, dump_yaml
from rl.dashboard import adopt_trackio_callback, finish_trackio, start_trackio
from rl.errors import RlvrError
from rl.health import HealthStopped, stop_message
from rl.health import make_callback as make_health
from rl.resilience import (
    NonFiniteGuard,
    Preempted,
    PreemptionCallback,
    check_finite_loss,
    quarantine_partial_checkpoints,
)
from rl.tracking import (
    MetricsFile,
    QuietProgress,
    is_main_process,
    last_checkpoint,
    saving_checkpoint_folder,
    start_wandb,
    wandb_mode,
    write_json,
)
from rl.trainer_reward import TrainerReward


def build_reward_funcs(exp: Experiment) -> list:
    import rewards

    funcs = []
    for i, r in enumerate(exp.rewards):
        try:
            funcs.append(rewards.build(r.name, **r.params))
        except ValueError as e:
            raise RlvrError(f"rewards.{i} ({r.name}): {e}") from None
    return funcs


NEUTRAL_HF_SAMPLING = {
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "no_repeat_ngram_size": 0,
    "encoder_repetition_penalty": 1.0,
    "min_new_tokens": 0,
}
"""Generation fields TRL's transformers rollout leaves unset, set to no-ops so a checkpoint's defaults stay out."""


def report_to(exp: Experiment, main: bool) -> list[str]:
    """TRL's `report_to`: `logging.backends` on the main process, less wandb when its mode is disabled."""
    if not main:
        return []
    off = {"wandb"} if wandb_mode(exp.logging.wandb_mode) == "disabled" else set()
    return [b for b in exp.logging.backends if b not in off]


def grpo_args(exp: Experiment, run_dir: Path, report_to: str | list[str]):
    """trl.GRPOConfig from the `grpo:` section plus what rlvr owns (output dir, seed, reward weights, backends)."""
    import torch
    from trl import GRPOConfig

    kwargs: dict[str, Any] = dict(exp.grpo)
    backends = [report_to] if isinstance(report_to, str) else list(report_to)
    backends = [b for b in backends if b != "none"] or ["none"]
    kwargs.update(
        output_dir=str(run_dir / "checkpoints"),
        seed=exp.seed,
        report_to=backends,
        reward_weights=[r.weight for r in exp.rewards],
        run_name=run_dir.name,
    )
    if "trackio" in backends:  # local only: no Space sync on a hub push
        kwargs.update(project=exp.logging.wandb_project, trackio_static_space_id=False)
    kwargs.setdefault("log_completions", exp.logging.log_completions and backends != ["none"])
    kwargs.setdefault("num_completions_to_print", exp.logging.num_completions_to_print)
    if not torch.cuda.is_available():
        kwargs.setdefault("use_cpu", True)
    # Rollouts sample as evaluation does: transformers 5 fills every generation field TRL leaves None from the
    # checkpoint's generation_config (`_prepare_generation_config`), e.g. min_p; vLLM maps min_p None to 0.
    kwargs.setdefault("min_p", 0.0)
    if not kwargs.get("use_vllm"):
        kwargs["generation_kwargs"] = NEUTRAL_HF_SAMPLING | (kwargs.get("generation_kwargs") or {})
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as e:
        raise RlvrError(f"grpo: {str(e).strip().splitlines()[0]}") from None


def make_trainer_class():
    import torch
    from trl import GRPOTrainer

    from rl.curriculum import CurriculumMixin
    from rl.dynamic_sampling import DynamicSamplingMixin

    class RlvrGRPOTrainer(CurriculumMixin, DynamicSamplingMixin, GRPOTrainer):
        """GRPOTrainer whose logs also carry per-reward counters, and that stops on a non-finite loss before its
        backward (on every engine: under DeepSpeed `p.grad` is empty, so `NonFiniteGuard` cannot see gradients)."""

        _generation_seconds = 0.0
        generated_tokens = 0  # completion tokens generated so far, every rank and round (`tokens/generated`)

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            # called once per generation round (dynamic sampling's refills too), before any round is dropped
            if self.model.training:
                local = torch.tensor(
                    [sum(len(ids) for ids in completion_ids_list)], dtype=torch.int64, device=self.accelerator.device
                )
                self.generated_tokens += int(self.accelerator.reduce(local, reduction="sum").item())
            return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

        def _generate_and_score_completions(self, inputs):
            start = time.perf_counter()
            out = super()._generate_and_score_completions(inputs)
            if torch.cuda.is_available() and torch.cuda.is_initialized():  # queued kernels: wait, for an honest split
                torch.cuda.synchronize()
            self._generation_seconds += time.perf_counter() - start
            return out

        def _save_checkpoint(self, model, trial):
            if self.args.should_save:  # before the Trainer's files, as the curriculum's: trainer_state.json is last
                write_json(
                    saving_checkpoint_folder(self, trial) / TOKENS_FILE, {"generated_tokens": self.generated_tokens}
                )
            return super()._save_checkpoint(model, trial)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            check_finite_loss(loss, self.state.global_step + 1, self.args.output_dir)
            return loss

        def _reward_counters(self) -> dict[str, float]:
            """Each reward's counters since the last log, over all ranks: counts summed, seconds averaged (each
            rank grades its own completions; TRL's own reward metrics are gathered the same way)."""
            counters = {
                f"rewards/{fn.__name__}/{key}": value
                for fn in self.reward_funcs
                for key, value in fn.pop_metrics().items()
            }
            n = self.accelerator.num_processes
            if n == 1 or not counters:
                return counters
            keys = sorted(counters)
            values = torch.tensor(
                [float(counters[k]) for k in keys], dtype=torch.float64, device=self.accelerator.device
            )
            summed = self.accelerator.reduce(values, reduction="sum").tolist()
            return {k: v / n if k.endswith("/seconds") else round(v) for k, v in zip(keys, summed, strict=True)}

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            if self.model.training and self._metrics["train"]:
                logs.update(self._reward_counters())
                logs.update(gpu_memory_metrics())
                logs["time/generation_s"] = round(self._generation_seconds, 4)  # rollouts + rewards since last log
                logs["tokens/generated"] = self.generated_tokens
                self._generation_seconds = 0.0
            super().log(logs, start_time)

    return RlvrGRPOTrainer


def gpu_memory_metrics() -> dict[str, float]:
    """This rank's CUDA memory since the last log, in GiB (allocated peak and reserved), then the peak is reset;
    empty on CPU. Compare with `rlvr launch --dry-run`'s plan."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    peak = torch.cuda.max_memory_allocated() / 2**30
    reserved = torch.cuda.max_memory_reserved() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return {"gpu/peak_allocated_gib": round(peak, 3), "gpu/peak_reserved_gib": round(reserved, 3)}


def ranks_in_sync(trainer) -> bool | None:
    """Do all data-parallel ranks hold bit-identical weights? None where there is nothing to compare.

    Compared on DDP and DeepSpeed ZeRO-1/2 (every rank holds a full copy of the module's weights). Under ZeRO-3 and
    FSDP each rank holds a different shard, so there is no replica to compare: None. The digest is exact integer
    arithmetic over each parameter's bits, a chunk at a time: no float64 copy of the model, no rounding.
    """
    acc = trainer.accelerator
    kind = acc.distributed_type.value
    stage = acc.state.deepspeed_plugin.zero_stage if kind == "DEEPSPEED" else None
    if acc.num_processes == 1 or not (kind in ("MULTI_GPU", "MULTI_CPU") or stage in (0, 1, 2)):
        return None
    digest = weights_digest(acc.unwrap_model(trainer.model).parameters(), acc.device)
    gathered = acc.gather(digest.unsqueeze(0)).view(acc.num_processes, -1)
    return bool((gathered == gathered[0]).all())


DIGEST_CHUNK = 1 << 22
DIGEST_MOD = (1 << 31) - 1  # a prime: sums of products below 2^31 * 2^31 * 2^22 stay inside int64 after each chunk


def weights_digest(params, device):
    """Three int64 sums over the raw bits of every parameter, in order: order- and position-sensitive, exact."""
    import torch

    total = torch.zeros(3, dtype=torch.int64, device=device)
    position = 0
    for p in params:
        flat = p.detach().reshape(-1)
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[flat.element_size()]
        for start in range(0, flat.numel(), DIGEST_CHUNK):
            chunk = flat[start : start + DIGEST_CHUNK].view(bits).to(device=device, dtype=torch.int64) % DIGEST_MOD
            where = torch.arange(position, position + chunk.numel(), device=device, dtype=torch.int64) % DIGEST_MOD + 1
            total[0] = (total[0] + chunk.sum()) % DIGEST_MOD
            total[1] = (total[1] + (chunk * where % DIGEST_MOD).sum()) % DIGEST_MOD
            total[2] = (total[2] + (chunk * chunk % DIGEST_MOD).sum()) % DIGEST_MOD
            position += chunk.numel()
    return total


def final_dtype(precision, loaded_dtype):
    """The dtype of a full `final/`: the loaded one where rlvr or FSDP2 upcast it for training (not DeepSpeed,
    which saves its bf16 module weights; not pure bf16, already bf16)."""
    return loaded_dtype if precision.upcast_trainable or precision.engine == "fsdp" else None


def check_warmup_engine(args) -> None:
    """The supervised warm-up trains the loaded model in place: not possible on ZeRO-3 or FSDP shards."""
    from rl.precision import engine_of, zero_stage

    engine = engine_of(args)
    if zero_stage(args) == 3 or engine == "fsdp":
        name = "DeepSpeed ZeRO-3" if engine == "deepspeed" else "FSDP"
        raise RlvrError(
            f"warmup.enabled: the supervised warm-up is for small models on one device, DDP or ZeRO-1/2; under {name} "
            "warm up separately and point model.name_or_path at the result"
        )


@dataclass
class Preflight:
    """What `preflight` checked (one line each) and the data it loaded, so the run does not load it twice."""

    lines: list[str]
    data: tuple[list[dict], list[dict]] | None


def preflight(exp: Experiment) -> Preflight:
    """Every check a run makes before it needs model weights, in the order the run makes them: build the rewards
    (their params), build `GRPOConfig` (TRL's own checks: batch sizes against `num_generations`, ...), the
    precision policy and the warm-up against the engine, and load the data and its columns (unless it comes from
    the hub). Raises RlvrError on the first problem, before any run directory exists."""
    import tempfile

    from rl.data import from_hub, load_data
    from rl.precision import decide

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
    precision = decide(exp.model, args)
    if exp.warmup.enabled:
        check_warmup_engine(args)
    lines.append(precision.describe())
    if exp.curriculum.enabled:
        from rl.curriculum import accuracy_reward_index

        cur = exp.curriculum
        mix = ", ".join(f"{k} {v:g}" for k, v in cur.mix_weights().items())
        lines.append(
            f"curriculum: on, judged by {exp.rewards[accuracy_reward_index(exp)].name} (right above "
            f"{cur.solved_above:g}); retire after {cur.window} all-same visit(s); mix {mix}"
        )
    data = None
    if from_hub(exp.data):
        lines.append(f"data: {exp.data.source} comes from the hub: not loaded here (the run loads it)")
    else:
        data = load_data(exp.data)
        lines.append(f"data: {exp.data.source}: {len(data[0])} training rows, {len(data[1])} held-out rows")
    del funcs
    return Preflight(lines, data)


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def run(
    exp: Experiment, run_dir: Path, resume: bool = False, data: tuple[list[dict], list[dict]] | None = None
) -> dict:
    """Train one experiment into `run_dir` (already prepared); return the summary dict. `data`: the rows
    `preflight` already loaded."""
    from accelerate import PartialState
    from rich.console import Console
    from transformers import set_seed
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils import logging as hf_logging

    from rl.data import load_data, to_dataset
    from rl.heldout import HeldOutEval, numeric
    from rl.lora import peft_config, prepare, save_final
    from rl.models import load_policy
    from rl.precision import decide, trainable_dtypes, upcast_trainable
    from rl.warmup import warm_start

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars; the trainer's own bar stays
    console = Console()
    started = time.time()
    set_seed(exp.seed)
    resolved = exp.to_dict()
    main = is_main_process()  # under accelerate every rank computes; only rank 0 writes run files
    if main:
        (run_dir / "config.yaml").write_text(dump_yaml(exp))
    if resume and main:
        for path in quarantine_partial_checkpoints(run_dir):
            console.print(f"[yellow]set aside a checkpoint cut off mid-save: {path}[/]")
    checkpoint = last_checkpoint(run_dir) if resume else None
    if main:  # a previous preemption's markers
        (run_dir / "PREEMPT").unlink(missing_ok=True)
        (run_dir / "preempted.json").unlink(missing_ok=True)

    reward_funcs = [TrainerReward(fn, run_dir if main else None) for fn in build_reward_funcs(exp)]
    health = make_health(exp, run_dir, main)  # run health (None when health.enabled is false)
    if health is not None:
        health.tap_rewards(reward_funcs)  # keeps the accuracy reward's paid answers for regrading
    backends = report_to(exp, main)
    if "trackio" in backends:  # before anything imports trackio (TRL's GRPOTrainer does)
        from rl.dashboard import store_for, use_store

        try:
            use_store(store_for(run_dir))
        except RlvrError as e:  # a second run in one Python process (a notebook, a test): trackio keeps its store
            console.print(
                f"[yellow]warning: {e}; this run does not log to trackio (`rlvr dashboard {run_dir}` imports it "
                "from metrics.jsonl)[/]"
            )
            backends = [b for b in backends if b != "trackio"]
    args = grpo_args(exp, run_dir, backends)  # validates `grpo:` before slow work
    precision = decide(exp.model, args)
    train_rows, eval_rows = data if data is not None else load_data(exp.data)
    model, tokenizer, location = load_policy(exp.model, exp.seed)
    loaded_dtype = model.dtype
    for fn in reward_funcs:
        fn.tokenizer = tokenizer  # renders chat prompts, so a prefilled <think> is seen
    console.print(
        f"[bold]rlvr[/] {exp.name}  seed {exp.seed}  model {exp.model.name_or_path}  "
        f"({sum(getattr(p, 'ds_numel', p.numel()) for p in model.parameters()) / 1e6:.1f}M params)  "
        f"train {len(train_rows)}  held-out {len(eval_rows)}  -> {run_dir}"
    )

    state_file = run_dir / "state.json"
    state = read_json(state_file) or {}
    if exp.warmup.enabled and "warmup" not in state:
        check_warmup_engine(args)
        if precision.upcast_trainable:
            upcast_trainable(model)  # the warm-up's AdamW steps fp32 weights too
        model.to(PartialState().device)  # warm up where training will run
        state["warmup"] = warm_start(
            model,
            tokenizer,
            location,
            train_rows,
            exp.warmup,
            exp.seed,
            exp.eval.max_new_tokens,
            exp.eval.timeout,
            console,
        )
        model.to(loaded_dtype)  # the start point in the dtype a resume reloads it in (LoRA: the frozen base too)
        if main:
            model.save_pretrained(run_dir / "start")
            tokenizer.save_pretrained(run_dir / "start")
    elif exp.warmup.enabled and (checkpoint is None or exp.model.lora is not None):
        # resumed before the first checkpoint, or from an adapter-only (LoRA) one: reload the warm start
        model = type(model).from_pretrained(run_dir / "start", dtype=model.dtype)
    if main:
        write_json(state_file, state)

    wandb_run = start_wandb(exp, run_dir, resolved) if "wandb" in exp.logging.backends else None
    trackio_run = start_trackio(exp, run_dir, resolved, resume) if "trackio" in backends else None
    metrics_file = MetricsFile(run_dir / "metrics.jsonl", _step_of(checkpoint))
    if health is not None:
        health.replay(metrics_file.path, _step_of(checkpoint))  # a resumed run's detectors go on where they were
        health.wandb_run, health.online = wandb_run, wandb_mode(exp.logging.wandb_mode) == "online"
        health.trackio_run = trackio_run
    heldout = HeldOutEval(eval_rows, tokenizer, exp.eval, exp.seed, run_dir, state, main, console)
    heldout.wandb_run, heldout.trackio_run = wandb_run, trackio_run
    preemption = PreemptionCallback(run_dir)
    non_finite = NonFiniteGuard()
    base = run_dir / "start" if exp.warmup.enabled else location  # what a saved LoRA adapter goes on
    model = prepare(model, exp.model.lora, base, args.gradient_checkpointing)
    if exp.curriculum.enabled:  # each row carries its index: the gathered rewards say which prompt they are for
        from rl.curriculum import ID_COLUMN

        train_rows = [row | {ID_COLUMN: i} for i, row in enumerate(train_rows)]
    trainer = make_trainer_class()(
        model=model,
        peft_config=peft_config(exp.model.lora, model),
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=to_dataset(train_rows),
        processing_class=tokenizer,
        callbacks=[metrics_file, preemption, non_finite, heldout],
    )
    if health is not None:  # first: its health/* keys reach wandb and metrics.jsonl in the same log call
        trainer.callback_handler.callbacks.insert(0, health)
    heldout.trainer = trainer
    if trackio_run is not None:
        adopt_trackio_callback(trainer, trackio_run)
    non_finite.trainer = trainer  # under DeepSpeed it asks the engine for the global gradient norm
    if precision.upcast_trainable:
        upcast_trainable(trainer.model)  # after TRL's own casts (QLoRA adapters to bf16), before the optimizer exists
    dtypes = ", ".join(sorted(trainable_dtypes(trainer.model)))
    console.print(f"{precision.describe()}; trainable parameters: {dtypes}")
    if precision.warning and main:
        console.print(f"[yellow]warning: {precision.warning}[/]")
    if exp.dynamic_sampling.enabled:
        trainer.dynamic_rounds = exp.dynamic_sampling.max_rounds
    if exp.curriculum.enabled:
        start_curriculum(trainer, exp, len(train_rows), checkpoint, console)
    trainer.generated_tokens = generated_tokens_at(checkpoint)
    if exp.budget.max_generated_tokens is not None:
        trainer.add_callback(token_budget_callback()(trainer, exp.budget.max_generated_tokens))
    if trainer.pop_callback(ProgressCallback):
        trainer.add_callback(QuietProgress)
    preemption.install()
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        preemption.uninstall()
        if preemption.received is not None:
            if main:
                (run_dir / "preempted.json").write_text(json.dumps({"step": trainer.state.global_step}))
            raise Preempted(
                f"{preemption.received} received: saved checkpoint-{trainer.state.global_step}; "
                f"continue with: rlvr train --resume {run_dir}"
            )
        # final/: the adapter, or merged with lora.merge; a full model in the dtype its weights were loaded in
        # (checkpoints keep the fp32 training copy for an exact resume)
        save_final(trainer, run_dir / "final", exp.model.lora, final_dtype(precision, loaded_dtype))
        if main:
            tokenizer.save_pretrained(run_dir / "final")
        after = heldout.run("after") if exp.eval.after else None
        summary = make_summary(exp, run_dir, state, after, trainer.state.global_step, output, started)
        summary.update(
            num_processes=trainer.accelerator.num_processes,
            ranks_in_sync=ranks_in_sync(trainer),
            precision=precision.describe().removeprefix("precision: "),
            health=health.summary() if health is not None else {"enabled": False, "alerts": [], "checked": []},
        )
        if trainer.curriculum is not None:
            summary["curriculum"] = trainer.curriculum.sizes()
        if main:
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
        if wandb_run is not None:
            if after is not None:
                wandb_run.log(numeric("eval/", after) | {"train/global_step": trainer.state.global_step})
            wandb_run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        if trackio_run is not None and after is not None:
            step = trainer.state.global_step
            trackio_run.log(numeric("eval/", after) | {"train/global_step": step}, step=step)
    finally:
        preemption.uninstall()
        if wandb_run is not None:
            wandb_run.finish()
        if trackio_run is not None:
            finish_trackio(trackio_run)
    if main:
        print_summary(console, summary)
    if health is not None and health.stopped_by is not None:
        raise HealthStopped(stop_message(health.stopped_by, run_dir))
    return summary


TOKENS_FILE = "generated_tokens.json"


def generated_tokens_at(checkpoint: Path | None) -> int:
    """The completion tokens generated up to `checkpoint` (saved in it; for older checkpoints the last logged
    `tokens/generated` of its log history), so a resumed run's count and budget go on from there; 0 on a fresh
    start. Every rank reads it."""
    if checkpoint is None:
        return 0
    saved = read_json(checkpoint / TOKENS_FILE)
    if saved is not None:
        return int(saved["generated_tokens"])
    state = read_json(checkpoint / "trainer_state.json")
    logged = [h["tokens/generated"] for h in (state or {}).get("log_history", []) if "tokens/generated" in h]
    return int(logged[-1]) if logged else 0


def token_budget_callback():
    from transformers import TrainerCallback

    class TokenBudget(TrainerCallback):
        """Ends training after the step at which `budget.max_generated_tokens` is reached (same count on every
        rank: it is summed over ranks)."""

        def __init__(self, trainer, budget: int):
            self.trainer, self.budget = trainer, budget

        def on_step_end(self, args, state, control, **kwargs):
            if self.trainer.generated_tokens >= self.budget:
                control.should_training_stop = True
                control.should_log = True  # the last count reaches metrics.jsonl and wandb
                if args.save_strategy == "steps":  # the last step is a checkpoint, as at max_steps
                    control.should_save = True

    return TokenBudget


def start_curriculum(trainer, exp: Experiment, n_prompts: int, checkpoint: Path | None, console) -> None:
    """Give the trainer its curriculum: empty on a fresh start, the checkpoint's state on a resume."""
    from rl.curriculum import Curriculum, accuracy_reward_index, saved_state

    curriculum = Curriculum(exp.curriculum, n_prompts, exp.seed)
    state = saved_state(checkpoint)
    main = is_main_process()
    if state is not None:
        curriculum.load(state)
        sizes = ", ".join(f"{k} {v}" for k, v in curriculum.sizes().items())
        if main:
            console.print(f"curriculum: resumed from {state} ({sizes})")
        args = trainer.args
        period = args.steps_per_generation * trainer.num_iterations / args.gradient_accumulation_steps
        step = _step_of(checkpoint)
        if period > 1 and step % period and main:
            console.print(
                f"[yellow]warning: checkpoint-{step} lies inside a generation block (TRL generates every "
                f"{period:g} steps and saves no rollouts): the resumed run generates afresh and draws other prompts "
                "than an uninterrupted run would[/]"
            )
    elif checkpoint is not None and main:
        console.print(f"[yellow]warning: {checkpoint} holds no curriculum state: the curriculum starts empty[/]")
    trainer.curriculum = curriculum
    trainer._check_ranks_agree()  # every rank read the same state (a rank that cannot see the file would not)
    trainer.curriculum_reward = accuracy_reward_index(exp)
    trainer.solved_above = exp.curriculum.solved_above


def _step_of(checkpoint: Path | None) -> int:
    return int(checkpoint.name.split("-")[-1]) if checkpoint else 0


def make_summary(exp, run_dir, state, after, steps, output, started) -> dict:
    before = state.get("before") or {}
    summary = {
        "name": exp.name,
        "seed": exp.seed,
        "run_dir": str(run_dir),
        "steps": steps,
        "accuracy_before": before.get("accuracy"),
        "accuracy_after": (after or {}).get("accuracy"),
        "format_rate_before": before.get("format_rate"),
        "format_rate_after": (after or {}).get("format_rate"),
        "n_eval": (after or before).get("n"),
        "eval_backend": (after or before).get("backend"),
        "eval_ranks": (after or before).get("ranks"),
        "wall_seconds": round(time.time() - started, 1),
        "train_seconds": round(output.metrics.get("train_runtime", 0.0), 1),
        "warmup": state.get("warmup"),
    }
    if summary["accuracy_before"] is not None and summary["accuracy_after"] is not None:
        summary["accuracy_delta"] = round(summary["accuracy_after"] - summary["accuracy_before"], 4)
    return summary


def print_summary(console, summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['name']} (seed {summary['seed']}): {summary['run_dir']}")
    table.add_column("metric")
    table.add_column("before GRPO", justify="right")
    table.add_column("after GRPO", justify="right")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    table.add_row("held-out accuracy", fmt(summary["accuracy_before"]), fmt(summary["accuracy_after"]))
    table.add_row("format rate", fmt(summary["format_rate_before"]), fmt(summary["format_rate_after"]))
    table.add_row("held-out problems", str(summary["n_eval"]), str(summary["n_eval"]))
    table.add_row("GRPO steps", "", str(summary["steps"]))
    table.add_row("wall seconds", "", str(summary["wall_seconds"]))
    console.print(table)
