"""LoRA and QLoRA for GRPO: fit a larger policy on fewer GPUs by training low-rank adapters on a frozen base.

    model:
      name_or_path: mistralai/Mistral-7B-Instruct-v0.3
      lora: {r: 16, alpha: 32, dropout: 0.05, target_modules: [all-linear], merge: false, quantize: null}

TRL's `GRPOTrainer` wraps the policy with peft (`peft_config=`); with `grpo.beta > 0` the reference model is the
same base with the adapter switched off, so no second copy is held. Checkpoints hold the adapter only. `final/`
holds the adapter (`adapter_config.json` + `adapter_model.safetensors`, a few MB, pointing at its base) or, with
`merge: true`, a plain model with the adapter merged in; `rlvr eval` and `rl.models.load_model` read either.

`quantize: 4bit` is QLoRA (Dettmers et al. 2023: nf4 base, double quantisation, bf16 compute) and `8bit` loads
the base in int8; both need bitsandbytes and a CUDA GPU and cannot be merged on save (the base is quantised).
"""

from __future__ import annotations

from pathlib import Path

from rl.config import ALL_LINEAR, LoraConfig
from rl.errors import RlvrError


def linear_names(model) -> list[str]:
    """Distinct last name parts of the model's linear layers (what `target_modules` may name)."""
    import torch
    from transformers.pytorch_utils import Conv1D

    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, (torch.nn.Linear, Conv1D))}
    return sorted(names)


def peft_config(cfg: LoraConfig | None, model):
    """The peft LoraConfig for the trainer (None without `model.lora`); target modules must match some layer."""
    if cfg is None:
        return None
    try:
        import peft
    except ImportError:
        raise RlvrError("model.lora needs peft (pip install peft)") from None
    if cfg.target_modules == [ALL_LINEAR]:
        targets: str | list[str] = ALL_LINEAR
    else:
        targets = list(cfg.target_modules)
        names = [name for name, _ in model.named_modules()]
        missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            raise RlvrError(
                f"model.lora.target_modules: {', '.join(missing)} match no module of this model "
                f"(its linear layers: {', '.join(linear_names(model))})"
            )
    return peft.LoraConfig(
        task_type="CAUSAL_LM",
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=targets,
        bias="none",
    )


def prepare(model, cfg: LoraConfig | None, base: str, gradient_checkpointing: bool):
    """Ready a loaded policy for adapters: saved adapters name `base` as their base (the warm start, if any);
    a quantised base gets peft's k-bit preparation (norms in fp32, input gradients for checkpointing)."""
    if cfg is None:
        return model
    model.name_or_path = str(base)  # peft writes it into adapter_config.json as base_model_name_or_path
    if cfg.quantize:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def save_final(trainer, out: Path, cfg: LoraConfig | None, dtype=None):
    """Save the trained policy to `out` (every rank calls this: the gathers are collectives).

    Full fine-tuning and adapters: `trainer.save_model` (adapter-only for a peft model). Under FSDP2 the full state
    dict is gathered to rank 0 (`accelerator.get_state_dict`) and saved with the model's config whatever
    `fsdp_state_dict_type` says: with SHARDED_STATE_DICT, `Trainer.save_model` writes nothing at all. `dtype` (full
    fine-tuning only): the dtype `final/` is written in. `merge: true`: the adapter is merged into the base weights
    in place and the plain model saved (not under DeepSpeed ZeRO-3, whose sharded weights cannot be merged here:
    save the adapter and merge afterwards).
    """
    acc = trainer.accelerator
    if cfg is None and (trainer.is_fsdp_enabled or dtype is not None):
        # FSDP: gathered to rank 0 (the others get {}); one device or DDP: the replica's own. Cast on a copy: the
        # live model keeps its fp32 weights (TRL's vLLM sync and ranks_in_sync still read them after this).
        state = acc.get_state_dict(trainer.model)
        if acc.is_main_process:
            if dtype is not None:
                state = {k: v.to(device="cpu", dtype=dtype) if v.is_floating_point() else v for k, v in state.items()}
            model = acc.unwrap_model(trainer.model)
            model.save_pretrained(out, state_dict=state)
            if dtype is not None:  # config.json names the dtype of the files, not of the fp32 training copy
                model.config.dtype = dtype
                model.config.save_pretrained(out)
        acc.wait_for_everyone()
        return
    if cfg is None or not cfg.merge:
        trainer.save_model(str(out))
        return
    if trainer.is_deepspeed_enabled and acc.state.deepspeed_plugin.zero_stage == 3:
        raise RlvrError("model.lora.merge is not supported under DeepSpeed ZeRO-3; set merge: false")
    merged = acc.unwrap_model(trainer.model).merge_and_unload()
    if acc.is_main_process:
        merged.save_pretrained(out)
    acc.wait_for_everyone()
