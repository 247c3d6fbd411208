"""Run health: detectors over the metrics a run logs, raising an alert while it trains.

Every logged step, each detector reads the metric stream (`metrics.jsonl`'s records, in memory) and either stays
quiet or states a finding. A finding becomes an alert the first time it appears; the same detector can alert again
only after its condition has been clear for a window. Each alert is printed as one line
(`health: step N kind: what was measured. Look at: what to do`), counted in `health/*` metrics (metrics.jsonl and
wandb, plus `wandb.alert` when online) and listed in `summary.json` under `health`. Kinds in `health.stop_on` end
the run: a checkpoint is saved, the held-out evaluation and summary are written, and `rlvr train` exits with code 4
(`EXIT_HEALTH`).

The rules (thresholds are the `health:` config section, rl/config.py; windows count logged steps):

1. `reward_hacking`: some reward other than the accuracy reward, weighted as trained (or all of them together),
   rises from one window to the next (by `min_rise`, one-sided Welch t-test at `alpha`) while the accuracy reward
   does not rise (same test, no minimum). The accuracy reward can be trained with weight 0 to only watch.
2. `grader_disagreement`: every `every` steps, completions the accuracy reward paid are regraded by math-verify
   with its default settings (`rewards._symbolic.second_opinion`, in worker processes); pooled over the latest
   checks, the share it rejects exceeds `max_rate`. Rejected samples go to `RUN/health/disagreements.jsonl`.
3. `entropy_collapse`: mean entropy over the last window under `fraction` of the first window's.
4. `length_blowup`: the clipped (truncated) ratio is above `max_clipped` and `min_rise` above the first window's;
   or mean length grew by `growth` from one window to the next while accuracy did not rise.
5. `no_signal`: `frac_reward_zero_std` at or above `max_fraction` for `steps` consecutive logged steps.
6. `grader_trouble`: over the last window, some reward's timeouts or errors per completion exceed `max_rate`, its
   None scores exceed `max_none_rate`, or its grading time exceeds `max_time_share` of the steps' time.
7. `instability`: the gradient norm exceeds `grad_spike` times the median of the previous window; or, when KL is
   logged (`grpo.beta > 0`), KL exceeds `kl_jump` times that median and the median by `min_kl`; or entropy over
   the last window exceeds `entropy_rise` times the first 3 logged steps' (the policy coming apart).

Detectors are pure functions of the stream, so a resumed run replays `metrics.jsonl` and continues with the same
state (the regrade results are in the stream as `health/regrade/{checked,rejected}`).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl.errors import RlvrError
from rl.rundir import RunDir

KINDS = (
    "reward_hacking",
    "grader_disagreement",
    "entropy_collapse",
    "length_blowup",
    "no_signal",
    "grader_trouble",
    "instability",
)
EXIT_HEALTH = 4


class HealthStopped(RlvrError):
    """A `health.stop_on` alert ended the run; its checkpoint, evaluation and summary are written."""

    exit_code = EXIT_HEALTH


@dataclass
class Alert:
    kind: str
    step: int
    message: str
    look: str

    def line(self) -> str:
        return f"health: step {self.step} {self.kind}: {self.message}. Look at: {self.look}"


@dataclass
class Context:
    """What the detectors need to know about the run besides its metrics."""

    accuracy: str | None = None
    """The reward that checks answers (its `rewards/<name>/mean`), or None."""
    aux: tuple[tuple[str, float], ...] = ()
    """(name, weight) of every other reward trained with a non-zero weight."""
    rewards: tuple[str, ...] = ()


def context_for(exp) -> Context:
    import rewards

    names = tuple(r.name for r in exp.rewards)
    accuracy = exp.health.accuracy_reward
    if accuracy is None:
        accuracy = next((r.name for r in exp.rewards if rewards.checks_answer(r.name)), None)
    aux = tuple((r.name, r.weight) for r in exp.rewards if r.name != accuracy and r.weight != 0)
    return Context(accuracy, aux, names)


def validate_health(exp) -> None:
    health = exp.health
    for kind in health.stop_on:
        if kind not in KINDS:
            raise RlvrError(f"health.stop_on: unknown alert kind {kind!r} (kinds: {', '.join(KINDS)})")
        if not getattr(health, kind).enabled:
            raise RlvrError(f"health.stop_on: {kind} is disabled (health.{kind}.enabled: false), so it cannot stop")
    names = [r.name for r in exp.rewards]
    if health.accuracy_reward is not None and health.accuracy_reward not in names:
        raise RlvrError(
            f"health.accuracy_reward: {health.accuracy_reward!r} is not one of this run's rewards ({', '.join(names)})"
        )
    for kind in KINDS:
        for key, value in vars(getattr(health, kind)).items():
            if key == "enabled":
                continue
            if key in WHOLE and value < 1:
                raise RlvrError(f"health.{kind}.{key} must be at least 1, got {value}")
            if value < 0 or (key == "timeout" and value == 0):
                raise RlvrError(f"health.{kind}.{key} must be {'> 0' if key == 'timeout' else '>= 0'}, got {value}")
    if health.reward_hacking.alpha >= 1 or health.entropy_collapse.fraction >= 1:
        raise RlvrError("health.reward_hacking.alpha and health.entropy_collapse.fraction must be below 1")


WHOLE = {"window", "every", "sample", "min_checked", "steps", "patience"}


# --------------------------------------------------------------------------------------------------- statistics


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series(records: Sequence[dict], key: str, scale: float = 1.0) -> list[float]:
    """The finite values of `key` in `records`, times `scale`."""
    return [r[key] * scale for r in records if _number(r.get(key))]


def rises(early: Sequence[float], late: Sequence[float], min_rise: float, alpha: float) -> tuple[bool, float, float]:
    """(whether `late` is above `early` by at least `min_rise` and significantly, the rise, the p-value).

    One-sided Welch t-test; two constant windows differ for certain (p 0 or 1)."""
    rise = statistics.fmean(late) - statistics.fmean(early)
    if rise < min_rise or rise <= 0:
        return False, rise, 1.0
    if len(early) < 2 or len(late) < 2:
        return False, rise, 1.0
    if statistics.pvariance(early) == 0 and statistics.pvariance(late) == 0:
        return True, rise, 0.0
    from scipy.stats import ttest_ind

    p = float(ttest_ind(late, early, equal_var=False, alternative="greater").pvalue)
    return p < alpha, rise, p


def flat(early: Sequence[float], late: Sequence[float]) -> bool:
    """Did not rise: the late mean is below the early one plus one standard error of their difference."""
    se = math.sqrt(statistics.pvariance(early) / len(early) + statistics.pvariance(late) / len(late))
    return statistics.fmean(late) - statistics.fmean(early) <= se


def _steps(records: Sequence[dict]) -> str:
    return f"steps {records[0].get('step', '?')}-{records[-1].get('step', '?')}"


# --------------------------------------------------------------------------------------------------- detectors

Finding = tuple[str, str]  # (what was measured, what to look at)


class Detector:
    """One rule. `check(records)` returns a Finding or None; sets `checked` once it had the data to decide and
    `stats` to what it measured (logged as `health/<stat>`)."""

    kind = ""

    def __init__(self, cfg, ctx: Context):
        self.cfg, self.ctx = cfg, ctx
        self.checked = False
        self.stats: dict[str, float] = {}

    @property
    def rearm(self) -> int:
        """Logged steps the condition must stay clear before this detector may alert again."""
        return getattr(self.cfg, "window", getattr(self.cfg, "steps", 10))

    def check(self, records: Sequence[dict]) -> Finding | None:
        raise NotImplementedError

    def correctness_flat(self, early: Sequence[dict], late: Sequence[dict]) -> tuple[str, bool] | None:
        """(the key, whether it did not rise) for the accuracy reward, else the total reward; None without data."""
        key = f"rewards/{self.ctx.accuracy}/mean" if self.ctx.accuracy else "reward"
        a, b = series(early, key), series(late, key)
        if len(a) < 2 or len(b) < 2:
            return None
        return key, flat(a, b)


class RewardHacking(Detector):
    kind = "reward_hacking"

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.held: list[bool] = []

    def check(self, records):
        w, ctx = self.cfg.window, self.ctx
        if ctx.accuracy is None or not ctx.aux or len(records) < 2 * w:
            return None
        early, late = records[-2 * w : -w], records[-w:]
        acc_key = f"rewards/{ctx.accuracy}/mean"
        acc_early, acc_late = series(early, acc_key), series(late, acc_key)
        if len(acc_early) < 2 or len(acc_late) < 2:
            return None
        self.checked = True
        worst = None
        for label, a, b in self._candidates(early, late):
            if len(a) < 2 or len(b) < 2:
                continue
            up, rise, p = rises(a, b, self.cfg.min_rise, self.cfg.alpha)
            if up and (worst is None or rise > worst[1]):
                worst = (label, rise, p, statistics.fmean(a), statistics.fmean(b))
        self.stats = {"accuracy_trend": statistics.fmean(acc_late) - statistics.fmean(acc_early)}
        holds = worst is not None and flat(acc_early, acc_late)
        self.held = (self.held + [holds])[-self.cfg.patience :]
        if not holds or sum(self.held) < math.ceil(0.8 * self.cfg.patience):  # held at 8 of the last 10 steps
            return None
        label, rise, p, before, after = worst
        return (
            f"{label} rose {before:.3f} -> {after:.3f} (+{rise:.3f}, p={p:.2g}) over {_steps(records[-2 * w :])} "
            f"while {acc_key} went {statistics.fmean(acc_early):.3f} -> {statistics.fmean(acc_late):.3f}",
            "completions that score high but answer wrong (wandb's completions table; `rlvr eval` on a checkpoint): "
            "the rising reward pays for something other than right answers. Lower its weight or make it harder "
            "to game",
        )

    def _candidates(self, early, late) -> list[tuple[str, list[float], list[float]]]:
        """(label, early values, late values) of each auxiliary reward as trained (times its weight), and of all
        of them summed per step when there are several."""
        keys = [(f"rewards/{name}/mean", weight, name) for name, weight in self.ctx.aux]
        out = [
            (name if weight == 1 else f"{name} x weight {weight:g}", series(early, k, weight), series(late, k, weight))
            for k, weight, name in keys
        ]
        if len(keys) > 1:

            def total(records):
                rows = [r for r in records if all(_number(r.get(k)) for k, *_ in keys)]
                return [sum(r[k] * wt for k, wt, _ in keys) for r in rows]

            out.append(("the auxiliary rewards together (weighted)", total(early), total(late)))
        return out


class GraderDisagreement(Detector):
    kind = "grader_disagreement"
    CHECKED, REJECTED = "health/regrade/checked", "health/regrade/rejected"

    @property
    def rearm(self) -> int:
        return 2 * self.cfg.every  # decided on regrade records only; the verdict holds between them

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.verdict: Finding | None = None

    def check(self, records):
        if not _number(records[-1].get(self.CHECKED)):
            return self.verdict
        checked = rejected = 0
        first = records[-1]
        oldest = records[-1].get("step", 0) - 5 * self.cfg.every
        for r in reversed(records):
            if r.get("step", 0) <= oldest:
                break
            if _number(r.get(self.CHECKED)):
                checked += r[self.CHECKED]
                rejected += r.get(self.REJECTED) or 0
                first = r
                if checked >= self.cfg.min_checked:
                    break
        if checked == 0:
            return self.verdict
        self.checked = True
        rate = rejected / checked
        self.stats = {"regrade/rejected_rate": rate}
        self.verdict = None
        if checked >= self.cfg.min_checked and rate > self.cfg.max_rate:
            self.verdict = (
                f"math-verify rejects {rejected:g} of {checked:g} completions that {self.ctx.accuracy} paid "
                f"({rate:.0%}, steps {first.get('step')}-{records[-1].get('step')}; limit {self.cfg.max_rate:.0%})",
                "RUN/health/disagreements.jsonl (completion, gold): if the answers are wrong, rlvr's grader is being "
                "fooled (report it with those lines); if they are right, math-verify is the stricter one",
            )
        return self.verdict


class EntropyCollapse(Detector):
    kind = "entropy_collapse"

    def check(self, records):
        w = self.cfg.window
        values = series(records, "entropy")
        if len(values) < 2 * w:
            return None
        start = statistics.fmean(values[:w])
        if start <= 0:
            return None
        self.checked = True
        now = statistics.fmean(values[-w:])
        self.stats = {"entropy_ratio": now / start}
        if now >= self.cfg.fraction * start:
            return None
        return (
            f"entropy {now:.4f} over the last {w} steps is {now / start:.0%} of its start {start:.4f} "
            f"(limit {self.cfg.fraction:.0%})",
            "whether groups still differ (frac_reward_zero_std) and samples still vary; a lower learning rate, "
            "higher temperature, or clip-higher (grpo.epsilon_high) keeps exploration alive",
        )


class LengthBlowup(Detector):
    kind = "length_blowup"

    def check(self, records):
        w = self.cfg.window
        clipped = series(records, "completions/clipped_ratio")
        found = None
        if len(clipped) >= 2 * w:
            self.checked = True
            start, now = statistics.fmean(clipped[:w]), statistics.fmean(clipped[-w:])
            self.stats["clipped_ratio"] = now
            if now > self.cfg.max_clipped and now - start >= self.cfg.min_rise:
                found = (
                    f"{now:.0%} of completions hit max_completion_length over the last {w} steps "
                    f"(first {w}: {start:.0%})",
                    "truncated completions (their answers are cut off): raise grpo.max_completion_length, add "
                    "overlong_penalty, or set grpo.mask_truncated_completions",
                )
        if len(records) >= 2 * w:
            early, late = records[-2 * w : -w], records[-w:]
            a, b = series(early, "completions/mean_length"), series(late, "completions/mean_length")
            correctness = self.correctness_flat(early, late)
            if a and b and statistics.fmean(a) > 0 and correctness is not None:
                self.checked = True
                growth = statistics.fmean(b) / statistics.fmean(a) - 1
                self.stats["length_growth"] = growth
                key, not_rising = correctness
                if growth >= self.cfg.growth and found is None and not_rising:
                    found = (
                        f"mean completion length grew {statistics.fmean(a):.1f} -> {statistics.fmean(b):.1f} tokens "
                        f"(+{growth:.0%}) over {_steps(records[-2 * w :])} while {key} did not rise",
                        "whether the extra tokens reason or repeat (repetition_penalty, completions table); a "
                        "length or overlong reward may be paying for length",
                    )
        return found


FILLER = "dynamic_sampling/filler_share"


class NoSignal(Detector):
    kind = "no_signal"

    def check(self, records):
        n = self.cfg.steps
        key = FILLER if FILLER in records[-1] else "frac_reward_zero_std"  # dynamic sampling: what is trained on
        values = series(records[-n:], key)
        if len(records) < n or len(values) < n:
            return None
        self.checked = True
        self.stats = {"zero_std_steps": float(sum(v >= self.cfg.max_fraction for v in values))}
        if min(values) < self.cfg.max_fraction:
            return None
        acc = series(records[-n:], f"rewards/{self.ctx.accuracy}/mean") if self.ctx.accuracy else []
        why = ""
        if acc:
            mean = statistics.fmean(acc)
            verdict = "too hard (or answers unreadable)" if mean < 0.5 else "too easy"
            why = f"; accuracy {mean:.2f}: the prompts are {verdict}"
        what = "of the trained batch was groups" if key == FILLER else "of groups had"
        return (
            f"at least {self.cfg.max_fraction:.0%} {what} identical rewards for {n} steps running "
            f"(mean {statistics.fmean(values):.0%}){why}",
            "the data's difficulty for this model (filter by pass rate, dynamic_sampling.enabled), the grader "
            "(does it read the model's answers?), and grpo.num_generations",
        )


def _tail(records: Sequence[dict], n: int):
    """(index, record) of the last `n` records."""
    start = max(0, len(records) - n)
    return [(i, records[i]) for i in range(start, len(records))]


class GraderTrouble(Detector):
    kind = "grader_trouble"

    def check(self, records):
        w = self.cfg.window
        window = records[-w:]
        if len(records) < w:
            return None
        worst = None
        # step_time is TRL's mean per optimizer step; reward seconds are summed since the previous log
        steps = [r.get("step", 0) - (records[i - 1].get("step", 0) if i > 0 else 0) for i, r in _tail(records, w)]
        step_seconds = sum(
            r["step_time"] * n for r, n in zip(window, steps, strict=True) if _number(r.get("step_time"))
        )
        for name in self.ctx.rewards:
            items = sum(series(window, f"rewards/{name}/items"))
            if items <= 0:
                continue
            self.checked = True
            rates = {k: sum(series(window, f"rewards/{name}/{k}")) / items for k in ("timeouts", "errors", "none")}
            share = sum(series(window, f"rewards/{name}/seconds")) / step_seconds if step_seconds > 0 else 0.0
            self.stats[f"{name}/problem_rate"] = max(rates.values())
            problems = [
                f"{k} {rates[k]:.1%} of completions"
                for k, limit in (
                    ("timeouts", self.cfg.max_rate),
                    ("errors", self.cfg.max_rate),
                    ("none", self.cfg.max_none_rate),
                )
                if rates[k] > limit
            ]
            if share > self.cfg.max_time_share:
                problems.append(f"grading took {share:.0%} of the step time")
            if problems and worst is None:
                worst = (name, problems)
        if worst is None:
            return None
        name, problems = worst
        return (
            f"{name}: {', '.join(problems)} over the last {w} steps",
            f"RUN/reward_errors/{name}.txt (the first traceback), gold answers the grader cannot read (None), or "
            "the reward's timeout param and worker count (timeouts)",
        )


class Instability(Detector):
    kind = "instability"

    def check(self, records):
        w = self.cfg.window
        if len(records) < w + 1:
            return None
        found = None
        for key, factor, floor, what in (
            ("grad_norm", self.cfg.grad_spike, 0.0, "gradient norm"),
            ("kl", self.cfg.kl_jump, self.cfg.min_kl, "KL"),
        ):
            now = records[-1].get(key)
            before = series(records[-w - 1 : -1], key)
            if not _number(now) or len(before) < w:
                continue
            self.checked = True
            median = statistics.median(before)
            if median > 0:
                self.stats[f"{key}_ratio"] = now / median
            if median > 0 and now > factor * median and now - median >= floor and found is None:
                found = (
                    f"{what} {now:.4g} is {now / median:.1f}x the median {median:.4g} of the previous {w} steps",
                    "the batch at this step (completions table), the learning rate and warm-up, grpo.max_grad_norm; "
                    "repeated spikes precede divergence",
                )
        entropy = series(records, "entropy")
        if found is None and len(entropy) >= 2 * w:  # the start: the first 3 steps (a blow-up is under way by step 5)
            start, now = statistics.fmean(entropy[:3]), statistics.fmean(entropy[-w:])
            if start > 0 and now > self.cfg.entropy_rise * start:
                found = (
                    f"entropy {now:.4f} over the last {w} steps is {now / start:.1f}x its start {start:.4f}",
                    "completions (are they turning to noise?) and accuracy: a learning rate far too high makes the "
                    "policy come apart; lower it, or resume from an earlier checkpoint",
                )
        return found


DETECTORS: dict[str, type[Detector]] = {
    cls.kind: cls
    for cls in (RewardHacking, GraderDisagreement, EntropyCollapse, LengthBlowup, NoSignal, GraderTrouble, Instability)
}


# --------------------------------------------------------------------------------------------------- the monitor


class Monitor:
    """Feeds each logged record to every enabled detector and turns new findings into alerts."""

    def __init__(self, cfg, ctx: Context):
        self.cfg, self.ctx = cfg, ctx
        self.detectors = [DETECTORS[k](getattr(cfg, k), ctx) for k in KINDS if getattr(cfg, k).enabled]
        self.records: list[dict] = []
        self.alerts: list[Alert] = []
        self.active: dict[str, bool] = {}
        self.clear: dict[str, int] = {}
        self.firing: dict[str, bool] = {}

    def observe(self, record: dict) -> list[Alert]:
        """Add one logged record (it needs "step"); return the alerts it raised."""
        self.records.append({k: v for k, v in record.items() if _number(v) or k == "step"})
        new = []
        for d in self.detectors:
            finding = d.check(self.records)
            self.firing[d.kind] = finding is not None
            if finding is None:
                self.clear[d.kind] = self.clear.get(d.kind, 0) + 1
                if self.clear[d.kind] >= d.rearm:
                    self.active[d.kind] = False
                continue
            self.clear[d.kind] = 0
            if not self.active.get(d.kind):
                self.active[d.kind] = True
                alert = Alert(d.kind, int(record.get("step", len(self.records))), *finding)
                self.alerts.append(alert)
                new.append(alert)
        return new

    def metrics(self) -> dict[str, float]:
        """`health/*` for this step: 1/0 per detector whose condition holds now, the alert count, the statistics."""
        out = {"health/alerts": float(len(self.alerts))}
        for d in self.detectors:
            out[f"health/{d.kind}"] = float(self.firing.get(d.kind, False))
            out.update({f"health/{k}": round(v, 6) for k, v in d.stats.items()})
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "alerts": [{"kind": a.kind, "step": a.step, "message": a.message} for a in self.alerts],
            "checked": [d.kind for d in self.detectors if d.checked],
        }


# --------------------------------------------------------------------------------------------------- regrading


class Tap:
    """An observer of the accuracy reward (`TrainerReward.observers`): keeps this process's latest paid (completion,
    gold) pairs for regrading; the completions as the reward read them, golds from the `column` it grades against."""

    def __init__(self, column: str):
        self.column = column
        self.paid: list[tuple[str, str]] = []

    def __call__(self, completions, scores, columns: dict) -> None:
        from rewards.text import completions_text

        golds = columns.get(self.column)
        if golds is not None and len(golds) == len(scores):
            texts = completions_text(completions, columns.get("prompts"))
            self.paid = [(t, str(g)) for t, g, s in zip(texts, golds, scores, strict=True) if s is not None and s > 0]


def regrade(paid: Sequence[tuple[str, str]], sample: int, timeout: float, rng: random.Random) -> list[dict]:
    """math-verify's verdict on up to `sample` paid pairs, in the worker pool: [{completion, gold, agrees}] where
    agrees is True, False (rejected; a timeout counts as rejected) or None (not counted: the check abstained, see
    `rewards._symbolic.second_opinion`, or failed)."""
    from rewards import pool
    from rewards._symbolic import second_opinion

    chosen = rng.sample(list(paid), min(sample, len(paid)))
    outcomes = pool.run(second_opinion, chosen, timeout)
    out = []
    for (completion, gold), outcome in zip(chosen, outcomes, strict=True):
        agrees = outcome.value if outcome.status == "ok" else (False if outcome.status == "timeout" else None)
        out.append({"completion": completion, "gold": gold, "agrees": agrees})
    return out


def from_main(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (one process: `obj`)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --------------------------------------------------------------------------------------------------- the callback


def make_callback(exp, run_dir: Path, main: bool):
    """The trainer callback for `exp.health` (None when disabled). Insert it first among the trainer's callbacks,
    so its `health/*` keys reach wandb and metrics.jsonl in the same log call. Set `.wandb_run` (and `.online`
    for `wandb.alert`) once the wandb run exists, and `.trackio_run` (`trackio.alert`) once trackio's does."""
    from transformers import TrainerCallback

    from rl.train.callbacks import SKIP_KEYS
    from rl.train.resilience import reduce_over_ranks

    cfg = exp.health
    if not cfg.enabled:
        return None

    class HealthCallback(TrainerCallback):
        def __init__(self):
            self.monitor = Monitor(cfg, context_for(exp))
            self.tap: Tap | None = None
            self.next_regrade = cfg.grader_disagreement.every
            self.rng = random.Random(exp.seed)
            self.stopped_by: Alert | None = None
            self.pending: tuple[Path, int] | None = None
            self.say: Callable[[str], None] = _say
            self.wandb_run = None
            self.online = False
            self.trackio_run = None  # local: its alerts always go out

        def tap_rewards(self, funcs: list) -> None:
            """Observe the accuracy reward (a `TrainerReward` of `funcs`) when it can be regraded (math_accuracy:
            golds in its column)."""
            ctx, gd = self.monitor.ctx, cfg.grader_disagreement
            if not gd.enabled or ctx.accuracy != "math_accuracy":
                return
            i = ctx.rewards.index(ctx.accuracy)
            self.tap = Tap(exp.rewards[i].params.get("column", "answer"))
            funcs[i].observers.append(self.tap)

        def replay(self, metrics_file: Path, up_to_step: int) -> None:
            """On a resume: rebuild the detectors' state from `metrics_file`'s records up to the checkpoint's step,
            at train begin (rank 0 reads, every rank gets the same records). No alert is printed again."""
            self.pending = (metrics_file, up_to_step)

        def on_train_begin(self, args, state, control, **kwargs):
            pending, self.pending = self.pending, None
            if pending is None:
                return control
            path, up_to = pending
            records = None
            if main:
                lines = path.read_text().splitlines() if path.is_file() else []
                records = [r for r in map(json.loads, filter(str.strip, lines)) if r.get("step", 0) <= up_to]
            for record in from_main(records):
                self.monitor.observe(record)
            checks = [r["step"] for r in self.monitor.records if GraderDisagreement.CHECKED in r]
            if checks:
                self.next_regrade = checks[-1] + cfg.grader_disagreement.every
            return control

        def summary(self) -> dict[str, Any]:
            out = self.monitor.summary()
            out["stopped_by"] = self.stopped_by.kind if self.stopped_by else None
            return out

        def _regrade(self, step: int, logs: dict) -> None:
            if self.tap is None or step < self.next_regrade:
                return
            gd = cfg.grader_disagreement
            self.next_regrade = step + gd.every
            rows = regrade(self.tap.paid, gd.sample, gd.timeout, self.rng)
            checked = sum(r["agrees"] is not None for r in rows)
            rejected = sum(r["agrees"] is False for r in rows)
            checked, rejected = reduce_over_ranks([float(checked), float(rejected)])
            logs[GraderDisagreement.CHECKED] = checked
            logs[GraderDisagreement.REJECTED] = rejected
            bad = [r | {"step": step} for r in rows if r["agrees"] is False]
            if main and bad:
                folder = run_dir / "health"
                folder.mkdir(exist_ok=True)
                with (folder / "disagreements.jsonl").open("a") as f:
                    f.writelines(json.dumps(r) + "\n" for r in bad)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or any(k in logs for k in SKIP_KEYS):
                return control
            self._regrade(state.global_step, logs)
            alerts = self.monitor.observe({"step": state.global_step, **logs})
            logs.update(self.monitor.metrics())
            for alert in alerts:
                if main:
                    self.say(alert.line().replace("RUN/", f"{run_dir}/"))
                if main and self.online and self.wandb_run is not None:
                    import wandb

                    self.wandb_run.alert(
                        title=f"{alert.kind} at step {alert.step}: {exp.name}"[:63],  # wandb: under 64 characters
                        text=alert.line(),
                        level=wandb.AlertLevel.WARN,
                    )
                if main and self.trackio_run is not None:
                    import trackio

                    self.trackio_run.alert(
                        title=f"{alert.kind} at step {alert.step}: {exp.name}"[:63],
                        text=alert.line(),
                        level=trackio.AlertLevel.WARN,
                        step=alert.step,
                    )
            if cfg.stop_on and self.stopped_by is None:
                # every rank sees the same logs, but decide together anyway: which stop_on kinds fired anywhere
                fired = reduce_over_ranks([float(any(a.kind == k for a in alerts)) for k in cfg.stop_on], "max")
                kinds = [k for k, f in zip(cfg.stop_on, fired, strict=True) if f]
                if kinds:
                    self.stopped_by = next((a for a in alerts if a.kind in kinds), None) or Alert(
                        kinds[0], state.global_step, "raised on another rank", ""
                    )
                    control.should_save = True
                    control.should_training_stop = True
            return control

    return HealthCallback()


def _say(line: str) -> None:
    """One line on stdout, above the trainer's progress bar (tqdm clears and redraws it)."""
    import sys

    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def stop_message(alert: Alert, run_dir: Path) -> str:
    return (
        f"health.stop_on: {alert.kind} at step {alert.step}; checkpoint "
        f"{RunDir(run_dir).checkpoints / f'checkpoint-{alert.step}'}, summary {RunDir(run_dir).summary}. "
        f"Fix the cause, or continue with: rlvr train --resume {run_dir} (this alert will not stop it again)"
    )
