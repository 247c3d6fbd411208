"""Held-out evaluation sharded over ranks gives the same verdicts as one process (2 CPU processes over gloo)."""

import json
import os
import subprocess
import sys

import pytest

from rl.eval.evaluate import Shards
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


def test_vllm_server_evaluation_pushes_weights_once_and_returns_completions_in_order():
    """The server path's bookkeeping with a recording client in place of TRL's VLLMClient (vLLM is GPU-only)."""
    from types import SimpleNamespace

    from rl.config import EvalConfig
    from rl.eval.heldout import trainer_completer
    from rl.models import build_char_tokenizer

    tok = build_char_tokenizer()
    calls = {"sync": 0, "generate": []}

    class Client:
        def generate(self, prompts, **params):
            calls["generate"].append(params)
            return {"completion_ids": [tok(f"<answer>{len(p)}</answer>")["input_ids"] for p in prompts]}

    engine = SimpleNamespace(vllm_client=Client(), sync_weights=lambda: calls.__setitem__("sync", calls["sync"] + 1))
    trainer = SimpleNamespace(
        use_vllm=True,
        vllm_mode="server",
        vllm_generation=engine,
        _last_loaded_step=3,
        state=SimpleNamespace(global_step=5),
        accelerator=SimpleNamespace(is_main_process=True, num_processes=1, process_index=0),
    )
    complete, shards = trainer_completer(trainer, tok, EvalConfig(max_new_tokens=7), seed=11)
    prompts = ["What is 1 + 2?", "What is 10 + 20?"]
    texts, lengths = complete(prompts, [0, 1])
    assert texts == [[f"<answer>{len(tok(p)['input_ids'])}</answer>"] for p in prompts]
    assert lengths == [[len(tok(t[0])["input_ids"])] for t in texts]
    assert complete(prompts, [0, 1])  # a second call at the same step pushes no weights again
    assert calls["sync"] == 1 and trainer._last_loaded_step == 5 and shards.world == 1
    params = calls["generate"][0]
    assert params["temperature"] == 0.0 and params["max_tokens"] == 7 and params["repetition_penalty"] == 1.0
    assert params["top_k"] == 0 and params["min_p"] == 0.0 and params["generation_kwargs"] == {"seed": 11}
