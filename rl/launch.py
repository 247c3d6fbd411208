"""`rlvr launch`: one line from a config to a multi-GPU / multi-node run (accelerate + DeepSpeed, vLLM rollouts).

    rlvr launch configs/x.yaml --gpus 8                              # 1 node, 8 GPUs, vLLM colocated
    rlvr launch configs/x.yaml --gpus 8 --vllm server                # 7 training GPUs + 1 GPU serving vLLM
    rlvr launch configs/x.yaml --gpus 8 --nodes 3 --vllm server --emit slurm   # 2 training nodes + 1 vLLM node

`--vllm colocate`: every training process runs its own vLLM engine on its GPU (TRL `vllm_mode: colocate`).
`--vllm server`: `trl vllm-serve` runs on GPUs of its own — the last GPU of a single node, or the whole last node
of a multi-node job (the "N+1" pattern of open-r1) — and training processes send it generation requests and
weight updates. The launcher waits for the server's health check and stops it at the end.

Preemption: the slurm script asks for SIGUSR1 five minutes before the time limit, turns it into a `PREEMPT` file in
the run directory (seen by every rank at the next step, see rl/resilience.py), and requeues itself when the run
reports `preempted.json`; the requeued job resumes from the newest checkpoint.
"""

from __future__ import annotations

import shlex
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rl.errors import RlvrError

ACCELERATE_DIR = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
STRATEGIES = ("ddp", "zero2", "zero3", "fsdp2")
VLLM_PORT = 8000
MAIN_PORT = 29500


@dataclass
class Plan:
    config: str
    run_dir: str
    model: str
    gpus: int
    nodes: int
    vllm: str
    strategy: str
    overrides: list[str]

    @property
    def train_nodes(self) -> int:
        return self.nodes - 1 if self.vllm == "server" and self.nodes > 1 else self.nodes

    @property
    def train_gpus_per_node(self) -> int:
        return self.gpus - 1 if self.vllm == "server" and self.nodes == 1 else self.gpus

    @property
    def num_processes(self) -> int:
        return self.train_nodes * self.train_gpus_per_node


def accelerate_config(strategy: str) -> Path:
    path = Path(strategy) if strategy.endswith((".yaml", ".yml")) else ACCELERATE_DIR / f"{strategy}.yaml"
    if not path.is_file():
        raise RlvrError(f"--strategy: no accelerate config {path} (use {', '.join(STRATEGIES)} or a .yaml path)")
    return path


def make_plan(
    config: str, gpus: int, nodes: int, vllm: str, strategy: str | None, output_dir: str | None, overrides: list[str]
) -> Plan:
    from rl.config import load_experiment

    if gpus < 1 or nodes < 1:
        raise RlvrError("--gpus and --nodes must be at least 1")
    if vllm == "server" and nodes == 1 and gpus < 2:
        raise RlvrError("--vllm server on one node needs --gpus 2 or more (one GPU serves vLLM)")
    exp = load_experiment(config, overrides)
    model = exp.model.name_or_path
    if model.startswith("builtin:"):
        raise RlvrError("rlvr launch is for real models on GPUs; train builtin:* models with `rlvr train`")
    strategy = strategy or ("zero3" if "7b" in model.lower() or "8b" in model.lower() else "zero2")
    accelerate_config(strategy)
    run_dir = output_dir or f"runs/{exp.name}"
    return Plan(config, run_dir, model, gpus, nodes, vllm, strategy, list(overrides))


def train_args(plan: Plan, vllm_host: str) -> list[str]:
    args = ["-m", "rl", "train", plan.config, "--output-dir", plan.run_dir]
    for item in plan.overrides:
        args += ["--set", item]
    args += ["--set", "grpo.use_vllm=true", "--set", f"grpo.vllm_mode={plan.vllm}"]
    if plan.vllm == "server":
        args += ["--set", f"grpo.vllm_server_host={vllm_host}", "--set", f"grpo.vllm_server_port={VLLM_PORT}"]
    return args


def accelerate_args(plan: Plan, machine_rank: str = "0", main_ip: str = "127.0.0.1") -> list[str]:
    args = [
        "accelerate",
        "launch",
        "--config_file",
        str(accelerate_config(plan.strategy)),
        "--num_processes",
        str(plan.num_processes),
        "--num_machines",
        str(plan.train_nodes),
    ]
    if plan.train_nodes > 1:
        args += ["--machine_rank", machine_rank, "--main_process_ip", main_ip, "--main_process_port", str(MAIN_PORT)]
    return args


def vllm_serve_args(plan: Plan) -> list[str]:
    gpus = plan.gpus if plan.nodes > 1 else 1
    return [
        "trl",
        "vllm-serve",
        "--model",
        plan.model,
        "--tensor-parallel-size",
        "1",
        "--data-parallel-size",
        str(gpus),
        "--host",
        "0.0.0.0",
        "--port",
        str(VLLM_PORT),
    ]


def _devices(first: int, count: int) -> str:
    return ",".join(str(i) for i in range(first, first + count))


def resume_guard(run_dir: str) -> str:
    q = shlex.quote(run_dir)
    return f"RESUME=(); [ -d {q}/checkpoints ] && RESUME=(--resume); rm -f {q}/PREEMPT"


def shell_script(plan: Plan) -> str:
    """A bash script for one node (multi-node runs go through --emit slurm)."""
    if plan.nodes > 1:
        raise RlvrError("--nodes > 1 needs a scheduler: use --emit slurm")
    train = shlex.join(accelerate_args(plan) + train_args(plan, "127.0.0.1"))
    lines = [
        "#!/usr/bin/env bash",
        f"# rlvr launch {plan.config}: {plan.gpus} GPU(s), vLLM {plan.vllm}",
        "set -euo pipefail",
        resume_guard(plan.run_dir),
    ]
    if plan.vllm == "server":
        lines += [
            f"CUDA_VISIBLE_DEVICES={plan.gpus - 1} {shlex.join(vllm_serve_args(plan))} &",
            "VLLM_PID=$!; trap 'kill $VLLM_PID 2>/dev/null' EXIT",
            f"until curl -sf http://127.0.0.1:{VLLM_PORT}/health >/dev/null; do sleep 5; done",
            f'CUDA_VISIBLE_DEVICES={_devices(0, plan.gpus - 1)} {train} "${{RESUME[@]}}"',
        ]
    else:
        lines.append(f'{train} "${{RESUME[@]}}"')
    return "\n".join(lines) + "\n"


def slurm_script(plan: Plan) -> str:
    run_dir = shlex.quote(plan.run_dir)
    n_train = plan.train_nodes
    train = shlex.join(accelerate_args(plan, "$SLURM_PROCID", "$MASTER") + train_args(plan, "$VLLM_NODE"))
    # inside `bash -c "..."`: $MASTER and $VLLM_NODE expand in this script, $SLURM_PROCID on each node's task
    train = train.replace("'$SLURM_PROCID'", "\\$SLURM_PROCID")
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={Path(plan.config).stem}",
        f"#SBATCH --nodes={plan.nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --gpus-per-node={plan.gpus}",
        "#SBATCH --exclusive",
        "#SBATCH --requeue",
        "#SBATCH --signal=B:USR1@300",
        f"#SBATCH --output={plan.run_dir}-slurm-%j.out",
        f"# rlvr launch {plan.config}: {plan.nodes} node(s) x {plan.gpus} GPU(s); training on {n_train} node(s), "
        f"{plan.num_processes} processes; vLLM {plan.vllm}"
        + (" on the last node" if plan.vllm == "server" and plan.nodes > 1 else ""),
        "set -uo pipefail",
        'NODES=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))',
        "MASTER=${NODES[0]}",
        f"mkdir -p {run_dir}",
        resume_guard(plan.run_dir),
        f"trap 'touch {run_dir}/PREEMPT' USR1   # ranks checkpoint at the next step and exit",
    ]
    if plan.vllm == "server" and plan.nodes > 1:
        lines += [
            f"VLLM_NODE=${{NODES[{plan.nodes - 1}]}}",
            f'TRAIN_NODES=$(IFS=,; echo "${{NODES[*]:0:{n_train}}}")',
            f'srun --nodes=1 --ntasks=1 -w "$VLLM_NODE" {shlex.join(vllm_serve_args(plan))} &',
            f'until curl -sf "http://$VLLM_NODE:{VLLM_PORT}/health" >/dev/null; do sleep 10; done',
            f'srun --nodes={n_train} --ntasks={n_train} -w "$TRAIN_NODES" bash -c "{train} ${{RESUME[*]:-}}" &',
        ]
    elif plan.vllm == "server":
        lines += [
            "VLLM_NODE=127.0.0.1",
            f"CUDA_VISIBLE_DEVICES={plan.gpus - 1} {shlex.join(vllm_serve_args(plan))} &",
            f"until curl -sf http://127.0.0.1:{VLLM_PORT}/health >/dev/null; do sleep 5; done",
            f"CUDA_VISIBLE_DEVICES={_devices(0, plan.gpus - 1)} srun --nodes=1 --ntasks=1 bash -c "
            f'"{train} ${{RESUME[*]:-}}" &',
        ]
    else:
        lines += [
            "VLLM_NODE=127.0.0.1",
            f'srun --nodes={n_train} --ntasks={n_train} bash -c "{train} ${{RESUME[*]:-}}" &',
        ]
    lines += [
        "TRAIN=$!; CODE=0",
        "while kill -0 $TRAIN 2>/dev/null; do wait $TRAIN; CODE=$?; done   # `wait` returns early on USR1",
        f'if [ -f {run_dir}/preempted.json ]; then scontrol requeue "$SLURM_JOB_ID"; fi',
        "kill $(jobs -p) 2>/dev/null",
        "exit $CODE",
    ]
    return "\n".join(lines) + "\n"


def wait_healthy(url: str, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RlvrError(f"trl vllm-serve exited with code {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(5)
    raise RlvrError(f"trl vllm-serve was not healthy at {url} within {timeout:.0f} s")


def run_local(plan: Plan) -> int:
    """Run a one-node plan here: start vllm-serve when asked, train, stop the server."""
    import os

    if plan.nodes > 1:
        raise RlvrError("--nodes > 1 needs a scheduler: use --emit slurm")
    env = dict(os.environ)
    server = None
    resume = ["--resume"] if (Path(plan.run_dir) / "checkpoints").is_dir() else []
    try:
        if plan.vllm == "server":
            server = subprocess.Popen(vllm_serve_args(plan), env=env | {"CUDA_VISIBLE_DEVICES": str(plan.gpus - 1)})
            wait_healthy(f"http://127.0.0.1:{VLLM_PORT}/health", 1800, server)
            env["CUDA_VISIBLE_DEVICES"] = _devices(0, plan.gpus - 1)
        return subprocess.run(accelerate_args(plan) + train_args(plan, "127.0.0.1") + resume, env=env).returncode
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)


def launch(
    config: str,
    gpus: int,
    nodes: int = 1,
    vllm: str = "colocate",
    strategy: str | None = None,
    emit: str | None = None,
    dry_run: bool = False,
    output_dir: str | None = None,
    overrides: list[str] | None = None,
) -> int:
    plan = make_plan(config, gpus, nodes, vllm, strategy, output_dir, overrides or [])
    if emit == "slurm":
        text = slurm_script(plan)
        if dry_run:
            print(text, end="")
            return 0
        path = Path(plan.run_dir + ".sbatch")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}; submit with: sbatch {path}")
        return 0
    if emit == "shell" or dry_run:
        print(shell_script(plan), end="")
        return 0
    return run_local(plan)
