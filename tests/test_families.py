"""Model families: each tiny family model (Qwen2, Llama, Mistral, Falcon, DeepSeek-V3 MoE) speaks its family's chat
template, trains 2 GRPO steps with `rlvr train` and is evaluated with `rlvr eval`, on CPU."""

import hashlib
import json
import math

import pytest

from rl.cli import main
from rl.data import render_prompt
from rl.errors import RlvrError
from rl.models import TINY_FAMILIES, build_char_tokenizer, build_tiny, resolve_builtin
from rl.templates import prefills_think
from tests.conftest import REPO

FAMILIES = ["qwen2", "llama", "mistral", "falcon", "deepseek"]
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 1 + 2?"}]
RENDERED = {
    "qwen2": "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 1 + 2?<|im_end|>\n"
    "<|im_start|>assistant\n",
    "llama": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\nWhat is 1 + 2?<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "mistral": "<s>[INST] Be brief.\n\nWhat is 1 + 2?[/INST]",
    "falcon": "System: Be brief.\nUser: What is 1 + 2?\nAssistant:",
    "deepseek": "<｜begin▁of▁sentence｜>Be brief.<｜User｜>What is 1 + 2?<｜Assistant｜><think>\n",
}
BUDGET = [
    "--set",
    "data.train_size=256",
    "--set",
    "data.eval_size=16",
    "--set",
    "warmup.enabled=false",
    "--set",
    "eval.before=false",
    "--set",
    "eval.max_new_tokens=16",
    "--set",
    "grpo.max_steps=2",
    "--set",
    "grpo.save_steps=2",
    "--set",
    "grpo.per_device_train_batch_size=8",
    "--set",
    "grpo.num_generations=4",
    "--set",
    "grpo.max_completion_length=16",
    "--set",
    "logging.wandb_mode=disabled",
]


# ------------------------------------------------------------------------------------------------ templates


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_template_and_special_tokens(family):
    tok = build_char_tokenizer(f"tiny-{family}")
    assert render_prompt(MESSAGES, tok) == RENDERED[family]
    assert prefills_think(tok) == (family == "deepseek")
    ids = tok(RENDERED[family], add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == RENDERED[family]  # role markers are single tokens that round-trip
    # the reasoning tags stay ordinary tokens: TRL decodes with skip_special_tokens=True
    text = "<think>1+2=3</think><answer>3</answer>"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"], skip_special_tokens=True) == text
    assert tok.eos_token_id in tok(RENDERED[family] + tok.eos_token, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("family", FAMILIES)
def test_saved_tokenizer_keeps_whitespace_under_every_loader(family, tmp_path):
    """transformers 5 loads a qwen2 checkpoint with its own Qwen2Tokenizer pipeline whatever tokenizer.json says; a
    plain character vocabulary then lost every space and newline ("What is 1 + 2?" -> "Whatis1+2?"). A saved tiny
    model must read the same ids, and decode the same text, through AutoTokenizer and the generic backend alike."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out = build_tiny(f"tiny-{family}", 0, tmp_path / family)
    built = build_char_tokenizer(f"tiny-{family}")
    text = RENDERED[family] + "<think>7+9=16 4+8+1=13\n\tok</think><answer>936</answer>\n#### 936"
    want = built(text, add_special_tokens=False)["input_ids"]
    for loaded in (AutoTokenizer.from_pretrained(out), PreTrainedTokenizerFast.from_pretrained(out)):
        ids = loaded(text, add_special_tokens=False)["input_ids"]
        assert ids == want, type(loaded).__name__
        assert loaded.decode(ids) == text
        assert render_prompt(MESSAGES, loaded) == RENDERED[family]
    completion = "7+9=16 4+8+1=13\n\tok 936\n#### 936"  # one token per character, whitespace included
    assert len(built(completion, add_special_tokens=False)["input_ids"]) == len(completion)


def test_tiny_qwen2_is_unchanged(tmp_path):
    """The demo's numbers depend on builtin:tiny-qwen2 (v2: byte-level whitespace names; v1 had the same ids and
    weights): same vocabulary, same initial weights for seed 0."""
    from safetensors.torch import load_file

    out = build_tiny("tiny-qwen2", 0, tmp_path / "qwen2")
    tok = build_char_tokenizer("tiny-qwen2")
    vocab = hashlib.sha256(json.dumps(sorted(tok.get_vocab().items())).encode()).hexdigest()
    weights = load_file(out / "model.safetensors")
    digest = hashlib.sha256()
    for key in sorted(weights):
        digest.update(key.encode())
        digest.update(weights[key].contiguous().numpy().tobytes())
    assert len(tok) == 107 and tok.eos_token == "<|endoftext|>" and tok.bos_token is None
    assert vocab == "cc56fa88c92e0d7800e1dca3917d3602e76a277c3fe688269c12adee26e50789"
    assert digest.hexdigest() == "f6503bc8c2e6cee75231a7d0025e74c5b8cfa8705908a40b5b3c21c84a7c37e9"


def test_unknown_builtin_names_the_families():
    with pytest.raises(RlvrError, match="builtin:tiny-deepseek"):
        resolve_builtin("builtin:tiny-gpt2", 0)
    assert set(TINY_FAMILIES) == {f"tiny-{f}" for f in FAMILIES}


# ------------------------------------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_two_steps_and_evaluates(family, tmp_path, capsys):
    config = REPO / "configs" / "families" / f"tiny-{family}.yaml"
    run_dir = tmp_path / "run"
    assert main(["train", str(config), *BUDGET, "--output-dir", str(run_dir)]) == 0, capsys.readouterr().err
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert summary["steps"] == 2 and [m["step"] for m in metrics] == [1, 2]
    assert all(math.isfinite(m["loss"]) for m in metrics)
    assert isinstance(summary["accuracy_after"], float) and summary["n_eval"] == 16
    final_config = json.loads((run_dir / "final" / "config.json").read_text())
    assert final_config["model_type"] == {"deepseek": "deepseek_v3"}.get(family, family)

    out = tmp_path / "eval"
    argv = ["eval", str(run_dir), "--limit", "8", "--output", str(out), "--wandb-mode", "disabled"]
    assert main(argv) == 0, capsys.readouterr().err
    result = json.loads((out / "metrics.json").read_text())
    assert result["template"] == "chat" and result["n_problems"] == 8
    point = result["points"][0]
    assert point["label"] == "final" and point["step"] == 2
    assert 0.0 <= point["overall"]["pass@1"] <= 1.0
    print(f"{family}: {final_config['model_type']}, eval pass@1 {point['overall']['pass@1']:.3f}")


# ------------------------------------------------------------------------------------------------ real-model recipes

RECIPES = {
    "llama": "llama-3.2-3b-gsm8k.yaml",
    "mistral": "mistral-7b-gsm8k-lora.yaml",
    "falcon": "falcon3-7b-gsm8k-qlora.yaml",
    "deepseek": "deepseek-r1-distill-qwen-1.5b-math.yaml",
    "qwen2": "math-qwen2.5-math-1.5b-r1zero.yaml",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_real_model_recipe_resolves(family, capsys):
    path = REPO / "configs" / RECIPES[family]
    assert main(["train", str(path), "--dry-run"]) == 0, capsys.readouterr().err
    comments = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any("GPU" in line for line in comments), "a comment line must say which GPUs the recipe needs"
    assert "name_or_path" in capsys.readouterr().out
