"""`rlvr report`: aggregate an ablation's runs into markdown tables, `report.json` and plots.

Works fully offline from each run's `summary.json` and `metrics.jsonl`. Per run: held-out figures come from
`summary.json` (greedy, graded by the reward's grader); training figures (`mean_reward`, `rewards/<name>/mean`,
`mean_completion_length`) are averaged over the final 10% of logged steps; `frac_reward_zero_std` over all of them,
`generated_tokens` is the last logged count (with `budget.max_generated_tokens`: runs at equal cost). Across seeds:
the mean and the sample standard deviation (n - 1 in the denominator); one seed shows its value and "n=1, no
interval". Every run's own value of every metric is listed under "Per seed" (and in report.json). Run-health alerts
(summary.json `health`) are counted per variant in the table and listed per run under "Run health".

Plots: each variant's mean over seeds with its 95% t-interval band (`rl.study.stats.band`: n - 1 degrees of
freedom, drawn where every seed has a value) and every seed as a thin line; bars of final figures carry the same
interval. The x-axis is the GRPO step, or the generated tokens (`tokens/generated`) when every run trained on a
token budget (`budget.max_generated_tokens`: the runs are matched on tokens, not steps). `heldout.png`: held-out
pass@1 over training, from the evaluation before GRPO (step 0), each periodic one (`eval.every_steps`, metrics.jsonl
`eval/pass@1`) and the one after (the last step).

Statistics (`rl/study/stats.py`, written to `report.json` and two more tables): per variant and metric n, mean,
std and a
95% t-interval over seeds; for held-out accuracy also a bootstrap interval over problems x seeds and each run's
binomial standard error. Each variant against the spec's `baseline:` (default: the first variant): the difference,
its Welch 95% interval and p, a permutation p, significance at p < 0.05, and the smallest difference the seeds
could have detected, so "not significant" says whether the seeds were too few to tell.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from rl.errors import RlvrError
from rl.rundir import RunDir, refuse_inside_run

CURVE_METRIC = "rewards/math_accuracy/mean"
FORMAT_CURVE = "rewards/think_format/mean"
LABELS = {
    "accuracy_after": "held-out accuracy",
    "accuracy_before": "accuracy before",
    "accuracy_delta": "accuracy gain",
    "format_rate_after": "format rate",
    "format_rate_before": "format rate before",
    "mean_completion_length": "completion length (tokens)",
    "mean_reward": "mean reward",
    "frac_reward_zero_std": "zero-std groups (share, whole run)",
    "generated_tokens": "generated tokens",
    "steps": "GRPO steps",
}
ZERO_STD_CURVE = "frac_reward_zero_std"


def read_run(run_dir: Path) -> dict[str, Any] | None:
    """One finished run's figures, or None if it has no summary.json yet."""
    summary_file = RunDir(run_dir).summary
    if not summary_file.is_file():
        return None
    summary = json.loads(summary_file.read_text())
    metrics_file = RunDir(run_dir).metrics
    steps = (
        [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
        if metrics_file.is_file()
        else []
    )
    figures = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    health = summary.get("health") if isinstance(summary.get("health"), dict) else None
    tail = steps[-max(1, len(steps) // 10) :] if steps else []
    for key, name in [("reward", "mean_reward"), ("completions/mean_length", "mean_completion_length")]:
        values = [s[key] for s in tail if isinstance(s.get(key), (int, float))]
        if values:
            figures[name] = sum(values) / len(values)
    zero_std = [s["frac_reward_zero_std"] for s in steps if isinstance(s.get("frac_reward_zero_std"), (int, float))]
    if zero_std:  # over the whole run: the share of generated groups that taught nothing
        figures["frac_reward_zero_std"] = sum(zero_std) / len(zero_std)
    tokens = [s["tokens/generated"] for s in steps if isinstance(s.get("tokens/generated"), (int, float))]
    if tokens:
        figures["generated_tokens"] = float(tokens[-1])
    reward_keys = sorted({k for s in tail for k in s if k.startswith("rewards/") and k.endswith("/mean")})
    for key in reward_keys:
        values = [s[key] for s in tail if isinstance(s.get(key), (int, float))]
        if values:
            figures[key] = sum(values) / len(values)
    after = run_dir / "eval" / "after.jsonl"
    scores = (
        [float(bool(json.loads(line).get("correct"))) for line in after.read_text().splitlines() if line.strip()]
        if after.is_file()
        else []
    )
    config = _config(run_dir)
    return {
        "figures": figures,
        "steps": steps,
        "health": health,
        "eval_scores": scores,
        "paid": _paid(config),
        "budget": _budget(config),
        "heldout": heldout_points(summary, steps),
    }


def heldout_points(summary: dict, steps: list[dict]) -> list[dict]:
    """Held-out pass@1 over training: {"when", "step", "tokens", "pass@1"} before GRPO (step 0), during it at each
    periodic evaluation (metrics.jsonl `eval/pass@1`) and after it (the summary's last step); tokens:
    `tokens/generated` at that step (None when not logged)."""
    points = []
    if isinstance(summary.get("accuracy_before"), (int, float)):
        points.append({"when": "before", "step": 0, "tokens": 0, "pass@1": summary["accuracy_before"]})
    for record in steps:
        if isinstance(record.get("eval/pass@1"), (int, float)):
            tokens = record.get("tokens/generated")
            points.append(
                {"when": "during", "step": record["step"], "tokens": tokens, "pass@1": record["eval/pass@1"]}
            )
    if isinstance(summary.get("accuracy_after"), (int, float)):
        tokens = [s["tokens/generated"] for s in steps if isinstance(s.get("tokens/generated"), (int, float))]
        last = summary.get("steps") if isinstance(summary.get("steps"), int) else (steps[-1]["step"] if steps else 0)
        after = {"when": "after", "step": last, "tokens": tokens[-1] if tokens else None}
        points.append(after | {"pass@1": summary["accuracy_after"]})
    return points


def _config(run_dir: Path) -> dict | None:
    """A run's config.yaml as a mapping; None when missing or unreadable."""
    import yaml

    try:
        config = yaml.safe_load(RunDir(run_dir).config.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def _paid(config: dict | None) -> dict[str, float] | None:
    """{reward: weight} of the rewards a run trained on (weight != 0); None if unreadable."""
    if config is None:
        return None
    try:
        rewards = config.get("rewards") or []
        return {str(r["name"]): float(r.get("weight", 1.0)) for r in rewards if float(r.get("weight", 1.0)) != 0.0}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _budget(config: dict | None) -> int | None:
    """The run's `budget.max_generated_tokens` (None: it trained on a step count)."""
    budget = (config or {}).get("budget")
    value = budget.get("max_generated_tokens") if isinstance(budget, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


ONE_SEED = "(n=1, no interval)"
"""What a one-seed figure shows instead of a spread or an interval that one value cannot have."""


def collect(runs: list[tuple[str, int, Path]]) -> dict[str, list[dict]]:
    """Group finished runs by variant: {variant: [run figures, ...]} (unfinished runs are left out)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for variant, seed, run_dir in runs:
        data = read_run(run_dir)
        if data is not None:
            out[variant].append(data | {"seed": seed})
    return dict(out)


def discover(target: Path) -> tuple[str, list[tuple[str, int, Path]], list[str] | None, str | None]:
    """Runs of a spec file or of a directory holding `<variant>__s<seed>/` run folders."""
    if target.is_file():
        from rl.study.ablate import load_spec

        spec = load_spec(target)
        return spec.name, [(r.variant, r.seed, r.run_dir) for r in spec.runs], spec.metrics, spec.baseline
    if target.is_dir():
        runs = []
        for sub in sorted(target.iterdir()):
            variant, sep, seed = sub.name.rpartition("__s")
            if sub.is_dir() and sep and seed.isdigit():
                runs.append((variant, int(seed), sub))
        if not runs:
            raise RlvrError(f"report: no <variant>__s<seed> run folders in {target}")
        return target.name, runs, None, None
    raise RlvrError(f"report: no such spec file or directory: {target}")


COUNT_METRICS = {"generated_tokens"}  # whole numbers with thousands separators in the tables


def num(value: float, signed: bool = False, whole: bool = False) -> str:
    """3 decimals, or (`whole`: a count such as generated tokens) a whole number with thousands separators."""
    if whole:
        return f"{value:+,.0f}" if signed else f"{value:,.0f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def table(groups: dict[str, list[dict]], metrics: list[str]) -> str:
    reward_cols = sorted(
        {
            k
            for runs in groups.values()
            for r in runs
            for k in r["figures"]
            if k.startswith("rewards/") and k.endswith("/mean")
        }
    )
    columns = metrics + [c for c in reward_cols if c not in metrics]
    head = (
        ["variant", "n"]
        + [LABELS.get(c, c.removeprefix("rewards/").removesuffix("/mean") + " (train)") for c in columns]
        + ["health alerts"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, runs in groups.items():
        cells = [variant, str(len(runs))]
        for col in columns:
            values = [r["figures"][col] for r in runs if col in r["figures"] and r["figures"][col] is not None]
            whole = col in COUNT_METRICS
            if len(values) == 1:
                cells.append(f"{num(values[0], whole=whole)} {ONE_SEED}")
            elif values:
                mean, std = mean_std(values)
                cells.append(f"{num(mean, whole=whole)} ± {num(std, whole=whole)}")
            else:
                cells.append("–")
        cells.append(alert_cell(runs))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def alert_cell(runs: list[dict]) -> str:
    """Which health alerts the variant's runs raised: `kind (runs with it/runs)`; "none"; "–" without health data."""
    checked = [r["health"] for r in runs if r.get("health") and r["health"].get("enabled", True)]
    if not checked:
        return "–"
    counts: dict[str, int] = {}
    for health in checked:
        for kind in dict.fromkeys(a["kind"] for a in health.get("alerts", [])):
            counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{kind} ({n}/{len(checked)})" for kind, n in counts.items()) or "none"


def health_section(groups: dict[str, list[dict]]) -> str:
    """Every alert of every run, by variant and seed (rl/train/health.py says what each kind means)."""
    lines = []
    for variant, runs in groups.items():
        for run in sorted(runs, key=lambda r: r["seed"]):
            for alert in (run.get("health") or {}).get("alerts", []):
                stopped = " (stopped the run)" if (run["health"] or {}).get("stopped_by") == alert["kind"] else ""
                where = f"{variant}, seed {run['seed']}: step {alert['step']}"
                lines.append(f"- {where} {alert['kind']}{stopped}: {alert['message']}")
    body = "\n".join(lines) if lines else "No run raised an alert."
    return f"## Run health\n\n{body}\n"


EVAL_METRICS = {"accuracy_after"}  # per-problem verdicts in eval/after.jsonl: bootstrap over problems x seeds
TRAINED_REWARD_METRICS = {"mean_reward"}  # the weighted sum each variant trains on: compare only like with like
ALPHA = 0.05


def statistics_for(groups: dict[str, list[dict]], metrics: list[str], baseline: str) -> dict[str, Any]:
    """`report.json`: per variant and metric n, mean, std, 95% t-interval over seeds (and, for held-out accuracy,
    each run's binomial standard error); each variant against `baseline`: difference, Welch 95% CI and p, a
    permutation p, significant (Welch p < 0.05), the smallest difference the seeds could detect at 80% power, and
    for held-out accuracy a bootstrap CI over problems x seeds."""
    from rl.study.stats import binomial_se, bootstrap_diff, bootstrap_mean, detectable, permutation_p, summarize, welch

    def values(variant: str, metric: str) -> list[float]:
        return [r["figures"][metric] for r in groups[variant] if r["figures"].get(metric) is not None]

    variants: dict[str, dict] = {}
    for variant, runs in groups.items():
        per_metric = {}
        for metric in metrics:
            entry = summarize(values(variant, metric))
            entry["per_seed"] = [
                {"seed": r["seed"], "value": r["figures"][metric]}
                for r in sorted(runs, key=lambda r: r["seed"])
                if r["figures"].get(metric) is not None
            ]
            if metric in EVAL_METRICS:
                entry["run_se"] = [
                    binomial_se(r["figures"][metric], int(r["figures"].get("n_eval") or 0))
                    for r in runs
                    if r["figures"].get(metric) is not None and r["figures"].get("n_eval")
                ]
                scores = [r["eval_scores"] for r in runs if r["eval_scores"]]
                entry["bootstrap_ci95"] = bootstrap_mean(scores)["ci95"] if scores else None
            per_metric[metric] = entry
        # the headline metric's n/mean/std/ci95 at the top, every metric under its name
        headline = "accuracy_after" if "accuracy_after" in metrics else metrics[0]
        variants[variant] = {"metric": headline, **per_metric[headline], **per_metric}
        variants[variant]["heldout_over_training"] = [
            {"seed": r["seed"], "points": r["heldout"]} for r in sorted(runs, key=lambda r: r["seed"])
        ]
    comparisons = []
    for variant in groups:
        if variant == baseline or baseline not in groups:
            continue
        for metric in metrics:
            a, b = values(variant, metric), values(baseline, metric)
            if not a or not b:
                continue
            test = welch(a, b)
            entry = {
                "variant": variant,
                "baseline": baseline,
                "metric": metric,
                "diff": test["diff"],
                "ci95": test["ci95"],
                "p": test["p"],
                "p_permutation": permutation_p(a, b) if len(a) + len(b) <= 20 else None,
                "significant": test["p"] is not None and test["p"] < ALPHA,
                "detectable": detectable(a, b),
            }
            paid = {json.dumps(r.get("paid"), sort_keys=True) for r in groups[variant] + groups[baseline]}
            if metric in TRAINED_REWARD_METRICS and len(paid) > 1:
                entry["note"] = "the variants are paid by different rewards: a different sum, not a better one"
            if metric in EVAL_METRICS:
                sa = [r["eval_scores"] for r in groups[variant] if r["eval_scores"]]
                sb = [r["eval_scores"] for r in groups[baseline] if r["eval_scores"]]
                if sa and sb:
                    entry["bootstrap_ci95"] = bootstrap_diff(sa, sb)["ci95"]
            comparisons.append(entry)
    return {"baseline": baseline, "variants": variants, "comparisons": comparisons, "x_axis": x_axis(groups)}


def _interval(ci: list[float] | None, signed: bool = False, whole: bool = False) -> str:
    if ci is None:
        return "–"
    return f"[{num(ci[0], signed, whole)}, {num(ci[1], signed, whole)}]"


def intervals_table(result: dict[str, Any], metrics: list[str]) -> str:
    """Markdown: per variant and metric the mean with its 95% t-interval over seeds; for held-out accuracy also the
    bootstrap interval over problems x seeds and the runs' mean binomial standard error (the eval's own noise)."""
    evals = [m for m in metrics if m in EVAL_METRICS]
    head = ["variant", "n"] + [f"{LABELS.get(m, m)}: mean [95% CI]" for m in metrics]
    for m in evals:
        head += [f"{LABELS.get(m, m)}: bootstrap 95% CI", f"{LABELS.get(m, m)}: binomial SE per run"]
    lines = [
        "95% confidence intervals of each variant's mean: t over seeds (n - 1 degrees of freedom); for held-out "
        "accuracy also a bootstrap over problems x seeds, and each run's binomial standard error from its "
        "n_eval problems (mean over runs).\n",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for variant, entry in result["variants"].items():
        cells = [variant, str(entry.get("n", "–"))]
        for m in metrics:
            e = entry.get(m) or {}
            whole = m in COUNT_METRICS
            if e.get("mean") is None:
                cells.append("–")
            elif e.get("n") == 1:
                cells.append(f"{num(e['mean'], whole=whole)} {ONE_SEED}")
            else:
                cells.append(f"{num(e['mean'], whole=whole)} {_interval(e['ci95'], whole=whole)}")
        for m in evals:
            e = entry.get(m) or {}
            se = [x for x in e.get("run_se") or [] if x == x]
            cells += [_interval(e.get("bootstrap_ci95")), f"{sum(se) / len(se):.3f}" if se else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparisons_table(result: dict[str, Any]) -> str:
    """Markdown: each variant against the baseline, per metric, with what the seeds can and cannot tell."""
    if not result["comparisons"]:
        return f"No variant to compare against `{result['baseline']}`.\n"
    lines = [
        f"Each variant against `{result['baseline']}`: difference of means over seeds, Welch 95% CI and p "
        f"(significant at p < {ALPHA}); the smallest difference these seeds could detect at 80% power.\n",
        "| variant | metric | difference | 95% CI | p | significant | note |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda ci, whole=False: _interval(ci, signed=True, whole=whole)  # noqa: E731
    for c in result["comparisons"]:
        whole = c["metric"] in COUNT_METRICS
        note = ""
        if not c["significant"] and c["detectable"] is not None and c["detectable"] > abs(c["diff"]):
            note = f"too few seeds: only differences above {num(c['detectable'], whole=whole)} were detectable"
        if c["p"] is None:
            note = "one seed on a side: no test"
        if c.get("note"):
            note = c["note"]
        if c.get("bootstrap_ci95"):
            note = (note + "; " if note else "") + f"bootstrap over problems x seeds {fmt(c['bootstrap_ci95'])}"
        p = "–" if c["p"] is None else f"{c['p']:.3g}"
        label, diff = LABELS.get(c["metric"], c["metric"]), num(c["diff"], signed=True, whole=whole)
        lines.append(
            f"| {c['variant']} | {label} | {diff} | {fmt(c['ci95'], whole)} | {p} | "
            f"{'yes' if c['significant'] else 'no'} | {note} |"
        )
    return "\n".join(lines) + "\n"


def per_seed_table(groups: dict[str, list[dict]], metrics: list[str]) -> str:
    """Markdown: every run's own value of every metric (the numbers behind the means and intervals)."""
    head = ["variant", "seed"] + [LABELS.get(m, m) for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, runs in groups.items():
        for run in sorted(runs, key=lambda r: r["seed"]):
            cells = [variant, str(run["seed"])]
            for m in metrics:
                value = run["figures"].get(m)
                cells.append("–" if value is None else num(value, whole=m in COUNT_METRICS))
            lines.append("| " + " | ".join(cells) + " |")
    return "## Per seed\n\n" + "\n".join(lines) + "\n"


def heldout_table(groups: dict[str, list[dict]]) -> str:
    """Markdown: held-out pass@1 of every run at each evaluation (before, every `eval.every_steps`, after); empty
    when no run evaluated during training."""
    steps = sorted({p["step"] for runs in groups.values() for r in runs for p in r["heldout"]})
    if not any(p["when"] == "during" for runs in groups.values() for r in runs for p in r["heldout"]):
        return ""
    head = ["variant", "seed"] + [f"step {s}" for s in steps]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for variant, runs in groups.items():
        for run in sorted(runs, key=lambda r: r["seed"]):
            at = {p["step"]: p["pass@1"] for p in run["heldout"]}
            lines.append(
                "| " + " | ".join([variant, str(run["seed"])] + [num(at[t]) if t in at else "–" for t in steps]) + " |"
            )
    return (
        "## Held-out accuracy over training\n\nGreedy pass@1 on the held-out set: before GRPO (step 0), every "
        "`eval.every_steps`, and after GRPO (the last step).\n\n" + "\n".join(lines) + "\n"
    )


AXES = {
    "steps": "GRPO step",
    "tokens": "generated tokens (the runs are matched on budget.max_generated_tokens)",
}
BAND = "band: 95% t-interval of the mean over seeds"
GRID_POINTS = 200


def x_axis(groups: dict[str, list[dict]]) -> str:
    """ "tokens" when every run trained on a generated-token budget and logged `tokens/generated` (the spec
    compares the variants at equal generation cost), else "steps"."""
    runs = [r for rs in groups.values() for r in rs]
    on_budget = runs and all(
        r.get("budget") and any(isinstance(s.get("tokens/generated"), (int, float)) for s in r["steps"]) for r in runs
    )
    return "tokens" if on_budget else "steps"


def _smooth(values: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - window + 1) : i + 1] if not math.isnan(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def metric_series(run: dict, metric: str, axis: str, window: int) -> tuple[list[float], list[float]]:
    """(x, y) of one run's logged `metric`, y a moving average over `window` logged steps; x the step or the
    generated tokens at that step (records without a token count are left out on that axis)."""
    key = "step" if axis == "steps" else "tokens/generated"
    records = [
        s for s in run["steps"] if isinstance(s.get(metric), (int, float)) and isinstance(s.get(key), (int, float))
    ]
    return [float(s[key]) for s in records], _smooth([float(s[metric]) for s in records], window)


def heldout_series(run: dict, axis: str) -> tuple[list[float], list[float]]:
    """(x, y) of one run's held-out pass@1 over training (`heldout_points`), on the step or token axis."""
    key = "step" if axis == "steps" else "tokens"
    points = [p for p in run["heldout"] if isinstance(p.get(key), (int, float))]
    return [float(p[key]) for p in points], [float(p["pass@1"]) for p in points]


def on_grid(series: list[tuple[list[float], list[float]]], axis: str) -> tuple[list[float], list[list[float]]]:
    """Put every seed's series on one x grid: on steps, the steps any seed logged (NaN where a seed did not);
    on tokens (each seed reaches a step at its own count), `GRID_POINTS` even points, each seed linearly
    interpolated inside its own range (NaN outside)."""
    import numpy as np

    series = [(xs, ys) for xs, ys in series if xs]
    if not series:
        return [], []
    if axis == "steps":
        grid = sorted({x for xs, _ in series for x in xs})
        return grid, [[dict(zip(xs, ys, strict=True)).get(x, math.nan) for x in grid] for xs, ys in series]
    low, high = min(xs[0] for xs, _ in series), max(xs[-1] for xs, _ in series)
    grid = np.linspace(low, high, GRID_POINTS).tolist()
    rows = [np.interp(grid, xs, ys, left=math.nan, right=math.nan).tolist() for xs, ys in series]
    return grid, rows


def draw_band(ax, series: list[tuple[list[float], list[float]]], axis: str, colour, label: str, marker=None) -> None:
    """One variant: each seed as a thin line, the mean over seeds as a thick one and its 95% t-interval as a band,
    both where every seed has a value (a mean over fewer seeds would jump where one ends)."""
    from rl.study.stats import band

    for xs, ys in series:
        ax.plot(xs, ys, color=colour, linewidth=0.8, alpha=0.35, marker=marker, markersize=3)
    grid, rows = on_grid(series, axis)
    if not grid:
        return
    b = band(rows)
    full = [j for j in range(len(grid)) if b["n"][j] == len(rows)]
    ax.plot([grid[j] for j in full], [b["mean"][j] for j in full], color=colour, linewidth=2, label=label)
    if len(rows) > 1:
        ax.fill_between(
            [grid[j] for j in full],
            [b["low"][j] for j in full],
            [b["high"][j] for j in full],
            color=colour,
            alpha=0.2,
            linewidth=0,
        )


def _legend(ax, groups: dict[str, list[dict]]) -> None:
    """The variants, plus what the thin lines and the band are."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", linewidth=0.8, alpha=0.5, label="thin: one seed each"))
    if any(len(runs) > 1 for runs in groups.values()):
        handles.append(Patch(color="grey", alpha=0.2, label=f"{BAND} (t, n - 1 df)"))
    ax.legend(handles=handles, fontsize=8)


def plot_curves(
    groups: dict[str, list[dict]], metric: str, out: Path, title: str, window: int = 10, axis: str = "steps"
) -> None:
    """A training metric over training: per seed (moving average over `window` logged steps), the mean over seeds
    and its 95% t-interval band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    for i, (variant, runs) in enumerate(groups.items()):
        series = [metric_series(run, metric, axis, window) for run in runs]
        draw_band(ax, series, axis, colours(i % 10), f"{variant} (n={len(runs)})")
    ax.set_title(f"{title}\nmean over seeds, {BAND}", fontsize=10)
    ax.set_xlabel(AXES[axis])
    ax.set_ylabel(f"{metric}\n(moving average over {window} logged steps)")
    ax.grid(alpha=0.3)
    _legend(ax, groups)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_heldout(groups: dict[str, list[dict]], out: Path, title: str, axis: str = "steps") -> None:
    """Held-out pass@1 before GRPO, at each periodic evaluation and after: per seed (dots: evaluations), the mean
    over seeds and its 95% t-interval band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    for i, (variant, runs) in enumerate(groups.items()):
        series = [heldout_series(run, axis) for run in runs]
        draw_band(ax, series, axis, colours(i % 10), f"{variant} (n={len(runs)})", marker="o")
    ax.set_title(f"{title}\nmean over seeds, {BAND}", fontsize=10)
    ax.set_xlabel(AXES[axis])
    ax.set_ylabel("held-out pass@1 (greedy)\nbefore GRPO, every eval.every_steps, after")
    ax.grid(alpha=0.3)
    _legend(ax, groups)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_final(groups: dict[str, list[dict]], metric: str, out: Path, title: str) -> None:
    """Bars: each variant's mean of a final figure with its 95% t-interval over seeds (none for one seed); dots:
    the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rl.study.stats import summarize

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    names = list(groups)
    for i, variant in enumerate(names):
        values = [r["figures"][metric] for r in groups[variant] if r["figures"].get(metric) is not None]
        if not values:
            continue
        s = summarize(values)
        yerr = [[s["mean"] - s["ci95"][0]], [s["ci95"][1] - s["mean"]]] if s["ci95"] else None
        label = f"{variant} (n={len(values)}{', no interval' if len(values) == 1 else ''})"
        ax.bar(i, s["mean"], yerr=yerr, capsize=6, color=colours(i % 10), alpha=0.75, label=label)
        ax.scatter([i] * len(values), values, color="black", s=14, zorder=3)
    before = [
        r["figures"]["accuracy_before"]
        for runs in groups.values()
        for r in runs
        if metric == "accuracy_after" and r["figures"].get("accuracy_before") is not None
    ]
    if before:
        ax.axhline(statistics.fmean(before), color="grey", linestyle="--", label="before GRPO (mean)")
    ax.set_xticks(range(len(names)), names)
    ax.set_title(f"{title}\nbars: mean, error bars: 95% t-interval over seeds, dots: seeds", fontsize=10)
    ax.set_xlabel("variant")
    ax.set_ylabel(f"{LABELS.get(metric, metric)}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def report(target: str, out_dir: str | None = None) -> Path:
    name, runs, metrics, baseline = discover(Path(target))
    groups = collect(runs)
    if not groups:
        raise RlvrError(f"report: none of the {len(runs)} runs of {name} has finished (no summary.json)")
    from rl.study.ablate import DEFAULT_METRICS

    metrics = metrics or list(DEFAULT_METRICS)
    out = Path(out_dir) if out_dir else (runs[0][2].parent / "report")
    refuse_inside_run(out, "--out")  # the report's files go beside the runs, never into one
    out.mkdir(parents=True, exist_ok=True)
    finished = sum(len(v) for v in groups.values())
    missing = len(runs) - finished
    axis = x_axis(groups)
    plot_curves(groups, CURVE_METRIC, out / "curves.png", f"{name}: training accuracy reward", axis=axis)
    plot_final(groups, "accuracy_after", out / "accuracy.png", f"{name}: held-out accuracy after GRPO")
    pictures = ["curves.png", "accuracy.png"]
    if any(len(r["heldout"]) > 1 for runs in groups.values() for r in runs):
        plot_heldout(groups, out / "heldout.png", f"{name}: held-out accuracy over training", axis=axis)
        pictures.append("heldout.png")
    if any(m.startswith("format_rate") for m in metrics) and all(
        any(s.get(FORMAT_CURVE) is not None for s in r["steps"]) for runs in groups.values() for r in runs
    ):  # a format ablation whose runs all logged the format reward (trained on, or watched at weight 0)
        plot_curves(groups, FORMAT_CURVE, out / "format.png", f"{name}: training format reward", axis=axis)
        pictures.append("format.png")
    if "frac_reward_zero_std" in metrics:  # a curriculum or filtering ablation: how many groups taught nothing
        plot_curves(
            groups,
            ZERO_STD_CURVE,
            out / "zero_std.png",
            f"{name}: share of groups whose completions all scored the same",
            axis=axis,
        )
        pictures.append("zero_std.png")
    result = statistics_for(groups, metrics, baseline or next(iter(groups)))
    (out / "report.json").write_text(json.dumps(result, indent=1))
    heldout = heldout_table(groups)
    text = (
        f"# Ablation report: {name}\n\n"
        f"{finished} finished run{'s' if finished != 1 else ''}"
        + (f" ({missing} not finished, left out)" if missing else "")
        + f". Mean ± sample std over seeds; one seed: its value {ONE_SEED}. Plots: the mean over seeds with its "
        f"95% t-interval (n - 1 degrees of freedom) and every seed as a thin line, against {AXES[axis]}.\n\n"
        + table(groups, metrics)
        + "\n"
        + intervals_table(result, metrics)
        + "\n"
        + comparisons_table(result)
        + "\n"
        + per_seed_table(groups, metrics)
        + ("\n" + heldout if heldout else "")
        + "\n"
        + health_section(groups)
        + "".join(f"\n![{p.removesuffix('.png')}]({p})\n" for p in pictures)
    )
    (out / "report.md").write_text(text)
    return out
