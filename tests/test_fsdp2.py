"""`rlvr train` under real FSDP2 on two CPU processes (gloo), then `rlvr eval` on its `final/`.

accelerate will not turn FSDP on for CPU processes, so the run goes through tests/fsdp2_cpu_launch.py, which
relabels the process state before the trainer builds its Accelerator (test-only; see its docstring). The hard case:
SHARDED_STATE_DICT (where `Trainer.save_model` writes nothing) with bf16 weights, so `final/` must be the gathered
full model, written back in the dtype it was loaded in.
"""

import json
import os
import subprocess
import sys

from tests.conftest import REPO
from tests.fsdp2_cpu_launch import MARKER

ACCELERATE_FSDP2 = """\
compute_environment: LOCAL_MACHINE
distributed_type: FSDP
fsdp_config:
  fsdp_version: 2
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_cpu_ram_efficient_loading: false
  fsdp_offload_params: false
  fsdp_reshard_after_forward: true
  fsdp_state_dict_type: SHARDED_STATE_DICT
mixed_precision: bf16
num_machines: 1
num_processes: 2
machine_rank: 0
main_training_function: main
rdzv_backend: static
same_network: true
use_cpu: false
"""


def test_fsdp2_two_cpu_processes_write_a_full_final_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    config = tmp_path / "fsdp2.yaml"
    config.write_text(ACCELERATE_FSDP2)
    out = tmp_path / "run"
    overrides = [
        "data.train_size=256",
        "data.eval_size=8",
        "warmup.enabled=false",  # the supervised warm-up refuses FSDP shards
        "grpo.max_steps=2",
        "grpo.per_device_train_batch_size=8",
        "grpo.num_generations=4",
        "grpo.save_steps=100",
        "grpo.bf16=true",
        "model.dtype=bfloat16",
        "eval.before=true",
        "eval.after=true",
        "logging.wandb_mode=disabled",
    ]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    cmd += ["-m", "tests.fsdp2_cpu_launch", "train", "--output-dir", str(out)]
    cmd += [x for item in overrides for x in ("--set", item)]
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1"}  # two processes on two cores
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    first = result.stderr.find("Traceback")  # the first rank's traceback, not torchrun's summary after it
    assert result.returncode == 0, result.stderr[max(first, 0) :][:6000]

    marker = [line for line in result.stdout.splitlines() if line.startswith("fsdp2:")]
    assert len(marker) == 1 and marker[0].startswith(MARKER), result.stdout[-2000:]  # rank 0, all params DTensors
    assert "is_fsdp2=True ranks=2" in marker[0]
    assert "precision: bf16 compute, fp32 sharded parameters" in result.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_processes"] == 2
    assert summary["steps"] == 2
    assert summary["ranks_in_sync"] is None  # shards: no replicas to compare
    assert summary["accuracy_before"] is not None and summary["accuracy_after"] is not None

    final = out / "final"
    assert (final / "config.json").is_file() and (final / "model.safetensors").is_file()
    assert json.loads((final / "config.json").read_text())["dtype"] == "bfloat16"
    model, info = AutoModelForCausalLM.from_pretrained(final, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"] and not info["unexpected_keys"], info
    assert model.dtype == torch.bfloat16  # the loaded dtype, not FSDP2's fp32 training copy

    eval_out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "rl", "eval", str(final), "--data", "builtin:arithmetic", "--limit", "4"]
    cmd += ["--max-new-tokens", "8", "--output", str(eval_out), "--wandb-mode", "disabled"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    metrics = json.loads((eval_out / "metrics.json").read_text())
    assert metrics["n_problems"] == 4 and metrics["dtype"] == "bfloat16"
