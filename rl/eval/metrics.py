"""Sampling metrics of R1-style evaluations, as pure functions: pass@k, majority vote, and their aggregation.

pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code"): with
`n` samples of which `c` are correct, the chance that a random `k`-subset holds at least one correct sample,
`1 - C(n-c, k) / C(n, k)`. pass@1 is then the mean accuracy over the n samples. maj@n (also "cons@n") grades the
answer most samples agree on, answers grouped by an equivalence test rather than by string.

>>> pass_at_k(4, 1, 2)
0.5
>>> majority_vote(["4", None, "4.0", "5"], lambda a, b: float(a) == float(b))
0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from `n` samples with `c` correct: `1 - C(n-c, k) / C(n, k)` (exact integer binomials)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def k_values(n: int) -> list[int]:
    """The k reported for n samples: 1, 2, 4, ... up to n, and n itself."""
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks if ks[-1] == n else ks + [n]


def majority_vote(answers: Sequence[Any], same: Callable[[Any, Any], bool]) -> int | None:
    """Index of the sample whose answer the largest group shares; None when no sample has an answer.

    Answers are grouped first-fit: each joins the first group whose first answer it is `same` as (called as
    `same(earlier, later)`). Ties go to the group seen first; a `None` answer never votes.
    """
    groups: list[list[int]] = []
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if same(answers[group[0]], answer):
                group.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None
    return max(groups, key=len)[0]  # max keeps the first of equal lengths


def problem_metrics(
    correct: Sequence[bool | None],
    majority_correct: bool | None,
    formats: Sequence[float | None],
    lengths: Sequence[int],
    ks: Iterable[int],
) -> dict[str, float]:
    """One problem's figures from its n samples; an unverifiable grade (None) counts as wrong."""
    n = len(correct)
    c = sum(x is True for x in correct)
    out = {f"pass@{k}": pass_at_k(n, c, k) for k in ks}
    out[f"mean@{n}"] = c / n  # R1's "pass@1 averaged over n samples"; its CI over problems is added by mean_metrics
    out[f"maj@{n}"] = float(majority_correct is True)
    out["format_rate"] = sum(f or 0.0 for f in formats) / n
    out["mean_length"] = sum(lengths) / n
    out["unverifiable"] = float(all(x is None for x in correct))
    return out


def mean_metrics(per_problem: Sequence[dict[str, float]]) -> dict[str, float]:
    """Average each figure over problems (every problem has the same n, so this equals the mean over samples)."""
    if not per_problem:
        return {"n_problems": 0}
    out = {key: sum(p[key] for p in per_problem) / len(per_problem) for key in per_problem[0]}
    out["n_problems"] = len(per_problem)
    for key in [k for k in per_problem[0] if k.startswith("mean@")]:
        low, high = mean_interval([p[key] for p in per_problem])
        out[f"{key}_ci95_low"], out[f"{key}_ci95_high"] = low, high
    return out


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """The 95% t-interval of the mean of per-problem scores (problems as the sample); one problem: the value."""
    from rl.study.stats import summarize

    s = summarize(values)
    return tuple(s["ci95"]) if s["ci95"] else (s["mean"], s["mean"])


def aggregate(per_problem: Sequence[dict[str, float]], labels: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Overall means plus a breakdown by every label key (data_source, level, subject, ...) that rows carry.

    Returns `{"overall": {...}, "by": {key: {value: {...}}}}`; values are stringified and sorted.
    """
    by: dict[str, dict[str, list]] = {}
    for figures, row_labels in zip(per_problem, labels, strict=True):
        for key, value in row_labels.items():
            if value is not None:
                by.setdefault(key, {}).setdefault(str(value), []).append(figures)
    return {
        "overall": mean_metrics(per_problem),
        "by": {key: {v: mean_metrics(groups[v]) for v in sorted(groups, key=_natural)} for key, groups in by.items()},
    }


def _natural(text: str) -> tuple:
    """Sort "Level 10" after "Level 9" (digit runs compare as numbers)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


def current_names(figures: dict[str, Any]) -> dict[str, Any]:
    """Held-out figures under today's names: files written before training and `rlvr eval` shared one vocabulary
    (an older state.json, and summary.json's `accuracy_*` keys) call greedy pass@1 `accuracy`."""
    return {("pass@1" if k == "accuracy" else k): v for k, v in figures.items()}


def flatten(result: dict[str, Any], prefix: str = "eval") -> dict[str, float]:
    """`aggregate` output as wandb keys: `eval/pass@1`, `eval/data_source/gsm8k/pass@1`, ..."""
    flat = {f"{prefix}/{k}": v for k, v in result["overall"].items()}
    for key, groups in result["by"].items():
        for value, figures in groups.items():
            flat.update({f"{prefix}/{key}/{value}/{k}": v for k, v in figures.items()})
    return flat
