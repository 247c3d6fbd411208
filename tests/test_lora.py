"""LoRA / QLoRA through peft: config checks, a tiny 2-step LoRA run whose base weights stay bit-identical while the
adapter moves, and the saved adapter (or merged model) evaluating exactly as the in-memory model did."""

import json

import pytest
import torch

import rl.models
from rl.cli import main
from rl.config import LoraConfig, load_experiment
from rl.errors import RlvrError
from rl.models import load_model, load_policy
from rl.train.lora import peft_config

LORA_RUN = [
    "--set",
    "model.lora={r: 8, alpha: 16, dropout: 0.0, target_modules: [q_proj, v_proj, up_proj]}",
    "--set",
    "data.train_size=256",
    "--set",
    "data.eval_size=16",
    "--set",  # a reward that differs between random completions, so that GRPO has gradients to follow
    "rewards.1={name: repetition_penalty, weight: 1.0, params: {unit: tokens, ngram_size: 1}}",
    "--set",
    "warmup.max_steps=2",  # a (token) warm start: the adapter's base is then RUN/start, not the built model
    "--set",
    "warmup.batch_size=16",
    "--set",
    "warmup.check_size=8",
    "--set",
    "eval.before=false",
    "--set",
    "grpo.max_steps=2",
    "--set",
    "grpo.save_steps=1",
    "--set",
    "eval.max_new_tokens=16",
    "--set",
    "grpo.max_completion_length=16",
    "--set",
    "grpo.per_device_train_batch_size=32",
    "--set",
    "grpo.num_generations=8",
    "--set",
    "grpo.learning_rate=1.0e-3",
    "--set",
    "grpo.gradient_checkpointing=true",
    "--set",
    "logging.wandb_mode=disabled",
]

# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.lora.r=0", "model.lora.r must be a positive integer"),
        ("model.lora.dropout=1.5", r"model.lora.dropout must be in \[0, 1\)"),
        ("model.lora.quantize=2bit", "model.lora.quantize must be one of 4bit, 8bit"),
        ("model.lora.target_modules=[all-linear, q_proj]", "'all-linear' stands alone"),
        ("model.lora={quantize: 4bit, merge: true}", "cannot merge into a quantised base"),
        ("model.lora.rank=8", r"unknown config key 'model.lora.rank' \(valid keys: r, alpha"),
    ],
)
def test_lora_config_errors_are_one_line(override, message):
    with pytest.raises(RlvrError, match=message) as e:
        load_experiment(None, [override])
    assert "\n" not in str(e.value)


def test_lora_section_from_overrides_and_defaults():
    exp = load_experiment(None, ["model.lora.r=8"])
    assert exp.model.lora == LoraConfig(r=8)
    assert exp.model.lora.target_modules == ["all-linear"] and not exp.model.lora.merge
    assert load_experiment(None, []).model.lora is None  # absent: full fine-tuning


def test_target_modules_that_match_nothing():
    model, _, _ = load_policy(load_experiment(None, []).model, 0)
    with pytest.raises(RlvrError, match=r"query_key_value match no module.*its linear layers: .*q_proj"):
        peft_config(LoraConfig(target_modules=["q_proj", "query_key_value"]), model)
    assert peft_config(LoraConfig(), model).target_modules == "all-linear"
    assert peft_config(None, model) is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_quantize_needs_cuda():
    cfg = load_experiment(None, ["model.lora.quantize=4bit"]).model
    with pytest.raises(RlvrError, match="4bit .*needs a CUDA GPU"):
        load_policy(cfg, 0)


def test_flash_attention_without_the_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flash_attn" else real(name, *a))
    cfg = load_experiment(None, ["model.attn_implementation=flash_attention_2"]).model
    with pytest.raises(RlvrError, match="flash_attention_2 needs the flash-attn package"):
        load_policy(cfg, 0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="QLoRA (bitsandbytes 4-bit) needs CUDA")
def test_qlora_tiny_run_on_gpu(tmp_path, capsys):
    pytest.importorskip("bitsandbytes")
    argv = ["train", *LORA_RUN, "--set", "model.lora.quantize=4bit", "--set", "model.dtype=bfloat16"]
    assert main([*argv, "--output-dir", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()


# ------------------------------------------------------------------------------------------------ a tiny LoRA run


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """`rlvr train` (in-process) with LoRA on a warm-started tiny-qwen2; keeps the trained in-memory policy."""
    captured = {}
    real = rl.models.load_policy

    def capture(cfg, seed):
        model, tok, location = real(cfg, seed)
        captured["model"] = model  # peft injects the adapter into this very object
        return model, tok, location

    rl.models.load_policy = capture
    try:
        run_dir = tmp_path_factory.mktemp("lora") / "run"
        assert main(["train", *LORA_RUN, "--output-dir", str(run_dir)]) == 0
    finally:
        rl.models.load_policy = real
    return run_dir, captured["model"]


def adapter_weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_only_adapter_weights_change(lora_run):
    from safetensors.torch import load_file

    run_dir, model = lora_run
    final = run_dir / "final"
    assert {p.name for p in final.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    assert not (final / "model.safetensors").exists()  # adapter only
    base = json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert base == str(run_dir / "start")  # the warm start, which the adapter was trained on
    start = load_file(str(run_dir / "start" / "model.safetensors"))
    trained = {
        k.replace(".base_layer", ""): v for k, v in model.state_dict().items() if "lora_" not in k
    }  # the in-memory policy after 2 GRPO steps, adapter layers left out
    same = [k for k in start if torch.equal(start[k], trained[k])]
    assert len(same) == len(start), f"base weights changed: {sorted(set(start) - set(same))[:5]}"
    first, last = adapter_weights(run_dir / "checkpoints" / "checkpoint-1"), adapter_weights(final)
    lora_b = [k for k in last if "lora_B" in k]
    assert len(lora_b) == 3 * 4  # q_proj, v_proj, up_proj in each of 4 layers
    assert all(last[k].abs().sum() > 0 for k in lora_b)  # B starts at zero: the adapter learned
    assert any(not torch.equal(first[k], last[k]) for k in last)  # and kept moving on step 2
    print(f"base tensors bit-identical: {len(same)}/{len(start)}; adapter tensors: {len(last)}")


def test_saved_adapter_evaluates_as_the_in_memory_model(lora_run, tmp_path, capsys):
    run_dir, _ = lora_run
    summary = json.loads((run_dir / "summary.json").read_text())
    in_memory = [json.loads(line) for line in (run_dir / "eval" / "after.jsonl").read_text().splitlines()]
    out = tmp_path / "eval"
    assert main(["eval", str(run_dir), "--output", str(out), "--wandb-mode", "disabled"]) == 0
    point = json.loads((out / "metrics.json").read_text())["points"][0]
    saved = [json.loads(line) for line in (out / "final" / "samples.jsonl").read_text().splitlines()]
    assert [s["completion"] for s in saved] == [s["completion"] for s in in_memory]
    assert point["overall"]["pass@1"] == pytest.approx(summary["accuracy_after"])
    accuracy = point["overall"]["pass@1"]
    print(f"accuracy in memory {summary['accuracy_after']:.3f}, saved adapter {accuracy:.3f}; same completions")


def test_adapter_directory_loads_on_its_base(lora_run):
    from peft import PeftModel

    run_dir, _ = lora_run
    cfg = load_experiment(run_dir / "config.yaml").model
    model = load_model(str(run_dir / "final"), cfg)
    assert isinstance(model, PeftModel) and not any(p.requires_grad for p in model.parameters())


def test_merged_save_evaluates_as_the_in_memory_model(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", *LORA_RUN, "--set", "warmup.enabled=false", "--set", "model.lora.merge=true"]
    assert main([*argv, "--output-dir", str(run_dir)]) == 0, capsys.readouterr().err
    final = run_dir / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    from safetensors.torch import load_file

    assert not any("lora" in k for k in load_file(str(final / "model.safetensors")))  # a plain model
    out = tmp_path / "eval"
    assert main(["eval", str(run_dir), "--output", str(out), "--wandb-mode", "disabled"]) == 0
    in_memory = [json.loads(line) for line in (run_dir / "eval" / "after.jsonl").read_text().splitlines()]
    saved = [json.loads(line) for line in (out / "final" / "samples.jsonl").read_text().splitlines()]
    assert [s["completion"] for s in saved] == [s["completion"] for s in in_memory]


@pytest.mark.slow
def test_warm_lora_run_accuracy_matches_after_save(tmp_path, capsys):
    """With a real warm start (about half right), the saved adapter's accuracy equals the in-memory one."""
    run_dir = tmp_path / "run"
    argv = [
        "train",
        *LORA_RUN,
        "--set",
        "warmup.max_steps=400",
        "--set",
        "warmup.batch_size=64",
        "--set",
        "warmup.check_every=25",
        "--set",
        "warmup.check_size=64",
        "--set",
        "warmup.target_accuracy=0.3",
        "--set",
        "eval.max_new_tokens=40",
        "--set",
        "grpo.max_completion_length=40",
        "--set",
        "data.eval_size=64",
        "--set",
        "grpo.learning_rate=1.0e-4",
        "--set",
        "data.train_size=4096",  # the warm-up's probe is on training rows: enough of them not to overfit
        "--set",
        "rewards.1={name: think_format, weight: 0.1}",
        "--set",
        "eval.before=true",
    ]
    assert main([*argv, "--output-dir", str(run_dir)]) == 0, capsys.readouterr().err
    summary = json.loads((run_dir / "summary.json").read_text())
    out = tmp_path / "eval"
    assert main(["eval", str(run_dir), "--output", str(out), "--wandb-mode", "disabled"]) == 0
    point = json.loads((out / "metrics.json").read_text())["points"][0]
    assert summary["accuracy_after"] > 0.1
    assert point["overall"]["pass@1"] == pytest.approx(summary["accuracy_after"])
    accuracy = point["overall"]["pass@1"]
    print(f"warm LoRA run: accuracy in memory {summary['accuracy_after']:.3f}, saved adapter {accuracy:.3f}")
