#!/usr/bin/env bash
# One GPU check for a 15-minute single-H200 lease: rollout tokens/s (vLLM vs transformers) and the GRPO step split,
# for the tiny model and a random-init model with Qwen2.5-1.5B's shapes. Needs no hub access. ~8-10 minutes.
#   bash experiments/bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[vllm]'
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 WANDB_MODE=disabled
.venv/bin/python experiments/bench/gpu_check.py
