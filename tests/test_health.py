"""Run-health detectors on synthetic metric streams: each fires when it should and stays quiet when it should not."""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import replace
from types import SimpleNamespace

import pytest

from rl.config import HealthConfig, load_experiment
from rl.errors import RlvrError
from rl.train.health import (
    KINDS,
    Context,
    Monitor,
    Tap,
    context_for,
    make_callback,
    regrade,
    rises,
)

CTX = Context(accuracy="math_accuracy", aux=(("think_format", 0.5),), rewards=("math_accuracy", "think_format"))


def healthy(step: int, rng: random.Random) -> dict:
    """A run that learns: accuracy climbs from 0.4 to 0.8 over 200 steps, format is learned with it, entropy eases
    off slowly, lengths hold, groups keep differing, graders are clean."""
    p = min(0.4 + step * 0.002, 0.8)
    return {
        "step": step,
        "reward": p + 0.5 * 0.95,
        "rewards/math_accuracy/mean": p + rng.gauss(0, 0.06),
        "rewards/think_format/mean": min(0.95 + rng.gauss(0, 0.02), 1.0),
        "entropy": 0.5 * (1 - step / 800) + rng.gauss(0, 0.02),
        "completions/mean_length": 200 + rng.gauss(0, 8),
        "completions/clipped_ratio": max(0.0, rng.gauss(0.02, 0.01)),
        "frac_reward_zero_std": min(max(rng.gauss(0.3, 0.1), 0.0), 1.0),
        "grad_norm": abs(rng.gauss(0.3, 0.08)),
        "kl": None,
        "step_time": 10.0,
        **{f"rewards/{n}/{k}": 0 for n in CTX.rewards for k in ("none", "timeouts", "errors")},
        **{f"rewards/{n}/items": 64 for n in CTX.rewards},
        **{f"rewards/{n}/seconds": 0.2 for n in CTX.rewards},
    }


def run(records, cfg: HealthConfig | None = None, ctx: Context = CTX) -> Monitor:
    monitor = Monitor(cfg or HealthConfig(), ctx)
    for record in records:
        monitor.observe(record)
    return monitor


def stream(n: int = 200, seed: int = 0, **changes) -> list[dict]:
    """`healthy` records, with `changes[key](step, rng, value)` replacing a metric."""
    rng = random.Random(seed)
    out = []
    for step in range(1, n + 1):
        record = healthy(step, rng)
        for key, fn in changes.items():
            record[key.replace("__", "/")] = fn(step, rng, record.get(key.replace("__", "/")))
        out.append(record)
    return out


def kinds(monitor: Monitor) -> list[str]:
    return [a.kind for a in monitor.alerts]


@pytest.mark.parametrize("seed", range(5))
def test_a_healthy_run_raises_nothing_and_checks_every_stream_detector(seed):
    monitor = run(stream(seed=seed))
    assert kinds(monitor) == []
    # grader_disagreement needs regrade records (from a live run); every other detector had its data
    assert set(monitor.summary()["checked"]) == set(KINDS) - {"grader_disagreement"}


# ----------------------------------------------------------------------------------------------- reward hacking


def test_reward_hacking_fires_when_an_auxiliary_reward_climbs_and_accuracy_does_not():
    records = stream(
        rewards__math_accuracy__mean=lambda s, rng, v: 0.4 + rng.gauss(0, 0.06),
        rewards__think_format__mean=lambda s, rng, v: min(0.2 + s * 0.01, 1.0) + rng.gauss(0, 0.02),
    )
    monitor = run(records)
    assert kinds(monitor)[:1] == ["reward_hacking"]
    alert = monitor.alerts[0]
    assert alert.step < 80  # while the format reward climbs (to step 80): two windows, then the patience
    assert "think_format x weight 0.5 rose" in alert.message and "math_accuracy/mean went" in alert.message
    assert "completions" in alert.look


def test_reward_hacking_fires_when_accuracy_falls_while_the_total_climbs():
    records = stream(
        rewards__math_accuracy__mean=lambda s, rng, v: max(0.5 - s * 0.004, 0) + rng.gauss(0, 0.03),
        rewards__think_format__mean=lambda s, rng, v: min(0.3 + s * 0.008, 1.0) + rng.gauss(0, 0.02),
    )
    assert "reward_hacking" in kinds(run(records))


def test_reward_hacking_stays_quiet_when_accuracy_rises_with_the_format_reward():
    records = stream(
        rewards__math_accuracy__mean=lambda s, rng, v: min(0.1 + s * 0.006, 0.9) + rng.gauss(0, 0.05),
        rewards__think_format__mean=lambda s, rng, v: min(0.2 + s * 0.01, 1.0) + rng.gauss(0, 0.02),
    )
    assert "reward_hacking" not in kinds(run(records))


def binomial(p: float, n: int, rng: random.Random) -> float:
    return sum(rng.random() < p for _ in range(n)) / n


def hacking_alerts(seed: int, accuracy, fmt) -> list[int]:
    """Steps of reward_hacking alerts in a 200-step run of 64 completions per step (binomial noise)."""
    rng = random.Random(seed)
    monitor = Monitor(HealthConfig(), CTX)
    for step in range(1, 201):
        monitor.observe(
            {
                "step": step,
                "rewards/math_accuracy/mean": binomial(accuracy(step), 64, rng),
                "rewards/think_format/mean": binomial(fmt(step), 64, rng),
            }
        )
    return [a.step for a in monitor.alerts if a.kind == "reward_hacking"]


def test_reward_hacking_is_quiet_when_format_is_learned_first_and_accuracy_follows():
    """The usual R1-Zero start: the format is learned in 30 steps while accuracy climbs slowly (0.2 -> 0.7)."""
    fmt = lambda s: min(0.1 + 0.9 * s / 30, 0.98)  # noqa: E731
    assert [hacking_alerts(seed, lambda s: 0.2 + 0.5 * s / 200, fmt) for seed in range(20)] == [[]] * 20


def test_reward_hacking_catches_a_slow_climb_over_flat_accuracy_every_time():
    fmt = lambda s: min(0.1 + 0.9 * s / 100, 0.98)  # noqa: E731
    firsts = [hacking_alerts(seed, lambda s: 0.3, fmt)[:1] for seed in range(20)]
    assert all(first and first[0] < 100 for first in firsts)  # while it climbs
    assert statistics.median(first[0] for first in firsts) <= 50  # two 20-step windows, then 8 of 10 steps


def test_reward_hacking_weighs_rewards_as_trained_a_penalty_turned_bonus_counts():
    """A penalty with weight -1 (a sign slip): its value falls, its contribution rises."""
    ctx = replace(CTX, aux=(("overlong_penalty", -1.0),), rewards=("math_accuracy", "overlong_penalty"))
    records = stream(rewards__overlong_penalty__mean=lambda s, rng, v: -min(s * 0.01, 1.0) + rng.gauss(0, 0.02))
    for r in records:
        r["rewards/math_accuracy/mean"] = 0.4 + random.Random(r["step"]).gauss(0, 0.05)
    monitor = run(records, ctx=ctx)
    assert kinds(monitor)[:1] == ["reward_hacking"] and "overlong_penalty x weight -1" in monitor.alerts[0].message


def test_reward_hacking_needs_an_accuracy_reward_and_another_trained_reward():
    records = stream(rewards__think_format__mean=lambda s, rng, v: min(0.2 + s * 0.01, 1.0))
    assert "reward_hacking" not in run(records, ctx=replace(CTX, accuracy=None)).summary()["checked"]
    assert "reward_hacking" not in run(records, ctx=replace(CTX, aux=())).summary()["checked"]


def test_rises_is_a_one_sided_test_with_a_minimum():
    rng = random.Random(1)
    flat = [rng.gauss(0.5, 0.05) for _ in range(40)]
    assert not rises(flat[:20], flat[20:], 0.0, 0.01)[0]
    assert rises([0.1] * 5, [0.5] * 5, 0.05, 0.01)[0]  # constant windows: certain
    assert not rises([0.5] * 5, [0.1] * 5, 0.0, 0.01)[0]  # a fall is not a rise
    assert not rises([0.1, 0.12], [0.13, 0.14], 0.1, 0.5)[0]  # below min_rise


# ----------------------------------------------------------------------------------------------- the others


def test_entropy_collapse_fires_under_the_fraction_and_not_above_it():
    falling = stream(entropy=lambda s, rng, v: 0.5 * 0.97**s)
    monitor = run(falling)
    assert kinds(monitor) == ["entropy_collapse"]
    assert "of its start" in monitor.alerts[0].message
    easing = stream(entropy=lambda s, rng, v: 0.5 * (1 - s / 400))  # to 50% of its start: normal
    assert kinds(run(easing)) == []


def test_length_blowup_fires_on_rising_truncation():
    monitor = run(stream(completions__clipped_ratio=lambda s, rng, v: min(s / 100, 1.0)))
    assert "length_blowup" in kinds(monitor)
    assert "hit max_completion_length" in next(a for a in monitor.alerts if a.kind == "length_blowup").message


def test_length_blowup_fires_on_growth_without_accuracy_and_not_with_it():
    grows = {"completions__mean_length": lambda s, rng, v: 200 * 1.02**s}
    flat_accuracy = {"rewards__math_accuracy__mean": lambda s, rng, v: 0.4 + rng.gauss(0, 0.05)}
    assert "length_blowup" in kinds(run(stream(**grows, **flat_accuracy)))
    learning = {"rewards__math_accuracy__mean": lambda s, rng, v: min(0.1 + s * 0.005, 0.95)}
    assert "length_blowup" not in kinds(run(stream(n=120, **grows, **learning)))


def test_no_signal_needs_consecutive_steps():
    all_same = stream(frac_reward_zero_std=lambda s, rng, v: 1.0 if s > 100 else v)
    monitor = run(all_same)
    assert "no_signal" in kinds(monitor)
    assert monitor.alerts[kinds(monitor).index("no_signal")].step == 110
    gaps = stream(frac_reward_zero_std=lambda s, rng, v: 1.0 if s % 5 else 0.5)  # never 10 in a row
    assert "no_signal" not in kinds(run(gaps))


def test_no_signal_says_whether_prompts_are_too_hard_or_too_easy():
    hard = stream(frac_reward_zero_std=lambda s, rng, v: 1.0, rewards__math_accuracy__mean=lambda s, rng, v: 0.0)
    assert "too hard" in run(hard).alerts[0].message
    easy = stream(frac_reward_zero_std=lambda s, rng, v: 1.0, rewards__math_accuracy__mean=lambda s, rng, v: 1.0)
    assert "too easy" in run(easy).alerts[0].message


@pytest.mark.parametrize(
    ("metric", "value", "words"),
    [
        ("timeouts", 8, "timeouts 6.2% of completions"),  # fires as the 10-step window's rate passes 5%
        ("errors", 4, "errors 5.6% of completions"),
        ("none", 32, "none 25.0% of completions"),
        ("seconds", 8.0, "grading took 57% of the step time"),
    ],
)
def test_grader_trouble_fires_on_each_rate(metric, value, words):
    key = f"rewards__math_accuracy__{metric}"
    monitor = run(stream(**{key: lambda s, rng, v: value if s > 50 else v}))
    assert kinds(monitor) == ["grader_trouble"]
    assert monitor.alerts[0].message.startswith("math_accuracy: ") and words in monitor.alerts[0].message


def test_grader_trouble_stays_quiet_on_rare_failures():
    monitor = run(stream(rewards__math_accuracy__timeouts=lambda s, rng, v: 1 if s % 10 == 0 else 0))
    assert "grader_trouble" not in kinds(monitor)  # 1 in 640 completions


def test_instability_fires_on_a_grad_norm_spike_and_a_kl_jump_only():
    spike = stream(grad_norm=lambda s, rng, v: 9.0 if s == 120 else v)
    monitor = run(spike)
    assert kinds(monitor) == ["instability"] and monitor.alerts[0].step == 120
    assert "gradient norm 9" in monitor.alerts[0].message
    kl = stream(kl=lambda s, rng, v: 2.0 if s == 150 else 0.01 + rng.random() * 0.002)
    monitor = run(kl)
    assert kinds(monitor) == ["instability"] and monitor.alerts[0].message.startswith("KL 2 ")
    small = stream(kl=lambda s, rng, v: 0.04 if s == 150 else 0.001)  # 40x, but 0.04 in absolute terms
    assert kinds(run(small)) == []


def test_instability_fires_when_entropy_climbs_far_above_its_start():
    """What a learning rate far too high does to the tiny model: entropy 0.09 -> 2.7 within 20 steps."""
    monitor = run(stream(entropy=lambda s, rng, v: 0.5 * min(1 + s / 5, 20)))
    assert kinds(monitor) == ["instability"] and " is 3." in monitor.alerts[0].message
    assert "its start" in monitor.alerts[0].message and "learning rate" in monitor.alerts[0].look
    assert kinds(run(stream(entropy=lambda s, rng, v: 0.5 * (1 + s / 200)))) == []  # doubling: not yet


def test_grader_disagreement_pools_checks_and_fires_above_the_rate():
    def regraded(rejected_per_check):
        records = stream(n=60)
        for r in records:
            if r["step"] % 10 == 0:
                r["health/regrade/checked"], r["health/regrade/rejected"] = 16, rejected_per_check
        return records

    monitor = run(regraded(8))
    assert kinds(monitor) == ["grader_disagreement"]
    assert monitor.alerts[0].step == 20  # the first 16 are not enough (min_checked 32)
    assert "rejects 16 of 32" in monitor.alerts[0].message
    assert kinds(run(regraded(2))) == []
    assert "grader_disagreement" in run(regraded(2)).summary()["checked"]


# ----------------------------------------------------------------------------------------------- the monitor


def test_an_alert_fires_once_per_episode_and_rearms_after_a_clear_window():
    def spikes(at):
        return stream(grad_norm=lambda s, rng, v: 9.0 if s in at else v)

    assert [a.step for a in run(spikes({100, 101, 102})).alerts] == [100]  # one episode
    assert [a.step for a in run(spikes({100, 150})).alerts] == [100, 150]  # two


def test_health_metrics_flag_each_detector_and_count_alerts():
    monitor = Monitor(HealthConfig(), CTX)
    for record in stream(grad_norm=lambda s, rng, v: 9.0 if s == 100 else v)[:100]:
        monitor.observe(record)
    metrics = monitor.metrics()
    assert metrics["health/alerts"] == 1.0 and metrics["health/instability"] == 1.0
    assert metrics["health/entropy_collapse"] == 0.0 and 0.5 < metrics["health/entropy_ratio"] <= 1.1


def test_disabled_detectors_are_not_checked():
    cfg = HealthConfig()
    cfg.instability.enabled = False
    monitor = run(stream(grad_norm=lambda s, rng, v: 9.0 if s == 100 else v), cfg)
    assert kinds(monitor) == [] and "instability" not in monitor.summary()["checked"]


def test_replay_rebuilds_the_same_state(tmp_path):
    """A resumed run replays metrics.jsonl up to its checkpoint: same alerts, an episode in progress does not alert
    twice, lines past the checkpoint are ignored, and regrading keeps its schedule."""
    exp = load_experiment(None)
    records = stream(grad_norm=lambda s, rng, v: 9.0 if s in (100, 101) else v)
    for r in records:
        if r["step"] % 10 == 0:
            r["health/regrade/checked"], r["health/regrade/rejected"] = 32, 0
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:130]))  # 30 lines past the checkpoint
    callback = make_callback(exp, tmp_path, main=True)
    callback.replay(path, 100)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    callback.on_train_begin(None, None, control)
    assert len(callback.monitor.records) == 100 and [a.step for a in callback.monitor.alerts] == [100]
    assert callback.next_regrade == 110
    logs = {k: v for k, v in records[100].items() if k != "step"}
    callback.on_log(None, SimpleNamespace(global_step=101), control, logs=logs)
    assert [a.step for a in callback.monitor.alerts] == [100]


# ----------------------------------------------------------------------------------------------- the callback


def callback_for(tmp_path, *overrides):
    exp = load_experiment(None, list(overrides))
    printed = []
    callback = make_callback(exp, tmp_path, main=True)
    callback.say = printed.append
    return callback, printed


def test_the_callback_prints_one_line_per_alert_and_adds_health_metrics(tmp_path):
    callback, printed = callback_for(tmp_path)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    for record in stream(grad_norm=lambda s, rng, v: 9.0 if s == 100 else v)[:100]:
        logs = {k: v for k, v in record.items() if k != "step"}
        callback.on_log(None, SimpleNamespace(global_step=record["step"]), control, logs=logs)
    assert len(printed) == 1 and "\n" not in printed[0]
    assert printed[0].startswith("health: step 100 instability: gradient norm 9 is ") and "Look at: " in printed[0]
    assert logs["health/instability"] == 1.0 and logs["health/alerts"] == 1.0
    assert not control.should_training_stop  # not in stop_on
    summary = callback.summary()
    assert summary["alerts"] == [{"kind": "instability", "step": 100, "message": summary["alerts"][0]["message"]}]
    assert summary["stopped_by"] is None


def test_an_online_run_also_sends_wandb_alerts(tmp_path):
    import wandb

    sent = []
    callback, printed = callback_for(tmp_path)
    callback.wandb_run = SimpleNamespace(alert=lambda **kwargs: sent.append(kwargs))
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    for online in (False, True):
        callback.online = online
        for record in stream(grad_norm=lambda s, rng, v: 9.0 if s in (60, 100) else v)[:100]:
            callback.on_log(None, SimpleNamespace(global_step=record["step"]), control, logs=dict(record))
        callback.monitor = type(callback.monitor)(callback.monitor.cfg, callback.monitor.ctx)
    assert len(printed) == 4 and len(sent) == 2  # offline: printed only
    assert sent[0]["title"] == "instability at step 60: tiny-arith" and sent[0]["level"] == wandb.AlertLevel.WARN
    assert sent[0]["text"] == printed[2].replace(str(tmp_path) + "/", "RUN/")


def test_trackio_gets_every_alert_online_or_not(tmp_path):
    import trackio

    sent = []
    callback, printed = callback_for(tmp_path)
    callback.trackio_run = SimpleNamespace(alert=lambda **kwargs: sent.append(kwargs))  # a local dashboard
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    for record in stream(grad_norm=lambda s, rng, v: 9.0 if s in (60, 100) else v)[:100]:
        callback.on_log(None, SimpleNamespace(global_step=record["step"]), control, logs=dict(record))
    assert len(printed) == 2 and len(sent) == 2 and not callback.online
    assert sent[0]["title"] == "instability at step 60: tiny-arith" and sent[0]["step"] == 60
    assert sent[0]["level"] == trackio.AlertLevel.WARN and sent[0]["text"].startswith("health: step 60 instability")


def test_stop_on_saves_and_stops_at_the_alert(tmp_path):
    callback, printed = callback_for(tmp_path, "health.stop_on=[instability]")
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    for record in stream(grad_norm=lambda s, rng, v: 9.0 if s == 100 else v)[:100]:
        logs = {k: v for k, v in record.items() if k != "step"}
        callback.on_log(None, SimpleNamespace(global_step=record["step"]), control, logs=logs)
        if control.should_training_stop:
            break
    assert control.should_save and control.should_training_stop
    assert callback.stopped_by.step == 100 and callback.summary()["stopped_by"] == "instability"


def test_the_final_train_summary_log_is_not_a_step(tmp_path):
    callback, _ = callback_for(tmp_path)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    callback.on_log(None, SimpleNamespace(global_step=5), control, logs={"train_runtime": 3.0, "train_loss": 0.1})
    assert callback.monitor.records == []


def test_health_is_off_with_enabled_false(tmp_path):
    assert make_callback(load_experiment(None, ["health.enabled=false"]), tmp_path, main=True) is None


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("health.stop_on=[reward_hack]", "health.stop_on: unknown alert kind 'reward_hack'"),
        ("health.accuracy_reward=countdown", "health.accuracy_reward: 'countdown' is not one of this run's"),
        ("health.entropy_collapse.window=0", "health.entropy_collapse.window must be at least 1"),
        ("health.no_signal.max_fraction=-1", "health.no_signal.max_fraction must be >= 0"),
        ("health.reward_hacking.alpha=1.5", "must be below 1"),
        ("health.reward_hackin.window=3", "unknown config key 'health.reward_hackin'"),
    ],
)
def test_bad_health_config_is_one_clear_error(override, words):
    with pytest.raises(RlvrError, match=words.replace("(", r"\(").replace(".", r"\.")):
        load_experiment(None, [override])


def test_context_finds_the_accuracy_reward_and_the_trained_others():
    exp = load_experiment(None, ["rewards.1.weight=0"])
    assert context_for(exp) == Context("math_accuracy", (), ("math_accuracy", "think_format"))
    exp = load_experiment(None, ["rewards.0.weight=0"])  # accuracy only watches; think_format trains
    assert context_for(exp).accuracy == "math_accuracy" and context_for(exp).aux == (("think_format", 0.1),)


# ----------------------------------------------------------------------------------------------- regrading


def test_tap_keeps_the_paid_pairs_and_passes_everything_through():
    import rewards
    from rl.train.trainer_reward import TrainerReward

    fn = TrainerReward(rewards.build("math_accuracy"))
    tap = Tap("answer")
    fn.observers.append(tap)
    texts = ["<think>x</think><answer>4</answer>", "<think>x</think><answer>5</answer>"]
    assert fn(texts, answer=["4", "4"]) == [1.0, 0.0]
    assert tap.paid == [(texts[0], "4")]
    assert fn.__name__ == "math_accuracy" and fn.pop_metrics()["items"] == 2


@pytest.mark.parametrize(
    ("completion", "gold", "agrees"),
    [
        ("<think>7+9=16</think><answer>936</answer>", "936", True),
        ("<think>7+9=16</think><answer>935</answer>", "936", False),
        (r"<think>half</think> so \boxed{\frac{1}{2}}", "0.5", True),
        ("<think>936 is it", "936", False),  # the chain of thought never closed
        ("<think>a</think><answer>1,000</answer>", "1000", True),
        ("<think>a</think><answer>**18**</answer>", "18", True),  # markdown emphasis and a final period are dropped
        ("<think>a</think><answer>18.</answer>", "18", True),
        (r"<think>a</think><answer>$\sqrt{2}$</answer>", r"\sqrt{2}", True),
        ("<think>a</think><answer>x = 5</answer>", "5", True),
        (r"<think>a</think> so \boxed{3}", "0.5", False),
        # words: math-verify would read letters as variables, so it abstains (not counted either way)
        ("<think>a</think><answer>72 cookies</answer>", "72", None),
        ("<think>a</think>The answer is 18", "18", None),
        # a GSM8K `#### N` line is rlvr's third answer place: math-verify reads that line, not the prose above it
        ("<think>a</think>The answer is 18\n#### 18", "18", True),
        ("7+9=16 4+8+1=13 3+5+1=9\n#### 936", "936", True),
        ("7+9=16 4+8+1=13 3+5+1=9\n#### 935", "936", False),
        ("7+9=16\n#### 936 cookies", "936", None),
        (r"<think>a</think><answer>\text{18 dollars}</answer>", "18", None),
        ("<think>936</think><answer>the answer</answer>", "936", None),
        ("<think>a</think><answer>5</answer>", r"\frac{", None),  # the gold does not parse
    ],
)
def test_the_second_opinion_table(completion, gold, agrees):
    from rewards._symbolic import second_opinion

    assert second_opinion(completion, gold) is agrees


def test_regrade_runs_in_the_worker_pool_and_reports_each_pair():
    paid = [("<think>a</think><answer>4</answer>", "4"), ("<think>a</think><answer>5</answer>", "4")]
    rows = regrade(paid * 3, sample=4, timeout=5.0, rng=random.Random(0))
    assert len(rows) == 4
    assert all(r["agrees"] is (r["completion"].endswith("4</answer>")) for r in rows)


# ----------------------------------------------------------------------------------------------- a real run


def test_stop_on_ends_a_real_run_with_a_checkpoint_a_summary_and_exit_code_4(tmp_path):
    """Thresholds set so that `no_signal` fires at step 2 (any share of zero-spread groups for 2 steps)."""
    from tests.conftest import rlvr

    out = tmp_path / "run"
    overrides = [
        "data.train_size=64",
        "data.eval_size=8",
        "warmup.enabled=false",
        "eval.before=false",
        "grpo.max_steps=6",
        "grpo.per_device_train_batch_size=16",
        "grpo.num_generations=4",
        "grpo.save_steps=100",
        "logging.wandb_mode=disabled",
        "health.stop_on=[no_signal]",
        "health.no_signal.steps=2",
        "health.no_signal.max_fraction=0",
        "health.grader_disagreement.every=1",
    ]
    result = rlvr("train", *[x for o in overrides for x in ("--set", o)], "--output-dir", str(out))
    assert result.returncode == 4, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("rlvr: stopped: health.stop_on: no_signal at step 2; checkpoint ")
    assert f"--resume {out}" in line
    assert "health: step 2 no_signal: at least 0% of groups had identical rewards for 2 steps" in result.stdout
    assert (out / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["accuracy_after"] is not None
    assert summary["health"]["stopped_by"] == "no_signal"
    assert [a["kind"] for a in summary["health"]["alerts"]] == ["no_signal"]
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert [r["health/no_signal"] for r in records] == [0.0, 1.0] and records[-1]["health/alerts"] == 1.0
    assert all(r["rewards/math_accuracy/items"] == 16 for r in records)
    assert all("health/regrade/checked" in r for r in records)  # regraded every step (nothing paid: 0 checked)
    # the stop is not the run's end: the resume the message offers continues it, keeping the stop's results
    again = rlvr("train", "--resume", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "stopped by run health (no_signal) at step 2" in again.stdout
    assert json.loads((out / "finished-2" / "summary.json").read_text())["health"]["stopped_by"] == "no_signal"
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
