"""Memory planner: the per-GPU budget of a GRPO run, in GiB, before it waits in a queue. Pure arithmetic, no torch.

    rlvr launch configs/dapo-qwen2.5-7b.yaml --dry-run      # prints the budget; exit 2 when it does not fit

Terms (bytes; P parameters, N training GPUs, B micro-batch of completions, T prompt + completion tokens):
- **model states** per strategy. DeepSpeed's own estimators (deepspeed/runtime/zero/stage_1_and_2.py and stage3.py,
  0.19): ZeRO-2 ``2P + 18P/N`` (bf16 weights; fp32 masters, Adam moments and gradients sharded), ZeRO-3
  ``4 * largest layer + 18P/N``. Plain DDP ``16P`` (rlvr keeps fp32 trainable weights: 4 weights + 4 grads + 8 Adam).
  FSDP2 ``16P/N`` plus two gathered bf16 blocks (the one running and the one prefetched). LoRA: the frozen base in
  bf16 (QLoRA: NF4, 0.5 B/param + 1/64 for the block scales; embeddings and head stay bf16) plus 16 B per adapter
  parameter.
- **reference model** (``beta > 0`` without LoRA): a bf16 copy, sharded like the weights under ZeRO-3/FSDP2.
- **activations**: with gradient checkpointing each layer keeps its bf16 input (``L*B*T*h*2``) and one layer is
  recomputed at a time (``B*T*(16h + 8f)``: q/k/v/o, norms and the gated MLP in bf16); without it every layer keeps
  its full set.
- **log-probs**: TRL 1.16 scores tokens with a fused, chunked LM head (trl/kernels/chunked_logprob.py), so no
  ``B*T*V`` logits: one fp32 tile of 4,096 tokens x 32,768 vocabulary entries and the fp32 hidden states.
- **vLLM colocated**: ``vllm_gpu_memory_utilization`` of the GPU, which must hold the bf16 weights and the KV cache of
  one ``vllm_max_model_length`` sequence (vLLM refuses to start otherwise). A vLLM server gets GPUs of its own.
- **rollouts / evaluation with transformers**: the KV cache of the generation batch (``2*L*kv_heads*head_dim*2``
  bytes per token), plus the gathered bf16 weights under ZeRO-3/FSDP2.
- **runtime**: 2 GiB for the CUDA context, NCCL buffers and allocator slack.

Peak = model states + reference + vLLM share + runtime + the largest of (training, rollout, evaluation) phases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rl.config import BUILTIN_PREFIX
from rl.errors import RlvrError

GiB = 2**30
RUNTIME_GIB = 2.0
TOKEN_TILE, VOCAB_TILE = 4096, 32768  # trl/kernels/chunked_logprob.py TOKEN_CHUNK_SIZE, trainer _CHUNKED_LOGPROB_...
SERVER_UTILIZATION = 0.9  # `trl vllm-serve --gpu_memory_utilization` default
STRATEGIES = ("ddp", "zero2", "zero3", "fsdp2")


@dataclass(frozen=True)
class Shape:
    """A dense decoder's shape, as its config.json gives it."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    max_positions: int
    tied: bool = False
    head_dim: int = 0  # 0: hidden // heads
    qkv_bias: bool = False

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def attention_params(self) -> int:
        q, kv = self.heads * self.hd, self.kv_heads * self.hd
        bias = (q + 2 * kv) if self.qkv_bias else 0
        return self.hidden * (q + 2 * kv) + q * self.hidden + bias

    @property
    def layer_params(self) -> int:
        return self.attention_params + 3 * self.hidden * self.intermediate + 2 * self.hidden

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        head = 0 if self.tied else self.embedding_params
        return self.embedding_params + head + self.layers * self.layer_params + self.hidden

    @property
    def largest_layer(self) -> int:
        """DeepSpeed's "largest layer": the biggest module's own parameters (the embedding, or one MLP matrix)."""
        return max(self.embedding_params, self.hidden * self.intermediate, self.hidden * self.heads * self.hd)

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder layers' Linear modules (what LoRA targets and bitsandbytes quantises)."""
        return self.layers * (self.layer_params - 2 * self.hidden)

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_heads * self.hd * dtype_bytes

    def lora_params(self, rank: int, targets: list[str]) -> int:
        """Adapter parameters: rank x (in + out) for each targeted projection of every layer."""
        h, q, kv, f = self.hidden, self.heads * self.hd, self.kv_heads * self.hd, self.intermediate
        dims = {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, f),
            "up_proj": (h, f),
            "down_proj": (f, h),
        }
        chosen = dims if "all-linear" in targets else {k: v for k, v in dims.items() if k in targets}
        if not chosen:  # names of another family (e.g. query_key_value): count like all-linear
            chosen = dims
        return self.layers * sum(rank * (i + o) for i, o in chosen.values())


def shape_from_config(config: Mapping[str, Any]) -> Shape:
    """A Shape from a transformers config dict (llama/qwen2/mistral/falcon-style key names)."""
    text = config.get("text_config") or config
    try:
        hidden = int(text["hidden_size"])
        heads = int(text.get("num_attention_heads") or text["n_head"])
        return Shape(
            layers=int(text.get("num_hidden_layers") or text["n_layer"]),
            hidden=hidden,
            heads=heads,
            kv_heads=int(text.get("num_key_value_heads") or text.get("num_kv_heads") or heads),
            intermediate=int(text.get("intermediate_size") or text.get("ffn_hidden_size") or 4 * hidden),
            vocab=int(text["vocab_size"]),
            max_positions=int(text.get("max_position_embeddings") or 4096),
            tied=bool(text.get("tie_word_embeddings", False)),
            head_dim=int(text.get("head_dim") or 0),
            qkv_bias=text.get("model_type") == "qwen2",
        )
    except (KeyError, TypeError, ValueError) as err:
        raise RlvrError(f"model config lacks a shape field the planner needs: {err}") from None


# Shapes of the models the shipped recipes name, copied from their config.json on the hub, so that a plan can be
# made offline (no hub access, no weights). A local directory or the HF cache wins over this table.
_QWEN_SMALL = dict(vocab_size=151936, tie_word_embeddings=True, model_type="qwen2")
KNOWN: dict[str, dict[str, Any]] = {
    "qwen/qwen2.5-0.5b": dict(
        hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
        intermediate_size=4864, max_position_embeddings=32768, **_QWEN_SMALL,
    ),
    "qwen/qwen2.5-1.5b": dict(
        hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        intermediate_size=8960, max_position_embeddings=131072, **_QWEN_SMALL,
    ),
    "qwen/qwen2.5-1.5b-instruct": dict(
        hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        intermediate_size=8960, max_position_embeddings=32768, **_QWEN_SMALL,
    ),
    "qwen/qwen2.5-math-1.5b": dict(
        hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        intermediate_size=8960, max_position_embeddings=4096, **_QWEN_SMALL,
    ),
    "qwen/qwen2.5-3b": dict(
        hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
        intermediate_size=11008, max_position_embeddings=32768, **_QWEN_SMALL,
    ),
    "qwen/qwen2.5-7b": dict(
        hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
        intermediate_size=18944, max_position_embeddings=131072, vocab_size=152064, tie_word_embeddings=False,
        model_type="qwen2",
    ),
    "deepseek-ai/deepseek-r1-distill-qwen-1.5b": dict(
        hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
        intermediate_size=8960, max_position_embeddings=131072, vocab_size=151936, tie_word_embeddings=False,
        model_type="qwen2",
    ),
    "meta-llama/llama-3.2-3b-instruct": dict(
        hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8,
        intermediate_size=8192, max_position_embeddings=131072, vocab_size=128256, tie_word_embeddings=True,
    ),
    "mistralai/mistral-7b-instruct-v0.3": dict(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
        intermediate_size=14336, max_position_embeddings=32768, vocab_size=32768, tie_word_embeddings=False,
    ),
    "tiiuae/falcon3-7b-instruct": dict(
        hidden_size=3072, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=4, head_dim=256,
        intermediate_size=23040, max_position_embeddings=32768, vocab_size=131072, tie_word_embeddings=False,
    ),
}  # fmt: skip
KNOWN["qwen/qwen2.5-0.5b-instruct"] = KNOWN["qwen/qwen2.5-0.5b"] | {"max_position_embeddings": 32768}
KNOWN["qwen/qwen2.5-3b-instruct"] = KNOWN["qwen/qwen2.5-3b"]
KNOWN["qwen/qwen2.5-7b-instruct"] = KNOWN["qwen/qwen2.5-7b"] | {"max_position_embeddings": 32768}
KNOWN["qwen/qwen2.5-math-1.5b-instruct"] = KNOWN["qwen/qwen2.5-math-1.5b"]
KNOWN["tiiuae/falcon3-7b-base"] = KNOWN["tiiuae/falcon3-7b-instruct"]


def shape_for_params(billions: float) -> Shape:
    """A Llama-like shape of about ``billions`` parameters (hidden 128*round(...), 32 layers per 7B), for --params."""
    if not 0 < billions < 2000:
        raise RlvrError(f"--params is the model size in billions (e.g. 7.6); got {billions}")
    layers = max(2, round(16 * billions ** (1 / 3)))
    hidden = 128 * max(1, round(math.sqrt(billions * 1e9 / (12 * layers)) / 128))
    shape = Shape(layers, hidden, hidden // 128, max(1, hidden // 1024), int(8 * hidden / 3), 128256, 131072)
    scale = billions * 1e9 / shape.params  # nudge the MLP so the total matches
    return replace(shape, intermediate=max(128, int(shape.intermediate * scale)))


def resolve_shape(name_or_path: str, params_billions: float | None = None) -> tuple[Shape, str]:
    """(shape, where it came from): a local config.json, the HF cache, the known table, or ``--params``."""
    if params_billions is not None:
        return shape_for_params(params_billions), f"--params {params_billions:g}B"
    if name_or_path.startswith(BUILTIN_PREFIX):
        from rl.models import TINY_SHAPES

        return shape_from_config(TINY_SHAPES | {"vocab_size": 512}), "builtin shapes"
    local = Path(name_or_path) / "config.json"
    if local.is_file():
        return shape_from_config(json.loads(local.read_text())), str(local)
    cached = _cached_config(name_or_path)
    if cached is not None:
        return shape_from_config(cached), "the Hugging Face cache"
    known = KNOWN.get(name_or_path.lower())
    if known is not None:
        return shape_from_config(known), "rlvr's table of published configs"
    raise RlvrError(
        f"cannot read {name_or_path}'s config offline (no local config.json, not in the HF cache or rlvr's table): "
        "pass --params with its size in billions"
    )


def _cached_config(name: str) -> dict | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        path = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - a malformed repo id is simply not cached
        return None
    return json.loads(Path(path).read_text()) if isinstance(path, str) else None


@dataclass(frozen=True)
class Setup:
    """What the budget depends on besides the shape. Sizes in tokens; ``gpus`` counts training processes."""

    strategy: str = "ddp"
    gpus: int = 1
    gpu_gib: float = 80.0
    micro_batch: int = 8
    prompt_tokens: int = 512
    completion_tokens: int = 512
    generation_batch: int = 8
    gradient_checkpointing: bool = True
    lora_rank: int | None = None
    lora_targets: tuple[str, ...] = ("all-linear",)
    qlora: bool = False
    reference: bool = False
    vllm: str = "off"  # off | colocate | server
    vllm_utilization: float = 0.3
    vllm_max_len: int | None = None
    eval_batch: int = 0  # 0: no evaluation with transformers (off, or through vLLM)
    eval_new_tokens: int = 256

    @property
    def seq(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Term:
    name: str
    gib: float
    phase: str  # static | train | rollout | eval
    knob: str
    detail: str = ""


@dataclass
class Budget:
    shape: Shape
    setup: Setup
    terms: list[Term]
    problems: list[str] = field(default_factory=list)
    title: str = "memory per GPU"

    def phase(self, name: str) -> float:
        return sum(t.gib for t in self.terms if t.phase == name)

    @property
    def peak_phase(self) -> str:
        return max(("train", "rollout", "eval"), key=self.phase)

    @property
    def peak(self) -> float:
        return self.phase("static") + self.phase(self.peak_phase)

    @property
    def fits(self) -> bool:
        return self.peak <= self.setup.gpu_gib and not self.problems

    def biggest(self) -> Term:
        counted = [t for t in self.terms if t.phase in ("static", self.peak_phase)]
        return max(counted, key=lambda t: t.gib)

    def table(self) -> str:
        lines = [self.title]
        for t in self.terms:
            mark = "" if t.phase in ("static", self.peak_phase) else "  (not at peak)"
            lines.append(f"  {t.name:<34} {t.gib:8.1f} GiB  {t.detail}{mark}")
        free = self.setup.gpu_gib - self.peak
        verdict = f"fits, {free:.1f} GiB to spare" if self.fits else "DOES NOT FIT"
        lines.append(
            f"  {'peak (' + self.peak_phase + ')':<34} {self.peak:8.1f} GiB  of {self.setup.gpu_gib:g}: {verdict}"
        )
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def require_fit(self) -> None:
        """Nothing when the plan fits; else the table (as shell/YAML comments on stdout) and a one-line RlvrError."""
        if not self.fits:
            print("\n".join("# " + line for line in self.table().splitlines()))
            raise RlvrError(self.refusal())

    def refusal(self) -> str:
        if self.problems:
            return self.problems[0]
        big = self.biggest()
        return (
            f"the plan needs {self.peak:.1f} GiB per GPU, more than {self.setup.gpu_gib:g} GiB; biggest term: "
            f"{big.name} {big.gib:.1f} GiB ({big.detail}): {big.knob}"
        )


def _gib(n: float) -> float:
    return n / GiB


def model_state_bytes(shape: Shape, setup: Setup) -> tuple[float, str]:
    """Weights, gradients, optimizer state and fp32 masters per GPU, with a description of the rule used."""
    p, n = shape.params, setup.gpus
    if setup.lora_rank is not None:
        adapter = shape.lora_params(setup.lora_rank, list(setup.lora_targets))
        if setup.qlora:
            quantised = shape.linear_params
            base = quantised * (0.5 + 1 / 64) + (p - quantised) * 2
            rule = "NF4 base + bf16 embeddings"
        else:
            base = 2 * p
            rule = "bf16 base"
        if setup.strategy in ("zero3", "fsdp2"):
            base = base / n + 4 * shape.largest_layer
            rule += " sharded"
        return base + 16 * adapter, f"{rule} + {adapter / 1e6:.1f}M adapter params x 16 B"
    if setup.strategy == "zero2":
        return 2 * p + 18 * p / n, f"DeepSpeed ZeRO-2: 2P + 18P/{n}"
    if setup.strategy == "zero3":
        return 4 * shape.largest_layer + 18 * p / n, f"DeepSpeed ZeRO-3: 4 x largest layer + 18P/{n}"
    if setup.strategy == "fsdp2":
        return 16 * p / n + 2 * 2 * shape.layer_params, f"FSDP2: 16P/{n} + 2 gathered bf16 blocks"
    return 16 * p, "fp32 weights + grads + AdamW: 16P"


def plan_memory(shape: Shape, setup: Setup) -> Budget:
    if setup.strategy not in STRATEGIES:
        raise RlvrError(f"unknown strategy {setup.strategy!r} (use {', '.join(STRATEGIES)})")
    terms: list[Term] = []
    problems: list[str] = []
    p, n, h, f = shape.params, setup.gpus, shape.hidden, shape.intermediate
    sharded = setup.strategy in ("zero3", "fsdp2")

    states, rule = model_state_bytes(shape, setup)
    terms.append(
        Term(
            "model states",
            _gib(states),
            "static",
            "shard them (--strategy zero3) over more GPUs, or use model.lora",
            rule,
        )
    )
    if setup.reference and setup.lora_rank is None:
        ref = 2 * p / (n if sharded else 1)
        terms.append(Term("reference model (beta > 0)", _gib(ref), "static", "set grpo.beta: 0.0", "bf16 copy"))

    kv_token = shape.kv_bytes_per_token()
    vllm_len = setup.vllm_max_len or shape.max_positions
    if setup.vllm == "colocate":
        share = setup.vllm_utilization * setup.gpu_gib
        need = _gib(2 * p + kv_token * vllm_len) + 1.0
        terms.append(
            Term(
                "vLLM (colocated)",
                share,
                "static",
                "lower grpo.vllm_gpu_memory_utilization (or use --vllm server)",
                f"vllm_gpu_memory_utilization {setup.vllm_utilization:g}",
            )
        )
        if need > share:
            problems.append(
                f"vLLM's share ({share:.1f} GiB) cannot hold the bf16 weights and the KV cache of one "
                f"{vllm_len}-token sequence ({need:.1f} GiB): set grpo.vllm_max_model_length"
                + ("" if setup.vllm_max_len else f" (unset: the model's {shape.max_positions})")
                + " or raise grpo.vllm_gpu_memory_utilization"
            )
    terms.append(Term("CUDA context, NCCL, allocator", RUNTIME_GIB, "static", "", "fixed"))

    tokens = setup.micro_batch * setup.seq
    if setup.gradient_checkpointing:
        act = shape.layers * tokens * h * 2 + tokens * (16 * h + 8 * f)
        how = f"checkpointed: {setup.micro_batch} x {setup.seq} tokens x {shape.layers} layers"
    else:
        act = shape.layers * tokens * (16 * h + 8 * f)
        how = f"no checkpointing: {setup.micro_batch} x {setup.seq} tokens, every layer"
    knob = "lower grpo.per_device_train_batch_size and raise grpo.gradient_accumulation_steps"
    terms.append(Term("activations", _gib(act), "train", knob, how))
    logp = min(tokens, TOKEN_TILE) * min(shape.vocab, VOCAB_TILE) * 4 * 2 + tokens * h * 4 * 2
    terms.append(Term("log-probs (fused LM head)", _gib(logp), "train", knob, "fp32 tile + hidden states"))

    gathered = 2 * p if sharded else 0
    if setup.vllm == "off":
        kv = setup.generation_batch * setup.seq * kv_token
        terms.append(
            Term(
                "rollout KV cache (transformers)",
                _gib(kv + gathered),
                "rollout",
                "lower grpo.per_device_train_batch_size x steps_per_generation, or use vLLM",
                f"{setup.generation_batch} sequences x {setup.seq} tokens"
                + (" + gathered weights" if gathered else ""),
            )
        )
    if setup.eval_batch:
        kv = setup.eval_batch * (setup.prompt_tokens + setup.eval_new_tokens) * kv_token
        terms.append(
            Term(
                "evaluation KV cache (transformers)",
                _gib(kv + gathered),
                "eval",
                "lower eval.batch_size",
                f"{setup.eval_batch} x {setup.prompt_tokens + setup.eval_new_tokens} tokens"
                + (" + gathered weights" if gathered else ""),
            )
        )
    return Budget(shape, setup, terms, problems)


# ---- vLLM server placement -------------------------------------------------------------------------------------


def server_tensor_parallel(shape: Shape, gpu_gib: float, max_len: int | None, available: int) -> tuple[int, str]:
    """(tensor-parallel size, why) for `trl vllm-serve`: the smallest size that divides the head counts and fits."""
    vllm_len = max_len or shape.max_positions
    for tp in (1, 2, 4, 8):
        if tp > available:
            break
        if shape.heads % tp or (shape.kv_heads % tp and tp % shape.kv_heads):
            continue
        need = _gib(2 * shape.params / tp + shape.kv_bytes_per_token() * vllm_len / tp) + 1.0
        if need <= SERVER_UTILIZATION * gpu_gib:
            return tp, f"{need:.1f} GiB of weights + one {vllm_len}-token sequence per GPU at TP {tp}"
    raise RlvrError(
        f"vLLM cannot serve the model on {available} GPU(s) of {gpu_gib:g} GiB with {vllm_len}-token sequences: "
        "give the server more GPUs (--nodes) or set grpo.vllm_max_model_length"
    )


# ---- from an experiment ----------------------------------------------------------------------------------------


def setup_for(exp, strategy: str, gpus: int, gpu_gib: float, prompt_tokens: int = 512) -> Setup:
    """The Setup of experiment ``exp`` (rl.config.Experiment) trained with ``strategy`` on ``gpus`` processes."""
    g = exp.grpo
    lora = exp.model.lora
    use_vllm = bool(g.get("use_vllm", False))
    vllm = str(g.get("vllm_mode", "server")) if use_vllm else "off"
    micro = int(g.get("per_device_train_batch_size", 8))
    steps = int(g.get("steps_per_generation") or g.get("gradient_accumulation_steps", 1))
    generation = int(g.get("generation_batch_size") or micro * steps * gpus) // max(gpus, 1)
    evaluates = exp.eval.before or exp.eval.after
    return Setup(
        strategy=strategy,
        gpus=gpus,
        gpu_gib=gpu_gib,
        micro_batch=micro,
        prompt_tokens=prompt_tokens,
        completion_tokens=int(g.get("max_completion_length") or 512),
        generation_batch=max(generation, micro),
        gradient_checkpointing=bool(g.get("gradient_checkpointing", True)),
        lora_rank=lora.r if lora else None,
        lora_targets=tuple(lora.target_modules) if lora else ("all-linear",),
        qlora=bool(lora and lora.quantize),
        reference=float(g.get("beta", 0.0)) != 0.0,
        vllm=vllm,
        vllm_utilization=float(g.get("vllm_gpu_memory_utilization", 0.3)),
        vllm_max_len=g.get("vllm_max_model_length"),
        eval_batch=exp.eval.batch_size if evaluates and vllm == "off" else 0,
        eval_new_tokens=exp.eval.max_new_tokens,
    )


def strategy_from_env(environ: Mapping[str, str]) -> str:
    """The strategy `accelerate launch` chose, from the ACCELERATE_* variables it exports to each process."""

    def on(key: str) -> bool:
        return environ.get(key, "false").lower() in ("1", "true", "yes")

    if on("ACCELERATE_USE_DEEPSPEED"):
        return "zero3" if environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3" else "zero2"
    if on("ACCELERATE_USE_FSDP"):
        return "fsdp2"
    return "ddp"


def budget_for(
    exp, shape: Shape, source: str, strategy: str, world: int, gpu_gib: float, label: str = "memory per training GPU"
) -> Budget:
    """The budget of experiment ``exp`` trained with ``strategy`` on ``world`` processes, titled with where the shape
    came from (used by `rlvr launch` and `rlvr train --dry-run`)."""
    budget = plan_memory(shape, setup_for(exp, strategy, world, gpu_gib, exp.launch.prompt_tokens))
    budget.title = (
        f"{label}: {exp.model.name_or_path} ({shape.params / 1e9:.2f}B params, shape from {source}), "
        f"{strategy} on {world} process(es), {gpu_gib:g} GiB GPUs"
    )
    return budget


def dry_run_budget(exp, environ: Mapping[str, str]) -> Budget | str:
    """The budget of `rlvr train` in this process's launch context, or why none can be made (shape unknown)."""
    try:
        shape, source = resolve_shape(exp.model.name_or_path)
    except RlvrError as err:
        return f"not planned: {err}"
    world = int(environ.get("WORLD_SIZE", "1"))
    strategy = strategy_from_env(environ)
    return budget_for(exp, shape, source, strategy, world, exp.launch.gpu_memory, "memory per GPU")
