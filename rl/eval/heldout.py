"""Held-out evaluation inside `rlvr train`: on the model the Trainer prepared, on its device, sharded over ranks.

Before training (`on_train_begin`, after `accelerator.prepare`) and after it, the held-out set is generated with
whatever the trainer generates with, so an 8-GPU ZeRO-3 node never decodes 500 prompts on the CPU:

- **transformers** (`grpo.use_vllm: false`): TRL's own `unwrap_model_for_generation` (trl/models/utils.py) unwraps
  DDP/DeepSpeed and, under ZeRO-3 with `ds3_gather_for_generation` (TRL's default), gathers the full weights for
  the duration; without gathering (or under FSDP2, whose forward all-gathers) generation runs with `synced_gpus`
  so every rank keeps stepping until all are done. Compute runs under `accelerator.autocast()` (bf16 when training
  is), like the training forward.
- **vLLM colocate**: TRL's engine (`trainer.vllm_generation.llm`), after pushing the current weights into it with
  TRL's `sync_weights` (it holds the weights of the last rollout, not of the last optimizer step); sleep mode is
  woken and put back to sleep as TRL does. A tensor-parallel group shares one shard.
- **vLLM server**: weights are pushed (every rank takes part in the gather), then rank 0 sends all prompts to the
  server and broadcasts the completions. The server applies one seed to a whole request, so sampled evaluation
  there is seeded per call, not per problem (greedy, the default, is unaffected).

Prompts are split over ranks (`rl.eval.evaluate.Shards`), each rank grades its own completions, and the records are
gathered: every rank ends with the same figures; rank 0 writes `eval/<label>.jsonl`.

With `eval.every_steps: N` the same evaluation also runs at the end of every N-th optimizer step (`on_step_end`,
before that step's log and checkpoint), except the last step when the evaluation after training will measure the
same model. Its figures join that step's log as `eval_*` keys, so they reach every backend the way the training
metrics do: transformers' `rewrite_logs` names them `eval/pass@1`, ... in wandb and trackio (the names of the
evaluations before and after), and `MetricsFile` writes them under those names into metrics.jsonl; the completions
go to `eval/step-N.jsonl`. The step is logged even when `grpo.logging_steps` does not divide it. A resume from
checkpoint-N never repeats the evaluation of step N or before (it was done before that checkpoint was saved);
`step-M.jsonl` files of steps after the checkpoint belong to steps about to be trained again and are removed.
"""

from __future__ import annotations

import re

from transformers import TrainerCallback

from rl.config import EvalConfig
from rl.distenv import is_main_process
from rl.eval.evaluate import Sampling, Shards, evaluate, gather_from_ranks, sample, vllm_generate
from rl.eval.metrics import flatten
from rl.rundir import RunDir, write_json

PERIODIC = re.compile(r"step-(\d+)\.jsonl")
"""The per-sample file of the evaluation at step N (`eval.every_steps`)."""
LOG_PREFIX = "eval_"
"""The prefix of a periodic evaluation's keys in the Trainer's logs: transformers' `rewrite_logs` turns `eval_x`
into `eval/x`, the name the evaluations before and after training log under."""


def _backend(trainer) -> str:
    if not getattr(trainer, "use_vllm", False):
        return "transformers"
    return f"vllm-{trainer.vllm_mode}"


def _sync_vllm(trainer) -> None:
    """Push the current policy weights into TRL's vLLM engine unless it already holds this step's (sleep level 2
    drops them: then always, as TRL's own `generate` does)."""
    engine = trainer.vllm_generation
    if trainer._last_loaded_step != trainer.state.global_step or getattr(engine, "_llm_weights_sleeping", False):
        engine.sync_weights()
        trainer._last_loaded_step = trainer.state.global_step


def trainer_completer(trainer, tokenizer, cfg: EvalConfig, seed: int):
    """(complete function for `rl.eval.evaluate.evaluate`, its `Shards`) for the trainer's generation backend: greedy,
    `cfg.max_new_tokens`."""
    backend = _backend(trainer)
    greedy = Sampling.greedy(cfg.max_new_tokens, seed)
    acc = trainer.accelerator
    if backend == "vllm-colocate":
        engine = trainer.vllm_generation
        shards = Shards.current(group=engine.tensor_parallel_size)

        def complete(prompts, indices, progress=None):
            _sync_vllm(trainer)
            if engine.enable_sleep_mode:
                engine.llm.wake_up(tags=["kv_cache"])
            if engine.tensor_parallel_size > 1 and hasattr(trainer.model, "peft_config"):
                # as TRL does before a tensor-parallel generate with PEFT (trl#3671): drain NCCL first
                import torch.distributed as dist

                dist.barrier(device_ids=[acc.local_process_index])
            try:
                return vllm_generate(engine.llm, tokenizer, prompts, greedy, indices)
            finally:
                if engine.enable_sleep_mode:
                    engine.llm.sleep(level=2)
                    engine._llm_weights_sleeping = True

        return complete, shards

    if backend == "vllm-server":
        from rl.data import render_prompt

        def complete(prompts, indices, progress=None):
            # every rank's shard to rank 0, one request to the server, each rank's completions back (graded there)
            _sync_vllm(trainer)
            shards = gather_from_ranks((indices, prompts))
            payload = [None]
            if acc.is_main_process:
                flat = [p for _, part in shards for p in part]
                ids = [tokenizer(render_prompt(p, tokenizer), add_special_tokens=False)["input_ids"] for p in flat]
                params = greedy.vllm()  # the keywords TRL's VLLMClient.generate takes; the seed goes through
                client_keys = ("n", "repetition_penalty", "temperature", "top_p", "top_k", "min_p", "max_tokens")
                out = trainer.vllm_generation.vllm_client.generate(
                    prompts=ids,
                    **{k: params[k] for k in client_keys},
                    logprobs=None,
                    generation_kwargs={"seed": params["seed"]},
                )
                texts = [[t] for t in tokenizer.batch_decode(out["completion_ids"], skip_special_tokens=True)]
                lengths = [[len(c)] for c in out["completion_ids"]]
                bounds = [0]
                for _, part in shards:
                    bounds.append(bounds[-1] + len(part))
                payload = [[(texts[a:b], lengths[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]]
            if acc.num_processes > 1:
                from accelerate.utils import broadcast_object_list

                broadcast_object_list(payload, from_process=0)
            return payload[0][acc.process_index]

        return complete, Shards.current()

    from trl.models.utils import unwrap_model_for_generation

    from rl.train.precision import zero_stage

    gathered = bool(trainer.args.ds3_gather_for_generation)
    sharded_forward = (zero_stage(trainer.args) == 3 and not gathered) or trainer.is_fsdp_enabled
    synced = sharded_forward and acc.num_processes > 1

    def complete(prompts, indices, progress=None):
        with (
            unwrap_model_for_generation(
                trainer.model_wrapped,
                acc,
                gather_deepspeed3_params=gathered,
                gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
            ) as model,
            acc.autocast(),
        ):
            return sample(model, tokenizer, prompts, greedy, cfg.batch_size, progress, indices, synced)

    return complete, Shards.current()


class HeldOutEval(TrainerCallback):
    """Evaluates the held-out rows at train begin ("before", once per run: kept in `state.json` across resumes),
    every `eval.every_steps` optimizer steps (into that step's log), and, when `run("after")` is called, after
    training. Set `.trainer` (and the trackers) before `train()`; the trainer must be rlvr's (`extra_logs`)."""

    def __init__(self, rows, tokenizer, cfg: EvalConfig, seed: int, run: RunDir, state: dict, console):
        self.rows, self.tokenizer, self.cfg, self.seed = rows, tokenizer, cfg, seed
        self.run_dir, self.state, self.console = run, state, console
        self.main = is_main_process()
        self.trainer = None
        self.wandb_run = None
        self.trackio_run = None

    def evaluate(self, label: str) -> dict:
        """Evaluate the trainer's current model on every rank; rank 0 writes `eval/<label>.jsonl`. Returns the
        `rl.eval.metrics.aggregate` result (identical on every rank)."""
        complete, shards = trainer_completer(self.trainer, self.tokenizer, self.cfg, self.seed)
        result, _ = evaluate(
            complete,
            self.rows,
            self.tokenizer,
            self.cfg.timeout,
            shards=shards,
            description=f"eval {label}",
            out_file=self.run_dir.eval / f"{label}.jsonl" if self.main else None,
        )
        return result | {"ranks": shards.world}

    def run(self, label: str) -> dict:
        """Evaluate now; return the overall figures (pass@1, format_rate, mean_length in tokens, ...) with the
        backend and rank count, and log every figure (with its breakdowns) to the trackers at this step."""
        result = self.evaluate(label)
        step = self.trainer.state.global_step
        if self.wandb_run is not None:
            self.wandb_run.log(flatten(result) | {"train/global_step": step})
        if self.trackio_run is not None:
            self.trackio_run.log(flatten(result) | {"train/global_step": step}, step=step)
        return result["overall"] | {"backend": _backend(self.trainer), "ranks": result["ranks"]}

    def due(self, step: int, max_steps: int) -> bool:
        """Whether `eval.every_steps` asks for an evaluation at the end of `step`: a multiple of it, and not the
        last step when the evaluation after training measures that same model."""
        every = self.cfg.every_steps
        if not every or step % every:
            return False
        return not (self.cfg.after and max_steps > 0 and step >= max_steps)

    def forget_after(self, step: int) -> list[str]:
        """Remove the `step-M.jsonl` files of steps after `step` (a resume trains them again); their names."""
        folder = self.run_dir.eval
        files = folder.iterdir() if folder.is_dir() else []
        stale = [p for p in files if (m := PERIODIC.fullmatch(p.name)) and int(m.group(1)) > step]
        for path in stale:
            path.unlink()
        return sorted(p.name for p in stale)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.main:
            self.forget_after(state.global_step)
        if not self.cfg.before or "before" in self.state:
            return
        self.state["before"] = self.run("before")
        if self.main:
            write_json(self.run_dir.state, self.state)
            self.console.print(f"held-out pass@1 before GRPO: {self.state['before']['pass@1']:.3f}")

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if not self.due(step, state.max_steps):
            return control
        result = self.evaluate(f"step-{step}")
        figures = {LOG_PREFIX + k.removeprefix("eval/"): v for k, v in flatten(result).items()}
        self.trainer.extra_logs = (self.trainer.extra_logs or {}) | figures
        control.should_log = True  # this step's log carries the figures, whatever grpo.logging_steps says
        if self.main:
            where = self.run_dir.eval / f"step-{step}.jsonl"
            _say(f"held-out pass@1 at step {step}: {result['overall']['pass@1']:.3f} ({where})")
        return control


def _say(line: str) -> None:
    """One line on stdout above the trainer's progress bar (tqdm clears and redraws it)."""
    import sys

    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()
