"""rl/study/stats.py against scipy and the statistics module on known data."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from scipy import stats as sp

from rl.study.stats import (
    band,
    binomial_se,
    bootstrap_diff,
    bootstrap_mean,
    detectable,
    permutation_p,
    summarize,
    welch,
)


def test_summary_is_the_t_interval_of_the_mean():
    values = [0.71, 0.84, 0.79, 0.66, 0.9]
    s = summarize(values)
    lo, hi = sp.t.interval(0.95, len(values) - 1, loc=statistics.fmean(values), scale=sp.sem(values))
    assert s["n"] == 5 and s["mean"] == pytest.approx(statistics.fmean(values))
    assert s["std"] == pytest.approx(statistics.stdev(values)) and s["ci95"] == pytest.approx([lo, hi])


def test_summary_of_one_or_no_value_has_no_interval():
    assert summarize([0.5]) == {"n": 1, "mean": 0.5, "std": 0.0, "ci95": None}
    assert summarize([])["mean"] is None


def test_welch_matches_scipy():
    a, b = [0.82, 0.79, 0.88, 0.85], [0.61, 0.70, 0.58]
    out = welch(a, b)
    ref = sp.ttest_ind(a, b, equal_var=False)
    assert out["p"] == pytest.approx(ref.pvalue) and out["diff"] == pytest.approx(statistics.fmean(a) - 0.63)
    ci = ref.confidence_interval(0.95)
    assert out["ci95"] == pytest.approx([ci.low, ci.high])


def test_welch_edge_cases():
    assert welch([0.5], [0.4, 0.6])["p"] is None  # one seed: no test
    assert welch([0.5, 0.5], [0.4, 0.4]) == {"diff": pytest.approx(0.1), "ci95": pytest.approx([0.1, 0.1]),
                                              "p": 0.0, "df": None}  # fmt: skip


def test_permutation_p_is_exact_for_small_samples():
    a, b = [3.0, 4.0, 5.0], [0.0, 1.0, 2.0]
    # of the 20 splits into 3 and 3, only the observed one and its mirror are as extreme
    assert permutation_p(a, b) == pytest.approx(2 / 20)
    assert permutation_p([1.0, 2.0], [1.0, 2.0]) == 1.0


def test_permutation_p_agrees_with_scipy_when_sampled():
    rng = random.Random(3)
    a = [rng.gauss(0.3, 1) for _ in range(12)]
    b = [rng.gauss(0.0, 1) for _ in range(12)]
    ref = sp.permutation_test((a, b), lambda x, y: statistics.fmean(x) - statistics.fmean(y), n_resamples=20000,
                              alternative="two-sided", random_state=0).pvalue  # fmt: skip
    assert permutation_p(a, b, limit=20000) == pytest.approx(ref, abs=0.02)


def test_binomial_se():
    assert binomial_se(0.5, 256) == pytest.approx(math.sqrt(0.25 / 256))
    assert binomial_se(0.0, 100) == 0.0


def test_bootstrap_interval_covers_the_difference_and_shrinks_with_more_problems():
    rng = random.Random(0)

    def runs(p, seeds, problems):
        return [[float(rng.random() < p) for _ in range(problems)] for _ in range(seeds)]

    small = bootstrap_diff(runs(0.8, 3, 64), runs(0.5, 3, 64))
    large = bootstrap_diff(runs(0.8, 3, 1024), runs(0.5, 3, 1024))
    for out in (small, large):
        assert out["ci95"][0] < out["diff"] < out["ci95"][1] and out["ci95"][0] > 0
    assert large["ci95"][1] - large["ci95"][0] < small["ci95"][1] - small["ci95"][0]


def test_bootstrap_mean_of_one_run_matches_the_binomial_interval():
    """One seed: the two-level bootstrap is the plain problem bootstrap, whose 95% interval is about the normal
    binomial one (p +- 1.96 SE); with seeds that disagree it widens to take in their spread."""
    rng = random.Random(1)
    one = [[float(k < 307) for k in range(512)]]  # 0.600 on 512 problems
    rng.shuffle(one[0])
    out = bootstrap_mean(one, resamples=4000)
    se = binomial_se(0.599609375, 512)
    assert out["mean"] == pytest.approx(307 / 512)
    assert out["ci95"] == pytest.approx([out["mean"] - 1.96 * se, out["mean"] + 1.96 * se], abs=0.01)
    agree = [[float(rng.random() < 0.6) for _ in range(256)] for _ in range(3)]
    spread = [[float(rng.random() < p) for _ in range(256)] for p in (0.3, 0.6, 0.9)]
    width = lambda o: o["ci95"][1] - o["ci95"][0]  # noqa: E731
    assert width(bootstrap_mean(spread)) > 2 * width(bootstrap_mean(agree))


def test_detectable_difference_grows_with_spread_and_shrinks_with_seeds():
    few = detectable([0.6, 0.8, 0.7], [0.5, 0.7, 0.6])
    many = detectable([0.6, 0.8, 0.7] * 4, [0.5, 0.7, 0.6] * 4)
    se = math.sqrt(statistics.variance([0.6, 0.8, 0.7]) / 3 * 2)
    assert few == pytest.approx((sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) * se)
    assert many < few and detectable([0.5], [0.4, 0.6]) is None


def test_band_is_the_t_interval_at_each_position_over_the_seeds_there():
    nan = float("nan")
    rows = [[0.2, 0.4, 0.6, nan], [0.4, 0.4, 0.9, nan], [0.3, 0.7, nan, 0.5]]
    out = band(rows)
    assert out["n"] == [3, 3, 2, 1]
    for j, values in enumerate([[0.2, 0.4, 0.3], [0.4, 0.4, 0.7], [0.6, 0.9]]):
        lo, hi = sp.t.interval(0.95, len(values) - 1, loc=statistics.fmean(values), scale=sp.sem(values))
        assert out["mean"][j] == pytest.approx(statistics.fmean(values))
        assert [out["low"][j], out["high"][j]] == pytest.approx([lo, hi])
    assert out["mean"][3] == 0.5 and out["low"][3] is None and out["high"][3] is None  # one seed: no interval
    assert band([]) == {"n": [], "mean": [], "low": [], "high": []}
    assert band([[nan], [nan]]) == {"n": [0], "mean": [None], "low": [None], "high": [None]}
