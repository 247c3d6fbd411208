"""experiments/bench/gpu_check.py --smoke: the GPU check's whole pipeline on CPU (tiny model, 2 steps)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_gpu_check_pipeline_runs_on_cpu():
    result = subprocess.run(
        [sys.executable, "experiments/bench/gpu_check.py", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.startswith("| tiny | ddp |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[3]) >= 0 and float(cells[2]) > 0  # generation and step seconds
    assert re.fullmatch(r"\d+\.\d%", cells[-1]) and float(cells[-1][:-1]) > 50  # the update moved the weights
