"""Policy and tokenizer: `builtin:tiny-*` models built offline, or any hub name / local directory.

The tiny models are random-init Qwen2 / Llama configs with a character-level tokenizer built with `tokenizers`:
every character is one token (digits included, which arithmetic needs), the four reasoning tags are single
*ordinary* added tokens (TRL decodes with `skip_special_tokens=True`, so special tags would vanish from the text
the rewards read), and a ChatML chat template makes `template: chat` work too.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Any

from rl.config import ModelConfig
from rl.errors import RlvrError

BUILTIN_PREFIX = "builtin:"
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
SPECIALS = ["<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>", "<unk>"]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Shapes from ../shared/FINDINGS.md: ~0.9M parameters, learns 3-digit addition in ~100 s on 2 cores.
TINY_SHAPES = {
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 512,
    "max_position_embeddings": 512,
}
TINY_FAMILIES = ("tiny-qwen2", "tiny-llama")


def cache_dir() -> Path:
    return Path(os.environ.get("RLVR_CACHE_DIR", Path.home() / ".cache" / "rlvr"))


def build_char_tokenizer():
    """A character-level fast tokenizer (printable ASCII + tags + ChatML specials)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = [c for c in string.printable if c not in "\x0b\x0c"]
    vocab = {t: i for i, t in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", fuse_unk=True))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(s, special=True) for s in SPECIALS])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAGS])
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        unk_token="<unk>",
        padding_side="left",
        model_max_length=TINY_SHAPES["max_position_embeddings"],
    )
    hf.chat_template = CHATML
    return hf


def build_tiny(family: str, seed: int, out: Path) -> Path:
    """Build a random-init tiny model of `family` with the char tokenizer and save it to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    tok = build_char_tokenizer()
    common = dict(
        TINY_SHAPES,
        vocab_size=len(tok),
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    config = Qwen2Config(**common) if family == "tiny-qwen2" else LlamaConfig(**common)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out


def resolve_builtin(name: str, seed: int) -> Path:
    family = name[len(BUILTIN_PREFIX) :]
    if family not in TINY_FAMILIES:
        raise RlvrError(f"unknown builtin model '{name}' (known: {', '.join('builtin:' + f for f in TINY_FAMILIES)})")
    out = cache_dir() / "models" / f"{family}-s{seed}"
    if not (out / "config.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        build_tiny(family, seed, out)
    return out


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep == "\\" and "\\" in name


def locate(cfg: ModelConfig, seed: int) -> str:
    """Where to load the model from: a built tiny model, a local directory, or a hub name (left to transformers)."""
    name = cfg.name_or_path
    if name.startswith(BUILTIN_PREFIX):
        return str(resolve_builtin(name, seed))
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if looks_like_path(name):
        raise RlvrError(f"model.name_or_path: no such directory '{name}'")
    return name


def load_tokenizer(location: str, cfg: ModelConfig):
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    tok = _hub_call(AutoTokenizer.from_pretrained, location, **kwargs)
    if tok.pad_token is None:  # e.g. SmolLM2, Llama: batched generation needs one
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # generation pads on the left (TRL does the same)
    return tok


def load_model(location: str, cfg: ModelConfig):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = cfg.dtype if cfg.dtype == "auto" else getattr(torch, cfg.dtype, None)
    if dtype is None:
        raise RlvrError(f"model.dtype: unknown dtype {cfg.dtype!r} (float32, bfloat16, float16 or auto)")
    kwargs: dict[str, Any] = {"dtype": dtype, "revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    return _hub_call(AutoModelForCausalLM.from_pretrained, location, **kwargs)


def _hub_call(fn, location: str, **kwargs):
    try:
        return fn(location, **kwargs)
    except (OSError, ValueError) as e:  # missing files, offline hub, unknown architecture
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RlvrError(f"cannot load model '{location}': {first}") from None


def load_policy(cfg: ModelConfig, seed: int):
    """Return (model, tokenizer, location)."""
    location = locate(cfg, seed)
    tok = load_tokenizer(location, cfg)
    model = load_model(location, cfg)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok, location
