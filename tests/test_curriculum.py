"""The online curriculum's state and sampler (rl/train/curriculum.py), property-style: pools, retirement, the mix, the
identical state on every rank, save/load; and its config checks."""

import json
import math
import random

import pytest

from rl.config import CurriculumConfig, CurriculumMix, load_experiment
from rl.errors import RlvrError
from rl.train.curriculum import POOLS, Curriculum, allocate


def make(n=100, window=2, seed=0, **mix):
    return Curriculum(CurriculumConfig(enabled=True, window=window, mix=CurriculumMix(**mix)), n, seed)


def visit(cur, i, right, of=8):
    cur.record([i] * of, [1.0] * right + [0.0] * (of - right))


@pytest.mark.parametrize("seed", range(30))
def test_allocate_fills_k_never_overdraws_and_follows_the_mix(seed):
    rng = random.Random(seed)
    mix = {p: rng.choice([0.0, 0.05, 0.4, 1.0]) for p in POOLS}
    if sum(mix.values()) == 0:
        mix["fresh"] = 1.0
    available = {p: rng.choice([0, 1, 3, 50]) for p in POOLS}
    k = rng.randint(1, 40)
    counts = allocate(k, mix, available)
    assert sum(counts.values()) == min(k, sum(available.values()))
    assert all(0 <= counts[p] <= available[p] for p in POOLS)
    total = sum(mix.values())
    if all(available[p] >= k for p in POOLS):  # room everywhere: the mix itself, to rounding
        assert all(abs(counts[p] - k * mix[p] / total) < 1 + 1e-9 for p in POOLS)
    for p in ("easy", "hard"):  # retired pools never give more than their share while others have prompts left
        others_left = any(counts[q] < available[q] for q in ("fresh", "learning"))
        if others_left:
            assert counts[p] <= math.ceil(k * mix[p] / total), (p, counts)


def test_retirement_needs_window_all_same_visits_and_a_changed_result_brings_a_prompt_back():
    cur = make(window=2)
    visit(cur, 3, 8)
    assert cur.pool[3] == "learning"  # one all-right visit is not enough with window 2
    visit(cur, 3, 8)
    assert cur.pool[3] == "easy"
    visit(cur, 4, 0)
    visit(cur, 4, 0)
    assert cur.pool[4] == "hard"
    visit(cur, 4, 1)  # the policy learned something about it
    assert cur.pool[4] == "learning"
    visit(cur, 5, 4)
    assert cur.pool[5] == "learning"
    assert cur.sizes() == {"fresh": 97, "learning": 2, "easy": 1, "hard": 0}
    figures = cur.figures()
    assert figures["curriculum/retired_easy"] == 1 and figures["curriculum/pool_fresh"] == 97


def test_window_one_retires_on_the_first_all_same_visit():
    cur = make(window=1)
    visit(cur, 0, 8)
    visit(cur, 1, 0)
    assert (cur.pool[0], cur.pool[1]) == ("easy", "hard")


def test_ungraded_completions_do_not_count_and_a_wholly_ungraded_prompt_counts_as_unsolved():
    cur = make(window=2)
    figures = cur.record([1, 1, 1, 2, 2], [1.0, math.nan, 0.0, math.nan, math.nan])
    assert cur.recent == {1: [0.5], 2: [0.0]} and figures == {"curriculum/sampled_pass_rate": 0.5}
    cur.record([2, 2], [math.nan, math.nan])
    assert cur.pool[2] == "hard"  # retired: it is not drawn as "fresh" again and again


def test_prompts_that_are_never_graded_do_not_crowd_out_fresh_ones():
    cur = make(n=200, window=1)
    ungradable = set(range(0, 200, 10))
    fresh = []
    for step in range(30):
        ids, _ = cur.pick(5, step)
        solved = [math.nan if i in ungradable else float(j % 2) for i in ids for j in range(4)]
        cur.record([i for i in ids for _ in range(4)], solved)
        fresh.append(cur.sizes()["fresh"])
    assert all(b < a for a, b in zip(fresh, fresh[1:], strict=False))  # new prompts every step
    assert all(cur.pool[i] == "hard" for i in ungradable if i in cur.pool)


@pytest.mark.parametrize("seed", range(10))
def test_picks_are_distinct_deterministic_and_follow_the_pools(seed):
    rng = random.Random(seed)
    cur = make(n=200, window=1, seed=seed)
    for step in range(15):
        ids, shares = cur.pick(8, step)
        assert len(set(ids)) == 8 and all(0 <= i < 200 for i in ids)
        again = make(n=200, window=1, seed=seed)
        again.load_json(json.loads(json.dumps(cur.to_json())), "copy")
        assert again.pick(8, step)[0] == ids  # a resumed run (state from JSON) draws the same prompts
        assert sum(shares.values()) == pytest.approx(1.0)
        for i in ids:
            visit(cur, i, rng.choice([0, 3, 8]))
    sizes = cur.sizes()
    assert sizes["easy"] and sizes["hard"] and sum(sizes.values()) == 200


def test_retired_prompts_come_back_only_at_their_small_share():
    cur = make(n=1000, window=1, fresh=0.5, learning=0.4, easy=0.05, hard=0.05)
    for i in range(400):
        visit(cur, i, 8 if i % 2 else 0)  # 200 easy, 200 hard, no learning
    drawn = [i for step in range(200) for i in cur.pick(20, step)[0]]
    retired = sum(i < 400 for i in drawn) / len(drawn)
    assert 0.08 <= retired <= 0.12  # 10% of the mix: the empty learning pool's share went to fresh prompts


def test_learning_prompts_near_half_are_drawn_more_often():
    cur = make(n=400, window=2, fresh=0.0, learning=1.0, easy=0.0, hard=0.0)
    for i in range(200):
        visit(cur, i, 4 if i < 100 else 8)  # 0..99 at 50%; 100..199 all right once (not yet retired)
    drawn = [i for step in range(100) for i in cur.pick(10, step)[0]]
    near_half = sum(i < 100 for i in drawn) / len(drawn)
    assert near_half > 0.8  # weight 0.26 against 0.01


def test_fresh_prompts_come_in_a_fixed_shuffled_order_each_once():
    cur = make(n=50, fresh=1.0, learning=0.0, easy=0.0, hard=0.0)
    seen = []
    for step in range(10):
        ids, _ = cur.pick(5, step)
        seen += ids
        for i in ids:
            visit(cur, i, 4)
    assert sorted(seen) == list(range(50)) and seen != list(range(50))
    assert seen == make(n=50).order  # the order is a function of the seed


def test_a_training_set_smaller_than_a_step_repeats_prompts():
    ids, _ = make(n=3).pick(8, 0)
    assert len(ids) == 8 and set(ids) == {0, 1, 2}


def test_identical_records_on_every_rank_give_identical_states_and_picks():
    ranks = [make(n=300, seed=7) for _ in range(4)]
    rng = random.Random(1)
    for step in range(20):
        picks = [r.pick(16, step)[0] for r in ranks]
        assert all(p == picks[0] for p in picks)
        ids = [i for i in picks[0] for _ in range(8)]
        solved = [float(rng.random() < 0.5) for _ in ids]
        for r in ranks:
            r.record(ids, solved)
    assert all(r.to_json() == ranks[0].to_json() for r in ranks)


def test_save_and_load_round_trip_and_refuse_a_different_training_set(tmp_path):
    cur = make(n=100)
    for i in range(30):
        visit(cur, i, i % 9)
    cur.save(tmp_path / "curriculum.json")
    back = make(n=100)
    back.load(tmp_path / "curriculum.json")
    assert back.to_json() == cur.to_json() and back.sizes() == cur.sizes()
    with pytest.raises(RlvrError, match="saved for 100 training prompts, this run has 99"):
        make(n=99).load(tmp_path / "curriculum.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(RlvrError, match="cannot read"):
        make().load(tmp_path / "bad.json")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["curriculum.window=0"], "curriculum.window must be at least 1"),
        (["curriculum.mix.fresh=-1"], "curriculum.mix: shares must be >= 0"),
        (
            ["curriculum.mix={fresh: 0, learning: 0, easy: 0, hard: 0}"],
            "curriculum.mix: shares must be >= 0 and not all 0",
        ),
        (["rewards=[{name: think_format}]"], "curriculum: no reward checks answers"),
        (["curriculum.reward=length_penalty"], "curriculum.reward: 'length_penalty' is not one of this run's"),
        (["curriculum.mix.medium=1"], "unknown config key 'curriculum.mix.medium'"),
    ],
)
def test_bad_curriculum_configs_are_one_line_errors(overrides, message):
    with pytest.raises(RlvrError, match=message):
        load_experiment(None, ["curriculum.enabled=true", *overrides])


def test_a_curriculum_judged_by_a_reward_trained_at_weight_zero_is_fine():
    exp = load_experiment(
        None, ["curriculum.enabled=true", "rewards=[{name: think_format}, {name: math_accuracy, weight: 0}]"]
    )
    from rl.train.curriculum import accuracy_reward_index

    assert accuracy_reward_index(exp) == 1


# --------------------------------------------------------------------------------------------------- whole runs

FAST = [
    "data.train_size=64",
    "data.eval_size=8",
    "warmup.enabled=false",
    "eval.before=false",
    "eval.after=false",
    "grpo.per_device_train_batch_size=16",
    "grpo.num_generations=4",
    "grpo.save_steps=2",
    "grpo.save_total_limit=10",
    "logging.wandb_mode=disabled",
    "curriculum.enabled=true",
    "curriculum.window=1",
    "curriculum.solved_above=-1",  # every completion counts as right: prompts retire as easy, visibly
]


def sets(items):
    return [arg for item in items for arg in ("--set", item)]


def state_at(run_dir, step):
    return json.loads((run_dir / "checkpoints" / f"checkpoint-{step}" / "curriculum.json").read_text())


def test_a_resumed_run_continues_with_the_checkpoints_curriculum(tmp_path):
    from safetensors.torch import load_file

    from tests.conftest import rlvr

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    first = rlvr("train", *sets(FAST + ["grpo.max_steps=6"]), "--output-dir", str(straight))
    assert first.returncode == 0, first.stderr[-3000:]
    part = rlvr("train", *sets(FAST + ["grpo.max_steps=4"]), "--output-dir", str(resumed))
    assert part.returncode == 0, part.stderr[-3000:]
    rest = rlvr("train", "--resume", str(resumed), "--set", "grpo.max_steps=6")
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert "curriculum: resumed from" in rest.stdout and "checkpoint-4" in rest.stdout
    for step in (2, 4, 6):
        assert state_at(resumed, step) == state_at(straight, step), step
    state = state_at(straight, 6)
    assert sum(state["visits"].values()) == 6 * 4  # 4 distinct prompts a step, each visit recorded once
    assert all(r == [1.0] for r in state["recent"].values())  # solved_above -1: everything right
    # retired prompts come back only at their share: 4 prompts a step, easy 5% -> none; no prompt visited twice
    assert set(state["visits"].values()) == {1}
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["curriculum"]["easy"] == 24 and summary["curriculum"]["fresh"] == 64 - 24
    metrics = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert [m["curriculum/retired_easy"] for m in metrics] == [4, 8, 12, 16, 20, 24]
    assert all(m["curriculum/share_fresh"] == 1.0 and m["frac_reward_zero_std"] == 1.0 for m in metrics)
    # the generated-token count goes on from the checkpoint's log history: the same as the uninterrupted run's
    straight_metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    tokens = [m["tokens/generated"] for m in metrics]
    assert tokens == [m["tokens/generated"] for m in straight_metrics] and tokens == sorted(set(tokens))
    ours, theirs = (
        load_file(str(resumed / "final" / "model.safetensors")),
        load_file(str(straight / "final" / "model.safetensors")),
    )
    assert all(torch_equal(ours[k], theirs[k]) for k in ours)


def torch_equal(a, b):
    import torch

    return torch.equal(a, b)


@pytest.mark.slow  # `make test-slow` (CI runs it)
def test_two_ranks_record_the_gathered_results_and_hold_one_state(tmp_path):
    """Groups split across the ranks (6 completions per rank, groups of 4): every rank records all 12, draws the
    same prompts, and the states are compared at every save."""
    from tests.test_distributed import launch_two

    out = tmp_path / "run"
    result = launch_two(
        out,
        *[x for x in FAST if not x.startswith("grpo.per_device_train_batch_size")],
        "grpo.per_device_train_batch_size=6",
        "grpo.max_steps=4",
        "curriculum.solved_above=0.5",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    state = state_at(out, 4)
    assert sum(state["visits"].values()) == 4 * 3  # 3 prompts a step over both ranks
    assert all(v == 1 for v in state["visits"].values())
    assert all(r[0] * 4 == int(r[0] * 4) for r in state["recent"].values())  # a share of the whole group of 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["ranks_in_sync"] is True


def test_a_token_budget_ends_the_run_at_the_step_that_reaches_it(tmp_path):
    from tests.conftest import rlvr

    out = tmp_path / "run"
    args = [x for x in FAST if not x.startswith("curriculum")] + [
        "grpo.max_steps=50",
        "budget.max_generated_tokens=1500",
    ]
    result = rlvr("train", *sets(args), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    tokens = [json.loads(line)["tokens/generated"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert tokens[-1] >= 1500 > tokens[-2]  # stopped at the first step past the budget, not before, not after
    steps = json.loads((out / "summary.json").read_text())["steps"]
    assert steps == len(tokens) < 50
    assert (out / "checkpoints" / f"checkpoint-{steps}" / "trainer_state.json").is_file()  # saved where it stopped


@pytest.mark.slow  # `make test-slow` (CI runs it)
def test_curriculum_composes_with_dynamic_sampling_and_the_dry_run_says_so(tmp_path):
    from tests.conftest import rlvr

    out = tmp_path / "run"
    args = FAST + [
        "grpo.max_steps=3",
        "curriculum.solved_above=0.5",  # an untrained model: every group all wrong, so refill rounds run
        "dynamic_sampling.enabled=true",
        "dynamic_sampling.max_rounds=1",
    ]
    dry = rlvr("train", *sets(args), "--output-dir", str(out), "--dry-run")
    assert dry.returncode == 0 and "# checked: curriculum: on, judged by math_accuracy" in dry.stdout
    result = rlvr("train", *sets(args), "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(m["dynamic_sampling/extra_rounds"] == 1.0 for m in metrics)
    state = json.loads((out / "summary.json").read_text())["curriculum"]
    # 4 prompts per round, 2 rounds a step (the refill draws other prompts from the curriculum), 3 steps
    assert state["hard"] == 3 * 2 * 4 and state["fresh"] == 64 - 24
