"""`rlvr` under real FSDP2 on CPU processes: a test-only launcher for tests/test_fsdp2.py (rl/ is unchanged).

    accelerate launch --config_file FSDP2.yaml -m tests.fsdp2_cpu_launch train --output-dir DIR --set ...

Why it exists: accelerate enables FSDP only when the process state is MULTI_GPU-like. On a machine without CUDA
rlvr builds its `GRPOConfig` with `use_cpu=True`, so `TrainingArguments` sets up `PartialState(cpu=True)`
(MULTI_CPU over gloo) and `AcceleratorState` quietly drops the FSDP plugin of the launch config: the run becomes
plain DDP. FSDP2 itself runs fine on CPU over gloo, so this launcher relabels the already initialised state as
MULTI_GPU just before the trainer builds its `Accelerator`; from there on it is accelerate's real FSDP2 path
(`fully_shard`, DTensor parameters, sharded state dicts). The hook is `rl.train.trainer.make_trainer_class`:
the class it
returns first settles the process state from `args` and relabels it, then runs the real `__init__` unchanged.

Rank 0 prints `fsdp2: DTensor params ...` at the start of training when every parameter of the prepared model is
a `torch.distributed.tensor.DTensor` (the test asserts on that line).
"""

from __future__ import annotations

import sys

MARKER = "fsdp2: DTensor params"


def fsdp2_report(model) -> tuple[bool, str]:
    """Are all parameters of the prepared model DTensors? And a one-line description of them."""
    from torch.distributed.tensor import DTensor

    params = list(model.parameters())
    sharded = sum(isinstance(p, DTensor) for p in params)
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in params})
    placements = sorted({str(p.placements) for p in params if isinstance(p, DTensor)})
    line = f"{sharded}/{len(params)} params, dtypes {','.join(dtypes)}, placements {','.join(placements)}"
    return bool(params) and sharded == len(params), line


def install() -> None:
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType
    from transformers import TrainerCallback

    import rl.train.trainer

    class Fsdp2Marker(TrainerCallback):
        trainer = None

        def on_train_begin(self, args, state, control, **kwargs):
            acc = self.trainer.accelerator
            ok, line = fsdp2_report(self.trainer.model)
            if acc.is_main_process:
                kind = f"{acc.distributed_type.value} is_fsdp2={acc.is_fsdp2} ranks={acc.num_processes}"
                print(f"{MARKER if ok else 'fsdp2: NOT sharded'}: {line}; {kind}", flush=True)

    real = rl.train.trainer.make_trainer_class

    def make_trainer_class():
        cls = real()

        class Fsdp2OnCpuTrainer(cls):
            def __init__(self, *a, **kwargs):
                _ = kwargs["args"].device  # settles PartialState(cpu=True): MULTI_CPU over gloo
                PartialState._shared_state["distributed_type"] = DistributedType.MULTI_GPU
                marker = Fsdp2Marker()  # first: it must see the shards before the held-out evaluation runs
                kwargs["callbacks"] = [marker, *(kwargs.get("callbacks") or [])]
                super().__init__(*a, **kwargs)
                marker.trainer = self

        Fsdp2OnCpuTrainer.__name__ = Fsdp2OnCpuTrainer.__qualname__ = cls.__name__
        return Fsdp2OnCpuTrainer

    rl.train.trainer.make_trainer_class = make_trainer_class


def main() -> int:
    from rl.cli import main as rlvr_main

    install()
    return rlvr_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
