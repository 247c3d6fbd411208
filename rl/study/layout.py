"""What `rlvr dashboard` shows first, and in which colours: the layout of trackio's Metrics page for GRPO runs.

A reader asks, in this order: did held-out accuracy go up (`eval/pass@1`)? Is the accuracy reward rising
(`train/rewards/<accuracy reward>/mean`)? Are completions growing or truncated (`train/completions/mean_length`)?
Is the policy drifting or collapsing (`train/kl`, `train/entropy`)? Did a run-health detector fire
(`train/health/alerts`, `train/health/<kind>`)? Those are the lead panels (`lead_metrics`).

How trackio 0.43 lays the page out (its frontend, `groupMetricsByPrefix` in lib/dataProcessing.js), and what rlvr
sets for each rule. Only trackio's own settings are used; nothing of its frontend is replaced:

1. One section per first name part (`eval`, `train`), ordered by the first `TRACKIO_PLOT_ORDER` pattern naming
   the section: `plot_order` starts with `eval/pass@1`, so the `eval` section comes first.
2. In a section, the series directly under it (`train/entropy`) come before its subsections (`train/rewards/...`),
   whatever the plot order says; each list is ordered by the plot order's patterns (exact names, `*` wildcards),
   the series no pattern names last, alphabetically. `plot_order` names the lead series first and the bookkeeping
   series not at all, so those go last in their list.
3. Subsections come in the order their first series appears in the logged rows (key order in trackio's store):
   `lead_keys_first` puts the `rewards`, `completions` and `health` keys first in every row rlvr logs or imports.
4. Nothing is hidden except through the `metric_filter` URL parameter (a regular expression; the sidebar's
   Metric Filter box shows it and clearing it shows everything): the printed URL hides the bookkeeping series
   (`bookkeeping`: epoch, global step, token count, held-out problem counts, each reward's item count, and the
   learning rate when it never changed) and the held-out series that repeat another (`duplicates`); the
   screenshot keeps only the lead panels and a few COMPANIONS that fill their rows (`screenshot_metrics`).
5. Runs are coloured by their place in the run list (newest first) from `TRACKIO_COLOR_PALETTE`: when some runs
   share a trackio group (an ablation's `<ablation>/<variant>`), `variant_palette` gives every run of a variant
   its variant's colour. Trackio's own grouping (the sidebar's "Group by: Group") only regroups the run list, and
   no URL parameter sets it, so it is left to the reader.

The user's own `TRACKIO_PLOT_ORDER` / `TRACKIO_COLOR_PALETTE`, when set, win (`rl.study.dashboard.page_settings`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rl.train.health import KINDS

HELD_OUT = "eval/pass@1"
LEAD_SECTIONS = ("rewards", "completions", "health")
"""`train/` subsections, in this order, before every other one."""

BOOKKEEPING = ("train/epoch", "train/global_step", "train/num_tokens", "eval/n_problems", "eval/n")
"""Series that only count: the x-axis again (global step, epoch, tokens so far) or a constant (how many problems
were held out; `eval/n` in runs imported from an older state.json)."""
BOOKKEEPING_PATTERN = re.compile(r"train/rewards/[^/]+/items|eval/.+/n_problems")
"""How many completions each reward graded (the batch size, every step); each held-out part's problem count."""
IF_CONSTANT = ("train/learning_rate",)
"""Bookkeeping only when it never changed (no schedule)."""

COMPANIONS = (
    "eval/format_rate",
    "train/reward",
    "train/frac_reward_zero_std",
    "train/rewards/*/mean",
    "train/completions/clipped_ratio",
)
"""Shown beside the lead panels in the screenshot: trackio gives each section its own row of panels, and these
fill those rows with the series read together with the lead ones (`*`: any one name part)."""

FOLLOWERS = (
    "train/reward",
    "train/frac_reward_zero_std",
    "train/rewards/*/mean",
    "train/completions/clipped_ratio",
    "eval/format_rate",
    "eval/mean_length",
    "eval/mean@1_ci95_low",
    "eval/mean@1_ci95_high",
    "train/reward_std",
    "train/loss",
    "train/grad_norm",
    "train/step_time",
    "train/rewards/*/std",
    "train/rewards/*/none",
    "train/rewards/*/timeouts",
    "train/rewards/*/errors",
    "train/rewards/*/seconds",
    *(f"train/health/{kind}" for kind in KINDS),
)
"""After the lead panels, in this order; every series not named here (bookkeeping too) comes after them."""


def accuracy_reward(config: dict) -> str | None:
    """The reward that checks answers in one run's config (a dict of config.yaml): `health.accuracy_reward`, else
    the first reward that grades the final answer (what run health and the curriculum watch)."""
    named = (config.get("health") or {}).get("accuracy_reward")
    if named:
        return str(named)
    for reward in config.get("rewards") or []:
        name = reward.get("name") if isinstance(reward, dict) else None
        if name and _checks_answer(name):
            return str(name)
    return None


def _checks_answer(name: str) -> bool:
    import rewards

    try:
        return rewards.checks_answer(name)
    except ValueError:  # a reward this version does not know (a run made by an older rlvr)
        return False


def accuracy_rewards(configs: Iterable[dict]) -> list[str]:
    """The accuracy rewards of all runs shown, each once, in run order (an ablation may compare graders)."""
    return list(dict.fromkeys(name for config in configs if (name := accuracy_reward(config))))


def fired(logs: Iterable[dict]) -> list[str]:
    """The run-health kinds that fired at some logged step of some run (`train/health/<kind>` above 0)."""
    seen = set()
    for row in logs:
        seen.update(kind for kind in KINDS if (row.get(f"train/health/{kind}") or 0) > 0)
    return [kind for kind in KINDS if kind in seen]


def lead_metrics(accuracy: list[str], fired_kinds: list[str]) -> list[str]:
    """The panels a reader looks at first, in the order of the questions in this module's docstring."""
    return [
        HELD_OUT,
        *(f"train/rewards/{name}/mean" for name in accuracy),
        "train/completions/mean_length",
        "train/kl",
        "train/entropy",
        "train/health/alerts",
        *(f"train/health/{kind}" for kind in fired_kinds),
    ]


def matching(patterns: Iterable[str], names: Iterable[str], accuracy: Iterable[str] = ()) -> list[str]:
    """The logged `names` each pattern matches (`*`: one name part), pattern by pattern; among one pattern's
    matches the accuracy rewards' series first, then by name. Trackio's own wildcards would list their matches
    in reverse, so rlvr hands it names."""
    names, accuracy, out = sorted(set(names)), list(accuracy), []
    for pattern in patterns:
        regex = re.compile(re.escape(pattern).replace(r"\*", "[^/]+"))
        found = [n for n in names if regex.fullmatch(n) and n not in out]
        out += sorted(found, key=lambda n: not any(f"/{a}/" in n for a in accuracy))
    return out


def screenshot_metrics(lead: list[str], names: Iterable[str]) -> list[str]:
    """The series the screenshot shows: the lead panels and their COMPANIONS, those that were logged."""
    return matching(lead, names) + [n for n in matching(COMPANIONS, names) if n not in lead]


def plot_order(accuracy: list[str], fired_kinds: list[str], names: Iterable[str]) -> list[str]:
    """TRACKIO_PLOT_ORDER for these logged `names`: the lead panels, then FOLLOWERS; bookkeeping is named nowhere,
    so it goes last."""
    lead = lead_metrics(accuracy, fired_kinds)
    return lead + [name for name in matching(FOLLOWERS, names, accuracy) if name not in lead]


def bookkeeping(logs: Iterable[dict]) -> list[str]:
    """The bookkeeping series among the logged rows (names sorted): BOOKKEEPING, each reward's item count, and the
    IF_CONSTANT series that have one value across every row of every run."""
    values: dict[str, set] = {}
    for row in logs:
        for name, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault(name, set()).add(value)
    hidden = [name for name in values if name in BOOKKEEPING or BOOKKEEPING_PATTERN.fullmatch(name)]
    hidden += [name for name in IF_CONSTANT if len(values.get(name, ())) == 1]
    return sorted(hidden)


def duplicates(logs: Iterable[dict]) -> list[str]:
    """Held-out series equal to another at every logged row of every run (names sorted): a breakdown with one part
    (`eval/data_source/<source>/<x>` = `eval/<x>` when all problems come from one source) and pass@1's other names
    when each problem is sampled once (`eval/mean@1`, `eval/maj@1`)."""
    logs = list(logs)
    twins = {}
    for name in {name for row in logs for name in row}:
        if part := re.fullmatch(r"eval/[^/]+/[^/]+/(.+)", name):
            twins[name] = f"eval/{part[1]}"
        elif name in ("eval/mean@1", "eval/maj@1"):
            twins[name] = HELD_OUT
    return sorted(
        name
        for name, twin in twins.items()
        if all(row.get(name) == row.get(twin) for row in logs if name in row or twin in row)
    )


def only(names: Iterable[str]) -> str:
    """A metric_filter keeping exactly `names` (trackio tests it case-insensitively, as a JavaScript RegExp)."""
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


def all_but(names: Iterable[str]) -> str:
    """A metric_filter keeping every series except `names` (a negative lookahead; JavaScript has it too)."""
    return "^(?!(" + "|".join(re.escape(name) for name in names) + ")$)"


def lead_keys_first(metrics: dict) -> dict:
    """`metrics` with the keys of the LEAD_SECTIONS subsections first, in that order (rule 3): trackio lists the
    subsections in the order their first key appears. The values and the other keys' order are unchanged."""

    def rank(name: str) -> int:
        parts = name.split("/")
        section = parts[1] if len(parts) > 2 and parts[0] == "train" else None
        return LEAD_SECTIONS.index(section) if section in LEAD_SECTIONS else len(LEAD_SECTIONS)

    return {name: metrics[name] for name in sorted(metrics, key=rank)}


def variant_palette(groups: list[str | None], colours: list[str]) -> list[str] | None:
    """TRACKIO_COLOR_PALETTE for runs listed in the page's order with these trackio groups: one colour per group
    (each run without a group keeps one of its own), or None when no two runs share a group (trackio's own
    colours, one per run, already say it all)."""
    named = [g for g in groups if g is not None]
    if len(set(named)) == len(named):
        return None
    keys = [g if g is not None else ("run", i) for i, g in enumerate(groups)]
    colour_of = {key: colours[i % len(colours)] for i, key in enumerate(dict.fromkeys(keys))}
    return [colour_of[key] for key in keys]


@dataclass
class Layout:
    """What rlvr sets for one project's page (see the module docstring)."""

    plot_order: list[str]
    lead: list[str]
    """The lead panels that were logged."""
    screenshot: list[str]
    hidden: list[str]
    """Bookkeeping series and held-out duplicates: the printed URL's Metric Filter leaves them out."""
    palette: list[str] | None

    @property
    def page_filter(self) -> str | None:
        """The printed URL's metric_filter: every series but the `hidden` ones."""
        return all_but(self.hidden) if self.hidden else None

    @property
    def screenshot_filter(self) -> str:
        """The screenshot's metric_filter: the lead panels and their companions."""
        return only(self.screenshot)


def layout_of(project: str) -> Layout:
    """The layout for `project` in the trackio store `use_store` chose, from its runs' configs and logs: what each
    run logged, its accuracy reward, its trackio group. Needs trackio imported after `use_store`."""
    from trackio.sqlite_storage import SQLiteStorage
    from trackio.utils import DEFAULT_COLOR_PALETTE

    runs = list(reversed(SQLiteStorage.get_run_records(project)))  # the page lists the newest run first
    configs = SQLiteStorage.get_all_run_configs(project)
    run_configs = [configs.get(run["id"]) or configs.get(run["name"]) or {} for run in runs]
    logs = [row for run in runs for row in SQLiteStorage.get_logs(project, run["name"], run_id=run["id"])]
    accuracy, kinds = accuracy_rewards(run_configs), fired(logs)
    names = {name for row in logs for name in row}
    lead = matching(lead_metrics(accuracy, kinds), names)
    groups = [config.get("_Group") or None for config in run_configs]
    return Layout(
        plot_order=plot_order(accuracy, kinds, names),
        lead=lead,
        screenshot=screenshot_metrics(lead, names),
        hidden=sorted(bookkeeping(logs) + duplicates(logs)),
        palette=variant_palette(groups, DEFAULT_COLOR_PALETTE),
    )
