"""Statistics for ablations: how sure are we that one variant differs from another?

Pure functions over plain lists (scipy for the distributions), so the report and its tests share them:

- `summarize(values)`: n, mean, sample std, and the 95% t-interval of the mean over seeds.
- `welch(variant, baseline)`: the difference of means, its Welch 95% interval and two-sided p-value (unequal
  variances, Welch-Satterthwaite degrees of freedom); `permutation_p(variant, baseline)`, exact when the seeds are
  few: a check that does not lean on normality.
- `binomial_se(p, n)`: one evaluation's standard error from its n problems.
- `bootstrap_mean(runs)`, `bootstrap_diff(a_runs, b_runs)`: mean accuracy (or a difference of two) with a
  percentile interval that resamples seeds and, inside each, problems (two sources of variation: which seed, which
  problems).
- `detectable(values_a, values_b)`: the smallest difference these seed counts could detect at 80% power (a
  normal approximation), for the "too few seeds" note.
- `band(rows)`: `summarize` at every position of a curve, over the seeds that have a value there (the report's
  curves: the mean line and its 95% t-interval band).

>>> s = summarize([0.7, 0.8, 0.9])
>>> round(s["mean"], 3), round(s["std"], 3), [round(x, 3) for x in s["ci95"]]
(0.8, 0.1, [0.552, 1.048])
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Sequence

CONFIDENCE = 0.95


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """{"n", "mean", "std", "ci95": [lo, hi]}; one value: std 0 and no interval (None)."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    mean = statistics.fmean(values)
    if n == 1:
        return {"n": 1, "mean": mean, "std": 0.0, "ci95": None}
    std = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """mean(a) - mean(b) with its Welch interval and two-sided p-value; None fields when a side has < 2 values."""
    from scipy import stats

    diff = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "ci95": None, "p": None, "df": None}
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return {"diff": diff, "ci95": [diff, diff], "p": 0.0 if diff else 1.0, "df": None}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return {"diff": diff, "ci95": [diff - half, diff + half], "p": p, "df": df}


def permutation_p(a: Sequence[float], b: Sequence[float], limit: int = 20_000, seed: int = 0) -> float:
    """Two-sided p-value of the difference of means under exchangeability: exact over every split when there are at
    most `limit` of them, else `limit` random splits (seeded)."""
    pooled = list(a) + list(b)
    observed = abs(statistics.fmean(a) - statistics.fmean(b))
    n, k = len(pooled), len(a)
    total = sum(pooled)

    def gap(chosen_sum: float) -> float:
        return abs(chosen_sum / k - (total - chosen_sum) / (n - k))

    if math.comb(n, k) <= limit:
        splits = [sum(c) for c in itertools.combinations(pooled, k)]
        return sum(gap(s) >= observed - 1e-12 for s in splits) / len(splits)
    rng = random.Random(seed)
    hits = sum(gap(sum(rng.sample(pooled, k))) >= observed - 1e-12 for _ in range(limit))
    return (hits + 1) / (limit + 1)


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n problems."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else float("nan")


def _draw(runs: Sequence[Sequence[float]], rng: random.Random) -> float:
    """One two-level resample: seeds with replacement, then each chosen seed's problems with replacement."""
    means = []
    for _ in runs:
        scores = runs[rng.randrange(len(runs))]
        means.append(sum(scores[rng.randrange(len(scores))] for _ in scores) / len(scores))
    return statistics.fmean(means)


def _percentile_interval(draws: list[float], confidence: float) -> list[float]:
    draws = sorted(draws)
    return [
        draws[int((1 - confidence) / 2 * len(draws))],
        draws[min(len(draws) - 1, int((1 + confidence) / 2 * len(draws)))],
    ]


def bootstrap_mean(
    runs: Sequence[Sequence[float]], resamples: int = 2000, seed: int = 0, confidence: float = CONFIDENCE
) -> dict:
    """Mean per-problem score over runs with a percentile interval from the two-level bootstrap (seeds, then
    problems): it counts both the seed spread and each evaluation's finite problem set."""
    rng = random.Random(seed)
    mean = statistics.fmean(statistics.fmean(r) for r in runs)
    return {"mean": mean, "ci95": _percentile_interval([_draw(runs, rng) for _ in range(resamples)], confidence)}


def bootstrap_diff(
    a_runs: Sequence[Sequence[float]],
    b_runs: Sequence[Sequence[float]],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict:
    """Difference of mean per-problem scores (a - b) with a percentile interval from a two-level bootstrap: seeds with
    replacement, then each chosen seed's problems with replacement. Each run is its list of 0/1 (or graded) scores."""
    rng = random.Random(seed)
    diff = statistics.fmean(statistics.fmean(r) for r in a_runs) - statistics.fmean(
        statistics.fmean(r) for r in b_runs
    )
    draws = [_draw(a_runs, rng) - _draw(b_runs, rng) for _ in range(resamples)]
    return {"diff": diff, "ci95": _percentile_interval(draws, confidence)}


def detectable(a: Sequence[float], b: Sequence[float], power: float = 0.8, alpha: float = 0.05) -> float | None:
    """The smallest true difference a two-sided test at `alpha` would find with `power`, given these seeds' spread
    (normal approximation: (z_{1-alpha/2} + z_power) * standard error of the difference)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se


def band(rows: Sequence[Sequence[float]], confidence: float = CONFIDENCE) -> dict[str, list]:
    """Per position j over `rows` (one per seed, NaN where that seed has no value): {"n", "mean", "low", "high"}
    lists, the mean and the t-interval of the mean of the values there; low/high None where fewer than 2 values
    (no interval), mean None where none."""
    width = max((len(r) for r in rows), default=0)
    out: dict[str, list] = {"n": [], "mean": [], "low": [], "high": []}
    for j in range(width):
        values = [float(r[j]) for r in rows if j < len(r) and not math.isnan(r[j])]
        s = summarize(values, confidence)
        low, high = s["ci95"] if s["ci95"] is not None else (None, None)
        for key, value in (("n", s["n"]), ("mean", s["mean"]), ("low", low), ("high", high)):
            out[key].append(value)
    return out
