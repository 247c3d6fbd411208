"""`rlvr report`: aggregate an ablation's runs into markdown tables, `report.json` and plots.

Works fully offline from each run's `summary.json` and `metrics.jsonl`. Per run: held-out figures come from
`summary.json` (greedy, graded by the reward's grader); training figures (`mean_reward`, `rewards/<name>/mean`,
`mean_completion_length`) are averaged over the final 10% of logged steps; `frac_reward_zero_std` over all of them,
`generated_tokens` is the last logged count (with `budget.max_generated_tokens`: runs at equal cost). Across seeds:
the mean and the sample standard deviation (n - 1 in the denominator; 0 when n = 1). Run-health alerts (summary.json
`health`) are counted per variant in the table and listed per run under "Run health".

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
from rl.rundir import RunDir

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
    return {"figures": figures, "steps": steps, "health": health, "eval_scores": scores, "paid": _paid(run_dir)}


def _paid(run_dir: Path) -> dict[str, float] | None:
    """{reward: weight} of the rewards a run trained on (weight != 0), from its config.yaml; None if unreadable."""
    import yaml

    try:
        config = yaml.safe_load(RunDir(run_dir).config.read_text()) or {}
        return {
            str(r["name"]): float(r.get("weight", 1.0))
            for r in config.get("rewards") or []
            if float(r.get("weight", 1.0)) != 0.0
        }
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
        return None


def mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


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
            if values:
                mean, std = mean_std(values)
                whole = col in COUNT_METRICS
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
    return {"baseline": baseline, "variants": variants, "comparisons": comparisons}


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
            cells.append(
                "–" if e.get("mean") is None else f"{num(e['mean'], whole=whole)} {_interval(e['ci95'], whole=whole)}"
            )
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


def _smooth(values: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - window + 1) : i + 1] if not math.isnan(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


def plot_curves(groups: dict[str, list[dict]], metric: str, out: Path, title: str, window: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    for i, (variant, runs) in enumerate(groups.items()):
        series = []
        for run in runs:
            by_step = {s["step"]: s.get(metric) for s in run["steps"]}
            series.append(by_step)
        steps = sorted(set().union(*series)) if series else []
        if not steps:
            continue
        rows = [
            _smooth([float(s.get(t) if s.get(t) is not None else math.nan) for t in steps], window) for s in series
        ]
        means = [
            statistics.fmean([r[j] for r in rows if not math.isnan(r[j])] or [math.nan]) for j in range(len(steps))
        ]
        stds = [
            statistics.stdev(vals) if len(vals := [r[j] for r in rows if not math.isnan(r[j])]) > 1 else 0.0
            for j in range(len(steps))
        ]
        colour = colours(i % 10)
        ax.plot(steps, means, color=colour, label=f"{variant} (n={len(runs)})")
        low = [m - s for m, s in zip(means, stds, strict=True)]
        high = [m + s for m, s in zip(means, stds, strict=True)]
        ax.fill_between(steps, low, high, color=colour, alpha=0.2)
    ax.set_title(title)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(f"{metric}\n(moving average over {window} steps)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_final(groups: dict[str, list[dict]], metric: str, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    names = list(groups)
    for i, variant in enumerate(names):
        values = [r["figures"][metric] for r in groups[variant] if r["figures"].get(metric) is not None]
        if not values:
            continue
        mean, std = mean_std(values)
        ax.bar(i, mean, yerr=std, capsize=6, color=colours(i % 10), alpha=0.75, label=f"{variant} (n={len(values)})")
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
    ax.set_title(title)
    ax.set_xlabel("variant")
    ax.set_ylabel(f"{LABELS.get(metric, metric)} (mean ± std over seeds; dots: seeds)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
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
    out.mkdir(parents=True, exist_ok=True)
    finished = sum(len(v) for v in groups.values())
    missing = len(runs) - finished
    plot_curves(
        groups,
        CURVE_METRIC,
        out / "curves.png",
        f"{name}: training accuracy reward per step (mean over seeds, band ±1 std)",
    )
    plot_final(groups, "accuracy_after", out / "accuracy.png", f"{name}: held-out accuracy after GRPO")
    pictures = ["curves.png", "accuracy.png"]
    if any(m.startswith("format_rate") for m in metrics) and all(
        any(s.get(FORMAT_CURVE) is not None for s in r["steps"]) for runs in groups.values() for r in runs
    ):  # a format ablation whose runs all logged the format reward (trained on, or watched at weight 0)
        plot_curves(groups, FORMAT_CURVE, out / "format.png", f"{name}: training format reward per step")
        pictures.append("format.png")
    if "frac_reward_zero_std" in metrics:  # a curriculum or filtering ablation: how many groups taught nothing
        plot_curves(
            groups,
            ZERO_STD_CURVE,
            out / "zero_std.png",
            f"{name}: share of groups whose completions all scored the same",
        )
        pictures.append("zero_std.png")
    result = statistics_for(groups, metrics, baseline or next(iter(groups)))
    (out / "report.json").write_text(json.dumps(result, indent=1))
    text = (
        f"# Ablation report: {name}\n\n"
        f"{finished} finished run{'s' if finished != 1 else ''}"
        + (f" ({missing} not finished, left out)" if missing else "")
        + ". Mean ± sample std over seeds.\n\n"
        + table(groups, metrics)
        + "\n"
        + intervals_table(result, metrics)
        + "\n"
        + comparisons_table(result)
        + "\n"
        + health_section(groups)
        + "".join(f"\n![{p.removesuffix('.png')}]({p})\n" for p in pictures)
    )
    (out / "report.md").write_text(text)
    return out
