"""Worker of tests/test_sharded_eval.py: evaluates held-out rows with this process's shard of a torchrun launch
(gloo) and writes the gathered records (rank 0) and this rank's figures."""

import json
import os
import sys
from pathlib import Path

import torch.distributed as dist

from rl.config import DataConfig, ModelConfig
from rl.data import load_data
from rl.eval.evaluate import Sampling, Shards, evaluate, hf_complete
from rl.models import load_policy


def main(out: Path, eval_size: int) -> None:
    if "RANK" in os.environ:
        dist.init_process_group("gloo")
    _, rows = load_data(DataConfig(train_size=16, eval_size=eval_size))
    model, tok, _ = load_policy(ModelConfig(), seed=0)
    shards = Shards.current()
    records = out / "records.jsonl" if shards.rank == 0 else None
    complete = hf_complete(model, tok, Sampling.greedy(24), batch_size=4)
    result, _ = evaluate(complete, rows, tok, 1.0, shards=shards, out_file=records)
    (out / f"metrics-{shards.rank}.json").write_text(json.dumps(result | {"world": shards.world}))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
