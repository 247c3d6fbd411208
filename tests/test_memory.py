"""The memory planner (rl/launch/memory.py): DeepSpeed's own estimator formulas, real modules' sizes, recipes
that fit."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rl.config import load_experiment
from rl.errors import RlvrError
from rl.launch import memory
from tests.conftest import REPO

GiB = 2**30


# DeepSpeed 0.19.8's estimators, as published (deepspeed/runtime/zero/stage_1_and_2.py and stage3.py), without
# offload: the reference the planner's model-state terms must equal. DeepSpeed is not installed on CPU machines.
def deepspeed_zero2_gpu_bytes(total_params: int, num_gpus_per_node: int, num_nodes: int = 1) -> int:
    total_gpus = num_nodes * num_gpus_per_node
    return int(2 * total_params + int(18 * total_params / total_gpus))


def deepspeed_zero3_gpu_bytes(total_params: int, largest_layer_params: int, num_gpus_per_node: int) -> int:
    largest_layer_memory = 4 * largest_layer_params
    return int(largest_layer_memory + int(18 * total_params / num_gpus_per_node))


@pytest.mark.parametrize("model", ["Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-7B"])
@pytest.mark.parametrize("gpus", [1, 2, 8])
def test_zero_model_states_equal_deepspeeds_estimators(model, gpus):
    shape, _ = memory.resolve_shape(model)
    for strategy, reference in [
        ("zero2", deepspeed_zero2_gpu_bytes(shape.params, gpus)),
        ("zero3", deepspeed_zero3_gpu_bytes(shape.params, shape.largest_layer, gpus)),
    ]:
        got, rule = memory.model_state_bytes(shape, memory.Setup(strategy=strategy, gpus=gpus))
        assert got == pytest.approx(reference, abs=2), (strategy, rule)


def test_deepspeed_estimators_when_deepspeed_is_installed():
    zero2 = pytest.importorskip("deepspeed.runtime.zero.stage_1_and_2")
    zero3 = pytest.importorskip("deepspeed.runtime.zero.stage3")
    shape, _ = memory.resolve_shape("Qwen/Qwen2.5-7B")
    _, gpu2 = zero2.estimate_zero2_model_states_mem_needs(shape.params, 8, 1, cpu_offload=False)
    _, gpu3, _ = zero3.estimate_zero3_model_states_mem_needs(
        shape.params, shape.largest_layer, 8, 1, cpu_offload=False, cpu_offload_params=False
    )
    assert memory.model_state_bytes(shape, memory.Setup(strategy="zero2", gpus=8))[0] == pytest.approx(gpu2, abs=2)
    assert memory.model_state_bytes(shape, memory.Setup(strategy="zero3", gpus=8))[0] == pytest.approx(gpu3, abs=2)


@pytest.mark.parametrize(
    "model, params",
    [  # totals the hub reports for these checkpoints (safetensors metadata)
        ("Qwen/Qwen2.5-1.5B-Instruct", 1_543_714_304),
        ("Qwen/Qwen2.5-7B", 7_615_616_512),
        ("mistralai/Mistral-7B-Instruct-v0.3", 7_248_023_552),
        ("meta-llama/Llama-3.2-3B-Instruct", 3_212_749_824),
    ],
)
def test_parameter_counts_of_published_shapes(model, params):
    assert memory.resolve_shape(model)[0].params == params


def _real_model(family: str, shape: memory.Shape):
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config

    cls = {"qwen2": Qwen2Config, "llama": LlamaConfig, "mistral": MistralConfig}[family]
    config = cls(
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        intermediate_size=shape.intermediate,
        vocab_size=shape.vocab,
        max_position_embeddings=shape.max_positions,
        tie_word_embeddings=shape.tied,
        **({"head_dim": shape.head_dim} if shape.head_dim else {}),
    )
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize(
    "family, shape",
    [
        ("qwen2", memory.Shape(2, 64, 4, 2, 160, 300, 128, tied=True, qkv_bias=True)),
        ("llama", memory.Shape(3, 96, 6, 2, 256, 1000, 128, tied=False)),
        ("mistral", memory.Shape(2, 64, 4, 1, 128, 500, 128, tied=False, head_dim=32)),
    ],
)
def test_shape_arithmetic_matches_real_modules(family, shape):
    """Parameters, DeepSpeed's "largest layer" (its model_to_params rule) and KV bytes, against transformers."""
    import torch

    model = _real_model(family, shape)
    total = sum({p.data_ptr(): p.numel() for p in model.parameters()}.values())  # shared weights once
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    assert shape.params == total
    assert shape.largest_layer == largest
    model = model.to(torch.bfloat16)
    with torch.no_grad():
        out = model(torch.ones(1, 10, dtype=torch.long), use_cache=True)
    cache = out.past_key_values
    cached = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers) * 2
    assert cached == shape.kv_bytes_per_token() * 10


def test_lora_parameter_count_matches_peft():
    from peft import LoraConfig, get_peft_model

    shape = memory.Shape(2, 64, 4, 2, 160, 300, 128, tied=True, qkv_bias=True)
    model = get_peft_model(_real_model("qwen2", shape), LoraConfig(r=8, target_modules="all-linear"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert shape.lora_params(8, ["all-linear"]) == trainable
    model = get_peft_model(_real_model("qwen2", shape), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    assert shape.lora_params(4, ["q_proj", "v_proj"]) == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_activations_shrink_with_the_micro_batch_and_checkpointing():
    shape, _ = memory.resolve_shape("Qwen/Qwen2.5-7B")
    base = memory.Setup(strategy="zero3", gpus=8, micro_batch=16, completion_tokens=20480)

    def act(setup):
        return next(t.gib for t in memory.plan_memory(shape, setup).terms if t.name == "activations")

    # the checkpointed inputs alone: layers x tokens x hidden x 2 bytes (the issue's ~66 GB for DAPO at 16 x 20,480)
    assert act(base) > 28 * 16 * 20992 * 3584 * 2 / GiB
    assert act(base) / act(replace(base, micro_batch=2)) == pytest.approx(8)
    assert act(replace(base, gradient_checkpointing=False)) > 5 * act(base)


def test_an_oversized_plan_names_the_biggest_term_and_its_knob():
    exp = load_experiment(REPO / "configs/dapo-qwen2.5-7b.yaml", ["grpo.per_device_train_batch_size=16"])
    shape, _ = memory.resolve_shape(exp.model.name_or_path)
    budget = memory.plan_memory(shape, memory.setup_for(exp, "zero3", 7, 80.0, 1024))
    assert not budget.fits
    line = budget.refusal()
    assert "activations" in line and "per_device_train_batch_size" in line and "\n" not in line


def test_colocated_vllm_must_hold_one_full_length_sequence():
    shape, _ = memory.resolve_shape("meta-llama/Llama-3.2-3B-Instruct")
    setup = memory.Setup(strategy="zero2", gpus=2, vllm="colocate", vllm_utilization=0.1, vllm_max_len=None)
    budget = memory.plan_memory(shape, setup)
    assert not budget.fits and "131072-token" in budget.refusal() and "vllm_max_model_length" in budget.refusal()
    fixed = memory.plan_memory(shape, replace(setup, vllm_max_len=1024))
    assert not fixed.problems


def test_server_tensor_parallel_divides_the_heads_and_fits():
    qwen7, _ = memory.resolve_shape("Qwen/Qwen2.5-7B")
    assert memory.server_tensor_parallel(qwen7, 80, 21504, 1)[0] == 1
    llama70 = memory.Shape(80, 8192, 64, 8, 28672, 128256, 131072)
    tp, _ = memory.server_tensor_parallel(llama70, 80, 8192, 8)
    assert tp == 2 and llama70.heads % tp == 0
    odd = memory.Shape(80, 8192, 12, 4, 28672, 128256, 131072)  # 12 heads: TP 8 does not divide them
    assert memory.server_tensor_parallel(odd, 80, 8192, 8)[0] == 4
    with pytest.raises(RlvrError, match="cannot serve"):  # TP 4 is too small on 20 GiB GPUs, and 8 is skipped
        memory.server_tensor_parallel(odd, 20, 8192, 8)
    with pytest.raises(RlvrError, match="cannot serve"):
        memory.server_tensor_parallel(llama70, 80, 8192, 1)


def test_shape_sources_and_params_fallback(tmp_path):
    import json

    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 128,
                "vocab_size": 100,
                "max_position_embeddings": 256,
            }
        )
    )
    shape, source = memory.resolve_shape(str(tmp_path))
    assert shape.layers == 2 and source.endswith("config.json")
    with pytest.raises(RlvrError, match="--params"):
        memory.resolve_shape("someone/unknown-model")
    guessed, source = memory.resolve_shape("someone/unknown-model", 13.0)
    assert guessed.params == pytest.approx(13e9, rel=0.02) and source.startswith("--params")


@pytest.mark.parametrize(
    "env, strategy",
    [
        ({}, "ddp"),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, "zero2"),
        ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, "zero3"),
        ({"ACCELERATE_USE_FSDP": "true"}, "fsdp2"),
    ],
)
def test_strategy_from_the_launch_environment(env, strategy):
    assert memory.strategy_from_env(env) == strategy
