"""rlvr's GRPOTrainer: TRL's `GRPOTrainer` unchanged in what it optimises, plus bookkeeping.

Per-reward counters in every log, generation time, generated tokens (counted over ranks and dynamic-sampling
rounds, saved in each checkpoint), figures measured between steps (`extra_logs`: the periodic held-out
evaluation), CUDA memory, a non-finite loss stopped before its backward, the curriculum and dynamic sampling (their
mixins), after training whether every data-parallel rank holds the same weights, and no offline-wandb URL warning
at each checkpoint (`rl.tracking.offline_run_unseen`).
"""

from __future__ import annotations

import time
from pathlib import Path

from rl.rundir import read_json, saving_checkpoint_folder, write_json
from rl.tracking import offline_run_unseen
from rl.train.resilience import check_finite_loss

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


def make_trainer_class():
    import torch
    from trl import GRPOTrainer

    from rl.train.curriculum import CurriculumMixin
    from rl.train.dynamic_sampling import DynamicSamplingMixin

    class RlvrGRPOTrainer(CurriculumMixin, DynamicSamplingMixin, GRPOTrainer):
        """GRPOTrainer whose logs also carry per-reward counters, and that stops on a non-finite loss before its
        backward (on every engine: under DeepSpeed `p.grad` is empty, so `NonFiniteGuard` cannot see gradients)."""

        _generation_seconds = 0.0
        generated_tokens = 0  # completion tokens generated so far, every rank and round (`tokens/generated`)
        extra_logs: dict[str, float] | None = None
        """Figures measured outside the step's own work (the held-out evaluation every `eval.every_steps`), added to
        the next training log and then dropped."""

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

        def _issue_warnings_after_load(self, load_result) -> None:
            # a checkpoint stores a tied weight once (lm_head.weight is embed_tokens.weight): not missing, and a
            # warning about it on every resume reads like a failed load
            tied = tied_parameter_names(self.model)
            missing = [k for k in load_result.missing_keys if k not in tied]
            super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

        def _save_checkpoint(self, model, trial):
            if self.args.should_save:  # before the Trainer's files, as the curriculum's: trainer_state.json is last
                write_json(
                    saving_checkpoint_folder(self, trial) / TOKENS_FILE, {"generated_tokens": self.generated_tokens}
                )
            return super()._save_checkpoint(model, trial)

        def create_model_card(self, *args, **kwargs):
            with offline_run_unseen():  # TRL reads wandb.run.url, a warning at each checkpoint of an offline run
                return super().create_model_card(*args, **kwargs)

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
                if self.extra_logs:
                    logs.update(self.extra_logs)
                    self.extra_logs = None
            super().log(logs, start_time)

    return RlvrGRPOTrainer


def tied_parameter_names(model) -> set[str]:
    """Names of parameters that share their tensor with another parameter (tied embeddings): loading any one of
    them loads all."""
    names: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names.setdefault(id(param), []).append(name)
    return {name for group in names.values() if len(group) > 1 for name in group}


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
