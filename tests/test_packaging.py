"""A regular (non-editable) install works outside the checkout, as clusters install it: build the wheel, install it
into a fresh directory, run `rlvr train --dry-run` and `rlvr launch ... --dry-run` from somewhere else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

from tests.conftest import REPO


def test_the_wheel_runs_from_another_directory(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("rlvr-*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere.mkdir()
    shutil.copy(REPO / "configs" / "gsm8k-qwen2.5-1.5b.yaml", elsewhere / "recipe.yaml")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    env.pop("VIRTUAL_ENV", None)

    def rlvr(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(site / "bin" / "rlvr"), *args], cwd=elsewhere, env=env, capture_output=True, text=True
        )

    where = subprocess.run(
        [sys.executable, "-c", "import rl; print(rl.__file__)"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert where.stdout.startswith(str(site)), where  # the installed copy, not this checkout
    train = rlvr("train", "--dry-run")
    assert train.returncode == 0, train.stderr
    assert "name: tiny-arith" in train.stdout and "# memory: no CUDA GPU on this machine" in train.stdout
    launch = rlvr("launch", "recipe.yaml", "--gpus", "8", "--dry-run")
    assert launch.returncode == 0, launch.stderr
    assert "accelerate launch" in launch.stdout and "-m rl train recipe.yaml" in launch.stdout
    assert str(REPO) not in launch.stdout
    slurm = rlvr("launch", "recipe.yaml", "--gpus", "8", "--nodes", "2", "--emit", "slurm", "--dry-run")
    assert slurm.returncode == 0 and "--num_processes 16 --num_machines 2" in slurm.stdout, slurm.stderr


def test_packaging_metadata_lets_clusters_install():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("torch==") for d in meta["dependencies"])  # a GPU node keeps its CUDA torch
    gpu = meta["optional-dependencies"]["gpu"]
    assert {d.split("=")[0].split(">")[0] for d in gpu} >= {"vllm", "deepspeed", "bitsandbytes"}
    assert meta["requires-python"].startswith(">=3.11") and "3.12" not in meta["requires-python"].split(",")[-1]
    for recipe in (REPO / "configs").glob("*.yaml"):
        text = recipe.read_text()
        if "name_or_path: builtin" not in text and "[vllm]" in text:
            raise AssertionError(f"{recipe.name}: name the gpu extra, not [vllm]")
