"""GRPO with verifiable rewards, in phases: prepare -> before training -> build the trainer -> train (under a
preemption guard) -> after training.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl.config import Experiment, dump_yaml
from rl.distenv import is_main_process
from rl.errors import RlvrError, first_line
from rl.eval.metrics import current_names
from rl.rundir import RunDir, read_json, step_of, write_json
from rl.tracking import start_wandb, wandb_mode

if TYPE_CHECKING:
    from rl.train.preflight import Preflight


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
        raise RlvrError(f"grpo: {first_line(e)}") from None


def final_dtype(precision, loaded_dtype):
    """The dtype of a full `final/`: the loaded one where rlvr or FSDP2 upcast it for training (not DeepSpeed,
    which saves its bf16 module weights; not pure bf16, already bf16)."""
    return loaded_dtype if precision.upcast_trainable or precision.engine == "fsdp" else None


def check_warmup_engine(args) -> None:
    """The supervised warm-up trains the loaded model in place: not possible on ZeRO-3 or FSDP shards."""
    from rl.train.precision import engine_of, zero_stage

    engine = engine_of(args)
    if zero_stage(args) == 3 or engine == "fsdp":
        name = "DeepSpeed ZeRO-3" if engine == "deepspeed" else "FSDP"
        raise RlvrError(
            f"warmup.enabled: the supervised warm-up is for small models on one device, DDP or ZeRO-1/2; under {name} "
            "warm up separately and point model.name_or_path at the result"
        )


@dataclass
class Session:
    """What the phases of one run share. `prepare` fills the first block; later phases add theirs."""

    exp: Experiment
    run: RunDir
    resume: bool
    console: Any
    main: bool
    started: float
    checkpoint: Path | None  # the checkpoint a resume continues from
    args: Any  # trl.GRPOConfig
    backends: list[str]
    precision: Any  # rl.train.precision.Precision
    rows: tuple[list[dict], list[dict]]  # (training, held-out)
    model: Any
    tokenizer: Any
    location: str  # where the weights were loaded from
    loaded_dtype: Any
    rewards: list
    health: Any  # rl.train.health's callback, or None
    state: dict = field(default_factory=dict)  # state.json
    wandb_run: Any = None
    trackio_run: Any = None
    heldout: Any = None  # rl.eval.heldout.HeldOutEval
    preemption: Any = None  # rl.train.resilience.PreemptionCallback
    non_finite: Any = None  # rl.train.resilience.NonFiniteGuard
    metrics_file: Any = None  # rl.train.callbacks.MetricsFile

    def close(self) -> None:
        """Finish the trackers (whatever phase the run stopped in)."""
        from rl.study.dashboard import finish_trackio

        if self.wandb_run is not None:
            self.wandb_run.finish()
        if self.trackio_run is not None:
            finish_trackio(self.trackio_run)


def run(exp: Experiment, run_dir: Path, resume: bool = False, checked: Preflight | None = None) -> dict:
    """Train one experiment into `run_dir` (already prepared); return the summary dict. `checked`: what
    `preflight` already built and loaded (the rewards, the data)."""
    from rl.train.health import HealthStopped, stop_message

    s = prepare(exp, RunDir(run_dir), resume, checked)
    try:
        before_training(s)
        trainer = build_trainer(s)
        output = train_guarded(s, trainer)
        summary = after_training(s, trainer, output)
    finally:
        s.close()
    if s.main:
        print_summary(s.console, summary)
    if s.health is not None and s.health.stopped_by is not None:
        raise HealthStopped(stop_message(s.health.stopped_by, s.run.path))
    return summary


def prepare(exp: Experiment, run: RunDir, resume: bool, checked: Preflight | None) -> Session:
    """Seed; write the config; find the checkpoint to resume; build rewards, health and GRPOConfig; load the data
    and the policy."""
    from transformers import set_seed
    from transformers.utils import logging as hf_logging

    from rl.data import load_data
    from rl.models import load_policy
    from rl.progress import make_console
    from rl.train.health import make_callback as make_health
    from rl.train.precision import decide
    from rl.train.resilience import quarantine_partial_checkpoints
    from rl.train.trainer_reward import TrainerReward

    hf_logging.disable_progress_bar()  # per-file "Loading weights" bars; the trainer's own bar stays
    console = make_console()
    started = time.time()
    set_seed(exp.seed)
    main = is_main_process()  # under accelerate every rank computes; only rank 0 writes run files
    if main:
        run.config.write_text(dump_yaml(exp))
    if resume and main:
        for path in quarantine_partial_checkpoints(run.path):
            console.print(f"[yellow]set aside a checkpoint cut off mid-save: {path}[/]")
    checkpoint = run.last_checkpoint() if resume else None
    if resume and main:
        from rl.train.resume import resume_point

        console.print(resume_point(run))
    if main:  # a previous preemption's markers
        run.preempt_flag.unlink(missing_ok=True)
        run.preempted.unlink(missing_ok=True)

    built = checked.rewards if checked is not None else build_reward_funcs(exp)
    reward_funcs = [TrainerReward(fn, run.path if main else None) for fn in built]
    health = make_health(exp, run.path, main)  # run health (None when health.enabled is false)
    if health is not None:
        health.tap_rewards(reward_funcs)  # keeps the accuracy reward's paid answers for regrading
    backends = trackio_store(report_to(exp, main), run, console)
    args = grpo_args(exp, run.path, backends)  # validates `grpo:` before slow work
    precision = decide(exp.model, args)
    rows = checked.data if checked is not None and checked.data is not None else load_data(exp.data)
    model, tokenizer, location = load_policy(exp.model, exp.seed)
    for fn in reward_funcs:
        fn.tokenizer = tokenizer  # renders chat prompts, so a prefilled <think> is seen
    console.print(
        f"[bold]rlvr[/] {exp.name}  seed {exp.seed}  model {exp.model.name_or_path}  "
        f"({sum(getattr(p, 'ds_numel', p.numel()) for p in model.parameters()) / 1e6:.1f}M params)  "
        f"train {len(rows[0])}  held-out {len(rows[1])}  -> {run}"
    )
    return Session(
        exp=exp,
        run=run,
        resume=resume,
        console=console,
        main=main,
        started=started,
        checkpoint=checkpoint,
        args=args,
        backends=backends,
        precision=precision,
        rows=rows,
        model=model,
        tokenizer=tokenizer,
        location=location,
        loaded_dtype=model.dtype,
        rewards=reward_funcs,
        health=health,
        state=read_json(run.state) or {},
    )


def trackio_store(backends: list[str], run: RunDir, console) -> list[str]:
    """Point trackio at this run's store before anything imports it (TRL's GRPOTrainer does); a second run in one
    Python process (a notebook, a test) whose store differs logs without trackio (trackio keeps its store)."""
    if "trackio" not in backends:
        return backends
    from rl.study.dashboard import store_for, use_store

    try:
        use_store(store_for(run.path))
    except RlvrError as e:
        console.print(
            f"[yellow]warning: {e}; this run does not log to trackio (`rlvr dashboard {run}` imports it "
            "from metrics.jsonl)[/]"
        )
        return [b for b in backends if b != "trackio"]
    return backends


def before_training(s: Session) -> None:
    """The warm start (once per run: `state.json` remembers it), the trackers, and the callbacks that need
    neither the trainer's model nor its optimizer: metrics.jsonl, health, the held-out evaluation, the guards."""
    from accelerate import PartialState

    from rl.eval.heldout import HeldOutEval
    from rl.study.dashboard import start_trackio
    from rl.train.callbacks import MetricsFile
    from rl.train.precision import upcast_trainable
    from rl.train.resilience import NonFiniteGuard, PreemptionCallback
    from rl.train.warmup import warm_start

    exp, run, state = s.exp, s.run, s.state
    if exp.warmup.enabled and "warmup" not in state:
        check_warmup_engine(s.args)
        if s.precision.upcast_trainable:
            upcast_trainable(s.model)  # the warm-up's AdamW steps fp32 weights too
        s.model.to(PartialState().device)  # warm up where training will run
        state["warmup"] = warm_start(s.model, s.tokenizer, s.location, s.rows[0], exp, s.console)
        s.model.to(s.loaded_dtype)  # the start point in the dtype a resume reloads it in (LoRA: the frozen base too)
        if s.main:
            s.model.save_pretrained(run.start)
            s.tokenizer.save_pretrained(run.start)
    elif exp.warmup.enabled and (s.checkpoint is None or exp.model.lora is not None):
        # resumed before the first checkpoint, or from an adapter-only (LoRA) one: reload the warm start
        s.model = type(s.model).from_pretrained(run.start, dtype=s.model.dtype)
    if s.main:
        write_json(run.state, state)

    if "wandb" in exp.logging.backends and s.main:
        s.wandb_run = start_wandb(exp.logging, run.path, exp.to_dict(), resume_id=run.wandb_id)
    if "trackio" in s.backends:
        s.trackio_run = start_trackio(exp, run.path, exp.to_dict(), s.resume)
    metrics_file = MetricsFile(run.metrics, step_of(s.checkpoint))
    if s.health is not None:
        s.health.replay(metrics_file.path, step_of(s.checkpoint))  # resumed detectors go on where they were
        s.health.wandb_run, s.health.online = s.wandb_run, wandb_mode(exp.logging.wandb_mode) == "online"
        s.health.trackio_run = s.trackio_run
    s.heldout = HeldOutEval(s.rows[1], s.tokenizer, exp.eval, exp.seed, run, state, s.console)
    s.heldout.wandb_run, s.heldout.trackio_run = s.wandb_run, s.trackio_run
    s.metrics_file, s.preemption, s.non_finite = metrics_file, PreemptionCallback(run.path), NonFiniteGuard()


def build_trainer(s: Session):
    """rlvr's GRPOTrainer on the prepared model (LoRA, precision), with the curriculum, dynamic sampling, token
    count and budget, and every callback in place."""
    from transformers.trainer_callback import ProgressCallback

    from rl.data import to_dataset
    from rl.study.dashboard import adopt_trackio_callback
    from rl.train.callbacks import QuietProgress, TokenBudget
    from rl.train.lora import peft_config, prepare
    from rl.train.precision import trainable_dtypes, upcast_trainable
    from rl.train.trainer import generated_tokens_at, make_trainer_class

    exp, console = s.exp, s.console
    base = s.run.start if exp.warmup.enabled else s.location  # what a saved LoRA adapter goes on
    model = prepare(s.model, exp.model.lora, base, s.args.gradient_checkpointing)
    train_rows = s.rows[0]
    if exp.curriculum.enabled:  # each row carries its index: the gathered rewards say which prompt they are for
        from rl.train.curriculum import ID_COLUMN

        train_rows = [row | {ID_COLUMN: i} for i, row in enumerate(train_rows)]
    trainer = make_trainer_class()(
        model=model,
        peft_config=peft_config(exp.model.lora, model),
        reward_funcs=s.rewards,
        args=s.args,
        train_dataset=to_dataset(train_rows),
        processing_class=s.tokenizer,
        callbacks=[s.metrics_file, s.preemption, s.non_finite, s.heldout],
    )
    if s.health is not None:  # first: its health/* keys reach wandb and metrics.jsonl in the same log call
        trainer.callback_handler.callbacks.insert(0, s.health)
    s.heldout.trainer = trainer
    if s.trackio_run is not None:
        adopt_trackio_callback(trainer, s.trackio_run)
    s.non_finite.trainer = trainer  # under DeepSpeed it asks the engine for the global gradient norm
    if s.precision.upcast_trainable:
        upcast_trainable(trainer.model)  # after TRL's own casts (QLoRA adapters to bf16), before the optimizer exists
    dtypes = ", ".join(sorted(trainable_dtypes(trainer.model)))
    console.print(f"{s.precision.describe()}; trainable parameters: {dtypes}")
    if s.precision.warning and s.main:
        console.print(f"[yellow]warning: {s.precision.warning}[/]")
    if exp.dynamic_sampling.enabled:
        trainer.dynamic_rounds = exp.dynamic_sampling.max_rounds
    if exp.curriculum.enabled:
        start_curriculum(trainer, exp, len(train_rows), s.checkpoint, console)
    trainer.generated_tokens = generated_tokens_at(s.checkpoint)
    if exp.budget.max_generated_tokens is not None:
        trainer.add_callback(TokenBudget(trainer, exp.budget.max_generated_tokens))
    if trainer.pop_callback(ProgressCallback):
        trainer.add_callback(QuietProgress)
    return trainer


def train_guarded(s: Session, trainer):
    """`trainer.train()` with SIGTERM/SIGUSR1 (or a PREEMPT file) turned into a checkpoint and `Preempted` (exit code
    75)."""
    from rl.train.resilience import Preempted

    preemption = s.preemption
    preemption.install()
    try:
        output = trainer.train(resume_from_checkpoint=str(s.checkpoint) if s.checkpoint else None)
    finally:
        preemption.uninstall()
    if preemption.received is not None:
        if s.main:
            s.run.preempted.write_text(json.dumps({"step": trainer.state.global_step}))
        raise Preempted(
            f"{preemption.received} received: saved checkpoint-{trainer.state.global_step}; "
            f"continue with: rlvr train --resume {s.run}"
        )
    return output


def after_training(s: Session, trainer, output) -> dict:
    """Save `final/`, evaluate after GRPO, write summary.json (and the trackers' summary)."""
    from rl.train.lora import save_final
    from rl.train.trainer import ranks_in_sync

    exp, run = s.exp, s.run
    # final/: the adapter, or merged with lora.merge; a full model in the dtype its weights were loaded in
    # (checkpoints keep the fp32 training copy for an exact resume)
    save_final(trainer, run.final, exp.model.lora, final_dtype(s.precision, s.loaded_dtype))
    if s.main:
        s.tokenizer.save_pretrained(run.final)
    after = s.heldout.run("after") if exp.eval.after else None
    summary = make_summary(exp, run, s.state, after, trainer.state.global_step, output, s.started)
    summary.update(
        num_processes=trainer.accelerator.num_processes,
        ranks_in_sync=ranks_in_sync(trainer),
        precision=s.precision.describe().removeprefix("precision: "),
        health=s.health.summary() if s.health is not None else {"enabled": False, "alerts": [], "checked": []},
    )
    if trainer.curriculum is not None:
        summary["curriculum"] = trainer.curriculum.sizes()
    if s.main:
        run.summary.write_text(json.dumps(summary, indent=1))
    if s.wandb_run is not None:
        s.wandb_run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
    return summary


def start_curriculum(trainer, exp: Experiment, n_prompts: int, checkpoint: Path | None, console) -> None:
    """Give the trainer its curriculum: empty on a fresh start, the checkpoint's state on a resume."""
    from rl.train.curriculum import Curriculum, accuracy_reward_index, saved_state

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
        step = step_of(checkpoint)
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


def make_summary(exp, run: RunDir, state, after, steps, output, started) -> dict:
    """summary.json. `accuracy_*` are held-out pass@1 with greedy decoding (the names predate the one vocabulary
    and stay: every report, ablation and finished run reads them)."""
    before = state.get("before") or {}
    after = after or {}
    summary = {
        "name": exp.name,
        "seed": exp.seed,
        "run_dir": str(run),
        "steps": steps,
        "accuracy_before": current_names(before).get("pass@1"),
        "accuracy_after": current_names(after).get("pass@1"),
        "format_rate_before": before.get("format_rate"),
        "format_rate_after": after.get("format_rate"),
        "n_eval": (after or before).get("n_problems", (after or before).get("n")),
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
    if summary["n_eval"] is not None:  # with eval.before and eval.after off there is nothing to show
        table.add_row("held-out pass@1", fmt(summary["accuracy_before"]), fmt(summary["accuracy_after"]))
        table.add_row("format rate", fmt(summary["format_rate_before"]), fmt(summary["format_rate_after"]))
        table.add_row("held-out problems", str(summary["n_eval"]), str(summary["n_eval"]))
    else:
        table.add_row("held-out evaluation", "off", "off")
    table.add_row("GRPO steps", "", str(summary["steps"]))
    table.add_row("wall seconds", "", str(summary["wall_seconds"]))
    console.print(table)
