"""`rlvr launch`: memory plans, scripts that follow the recipe, vLLM server layouts (no GPU needed to check them)."""

import os
import re
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import yaml

from rl.launch import plan as launch_mod
from tests.conftest import REPO, rlvr

RECIPES = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / "configs").glob("*.yaml")
    if p.name != "tiny-arith.yaml" and not p.name.startswith("tiny-")
)


@pytest.fixture
def cli(capsys, monkeypatch):
    """`rlvr launch ...` in this process (a subprocess per call costs seconds); same code path as the CLI."""
    from rl.cli import main

    monkeypatch.chdir(REPO)

    def run(*args: str) -> SimpleNamespace:
        try:
            code = main(["launch", *args])
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def _recipe(path: str) -> dict:
    return yaml.safe_load((REPO / path).read_text())


def _train_line(text: str) -> str:
    return next(x for x in text.splitlines() if "accelerate launch" in x and not x.startswith("#"))


def test_there_are_recipes():
    assert {
        "configs/dapo-qwen2.5-7b.yaml",
        "configs/countdown-qwen2.5-3b.yaml",
        "configs/gspo-qwen2.5-1.5b.yaml",
        "configs/math-qwen2.5-math-1.5b-r1zero.yaml",
        "configs/gsm8k-qwen2.5-1.5b.yaml",
    } <= set(RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_fits_its_stated_hardware_and_is_not_rewritten(recipe, cli):
    raw = _recipe(recipe)
    result = cli(recipe, "--dry-run")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert re.search(r"# +peak \(\w+\) +[\d.]+ GiB +of [\d.]+: fits", text), text[:2000]
    assert f"of {raw['launch']['gpu_memory']:g}: fits" in text
    line = _train_line(text)
    assert f"-m rl train {recipe} --output-dir runs/{raw['name']}" in line
    assert "grpo.use_vllm" not in line and "grpo.vllm_mode" not in line  # the recipe decides
    assert raw["grpo"].get("vllm_max_model_length") or not raw["grpo"].get("use_vllm")
    assert str(REPO) not in text  # relocatable: nothing from this checkout's absolute paths
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_vllm_follows_the_recipe_and_a_conflicting_flag_is_refused(cli):
    qlora = "configs/falcon3-7b-gsm8k-qlora.yaml"  # use_vllm: false
    out = cli(qlora, "--dry-run").stdout
    assert "trl vllm-serve" not in out and "vLLM: off" in out and "--multi_gpu" not in out
    refused = cli(qlora, "--vllm", "colocate", "--dry-run")
    assert refused.returncode == 2 and "conflicts with the recipe" in refused.stderr
    assert "--set grpo.use_vllm=true --set grpo.vllm_mode=colocate" in refused.stderr
    agreed = cli("configs/dapo-qwen2.5-7b.yaml", "--vllm", "server", "--dry-run")
    assert agreed.returncode == 0, agreed.stderr
    override = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--set", "grpo.use_vllm=false", "--dry-run")
    assert override.returncode == 0, override.stderr
    assert "vLLM: off" in override.stdout and "--set grpo.use_vllm=false" in _train_line(override.stdout)
    # an explicit override is planned too: vLLM on a 24 GiB GPU at 30% cannot hold Falcon's 32k context
    squeezed = cli(qlora, "--set", "grpo.use_vllm=true", "--set", "grpo.vllm_mode=colocate", "--dry-run")
    assert squeezed.returncode == 2 and "vllm_max_model_length" in squeezed.stderr


def test_strategy_follows_the_plan(cli):
    one = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--dry-run").stdout
    assert "strategy: ddp" in one and "--use_deepspeed" not in _train_line(one)
    eight = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--dry-run").stdout
    assert "strategy: zero2" in eight and "--zero_stage 2" in _train_line(eight)
    # DAPO on 3 training GPUs of 72 GiB: ZeRO-2 keeps 2 bytes/param of weights on each and does not fit; ZeRO-3 does
    two = cli("configs/dapo-qwen2.5-7b.yaml", "--gpus", "4", "--gpu-memory", "72", "--dry-run").stdout
    assert "strategy: zero3" in two and "--zero_stage 3 --zero3_init_flag true" in _train_line(two)
    qlora = cli("configs/falcon3-7b-gsm8k-qlora.yaml", "--gpus", "4", "--dry-run").stdout
    assert "strategy: ddp (QLoRA" in qlora and "--multi_gpu" in _train_line(qlora)
    fsdp = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--strategy", "fsdp2", "--dry-run").stdout
    assert "--use_fsdp --fsdp_version 2" in _train_line(fsdp)


def test_an_oversized_plan_is_refused_with_one_line(cli):
    result = rlvr(
        "launch", "configs/dapo-qwen2.5-7b.yaml", "--set", "grpo.per_device_train_batch_size=16", "--dry-run"
    )
    assert result.returncode == 2
    errors = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "biggest term: activations" in errors[0] and "per_device_train_batch_size" in errors[0]
    assert "DOES NOT FIT" in result.stdout  # the table, for the curious
    small = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpu-memory", "24", "--dry-run")
    assert small.returncode == 2 and "more than 24 GiB" in small.stderr


def test_single_node_server_mode_gives_vllm_its_gpu_with_data_parallel_1(cli):
    out = cli("configs/dapo-qwen2.5-7b.yaml", "--dry-run").stdout
    assert (
        "CUDA_VISIBLE_DEVICES=7 trl vllm-serve --model Qwen/Qwen2.5-7B --tensor_parallel_size 1 "
        "--data_parallel_size 1 --max_model_len 21504" in out
    )
    assert "CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6 accelerate launch" in out
    assert "--num_processes 7 --num_machines 1" in out
    assert "grpo.vllm_server_host=127.0.0.1" in out
    assert "wait_healthy http://127.0.0.1:8000/health $VLLM_PID runs/dapo-qwen2.5-7b-vllm-serve.log" in out


@pytest.mark.parametrize("recipe", ["configs/dapo-qwen2.5-7b.yaml"])
def test_three_nodes_with_a_vllm_node_as_slurm(recipe, cli):
    result = cli(recipe, "--gpus", "8", "--nodes", "3", "--emit", "slurm", "--dry-run")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "#SBATCH --nodes=3" in text and "#SBATCH --gpus-per-node=8" in text and "#SBATCH --requeue" in text
    assert "VLLM_NODE=${NODES[2]}" in text  # the last node serves vLLM ...
    assert 'srun --nodes=1 --ntasks=1 -w "$VLLM_NODE" trl vllm-serve' in text
    assert "--data_parallel_size 1" in text and "--data-parallel-size 8" not in text
    assert 'srun --nodes=2 --ntasks=2 -w "$TRAIN_NODES"' in text  # ... the first two train
    assert "--num_processes 16 --num_machines 2 --machine_rank \\$SLURM_PROCID" in text
    assert "grpo.vllm_server_host=$VLLM_NODE" in text
    assert 'cd "${RLVR_WORKDIR:-${SLURM_SUBMIT_DIR:-.}}"' in text and 'eval "${RLVR_ACTIVATE:-' in text
    assert "touch runs/" in text and "scontrol requeue" in text and "preempted.json" in text
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_colocated_recipe_on_two_nodes_as_slurm(cli):
    result = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "4", "--nodes", "2", "--emit", "slurm",
                  "--dry-run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--num_processes 8 --num_machines 2" in result.stdout and "trl vllm-serve" not in result.stdout


def _run_wait(tmp_path, pid: int, timeout: str) -> subprocess.CompletedProcess:
    log = tmp_path / "vllm-serve.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "CUDA out of memory\n")
    script = f"{launch_mod._WAIT}\nwait_healthy http://127.0.0.1:9/health {pid} {log}\necho healthy\n"
    env = os.environ | {"VLLM_HEALTH_TIMEOUT": timeout}
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)


def test_health_wait_stops_when_the_server_died(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    result = _run_wait(tmp_path, dead.pid, "600")
    assert result.returncode == 1 and "healthy" not in result.stdout
    assert "exited before it was healthy" in result.stderr and "CUDA out of memory" in result.stderr
    assert "line 59" not in result.stderr  # only the tail of the log


def test_health_wait_has_a_deadline(tmp_path):
    alive = subprocess.Popen(["sleep", "60"])
    try:
        start = time.monotonic()
        result = _run_wait(tmp_path, alive.pid, "0")
        assert result.returncode == 1 and "not healthy within 0 s" in result.stderr
        assert time.monotonic() - start < 30
        assert alive.wait(timeout=10) is not None  # the script stopped the server
    finally:
        alive.kill()


def test_run_local_health_wait_stops_on_a_dead_server_and_on_its_deadline(tmp_path):
    log = tmp_path / "vllm-serve.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "CUDA out of memory\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with pytest.raises(launch_mod.RlvrError, match="exited with code 0 before it was healthy") as err:
        launch_mod.wait_healthy("http://127.0.0.1:9/health", 60, dead, log)
    assert "CUDA out of memory" in str(err.value) and "line 59" not in str(err.value)
    alive = subprocess.Popen(["sleep", "60"])
    try:
        with pytest.raises(launch_mod.RlvrError, match="not healthy at .* within 0 s"):
            launch_mod.wait_healthy("http://127.0.0.1:9/health", 0, alive, log)
    finally:
        alive.kill()


def test_activation_line_and_workdir(tmp_path, cli):
    out = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--activate", "module load cuda && conda activate rl",
               "--dry-run").stdout  # fmt: skip
    assert 'eval "${RLVR_ACTIVATE:-module load cuda && conda activate rl}"' in out
    assert 'cd "${RLVR_WORKDIR:-.}"' in out


def test_strategy_flags_say_what_the_accelerate_configs_say():
    """configs/accelerate/*.yaml (for hand launches) and the flags emitted scripts carry must not drift apart."""
    for strategy, flags in launch_mod.STRATEGY_FLAGS.items():
        config = yaml.safe_load((REPO / "configs" / "accelerate" / f"{strategy}.yaml").read_text())
        settings = {
            k: v for k, v in zip(flags, flags[1:], strict=False) if k.startswith("--") and not v.startswith("--")
        }
        section = config.get("deepspeed_config") or config.get("fsdp_config") or {}
        for key, value in section.items():
            assert str(settings.get(f"--{key}")).lower() == str(value).lower(), (strategy, key, settings)
        assert len(settings) == len(section), (strategy, settings, section)
        kind = {"ddp": "MULTI_GPU", "zero2": "DEEPSPEED", "zero3": "DEEPSPEED", "fsdp2": "FSDP"}[strategy]
        assert config["distributed_type"] == kind
        assert ("--use_deepspeed" in flags) == (kind == "DEEPSPEED") and ("--use_fsdp" in flags) == (kind == "FSDP")


def test_slurm_script_is_written_without_dry_run(tmp_path, cli):
    out = tmp_path / "r"
    result = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "4", "--nodes", "2", "--emit", "slurm",
        "--output-dir", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    script = (tmp_path / "r.sbatch").read_text()
    assert "#SBATCH --nodes=2" in script and "--num_processes 8 --num_machines 2" in script


@pytest.mark.parametrize(
    "args, message",
    [
        (["configs/tiny-arith.yaml", "--gpus", "2", "--dry-run"], "builtin:* models"),
        (["configs/dapo-qwen2.5-7b.yaml", "--gpus", "1", "--dry-run"], "--gpus 2 or more"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--nodes", "2", "--dry-run"], "use --emit slurm"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "8", "--strategy", "zero9", "--dry-run"], "--strategy must"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--strategy", "nope.yaml", "--dry-run"], "no accelerate config"),
        (["configs/falcon3-7b-gsm8k-qlora.yaml", "--strategy", "zero3", "--dry-run"], "4-bit base cannot shard"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "0", "--dry-run"], "at least 1"),
        (["configs/gsm8k-qwen2.5-1.5b.yaml", "--set", "model.name_or_path=a/b", "--dry-run"], "pass --params"),
    ],
)
def test_launch_errors(args, message, cli):
    result = cli(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_the_emitted_server_script_runs_end_to_end_with_stand_in_commands(tmp_path, cli):
    """The bash script itself, executed: `trl`, `curl` and `accelerate` are stand-ins on PATH that record what they
    were asked. The server starts on its GPU, training starts once healthy, the run directory is still empty (so
    `rlvr train` accepts it) and the server is stopped at exit."""
    script = cli("configs/dapo-qwen2.5-7b.yaml", "--dry-run").stdout
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_ins = {
        "trl": 'echo "GPU $CUDA_VISIBLE_DEVICES: trl $*" > served; exec sleep 60',
        "curl": "exit 0",
        "accelerate": 'echo "GPU $CUDA_VISIBLE_DEVICES: $*" > trained; ls -A runs/dapo-qwen2.5-7b > run_dir_contents',
    }
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = os.environ | {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RLVR_WORKDIR": str(tmp_path),
        "RLVR_ACTIVATE": "true",
    }
    start = time.monotonic()
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 30  # the stand-in server (sleep 60) was stopped by the EXIT trap
    assert (tmp_path / "served").read_text().startswith("GPU 7: trl vllm-serve --model Qwen/Qwen2.5-7B")
    trained = (tmp_path / "trained").read_text()
    assert trained.startswith("GPU 0,1,2,3,4,5,6: launch --use_deepspeed")
    assert "-m rl train configs/dapo-qwen2.5-7b.yaml --output-dir runs/dapo-qwen2.5-7b" in trained
    assert (tmp_path / "run_dir_contents").read_text() == ""
    assert (tmp_path / "runs" / "dapo-qwen2.5-7b-vllm-serve.log").is_file()


def test_running_without_the_gpus_is_refused_before_anything_starts(cli, tmp_path):
    """Without --dry-run/--emit the plan runs here: more GPUs than this machine shows is one line (how many are
    visible, how many are needed, what works anywhere), before the plan is printed or anything is started."""
    out = tmp_path / "run"
    result = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--gpus", "64", "--output-dir", str(out))
    assert result.returncode == 2 and result.stdout == "", result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert (
        "CUDA GPU(s)" in line and "the plan needs 64" in line and "--dry-run" in line and "--emit shell|slurm" in line
    )
    assert not out.exists()


def test_cuda_visible_devices_counts(tmp_path):
    """CUDA_VISIBLE_DEVICES hides GPUs from the count (here: all of them)."""
    result = subprocess.run(
        [sys.executable, "-m", "rl", "launch", "configs/gsm8k-qwen2.5-1.5b.yaml", "--output-dir", str(tmp_path / "r")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | {"CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "shows 0 CUDA GPU(s) (CUDA_VISIBLE_DEVICES='') and the plan needs 1" in result.stderr


def test_a_missing_accelerate_is_one_line(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(launch_mod, "visible_gpus", lambda: 8)  # as on a GPU machine
    monkeypatch.setenv("PATH", str(tmp_path))  # where no `accelerate` lies
    result = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "cannot start accelerate: not on PATH" in result.stderr


@pytest.mark.parametrize("model", ["Qwen/Qwen2.5-1.5B-Instruct", "someone/not-in-any-table"])
def test_planning_never_reaches_the_network(cli, monkeypatch, model):
    """The plan reads the model's shape from a local config, the HF cache or rlvr's table: no hub request (which,
    offline, would retry for seconds) even when HF_HUB_OFFLINE is not set."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while planning: {args}")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = cli("configs/gsm8k-qwen2.5-1.5b.yaml", "--set", f"model.name_or_path={model}", "--dry-run")
    if model.startswith("Qwen"):
        assert result.returncode == 0 and "accelerate launch" in result.stdout, result.stderr
    else:
        assert result.returncode == 2 and "pass --params" in result.stderr


def test_launching_a_finished_run_starts_nothing(tmp_path, capsys):
    """A finished run directory: the launch says so and exits 0 before it checks GPUs or starts a server."""
    import json

    from rl.cli import main
    from rl.config import dump_yaml, load_experiment

    recipe = str(REPO / "configs" / "gsm8k-qwen2.5-1.5b.yaml")
    run = tmp_path / "run"
    run.mkdir()
    exp = load_experiment(recipe, [])
    (run / "config.yaml").write_text(dump_yaml(exp))
    (run / "summary.json").write_text(json.dumps({"steps": exp.grpo["max_steps"]}))
    assert main(["launch", recipe, "--output-dir", str(run)]) == 0
    assert f"{run} is finished ({exp.grpo['max_steps']} steps)" in capsys.readouterr().out
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "summary.json"]
