"""`rlvr launch`: the commands and scripts it prints for each recipe (no GPU needed to check them)."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, rlvr

RECIPES = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / "configs").glob("*.yaml")
    if p.name != "tiny-arith.yaml" and not p.name.startswith("tiny-")
)


def test_there_are_recipes():
    assert {
        "configs/dapo-qwen2.5-7b.yaml",
        "configs/countdown-qwen2.5-3b.yaml",
        "configs/gspo-qwen2.5-1.5b.yaml",
        "configs/math-qwen2.5-math-1.5b-r1zero.yaml",
        "configs/gsm8k-qwen2.5-1.5b.yaml",
    } <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_on_8_gpus(recipe):
    result = rlvr("launch", recipe, "--gpus", "8", "--dry-run")
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("accelerate launch"))
    assert "--num_processes 8 --num_machines 1" in line
    assert re.search(r"--config_file \S+/configs/accelerate/(zero2|zero3)\.yaml", line)
    assert f"-m rl train {recipe} --output-dir runs/" in line
    assert "--set grpo.use_vllm=true --set grpo.vllm_mode=colocate" in line
    assert "trl vllm-serve" not in result.stdout
    assert subprocess.run(["bash", "-n"], input=result.stdout, text=True).returncode == 0


def test_7b_gets_zero3_and_small_models_zero2():
    big = rlvr("launch", "configs/dapo-qwen2.5-7b.yaml", "--gpus", "8", "--dry-run").stdout
    small = rlvr("launch", "configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--dry-run").stdout
    assert "accelerate/zero3.yaml" in big and "accelerate/zero2.yaml" in small
    fsdp = rlvr("launch", "configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--strategy", "fsdp2", "--dry-run").stdout
    assert "accelerate/fsdp2.yaml" in fsdp


def test_single_node_server_mode_gives_vllm_the_last_gpu():
    out = rlvr("launch", "configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--vllm", "server", "--dry-run").stdout
    assert "CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model Qwen/Qwen2.5-1.5B-Instruct" in out
    assert "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 accelerate launch" in out
    assert "--num_processes 7 --num_machines 1" in out
    assert "grpo.vllm_mode=server" in out and "grpo.vllm_server_host=127.0.0.1" in out
    assert "curl -sf http://127.0.0.1:8000/health" in out
    assert "kill $VLLM_PID" in out


@pytest.mark.parametrize("recipe", RECIPES)
def test_three_nodes_with_a_vllm_node_as_slurm(recipe):
    result = rlvr("launch", recipe, "--gpus", "8", "--nodes", "3", "--vllm", "server", "--emit", "slurm", "--dry-run")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "#SBATCH --nodes=3" in text and "#SBATCH --gpus-per-node=8" in text and "#SBATCH --requeue" in text
    assert "VLLM_NODE=${NODES[2]}" in text  # the last node serves vLLM ...
    assert 'srun --nodes=1 --ntasks=1 -w "$VLLM_NODE" trl vllm-serve' in text
    assert "--data-parallel-size 8" in text
    assert 'srun --nodes=2 --ntasks=2 -w "$TRAIN_NODES"' in text  # ... the first two train
    assert "--num_processes 16 --num_machines 2 --machine_rank \\$SLURM_PROCID" in text
    assert "grpo.vllm_server_host=$VLLM_NODE" in text
    assert "touch runs/" in text and "scontrol requeue" in text and "preempted.json" in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_slurm_script_is_written_without_dry_run(tmp_path):
    out = tmp_path / "r"
    result = rlvr(
        "launch",
        "configs/gsm8k-qwen2.5-1.5b.yaml",
        "--gpus",
        "4",
        "--nodes",
        "2",
        "--emit",
        "slurm",
        "--output-dir",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    script = Path(str(out) + ".sbatch")
    assert "#SBATCH --nodes=2" in script.read_text() and "--num_processes 8 --num_machines 2" in script.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["configs/tiny-arith.yaml", "--gpus", "2", "--dry-run"], "builtin:* models"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "1", "--vllm", "server", "--dry-run"], "--gpus 2 or more"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--nodes", "2", "--dry-run"], "use --emit slurm"),
        (
            ["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--strategy", "zero9", "--dry-run"],
            "no accelerate config",
        ),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "0", "--dry-run"], "at least 1"),
    ],
)
def test_launch_errors(args, message):
    result = rlvr("launch", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
