"""The precision policy: which dtype the optimizer steps, which dtype the matmuls run in, and who keeps the masters.

One rule, decided once per run by `decide` and printed by `Precision.describe`:

- **Parameters the optimizer steps are fp32** (mixed precision). With `grpo.bf16: true` the forward and backward
  run in bf16 by autocast; the weights and AdamW's update stay fp32. Pure bf16 loses every update smaller than half
  a bf16 ulp (2^-9 of the weight): at RL learning rates (1e-6) a weight of 0.02 never moves (measured in
  docs/measurements.md: 7,150 of 998,912 weights changed in one step, against 998,434 in fp32).
- **Who keeps the fp32 copy depends on the engine.** DeepSpeed ZeRO (any stage, with bf16 on) keeps fp32 master
  partitions in its optimizer (`single_partition_of_fp32_groups` in ZeRO-1/2, `fp32_partitioned_groups_flat` in
  ZeRO-3, `BF16_Optimizer` at stage 0) and casts the module to bf16 itself, so the model loads in `model.dtype`
  (half the memory) and rlvr changes nothing. accelerate's FSDP2 upcasts the sharded parameters to fp32 when mixed
  precision is on (`fsdp2_prepare_model`). The plain path (one device, DDP, CPU) has no master copy: there rlvr
  upcasts every *trainable* parameter to fp32 after the Trainer is built (after TRL's own casts, e.g. QLoRA
  adapters to bf16) and before the optimizer exists. Frozen weights (a LoRA base) stay in `model.dtype`.
- **Pure bf16 only when asked** (`model.pure_bf16: true`), with a warning that names the rounding.
- **What is saved.** Checkpoints hold the fp32 parameters and optimizer state (an exact resume). `final/` of a full
  fine-tune is written in the dtype the weights were loaded in (bf16 for the GPU recipes), as published checkpoints
  are; LoRA adapters are saved as trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rl.errors import RlvrError

if TYPE_CHECKING:  # rl.config imports this module lazily; no cycle at import time
    from rl.config import ModelConfig

BF16_ROUNDING = (
    "pure bf16: the optimizer steps bf16 parameters, so an update smaller than half a bf16 ulp (2^-9 of the weight) "
    "rounds away; at lr 1e-6 most weights never move (set model.pure_bf16: false for fp32 master weights)"
)


def engine_of(args) -> str:
    """`deepspeed`, `fsdp` or `plain` for a built `GRPOConfig` (launch flags arrive as ACCELERATE_* variables)."""
    if getattr(args, "deepspeed_plugin", None) is not None:
        return "deepspeed"
    if getattr(args, "fsdp", None) or os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes"):
        return "fsdp"
    return "plain"


def zero_stage(args) -> int | None:
    plugin = getattr(args, "deepspeed_plugin", None)
    return None if plugin is None else int(plugin.zero_stage)


@dataclass(frozen=True)
class Precision:
    engine: str
    """deepspeed | fsdp | plain."""
    compute: str
    """bf16 | fp16 | fp32: the dtype of the matmuls (autocast, or the engine's cast)."""
    masters: str
    """Who holds the fp32 weights the optimizer steps (or that nobody does)."""
    upcast_trainable: bool
    """rlvr upcasts trainable parameters to fp32 after the Trainer is built (the plain path)."""
    warning: str | None = None

    def describe(self) -> str:
        return f"precision: {self.compute} compute, {self.masters} ({self.engine})"


def decide(model: ModelConfig, args) -> Precision:
    """The precision policy for `model` trained with the built `GRPOConfig` `args` (see the module docstring)."""
    engine = engine_of(args)
    compute = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    if engine == "fsdp" and model.lora is not None:
        raise RlvrError(
            "model.lora under FSDP: rlvr cannot save the adapter from FSDP shards yet; train LoRA on one GPU, DDP "
            "or DeepSpeed (configs/accelerate/ddp.yaml, zero2.yaml)"
        )
    if getattr(args, "use_transformers_continuous_batching", False) and compute != "fp32" and not model.pure_bf16:
        raise RlvrError(PAGED_CAST)
    if model.pure_bf16:
        if model.dtype != "bfloat16":
            raise RlvrError(f"model.pure_bf16 needs model.dtype: bfloat16 (got {model.dtype})")
        if engine != "plain":
            raise RlvrError(
                f"model.pure_bf16: {engine} keeps fp32 master weights of its own; pure bf16 applies to one device "
                "or DDP only (drop model.pure_bf16)"
            )
        return Precision(engine, compute, "bf16 parameters, no fp32 masters", False, BF16_ROUNDING)
    if model.dtype == "float16" and compute == "bf16":
        raise RlvrError("model.dtype float16 with grpo.bf16: true mixes two half formats; load bfloat16 or float32")
    if engine == "deepspeed":
        return Precision(engine, compute, f"fp32 master partitions in DeepSpeed ZeRO-{zero_stage(args)}", False)
    if engine == "fsdp":
        return Precision(engine, compute, "fp32 sharded parameters (accelerate FSDP2 upcasts them)", False)
    lora = "" if model.lora is None else " (LoRA adapters; the frozen base stays in model.dtype)"
    return Precision(engine, compute, f"fp32 trainable parameters{lora}", True)


def upcast_trainable(model) -> int:
    """Cast every trainable floating-point parameter below fp32 to fp32 in place; return how many were cast.

    `param.data` is replaced, so the Parameter objects (and any references TRL or peft hold) stay the same.
    """
    import torch

    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.is_floating_point() and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast


def trainable_dtypes(model) -> set[str]:
    """The dtypes of the trainable parameters (e.g. {"float32"})."""
    return {str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.requires_grad}


PAGED_CAST = (
    "grpo.use_transformers_continuous_batching (or use_transformers_paged): TRL 1.16 casts the policy to bf16 in "
    "place before every such rollout, which destroys fp32 master weights; drop it (or set model.pure_bf16: true and "
    "accept bf16 rounding)"
)


def check_trl_casts(grpo: dict, model: ModelConfig) -> None:
    """TRL code paths that would cast fp32 master weights down in place (config time; `decide` checks the built
    GRPOConfig too)."""
    paged = grpo.get("use_transformers_paged") or grpo.get("use_transformers_continuous_batching")
    half = grpo.get("bf16", True) or grpo.get("fp16", False)  # GRPOConfig's bf16 defaults to true
    if paged and half and not model.pure_bf16:
        raise RlvrError(PAGED_CAST)
