"""`rlvr launch`: one line from a recipe to a multi-GPU / multi-node run (accelerate + DeepSpeed, vLLM rollouts).

    rlvr launch configs/x.yaml --dry-run                             # the recipe's stated hardware: budget + script
    rlvr launch configs/x.yaml --gpus 8                              # 1 node, 8 GPUs, as the recipe says
    rlvr launch configs/x.yaml --gpus 8 --nodes 3 --emit slurm       # a vLLM-server recipe: 2 training nodes + 1

The recipe decides; the launcher never changes it behind your back. `grpo.use_vllm`/`grpo.vllm_mode` come from the
recipe (`--vllm` only fills them in when the recipe is silent; a conflicting `--vllm` is an error; override with
`--set grpo.vllm_mode=server`). The strategy follows the memory planner (rl/launch/memory.py): DDP on one GPU,
ZeRO-2 when
it fits, ZeRO-3 when only that fits, DDP for QLoRA (a 4-bit base cannot be sharded); `--strategy` picks one, and a
plan that does not fit is refused with the term to shrink.

`vllm_mode: colocate`: every training process runs its own vLLM engine on its GPU. `vllm_mode: server`:
`trl vllm-serve` runs on GPUs of its own: the last GPU(s) of a single node, or the whole last node of a multi-node
job (the "N+1" pattern of open-r1), with data parallel 1 (TRL: dense models must keep it at 1) and the smallest
tensor-parallel size that divides the head counts and fits. Scripts wait for its health check with a deadline
(`VLLM_HEALTH_TIMEOUT`, default 1800 s), stop when the server dies, and print the tail of its log.

Scripts are relocatable: paths are relative to the directory they are run or submitted from (`RLVR_WORKDIR`
overrides it), accelerate's settings travel as flags (no config file needed on the node), and one line activates
the environment (`--activate`, or `RLVR_ACTIVATE` at run time).

Preemption: the slurm script asks for SIGUSR1 five minutes before the time limit, turns it into a `PREEMPT` file in
the run directory (seen by every rank at the next step, see rl/train/resilience.py), and requeues itself when the run
reports `preempted.json`; the requeued job resumes from the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from rl.config import BUILTIN_PREFIX
from rl.errors import RlvrError
from rl.rundir import RunDir

STRATEGIES = ("ddp", "zero2", "zero3", "fsdp2")
VLLM_PORT = 8000
MAIN_PORT = 29500
HEALTH_TIMEOUT = 1800
_DEEPSPEED = ["--use_deepspeed", "--deepspeed_multinode_launcher", "standard", "--offload_optimizer_device", "none",
              "--offload_param_device", "none"]  # fmt: skip
# accelerate's settings per strategy, as `accelerate launch` flags (configs/accelerate/*.yaml say the same; a test
# keeps them equal), so an emitted script needs no file from this checkout.
STRATEGY_FLAGS = {
    "ddp": [],
    "zero2": _DEEPSPEED + ["--zero_stage", "2", "--zero3_init_flag", "false"],
    "zero3": _DEEPSPEED + ["--zero_stage", "3", "--zero3_init_flag", "true", "--zero3_save_16bit_model", "true"],
    "fsdp2": [
        "--use_fsdp",
        "--fsdp_version",
        "2",
        "--fsdp_auto_wrap_policy",
        "TRANSFORMER_BASED_WRAP",
        "--fsdp_cpu_ram_efficient_loading",
        "true",
        "--fsdp_offload_params",
        "false",
        "--fsdp_reshard_after_forward",
        "true",
        "--fsdp_state_dict_type",
        "SHARDED_STATE_DICT",
    ],
}


@dataclass(frozen=True)
class LaunchOptions:
    """`rlvr launch`'s flags (rl/cli.py defines them); None: the recipe's `launch:` value, else the planner's."""

    config: str
    gpus: int | None = None
    nodes: int | None = None
    vllm: str | None = None
    strategy: str | None = None
    emit: str | None = None
    dry_run: bool = False
    output_dir: str | None = None
    overrides: list[str] = field(default_factory=list)
    gpu_memory: float | None = None
    params: float | None = None
    activate: str | None = None

    @classmethod
    def from_args(cls, args) -> LaunchOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


@dataclass
class Plan:
    config: str
    run_dir: str
    model: str
    gpus: int
    nodes: int
    vllm: str  # off | colocate | server
    strategy: str
    why: str
    overrides: list[str]
    mixed_precision: str = "bf16"
    server_tp: int = 1
    vllm_max_len: int | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    activate: str = ""
    budget: str = ""
    server_note: str = ""
    extra_sets: list[str] = field(default_factory=list)

    @property
    def server_on_own_node(self) -> bool:
        return self.vllm == "server" and self.nodes > 1

    @property
    def train_nodes(self) -> int:
        return self.nodes - 1 if self.server_on_own_node else self.nodes

    @property
    def train_gpus_per_node(self) -> int:
        return self.gpus - self.server_tp if self.vllm == "server" and self.nodes == 1 else self.gpus

    @property
    def num_processes(self) -> int:
        return self.train_nodes * self.train_gpus_per_node

    @property
    def server_log(self) -> str:
        """Beside the run directory: `rlvr train` refuses a non-empty one."""
        return self.run_dir + "-vllm-serve.log"

    @property
    def server_devices(self) -> str:
        """One node in server mode: the last `server_tp` GPUs serve vLLM ..."""
        return _devices(self.train_gpus_per_node, self.server_tp)

    @property
    def train_devices(self) -> str:
        """... and the first ones train."""
        return _devices(0, self.train_gpus_per_node)


def _relative(path: str) -> str:
    """``path`` relative to the current directory when it lies below it (scripts run from the submit directory)."""
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _vllm_choice(exp, flag: str | None, overrides: list[str]) -> tuple[str, list[str]]:
    """(off|colocate|server, --set items to add): the recipe's choice; --vllm fills it in only where it is silent."""
    g = exp.grpo
    stated = "use_vllm" in g
    recipe = ("server" if g.get("vllm_mode", "server") == "server" else "colocate") if g.get("use_vllm") else "off"
    if flag is None:
        return recipe, []
    if stated and flag != recipe:
        fix = "--set grpo.use_vllm=false" if flag == "off" else f"--set grpo.use_vllm=true --set grpo.vllm_mode={flag}"
        raise RlvrError(
            f"--vllm {flag} conflicts with the recipe (vLLM {recipe}); to change the recipe, pass {fix} instead"
        )
    if stated:
        return recipe, []
    if flag == "off":
        return "off", ["grpo.use_vllm=false"]
    return flag, ["grpo.use_vllm=true", f"grpo.vllm_mode={flag}"]


def make_plan(opts: LaunchOptions) -> Plan:
    from rl.config import load_experiment
    from rl.launch import memory

    config, vllm, strategy, output_dir, params = opts.config, opts.vllm, opts.strategy, opts.output_dir, opts.params
    overrides = list(opts.overrides or [])
    exp = load_experiment(config, overrides)
    model = exp.model.name_or_path
    if model.startswith(BUILTIN_PREFIX):
        raise RlvrError("rlvr launch is for real models on GPUs; train builtin:* models with `rlvr train`")
    gpus = opts.gpus if opts.gpus is not None else exp.launch.gpus
    if gpus is None:
        raise RlvrError("--gpus is required: the recipe states no launch.gpus")
    nodes = opts.nodes if opts.nodes is not None else exp.launch.nodes
    gpu_gib = opts.gpu_memory if opts.gpu_memory is not None else exp.launch.gpu_memory
    if gpus < 1 or nodes < 1:
        raise RlvrError("--gpus and --nodes must be at least 1")
    mode, extra = _vllm_choice(exp, vllm, overrides)
    if extra:
        exp = load_experiment(config, overrides + extra)
    g = exp.grpo
    if mode == "server" and nodes == 1 and gpus < 2:
        raise RlvrError("vLLM server mode on one node needs --gpus 2 or more (vLLM gets GPUs of its own)")
    if mode == "server" and any(k in g for k in ("vllm_server_host", "vllm_server_base_url")):
        raise RlvrError("the recipe names a vLLM server (grpo.vllm_server_host/base_url): run it with `rlvr train`")
    shape, source = memory.resolve_shape(model, params)
    vllm_max_len = g.get("vllm_max_model_length")

    server_tp, server_note = 1, ""
    if mode == "server":
        serving = gpus if nodes > 1 else gpus - 1
        server_tp, server_note = memory.server_tensor_parallel(shape, gpu_gib, vllm_max_len, serving)
    lora = exp.model.lora
    qlora = bool(lora and lora.quantize)
    plan = Plan(config, output_dir or f"runs/{exp.name}", model, gpus, nodes, mode, "", "", list(overrides))
    plan.server_tp, plan.server_note, plan.vllm_max_len = server_tp, server_note, vllm_max_len
    world = plan.num_processes
    budget = None
    if strategy is not None and strategy.endswith((".yaml", ".yml")):
        if not Path(strategy).is_file():
            raise RlvrError(f"--strategy: no accelerate config {strategy}")
        chosen, why = strategy, "your accelerate config (memory not planned)"
    elif strategy is not None:
        if strategy not in STRATEGIES:
            raise RlvrError(f"--strategy must be one of {', '.join(STRATEGIES)} or an accelerate .yaml path")
        if qlora and strategy != "ddp":
            raise RlvrError("a QLoRA recipe (model.lora.quantize) needs --strategy ddp: a 4-bit base cannot shard")
        chosen, why = strategy, "--strategy"
        budget = memory.budget_for(exp, shape, source, chosen, world, gpu_gib)
    else:
        for chosen in ["ddp"] if qlora or world == 1 else ["zero2", "zero3"]:
            budget = memory.budget_for(exp, shape, source, chosen, world, gpu_gib)
            if budget.fits:
                break
        why = {
            "ddp": "QLoRA: the 4-bit base cannot shard" if qlora else "one training process",
            "zero2": "ZeRO-2 fits",
            "zero3": "ZeRO-2 does not fit; ZeRO-3 shards the weights too",
        }[chosen]
    plan.strategy, plan.why = chosen, why
    if budget is not None:
        plan.budget = budget.table()
        budget.require_fit()
    plan.mixed_precision = "bf16" if g.get("bf16", True) else ("fp16" if g.get("fp16") else "no")
    plan.revision, plan.trust_remote_code = exp.model.revision, exp.model.trust_remote_code
    plan.extra_sets = extra
    plan.run_dir = _relative(plan.run_dir)
    plan.config = _relative(config)
    plan.activate = opts.activate if opts.activate is not None else _default_activate()
    return plan


def _default_activate() -> str:
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        return f"source {shlex.quote(_relative(str(Path(venv) / 'bin' / 'activate')))}"
    return "source .venv/bin/activate" if Path(".venv/bin/activate").is_file() else ""


def train_args(plan: Plan, vllm_host: str) -> list[str]:
    args = ["-m", "rl", "train", plan.config, "--output-dir", plan.run_dir]
    for item in plan.overrides + plan.extra_sets:
        args += ["--set", item]
    if plan.vllm == "server":  # where the server runs is the launcher's to say, not the recipe's
        args += ["--set", f"grpo.vllm_server_host={vllm_host}", "--set", f"grpo.vllm_server_port={VLLM_PORT}"]
    return args


def accelerate_args(plan: Plan, machine_rank: str = "0", main_ip: str = "127.0.0.1") -> list[str]:
    args = ["accelerate", "launch"]
    if plan.strategy.endswith((".yaml", ".yml")):
        args += ["--config_file", plan.strategy]
    else:
        if plan.strategy == "ddp" and plan.num_processes > 1:
            args.append("--multi_gpu")
        args += STRATEGY_FLAGS[plan.strategy] + ["--mixed_precision", plan.mixed_precision]
    args += ["--num_processes", str(plan.num_processes), "--num_machines", str(plan.train_nodes)]
    if plan.train_nodes > 1:
        args += ["--machine_rank", machine_rank, "--main_process_ip", main_ip, "--main_process_port", str(MAIN_PORT)]
        args += ["--rdzv_backend", "static", "--same_network"]
    return args


def vllm_serve_args(plan: Plan) -> list[str]:
    args = ["trl", "vllm-serve", "--model", plan.model]
    if plan.revision:
        args += ["--revision", plan.revision]
    args += ["--tensor_parallel_size", str(plan.server_tp), "--data_parallel_size", "1"]
    if plan.vllm_max_len:
        args += ["--max_model_len", str(plan.vllm_max_len)]
    if plan.trust_remote_code:
        args += ["--trust_remote_code", "true"]
    return args + ["--host", "0.0.0.0", "--port", str(VLLM_PORT)]


def _serve(plan: Plan) -> str:
    return shlex.join(vllm_serve_args(plan))


def _devices(first: int, count: int) -> str:
    return ",".join(str(i) for i in range(first, first + count))


def _preamble(plan: Plan, workdir: str = ".") -> list[str]:
    activate = plan.activate or "true"
    lines = [f"# {line}" for line in plan.budget.splitlines()]
    lines += [
        f"# strategy: {plan.strategy} ({plan.why}); vLLM: {plan.vllm}"
        + (f", server tensor-parallel {plan.server_tp} ({plan.server_note})" if plan.vllm == "server" else ""),
        f'cd "${{RLVR_WORKDIR:-{workdir}}}"   # the paths below are relative to it',
        f'eval "${{RLVR_ACTIVATE:-{activate}}}"   # the environment with rlvr installed',
    ]
    return lines


_WAIT = """wait_healthy() {  # URL PID LOG: wait for vLLM's health check, with a deadline; stop if the server dies
  local deadline=$((SECONDS + ${VLLM_HEALTH_TIMEOUT:-%d}))
  until curl -sf "$1" >/dev/null; do
    if ! kill -0 "$2" 2>/dev/null; then
      echo "trl vllm-serve exited before it was healthy; the end of $3:" >&2; tail -n 40 "$3" >&2; exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "trl vllm-serve not healthy within ${VLLM_HEALTH_TIMEOUT:-%d} s; the end of $3:" >&2; tail -n 40 "$3" >&2
      kill "$2" 2>/dev/null; exit 1
    fi
    sleep 5
  done
}""".replace("%d", str(HEALTH_TIMEOUT))


def resume_guard(run_dir: str) -> str:
    q = shlex.quote(run_dir)
    return f"RESUME=(); [ -d {q}/checkpoints ] && RESUME=(--resume); rm -f {q}/PREEMPT"


def shell_script(plan: Plan) -> str:
    """A bash script for one node (multi-node runs go through --emit slurm)."""
    if plan.nodes > 1:
        raise RlvrError("--nodes > 1 needs a scheduler: use --emit slurm")
    train = shlex.join(accelerate_args(plan) + train_args(plan, "127.0.0.1"))
    run_dir = shlex.quote(plan.run_dir)
    lines = [
        "#!/usr/bin/env bash",
        f"# rlvr launch {plan.config}: {plan.gpus} GPU(s), vLLM {plan.vllm}",
        "set -euo pipefail",
        *_preamble(plan),
        f"mkdir -p {run_dir}",
        resume_guard(plan.run_dir),
    ]
    if plan.vllm == "server":
        log = shlex.quote(plan.server_log)
        lines += [
            _WAIT,
            f"CUDA_VISIBLE_DEVICES={plan.server_devices} {_serve(plan)} > {log} 2>&1 &",
            "VLLM_PID=$!; trap 'kill $VLLM_PID 2>/dev/null' EXIT",
            f"wait_healthy http://127.0.0.1:{VLLM_PORT}/health $VLLM_PID {log}",
            f'CUDA_VISIBLE_DEVICES={plan.train_devices} {train} "${{RESUME[@]}}"',
        ]
    else:
        lines.append(f'{train} "${{RESUME[@]}}"')
    return "\n".join(lines) + "\n"


def slurm_script(plan: Plan) -> str:
    run_dir = shlex.quote(plan.run_dir)
    log = shlex.quote(plan.server_log)
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
        f"{plan.num_processes} processes; vLLM {plan.vllm}" + (" on the last node" if plan.server_on_own_node else ""),
        "# submit from the directory the paths below are relative to (or set RLVR_WORKDIR)",
        "set -uo pipefail",
        *_preamble(plan, "${SLURM_SUBMIT_DIR:-.}"),
        'NODES=($(scontrol show hostnames "$SLURM_JOB_NODELIST"))',
        "MASTER=${NODES[0]}",
        f"mkdir -p {run_dir}",
        resume_guard(plan.run_dir),
        f"trap 'touch {run_dir}/PREEMPT' USR1   # ranks checkpoint at the next step and exit",
    ]
    if plan.vllm == "server":
        lines.append(_WAIT)
    if plan.server_on_own_node:
        lines += [
            f"VLLM_NODE=${{NODES[{plan.nodes - 1}]}}",
            f'TRAIN_NODES=$(IFS=,; echo "${{NODES[*]:0:{n_train}}}")',
            f'srun --nodes=1 --ntasks=1 -w "$VLLM_NODE" {_serve(plan)} > {log} 2>&1 &',
            f'VLLM_PID=$!; wait_healthy "http://$VLLM_NODE:{VLLM_PORT}/health" $VLLM_PID {log}',
            f'srun --nodes={n_train} --ntasks={n_train} -w "$TRAIN_NODES" bash -c "{train} ${{RESUME[*]:-}}" &',
        ]
    elif plan.vllm == "server":
        lines += [
            "VLLM_NODE=127.0.0.1",
            f"CUDA_VISIBLE_DEVICES={plan.server_devices} {_serve(plan)} > {log} 2>&1 &",
            f"VLLM_PID=$!; wait_healthy http://127.0.0.1:{VLLM_PORT}/health $VLLM_PID {log}",
            f"CUDA_VISIBLE_DEVICES={plan.train_devices} srun --nodes=1 --ntasks=1 bash -c "
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


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_healthy(url: str, timeout: float, process: subprocess.Popen, log: Path | None = None) -> None:
    def failure(why: str) -> RlvrError:  # with what the server wrote, read when it failed
        return RlvrError(f"trl vllm-serve {why}" + (f"; the end of {log}:\n{_tail(log)}" if log else ""))

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise failure(f"exited with code {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(5)  # after any unhealthy answer (a non-200 reply used to loop without a pause)
    raise failure(f"was not healthy at {url} within {timeout:.0f} s")


def run_local(plan: Plan) -> int:
    """Run a one-node plan here: start vllm-serve when asked, train, stop the server."""
    if plan.nodes > 1:
        raise RlvrError("--nodes > 1 needs a scheduler: use --emit slurm")
    env = dict(os.environ)
    server = None
    resume = ["--resume"] if RunDir(plan.run_dir).checkpoints.is_dir() else []
    try:
        if plan.vllm == "server":
            log = Path(plan.server_log)
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w") as out:
                server = subprocess.Popen(
                    vllm_serve_args(plan),
                    env=env | {"CUDA_VISIBLE_DEVICES": plan.server_devices},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            wait_healthy(
                f"http://127.0.0.1:{VLLM_PORT}/health",
                float(os.environ.get("VLLM_HEALTH_TIMEOUT", HEALTH_TIMEOUT)),
                server,
                log,
            )
            env["CUDA_VISIBLE_DEVICES"] = plan.train_devices
        return subprocess.run(accelerate_args(plan) + train_args(plan, "127.0.0.1") + resume, env=env).returncode
    except FileNotFoundError as e:  # accelerate or trl is not on PATH
        raise RlvrError(
            f"cannot start {e.filename}: not on PATH; activate the environment rlvr is installed in"
        ) from None
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)


def launch(opts: LaunchOptions) -> int:
    plan = make_plan(opts)
    if opts.emit == "slurm":
        text = slurm_script(plan)
        if opts.dry_run:
            print(text, end="")
            return 0
        path = Path(plan.run_dir + ".sbatch")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}; submit with: sbatch {path}")
        return 0
    if opts.emit == "shell" or opts.dry_run:
        print(shell_script(plan), end="")
        return 0
    done = finished_message(plan)
    if done is not None:  # finished work is read-only: nothing starts (no vLLM server, no GPU time)
        print(done)
        return 0
    check_runs_here(plan)
    print(plan.budget)
    return run_local(plan)


def finished_message(plan: Plan) -> str | None:
    """What `rlvr train --resume` would say of a finished run directory that this launch would not continue."""
    from rl.config import load_experiment
    from rl.train.resume import finished_run

    run = RunDir(plan.run_dir)
    if not run.finished():
        return None
    verdict = finished_run(run, load_experiment(plan.config, plan.overrides))
    return None if verdict is None or verdict.continues else verdict.message


def visible_gpus() -> int:
    """CUDA GPUs this process can use (torch counts only those CUDA_VISIBLE_DEVICES leaves visible)."""
    import torch

    return torch.cuda.device_count()


def check_runs_here(plan: Plan) -> None:
    """Refuse, in one line and before anything starts, a plan this machine cannot run: several nodes, or more GPUs
    than it shows. The scripts (--emit, --dry-run) need no GPU: they are written to run elsewhere."""
    if plan.nodes > 1:
        raise RlvrError("--nodes > 1 needs a scheduler: use --emit slurm")
    visible = visible_gpus()
    if visible >= plan.gpus:
        return
    mask = os.environ.get("CUDA_VISIBLE_DEVICES")
    shown = f" (CUDA_VISIBLE_DEVICES={mask!r})" if mask is not None else ""
    raise RlvrError(
        f"this machine shows {visible} CUDA GPU(s){shown} and the plan needs {plan.gpus}: run it where {plan.gpus} "
        "are visible; --dry-run (the plan and its script) and --emit shell|slurm (a script to run there) work anywhere"
    )
