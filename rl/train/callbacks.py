"""Trainer callbacks of `rlvr train`: `metrics.jsonl`, training progress (a bar, or lines in a log), and the
generated-token budget.

(The held-out evaluation is `rl.eval.heldout.HeldOutEval`, preemption and non-finite guards are in
`rl.train.resilience`, run
health in `rl.train.health`: each beside what it calls.)

Metric names follow TRL (`loss`, `reward`, `rewards/<name>/mean`, `kl`, `completions/mean_length`,
`learning_rate`, `step_time`, ...) plus rlvr's per-reward counters `rewards/<name>/{items,none,timeouts,errors,
seconds}`, `tokens/generated`, `time/generation_s`, the run-health monitor's `health/*`, and at the steps of the
periodic held-out evaluation (`eval.every_steps`) its figures `eval/pass@1`, `eval/format_rate`, ...
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from rl.distenv import is_main_process

SKIP_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
"""Keys of the Trainer's end-of-training log, which is not a step."""


EVAL_LOG_PREFIX = "eval_"
"""The Trainer-log prefix of held-out figures (the periodic evaluation, `rl.eval.heldout`)."""


def metrics_name(key: str) -> str:
    """A log key as metrics.jsonl names it: training metrics as TRL names them; held-out figures `eval_x` as
    `eval/x`, the name wandb and trackio show (transformers' `rewrite_logs`) and the evaluations before and after
    training use."""
    return "eval/" + key.removeprefix(EVAL_LOG_PREFIX) if key.startswith(EVAL_LOG_PREFIX) else key


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class MetricsFile(TrainerCallback):
    """Appends one JSON line per logging step to `metrics.jsonl`; on resume drops lines past the checkpoint."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.is_file() and is_main_process():
            kept = [
                line
                for line in path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            path.write_text("".join(line + "\n" for line in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or any(k in logs for k in SKIP_KEYS):
            return
        record = {"step": state.global_step, "time": round(time.time(), 3)}
        record.update({metrics_name(k): _clean(v) for k, v in logs.items()})
        record.setdefault("kl", None)  # TRL computes KL only when beta > 0 (it then needs a reference model)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")


class QuietProgress(ProgressCallback):
    """GRPO training's progress in place of the Trainer's `ProgressCallback`: on a terminal its tqdm bar, without
    its per-step dump of the logs dict (metrics.jsonl and wandb have them); in a log file, where tqdm's redraws
    would make one endless line, `rl.progress.Phase`'s timed lines with the step and the last logged reward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase = None  # rl.progress.Phase while training, in a log

    def on_train_begin(self, args, state, control, **kwargs):
        from rl.progress import Phase, is_live

        if self.phase is not None:  # a train() that raised left it open (a notebook's second call)
            self.phase.finish(ok=False)
            self.phase = None
        if is_live():
            return super().on_train_begin(args, state, control, **kwargs)
        self.current_step = state.global_step
        if state.is_world_process_zero:  # a resumed run starts at its checkpoint's step
            self.phase = Phase("train", state.max_steps, "steps", initial=state.global_step).start()

    def on_step_end(self, args, state, control, **kwargs):
        if self.phase is not None:
            self.phase.update(state.global_step)
        elif self.training_bar is not None:
            super().on_step_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.phase is not None and logs and "reward" in logs:
            self.phase.update(reward=logs["reward"])

    def on_train_end(self, args, state, control, **kwargs):
        if self.phase is not None:
            self.phase.finish()
            self.phase = None
        elif self.training_bar is not None:
            super().on_train_end(args, state, control, **kwargs)


class TokenBudget(TrainerCallback):
    """Ends training after the step at which `budget.max_generated_tokens` is reached (the same count on every
    rank: it is summed over ranks)."""

    def __init__(self, trainer, budget: int):
        self.trainer, self.budget = trainer, budget

    def on_step_end(self, args, state, control, **kwargs):
        if self.trainer.generated_tokens >= self.budget:
            control.should_training_stop = True
            control.should_log = True  # the last count reaches metrics.jsonl and wandb
            if args.save_strategy == "steps":  # the last step is a checkpoint, as at max_steps
                control.should_save = True
