"""What keeps a long run alive on a cluster, or stops it cleanly: preemption, NaNs, failing rewards, half-written
checkpoints.

- SIGTERM / SIGUSR1 (slurm sends one before it kills or requeues a job): the run saves a checkpoint at the next
  step boundary and exits with code 75 (`EXIT_PREEMPTED`); `rlvr train --resume RUN_DIR` continues it.
- A non-finite loss or gradient stops the run *before* the optimizer applies it (exit code 3), naming the step;
  the last checkpoint on disk is still a good one.
- A reward that raises on some items: those items score None (the reward library counts them in
  `rewards/<name>/errors`) and the first traceback per reward is kept in `RUN/reward_errors/<name>.txt`. A reward
  that fails on every item of a batch stops the run (exit code 3) instead of training on nothing
  (`rl.train.trainer_reward.TrainerReward`).
- A checkpoint folder without `trainer_state.json` (the Trainer writes it last) was cut off mid-save: it is moved
  aside as `incomplete-checkpoint-N` so neither resume nor checkpoint rotation mistakes it for a good one.
"""

from __future__ import annotations

import signal
from pathlib import Path

from transformers import TrainerCallback

from rl.errors import RlvrError
from rl.rundir import RunDir

EXIT_STOPPED = 3
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again later"; the slurm scripts requeue on it


class TrainingStopped(RlvrError):
    """Training cannot go on (non-finite numbers, a reward failing everywhere); the last checkpoint is intact."""

    exit_code = EXIT_STOPPED


class Preempted(RlvrError):
    """A checkpoint was saved on SIGTERM/SIGUSR1; resume the run to continue."""

    exit_code = EXIT_PREEMPTED


class PreemptionCallback(TrainerCallback):
    """On SIGTERM/SIGUSR1, or a `PREEMPT` file in the run directory (what the slurm scripts write when slurm warns
    them, since signals do not reach every rank through the launchers): save at the next step boundary and stop,
    all ranks at the same step."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, run_dir: Path | None = None):
        self.received: str | None = None
        self.previous = {}
        self.flag_file = RunDir(run_dir).preempt_flag if run_dir is not None else None

    def install(self) -> None:
        for sig in self.SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def _handle(self, signum, frame) -> None:
        self.received = signal.Signals(signum).name

    def _any_rank_received(self) -> bool:
        if self.received is None and self.flag_file is not None and self.flag_file.exists():
            self.received = "PREEMPT file"
        flag = any_rank(self.received is not None)
        if flag and self.received is None:
            self.received = "preemption on another rank"
        return flag

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_received():
            control.should_save = True
            control.should_training_stop = True
        return control


def reduce_over_ranks(values: list[float], op: str = "sum") -> list[float]:
    """Elementwise sum or max of `values` over all ranks (every rank must call it at the same point; one process:
    `values`)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return tensor.tolist()


def any_rank(flag: bool) -> bool:
    """Whether `flag` is true on any rank (an all-reduce: every rank gets the same answer; one process: `flag`)."""
    return reduce_over_ranks([1.0 if flag else 0.0], "max")[0] > 0


class NonFiniteGuard(TrainerCallback):
    """Stop on a non-finite gradient before the optimizer applies it where gradients are visible (one device, DDP,
    FSDP). DeepSpeed steps inside `backward`, before any callback, and masks a non-finite gradient norm to a finite
    one, so there the guard checks this rank's weights (its ZeRO-3 partition, or its ZeRO-1/2 replica) right after
    each step and all ranks stop together: the step is applied, the last checkpoint on disk is still good. A
    non-finite *loss* is caught before its backward on every engine (`check_finite_loss`). Set `.trainer`."""

    trainer = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        import torch

        grads = [p.grad for p in model.parameters() if p.grad is not None] if model is not None else []
        if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
            raise TrainingStopped(non_finite_message("gradient", state.global_step + 1, args.output_dir))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.trainer is None or not self.trainer.is_deepspeed_enabled or model is None:
            return
        if not all_ranks_finite(local_weights(model)):
            raise TrainingStopped(
                non_finite_message("weights after a DeepSpeed step", state.global_step, args.output_dir).replace(
                    "stopped before applying it", "DeepSpeed applied a non-finite update; stopped"
                )
            )


def local_weights(model):
    """This rank's own values of each parameter: the valid part of a ZeRO-3 partition (`ds_tensor`; its tail past
    the parameter's size is padding), else the parameter itself."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    for p in model.parameters():
        part = getattr(p, "ds_tensor", None)
        if part is None:
            yield p.detach()
        else:
            size = part.numel()
            yield part.detach().reshape(-1)[: max(0, min(size, p.ds_numel - rank * size))]


def all_ranks_finite(tensors) -> bool:
    """True when every tensor on every rank is finite (`any_rank`: every rank gets the same answer)."""
    import torch

    return not any_rank(any(t.numel() and not torch.isfinite(t).all() for t in tensors))


def check_finite_loss(loss, step: int, checkpoints: str) -> None:
    """Stop before the backward of a non-finite loss, on every rank at once (the ranks agree by an all-reduce, so
    none is left waiting in a collective). Works on every engine, DeepSpeed included, where gradients are not
    visible to callbacks."""
    import torch

    if any_rank(not bool(torch.isfinite(loss.detach()).all())):
        raise TrainingStopped(non_finite_message("loss", step, checkpoints))


def non_finite_message(what: str, step: int, checkpoints: str) -> str:
    from rl.rundir import RunDir

    last = RunDir(Path(checkpoints).parent).last_checkpoint()
    keep = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before it"
    return f"non-finite {what} at step {step}; stopped before applying it ({keep})"


def quarantine_partial_checkpoints(run_dir: Path) -> list[Path]:
    """Move checkpoint folders that lack trainer_state.json (killed mid-save) out of the Trainer's sight."""
    from rl.rundir import is_complete_checkpoint

    folder = RunDir(run_dir).checkpoints
    moved = []
    for path in sorted(folder.glob("checkpoint-*")) if folder.is_dir() else []:
        if path.is_dir() and not is_complete_checkpoint(path):
            target = path.with_name(f"incomplete-{path.name}")
            n = 1
            while target.exists():
                target, n = path.with_name(f"incomplete-{path.name}.{n}"), n + 1
            path.rename(target)
            moved.append(target)
    return moved
