"""Policy and tokenizer: `builtin:tiny-*` models built offline, or any hub name / local directory / LoRA adapter.

The tiny models are random-init configs of five families (Qwen2, Llama, Mistral, Falcon, and DeepSeek-V3 with its
MLA attention and mixture of experts) with a character-level tokenizer built with `tokenizers`: every character is
one token (digits included, which arithmetic needs), the four reasoning tags are single *ordinary* added tokens (TRL
decodes with `skip_special_tokens=True`, so special tags would vanish from the text the rewards read), and each
family has its real family's chat template and role tokens (`rl.templates`), so `template: chat` exercises them.
`builtin:tiny-qwen2` is the demo's model: its vocabulary and initial weights do not change between releases.

A directory holding a peft adapter (`adapter_config.json`, as `rlvr train` saves with `model.lora`) loads as its
base model with the adapter on top; `model.lora.quantize` loads the base 4- or 8-bit with bitsandbytes (CUDA only).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl.config import BUILTIN_PREFIX, ModelConfig
from rl.distenv import world_size
from rl.errors import RlvrError, first_line
from rl.rundir import is_adapter_dir, is_model_dir
from rl.templates import CHATML, DEEPSEEK_R1, FALCON, LLAMA3, MISTRAL

TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
SPECIALS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>", "<unk>"]
# Shapes from docs/measurements.md: ~0.9M parameters, learns 3-digit addition in ~100 s on 2 cores.
TINY_SHAPES = {
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 512,
    "max_position_embeddings": 512,
}


def _qwen2(common: dict):
    from transformers import Qwen2Config

    return Qwen2Config(**TINY_SHAPES, **common)


def _llama(common: dict):
    from transformers import LlamaConfig

    return LlamaConfig(**TINY_SHAPES, **common)


def _mistral(common: dict):
    from transformers import MistralConfig

    return MistralConfig(**TINY_SHAPES, sliding_window=None, **common)


def _falcon(common: dict):
    from transformers import FalconConfig

    shapes = {k: TINY_SHAPES[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads")}
    return FalconConfig(
        **shapes,
        num_kv_heads=TINY_SHAPES["num_key_value_heads"],
        ffn_hidden_size=TINY_SHAPES["intermediate_size"],
        max_position_embeddings=TINY_SHAPES["max_position_embeddings"],
        new_decoder_architecture=True,  # Falcon-40B/180B layout: grouped KV heads, parallel attention + MLP
        alibi=False,
        bias=False,
        **common,
    )


def _deepseek(common: dict):
    from transformers import DeepseekV3Config

    return DeepseekV3Config(
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=512,  # the dense layer(s) before the MoE ones
        first_k_dense_replace=1,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        moe_intermediate_size=128,
        n_group=1,
        topk_group=1,
        q_lora_rank=64,  # multi-head latent attention (MLA), small ranks
        kv_lora_rank=32,
        qk_rope_head_dim=16,
        qk_nope_head_dim=16,
        v_head_dim=32,
        max_position_embeddings=TINY_SHAPES["max_position_embeddings"],
        **common,
    )


@dataclass(frozen=True)
class TinyFamily:
    """How to build one tiny family: its transformers config, chat template and special tokens."""

    config: Callable[[dict], Any]
    chat_template: str
    specials: tuple[str, ...] = ()
    """Role and boundary tokens added (special) after the shared vocabulary."""
    eos: str = "<|endoftext|>"
    bos: str | None = None
    version: int = 1
    """Bump when a build changes: the cache folder carries it, so stale builds are not reused."""


TINY_FAMILIES: dict[str, TinyFamily] = {
    # Versions: every family's v(n+1) spells whitespace in byte-level names (see build_char_tokenizer).
    "tiny-qwen2": TinyFamily(_qwen2, CHATML, version=2),  # the demo's model: bump when its build changes
    "tiny-llama": TinyFamily(
        _llama,
        LLAMA3,
        ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        eos="<|eot_id|>",
        bos="<|begin_of_text|>",
        version=3,  # v1 spoke ChatML
    ),
    "tiny-mistral": TinyFamily(
        _mistral, MISTRAL, ("<s>", "</s>", "[INST]", "[/INST]"), eos="</s>", bos="<s>", version=2
    ),
    "tiny-falcon": TinyFamily(_falcon, FALCON, version=2),
    "tiny-deepseek": TinyFamily(
        _deepseek,
        DEEPSEEK_R1,
        ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
        eos="<｜end▁of▁sentence｜>",
        bos="<｜begin▁of▁sentence｜>",
        version=2,
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("RLVR_CACHE_DIR", Path.home() / ".cache" / "rlvr"))


def _byte_names() -> dict[str, str]:
    """GPT-2's printable name for each byte: printable ASCII names itself, space is "Ġ", newline "Ċ", tab "ĉ"."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    names, extra = {}, 0
    for b in range(256):
        if b in keep:
            names[chr(b)] = chr(b)
        else:
            names[chr(b)] = chr(256 + extra)
            extra += 1
    return names


_BYTE_NAMES = _byte_names()


def build_char_tokenizer(family: str = "tiny-qwen2"):
    """A character-level fast tokenizer: specials, printable ASCII, the tags, then the family's role tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    spec = TINY_FAMILIES[family]
    # Byte-level names (space -> "Ġ", newline -> "Ċ", as GPT-2/Qwen vocabularies spell them) with a byte-level
    # pre-tokenizer and decoder: transformers 5 loads a qwen2 checkpoint with its own Qwen2Tokenizer pipeline
    # (byte-level, whatever tokenizer.json says), which silently dropped every space and newline of a plain
    # character vocabulary ("What is 1 + 2?" became "Whatis1+2?"). Spelled this way, every loader (AutoTokenizer,
    # the generic backend, vLLM) reads the same characters. No merges: still one token per character.
    byte_names = pre_tokenizers.ByteLevel.alphabet()
    chars = [_BYTE_NAMES[c] for c in string.printable if c not in "\x0b\x0c"]
    assert set(chars) <= set(byte_names)
    vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    if spec.specials:
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in spec.specials])
    extra = {"bos_token": spec.bos} if spec.bos else {}
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=spec.eos,
        pad_token="<|pad|>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=TINY_SHAPES["max_position_embeddings"],
        **extra,
    )
    hf.chat_template = spec.chat_template
    return hf


def build_tiny(family: str, seed: int, out: Path) -> Path:
    """Build a random-init tiny model of `family` with its char tokenizer and save it to `out`."""
    import torch
    from transformers import AutoModelForCausalLM

    spec = TINY_FAMILIES[family]
    tok = build_char_tokenizer(family)
    common = dict(
        vocab_size=len(tok),
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id if spec.bos else None,
    )
    config = spec.config(common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        tmp.rename(out)  # atomic: a model folder is either complete or absent
    except OSError:  # another process (a second rank) built the identical model first
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def builtin_family(name: str) -> str:
    """The tiny family a `builtin:<family>` name asks for; RlvrError naming the known ones when there is none."""
    family = name[len(BUILTIN_PREFIX) :]
    if family not in TINY_FAMILIES:
        raise RlvrError(
            f"model.name_or_path: unknown builtin model '{name}' (known: "
            f"{', '.join(BUILTIN_PREFIX + f for f in TINY_FAMILIES)})"
        )
    return family


def resolve_builtin(name: str, seed: int) -> Path:
    family = builtin_family(name)
    version = TINY_FAMILIES[family].version
    out = cache_dir() / "models" / (f"{family}-s{seed}" if version == 1 else f"{family}-v{version}-s{seed}")
    if not (out / "config.json").is_file():
        with main_process_first():  # under accelerate, rank 0 builds (other ranks' save_pretrained writes no weights)
            if not (out / "config.json").is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                build_tiny(family, seed, out)
    return out


def main_process_first():
    """A context in which rank 0 of a multi-process launch runs first and the others wait (no-op otherwise)."""
    if world_size() > 1:
        from accelerate import PartialState

        return PartialState().main_process_first()
    return contextlib.nullcontext()


def looks_like_path(name: str) -> bool:
    """`name` means a local file or folder, not a hub id: it starts with . / or ~, has more than one `/`, or its
    first part is a folder here (`myrun/final` beside a folder `myrun` is that run's final model, not the hub repo
    `final` of a user `myrun`). Such a name that does not exist is a mistake to report at once, not a download."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep == "\\" and "\\" in name:
        return True
    first, slash, _rest = name.partition("/")
    return bool(slash) and Path(first).is_dir()


def check_location(cfg: ModelConfig, strict: bool = True) -> str:
    """Where `locate` will load the weights from, found without building, loading or downloading anything (dry
    runs and preflights ask this), in words; RlvrError for what the load would refuse. `strict`: see
    `check_hub_model`."""
    name = cfg.name_or_path
    if name.startswith(BUILTIN_PREFIX):
        builtin_family(name)
        return f"{name}, built offline"
    path = Path(name).expanduser()
    if path.exists():
        if cfg.gguf_file:
            if not (path / cfg.gguf_file).is_file():
                raise RlvrError(f"model.gguf_file: no file '{cfg.gguf_file}' in {path}")
        elif not is_model_dir(path):
            raise RlvrError(
                f"model.name_or_path: {path} holds no model (no config.json or adapter_config.json); a run's model is "
                "in RUN/final or RUN/checkpoints/checkpoint-N"
            )
        return f"local directory {path}"
    if looks_like_path(name):
        raise RlvrError(f"model.name_or_path: no such directory '{name}'")
    return check_hub_model(name, cfg.revision, strict, cfg.gguf_file)


def check_hub_model(name: str, revision: str | None, strict: bool, gguf_file: str | None = None) -> str:
    """A hub model in the local cache, or found on the hub by one quick request (no retries). Not cached and the
    hub offline (HF_HUB_OFFLINE) or unreachable: an error for a real start (`strict`: its load would only fail,
    after minutes of retries), a note for a dry run (the machine that runs it may reach the hub or have the model
    when this one does not). A name the hub does not have is an error either way. A GGUF repository is found by its
    `gguf_file` (it has no config.json)."""
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    from rl.hub import offline_mode

    try:
        cached = try_to_load_from_cache(name, gguf_file or "config.json", revision=revision)
    except HFValidationError as e:
        raise RlvrError(f"model.name_or_path: '{name}' is neither a local directory nor a hub name ({e})") from None
    if isinstance(cached, str):
        return f"{name} (hub), in the local cache"
    if constants.HF_HUB_OFFLINE or offline_mode():
        if strict:
            raise RlvrError(
                f"model.name_or_path: {name} is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and "
                "the hub is offline (HF_HUB_OFFLINE=1): download it first or point at a local directory"
            )
        return f"{name} (hub): not checked, not in the local cache and the hub is offline (HF_HUB_OFFLINE)"
    try:
        HfApi().model_info(name, revision=revision, timeout=10)
    except RepositoryNotFoundError:
        raise RlvrError(
            f"model.name_or_path: no model '{name}' on the Hugging Face hub (or it is private: log in with "
            "`hf auth login`); check the spelling"
        ) from None
    except RevisionNotFoundError:
        raise RlvrError(f"model.revision: {name} has no revision '{revision}'") from None
    except Exception as e:  # noqa: BLE001 - no network, a proxy, a timeout: it cannot be checked from here
        reason = first_line(e)[:80]
        if strict:
            raise RlvrError(
                f"model.name_or_path: {name} is not in the local Hugging Face cache and the hub cannot be reached "
                f"({reason}): download it first or point at a local directory"
            ) from None
        return f"{name} (hub): not checked, the hub cannot be reached from here ({reason})"
    return f"{name} (hub), found on the hub"


def locate(cfg: ModelConfig, seed: int) -> str:
    """Where to load the model from: a built tiny model, a local directory, or a hub name (left to transformers).
    `check_location` first, strictly: a typo or an unreachable hub is one line now, not a minute of retries."""
    check_location(cfg, strict=True)
    name = cfg.name_or_path
    if name.startswith(BUILTIN_PREFIX):
        return str(resolve_builtin(name, seed))
    path = Path(name).expanduser()
    return str(path) if path.exists() else name


def adapter_base(path: str | Path) -> str | None:
    """The base model a peft adapter directory was trained on; None when `path` is not an adapter directory."""
    if not is_adapter_dir(path):
        return None
    config = Path(path) / "adapter_config.json"
    base = json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise RlvrError(f"{config} names no base model (base_model_name_or_path)")
    return base


def load_tokenizer(location: str, cfg: ModelConfig):
    from transformers import AutoTokenizer

    base = adapter_base(location)
    if base is not None and not (Path(location) / "tokenizer_config.json").is_file():
        location = base  # an adapter saved without its tokenizer: the base model's
    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    tok = _hub_call(AutoTokenizer.from_pretrained, location, **kwargs)
    if tok.pad_token is None:  # e.g. SmolLM2, Llama: batched generation needs one
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # generation pads on the left (TRL does the same)
    return tok


def load_model(location: str, cfg: ModelConfig):
    """The model at `location`; an adapter directory loads as its base with the (frozen) adapter on top."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = cfg.dtype if cfg.dtype == "auto" else getattr(torch, cfg.dtype, None)
    if dtype is None:
        raise RlvrError(f"model.dtype: unknown dtype {cfg.dtype!r} (float32, bfloat16, float16 or auto)")
    kwargs: dict[str, Any] = {"dtype": dtype, "revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    if cfg.attn_implementation:
        check_attention(cfg.attn_implementation)
        kwargs["attn_implementation"] = cfg.attn_implementation
    kwargs.update(quantization(cfg, dtype))
    base = adapter_base(location)
    if base is not None:
        try:
            from peft import PeftModel
        except ImportError:
            raise RlvrError(f"{location} is a LoRA adapter: loading it needs peft (pip install peft)") from None
        kwargs.pop("revision")  # the run's revision, if any, is the base's; the adapter is local
        model = _hub_call(AutoModelForCausalLM.from_pretrained, base, **kwargs)
        return PeftModel.from_pretrained(model, location)
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    return _hub_call(AutoModelForCausalLM.from_pretrained, location, **kwargs)


def check_attention(name: str) -> None:
    if name.startswith("flash_attention") and importlib.util.find_spec("flash_attn") is None:
        raise RlvrError(
            f"model.attn_implementation: {name} needs the flash-attn package and a CUDA GPU "
            "(pip install flash-attn --no-build-isolation); use sdpa"
        )


def quantization(cfg: ModelConfig, dtype) -> dict[str, Any]:
    """from_pretrained kwargs that load the frozen base 4-bit (QLoRA, nf4) or 8-bit with bitsandbytes."""
    import torch

    mode = cfg.lora.quantize if cfg.lora is not None else None
    if not mode:
        return {}
    if not torch.cuda.is_available():
        raise RlvrError(f"model.lora.quantize: {mode} (bitsandbytes) needs a CUDA GPU; drop it to train LoRA on CPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RlvrError(f"model.lora.quantize: {mode} needs bitsandbytes (pip install bitsandbytes)")
    from accelerate import PartialState
    from transformers import BitsAndBytesConfig

    compute = dtype if dtype in (torch.bfloat16, torch.float16) else torch.bfloat16
    bnb = (
        BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute,
        )
        if mode == "4bit"
        else BitsAndBytesConfig(load_in_8bit=True)
    )
    return {"quantization_config": bnb, "device_map": {"": PartialState().local_process_index}}


def _hub_call(fn, location: str, **kwargs):
    try:
        return fn(location, **kwargs)
    except (OSError, ValueError, ImportError) as e:  # missing files, offline hub, unknown architecture, no kernel
        raise RlvrError(f"cannot load model '{location}': {first_line(e)}") from None


def load_policy(cfg: ModelConfig, seed: int):
    """Return (model, tokenizer, location)."""
    location = locate(cfg, seed)
    tok = load_tokenizer(location, cfg)
    model = load_model(location, cfg)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok, location
