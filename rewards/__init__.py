"""Verifiable rewards for GRPO: one registry of names, a shared math grader, and a killable worker pool.

>>> import rewards
>>> fn = rewards.build("math_accuracy", timeout=1.0)
>>> fn(["<think>7+9=16</think><answer>16</answer>"], answer=["16"])
[1.0]
>>> fn.pop_metrics()["none"]
0

``import rewards`` is cheap: sympy and math-verify load only when an answer needs them (and in the worker pool).
"""

from rewards import accuracy, consensus, controls, countdown, language, layout, length  # noqa: F401  (registers)
from rewards.pool import shutdown
from rewards.registry import build, checks_answer, describe, names, params

__all__ = ["build", "checks_answer", "describe", "names", "params", "shutdown"]
