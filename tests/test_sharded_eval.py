"""Held-out evaluation sharded over ranks gives the same verdicts as one process (2 CPU processes over gloo)."""

import json
import os
import subprocess
import sys

import pytest

from rl.evaluate import Shards
from tests.conftest import REPO


@pytest.mark.parametrize("n", [0, 1, 2, 7, 8, 25])
@pytest.mark.parametrize(("world", "group"), [(1, 1), (2, 1), (3, 1), (4, 2), (8, 8)])
def test_shards_cover_every_row_once_in_order(n, world, group):
    shards = [Shards(rank, world, group) for rank in range(world)]
    parts = [s.indices(n) for s in shards]
    assert len({len(p) for p in parts}) == 1  # equal batch counts on every rank: sharded forwards stay in step
    for rank, part in enumerate(parts):  # ranks of one group (vLLM tensor parallel) share a shard
        assert part == parts[rank - rank % group]
    # what `gather` does with all_gather_object's rank-ordered concatenation
    everything = [i for part in parts for i in part]
    per = len(parts[0])
    kept = [i for r in range(0, world, group) for i in everything[r * per : (r + 1) * per]][:n]
    assert kept == list(range(n))


def run_worker(out, eval_size, nproc=None):
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1"}
    out.mkdir(parents=True)
    worker = ["-m", "tests.sharded_eval_worker", str(out), str(eval_size)]  # a module: tests/rewards is no package
    if nproc is None:
        cmd = [sys.executable, *worker]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), *worker]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    metrics = [json.loads(p.read_text()) for p in sorted(out.glob("metrics-*.json"))]
    return records, metrics


def test_two_ranks_give_the_verdicts_of_one(tmp_path):
    eval_size = 25  # odd: rank 1's shard is padded
    one, (one_metrics,) = run_worker(tmp_path / "one", eval_size)
    two, two_metrics = run_worker(tmp_path / "two", eval_size, nproc=2)
    assert [r["index"] for r in two] == list(range(eval_size))
    keys = ("prompt", "answer", "completion", "extracted", "correct", "format")
    assert [{k: r[k] for k in keys} for r in two] == [{k: r[k] for k in keys} for r in one]
    assert len(two_metrics) == 2 and two_metrics[0] == two_metrics[1]  # every rank ends with the same figures
    assert two_metrics[0]["world"] == 2 and one_metrics["world"] == 1
    assert {k: v for k, v in two_metrics[0].items() if k != "world"} == {
        k: v for k, v in one_metrics.items() if k != "world"
    }
