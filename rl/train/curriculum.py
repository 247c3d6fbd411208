"""Online curriculum: per-prompt pass rates from the rollouts, retirement of always- and never-solved prompts, and a
difficulty-pool sampler that picks each step's prompts toward a target mix (the `curriculum:` config section).

TRL's sampler walks the training set in a fixed shuffled order, so as the policy improves more and more groups are
all right (or, on hard data, all wrong): zero advantage, nothing learned, generation paid for anyway. Here every
prompt's visits are remembered: after each rollout the accuracy reward says which completions were right (score
above `solved_above`), and the prompt's pass rate over its last `window` visits puts it in a pool:

    fresh     never visited
    learning  visited, and right sometimes (or visited fewer than `window` times); drawn with weight p(1 - p)
    easy      every completion right on each of its last `window` visits   (retired, revisited rarely)
    hard      no completion right on any of its last `window` visits      (retired, revisited rarely)

Each step's prompts are drawn from the pools in the proportions of `mix` (a pool that runs short gives its share to
`fresh` and `learning`, so retired prompts stay rare), fresh prompts in a fixed shuffled order, learning ones
weighted toward a 50% pass rate, retired ones uniformly. A revisited retired
prompt whose result changes goes back to `learning`.

Every rank holds an identical copy of the state: the rewards TRL computes are gathered over all ranks, so each rank
records the same results; the picks are seeded by (seed, step, round), so each rank draws the same global list and
keeps its own slice (as TRL's RepeatSampler splits a generation batch). The state is a small JSON file saved inside
each checkpoint before the Trainer writes trainer_state.json (so a complete checkpoint always has it); a resumed
run reloads it and draws what the uninterrupted run would have drawn. Dynamic sampling composes: its refill rounds
draw from the curriculum too, and their results are recorded like the first round's.

Limits: picks are seeded by the optimizer step, so when TRL generates less often than every step (`num_iterations`
> 1 or `steps_per_generation` > `gradient_accumulation_steps`) a run resumed from a checkpoint inside a generation
block generates afresh there (TRL keeps no buffered rollouts in checkpoints) and then draws differently from the
uninterrupted run (a warning says so); and two generations within one optimizer step draw from the same stream.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

from rl.errors import RlvrError

POOLS = ("fresh", "learning", "easy", "hard")
STATE_FILE = "curriculum.json"
ID_COLUMN = "curriculum_id"


def _spread(n: int, weights: dict[str, float], room: dict[str, int]) -> dict[str, int]:
    """Up to `n` items over pools in proportion to `weights` (largest remainder), none beyond its `room`; what a
    full pool cannot take goes to the others with weight, in proportion, until all are full."""
    counts = dict.fromkeys(weights, 0)
    while n > 0:
        open_pools = [p for p in weights if weights[p] > 0 and counts[p] < room[p]]
        if not open_pools:
            break
        total = sum(weights[p] for p in open_pools)
        exact = {p: n * weights[p] / total for p in open_pools}
        share = {p: min(math.floor(exact[p]), room[p] - counts[p]) for p in open_pools}
        left = n - sum(share.values())
        for p in sorted(open_pools, key=lambda p: share[p] - exact[p]):  # largest remainder first
            if left > 0 and share[p] < room[p] - counts[p]:
                share[p] += 1
                left -= 1
        for p in open_pools:
            counts[p] += share[p]
        n -= sum(share.values())
    return counts


def allocate(k: int, mix: dict[str, float], available: dict[str, int]) -> dict[str, int]:
    """How many of `k` prompts to draw from each pool: proportional to `mix` (largest remainder), never more than a
    pool has. A shortfall goes to `fresh` and `learning` (by their mix weights), so retired prompts stay at their
    small share; only when those run dry too do the retired pools give more.

    >>> allocate(10, {"fresh": 0.5, "learning": 0.4, "easy": 0.05, "hard": 0.05},
    ...     {"fresh": 100, "learning": 1, "easy": 50, "hard": 50})
    {'fresh': 8, 'learning': 1, 'easy': 1, 'hard': 0}
    """
    k = min(k, sum(available.values()))
    target = _spread(k, mix, dict.fromkeys(mix, k))  # the mix itself, ignoring what is there
    counts = {p: min(target[p], available[p]) for p in mix}
    room = {p: available[p] - counts[p] for p in mix}
    active = {p: (mix[p] or 1.0) if p in ("fresh", "learning") else 0.0 for p in mix}
    for extra in (active, dict.fromkeys(mix, 1.0)):  # then anything left, equally
        more = _spread(k - sum(counts.values()), extra, room)
        for p in mix:
            counts[p] += more[p]
            room[p] -= more[p]
    return counts


class Curriculum:
    """The per-prompt state and the sampler (no torch, no trainer: tested on its own)."""

    def __init__(self, cfg, n_prompts: int, seed: int):
        if n_prompts < 1:
            raise RlvrError("curriculum: the training set is empty")
        self.cfg, self.n, self.seed = cfg, n_prompts, seed
        self.visits: dict[int, int] = {}
        self.recent: dict[int, list[float]] = {}
        self.pool: dict[int, str] = {}  # visited prompts only; the rest are fresh
        self.members: dict[str, set[int]] = {p: set() for p in POOLS if p != "fresh"}
        self.order = list(range(n_prompts))
        random.Random(f"curriculum:{seed}").shuffle(self.order)  # the order fresh prompts are taken in
        self.cursor = 0

    # ----------------------------------------------------------------------------------------------- state

    def classify(self, visits: int, recent: list[float]) -> str:
        window = self.cfg.window
        if visits >= window and len(recent) >= window:
            if all(r >= 1.0 for r in recent[-window:]):
                return "easy"
            if all(r <= 0.0 for r in recent[-window:]):
                return "hard"
        return "learning"

    def _place(self, i: int) -> None:
        old = self.pool.get(i)
        new = self.classify(self.visits[i], self.recent[i])
        if old is not None:
            self.members[old].discard(i)
        self.members[new].add(i)
        self.pool[i] = new

    def record(self, ids: list[int], solved: list[float]) -> dict[str, float]:
        """One visit per distinct prompt id among `ids` (one entry per completion; `solved` is 1.0 right, 0.0
        wrong, NaN ungraded): its pass rate over its graded completions (0 when none was graded) joins its last
        `window` results. Returns figures for the log."""
        by_prompt: dict[int, list[float]] = {}
        for i, s in zip(ids, solved, strict=True):
            by_prompt.setdefault(int(i), []).append(s)
        rates = []
        for i, values in by_prompt.items():
            graded = [v for v in values if not math.isnan(v)]
            # a visit with no graded completion (an unreadable gold, a failing grader) counts as unsolved: the
            # prompt leaves the fresh pool and, never solved, retires as hard instead of being drawn every step
            rate = sum(graded) / len(graded) if graded else 0.0
            if graded:
                rates.append(rate)
            self.visits[i] = self.visits.get(i, 0) + 1
            self.recent[i] = (self.recent.get(i, []) + [rate])[-self.cfg.window :]
            self._place(i)
        return {"curriculum/sampled_pass_rate": sum(rates) / len(rates)} if rates else {}

    def sizes(self) -> dict[str, int]:
        return {"fresh": self.n - len(self.pool), **{p: len(m) for p, m in self.members.items()}}

    def figures(self) -> dict[str, float]:
        """The pools now: `curriculum/retired_easy`, `curriculum/retired_hard`, `curriculum/pool_<name>`."""
        sizes = self.sizes()
        out = {f"curriculum/pool_{p}": float(sizes[p]) for p in POOLS}
        out["curriculum/retired_easy"] = float(sizes["easy"])
        out["curriculum/retired_hard"] = float(sizes["hard"])
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "n_prompts": self.n,
            "seed": self.seed,
            "visits": {str(i): v for i, v in sorted(self.visits.items())},
            "recent": {str(i): r for i, r in sorted(self.recent.items())},
        }

    def load_json(self, data: dict[str, Any], where: str) -> None:
        if data.get("version") != 1 or not isinstance(data.get("visits"), dict):
            raise RlvrError(f"curriculum: {where} is not a curriculum state this version reads")
        if data.get("n_prompts") != self.n:
            raise RlvrError(
                f"curriculum: {where} was saved for {data.get('n_prompts')} training prompts, this run has {self.n} "
                "(the data changed: start a new run)"
            )
        self.__init__(self.cfg, self.n, self.seed)
        self.visits = {int(i): int(v) for i, v in data["visits"].items()}
        self.recent = {int(i): [float(x) for x in r] for i, r in data["recent"].items()}
        for i in self.visits:
            self._place(i)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RlvrError(f"curriculum: cannot read {path}: {e}") from None
        self.load_json(data, str(path))

    # ----------------------------------------------------------------------------------------------- sampling

    def _fresh(self, k: int, exclude: set[int]) -> list[int]:
        while self.cursor < self.n and self.order[self.cursor] in self.pool:
            self.cursor += 1  # only ever moves forward: a visited prompt never becomes fresh again
        out, j = [], self.cursor
        while len(out) < k and j < self.n:
            i = self.order[j]
            if i not in self.pool and i not in exclude:
                out.append(i)
            j += 1
        return out

    def _most_informative(self, rng: random.Random, ids: list[int], k: int) -> list[int]:
        """`k` of `ids` drawn without replacement with weight p(1 - p) + 0.01, p the prompt's mean pass rate over
        its recent visits: a group's reward variance is p(1 - p) for a prompt solved with probability p, so prompts
        near 50% teach most; one seen all-right or all-wrong fewer than `window` times still comes back, less often
        (Efraimidis-Spirakis keys u^(1/w))."""

        def key(i: int) -> float:
            p = sum(self.recent[i]) / len(self.recent[i])
            return rng.random() ** (1.0 / (p * (1.0 - p) + 0.01))

        keyed = sorted(((key(i), i) for i in ids), reverse=True)
        return [i for _, i in keyed[:k]]

    def pick(self, k: int, step: int, salt: int = 0, exclude: set[int] | None = None) -> tuple[list[int], dict]:
        """`k` distinct prompt ids for this step's round `salt` (and the share each pool gave, for the log); the
        same on every rank and on a resumed run. When fewer than `k` prompts are left outside `exclude`, the rest
        are drawn again from all prompts."""
        exclude = exclude or set()
        rng = random.Random(f"{self.seed}:{step}:{salt}")
        fresh_left = self.n - len(self.pool) - sum(1 for i in exclude if i not in self.pool)
        available = {"fresh": fresh_left} | {p: len(self.members[p] - exclude) for p in self.members}
        counts = allocate(k, self.cfg.mix_weights(), available)
        picks: list[int] = []
        for p in POOLS:
            if not counts[p]:
                continue
            if p == "fresh":
                picks += self._fresh(counts[p], exclude)
            elif p == "learning":
                picks += self._most_informative(rng, sorted(self.members[p] - exclude), counts[p])
            else:
                picks += rng.sample(sorted(self.members[p] - exclude), counts[p])
        while len(picks) < k:  # a training set smaller than a step's prompts: repeat some
            picks.append(rng.randrange(self.n))
        shares = {f"curriculum/share_{p}": counts[p] / k for p in POOLS}
        return picks, shares


def saved_state(checkpoint: Path | None) -> Path | None:
    """The curriculum state saved with `checkpoint`, if any."""
    if checkpoint is None:
        return None
    path = checkpoint / STATE_FILE
    return path if path.is_file() else None


class CurriculumMixin:
    """Mixed into the GRPOTrainer subclass; active when `curriculum` is set and the model is training."""

    curriculum: Curriculum | None = None
    curriculum_reward: int = 0  # index of the accuracy reward in reward_funcs
    solved_above: float = 0.5
    _step_picks: set[int] = set()

    def _rows_for(self, ids: list[int], local: bool) -> list[dict]:
        """The dataset rows of `ids`, each repeated num_generations times; `local`: this rank's slice of them."""
        rows = [self.train_dataset[i] for i in ids for _ in range(self.num_generations)]
        if not local or self.accelerator.num_processes == 1:
            return rows
        size = len(rows) // self.accelerator.num_processes
        start = self.accelerator.process_index * size
        return rows[start : start + size]

    def _generate_and_score_completions(self, inputs):
        if self.curriculum is None or not self.model.training:
            return super()._generate_and_score_completions(inputs)
        n_groups = len(inputs) * self.accelerator.num_processes // self.num_generations
        ids, shares = self.curriculum.pick(n_groups, self.state.global_step)
        self._step_picks = set(ids)
        metrics = self._metrics["train"]
        for key, value in shares.items():
            metrics[key].append(value)
        batch = super()._generate_and_score_completions(self._rows_for(ids, local=True))
        for key, value in self.curriculum.figures().items():
            metrics[key].append(value)
        return batch

    def _fresh_inputs(self, n_groups: int, salt: int) -> list[dict]:
        """Dynamic sampling's refill rounds draw from the curriculum too (one process: no slicing)."""
        if self.curriculum is None:
            return super()._fresh_inputs(n_groups, salt)
        ids, _ = self.curriculum.pick(n_groups, self.state.global_step, salt, exclude=self._step_picks)
        self._step_picks |= set(ids)
        return self._rows_for(ids, local=False)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.curriculum is None or not self.model.training:
            return rewards
        import torch
        from accelerate.utils import gather

        ids = torch.tensor([int(x[ID_COLUMN]) for x in inputs], device=rewards.device)
        ids = gather(ids).tolist()  # the same order as TRL's gathered rewards
        scores = rewards[:, self.curriculum_reward].tolist()
        solved = [math.nan if math.isnan(s) else float(s > self.solved_above) for s in scores]
        for key, value in self.curriculum.record(ids, solved).items():
            self._metrics["train"][key].append(value)
        return rewards

    def _check_ranks_agree(self) -> None:
        """Every rank must hold the same state (each records the same gathered results): compared at every save."""
        if self.accelerator.num_processes == 1:
            return
        import hashlib

        import torch

        digest = hashlib.sha256(json.dumps(self.curriculum.to_json(), sort_keys=True).encode()).digest()
        mine = torch.tensor([int.from_bytes(digest[:7], "big")], dtype=torch.int64, device=self.accelerator.device)
        everyone = self.accelerator.gather(mine)
        if not bool((everyone == everyone[0]).all()):
            raise RlvrError(
                f"curriculum: the ranks' states differ at step {self.state.global_step} (a bug: please report it)"
            )

    def _save_checkpoint(self, model, trial):
        if self.curriculum is not None:
            self._check_ranks_agree()
        if self.curriculum is not None and self.args.should_save:
            # written before the Trainer's own files: trainer_state.json, written last, marks the checkpoint
            # complete, so a complete checkpoint always holds the curriculum it was taken with
            from rl.rundir import saving_checkpoint_folder

            self.curriculum.save(saving_checkpoint_folder(self, trial) / STATE_FILE)
        return super()._save_checkpoint(model, trial)


def accuracy_reward_index(exp) -> int:
    """Index among `exp.rewards` of the reward whose verdicts drive the curriculum."""
    import rewards

    name = exp.curriculum.reward
    if name is None:
        name = next((r.name for r in exp.rewards if rewards.checks_answer(r.name)), None)
    names = [r.name for r in exp.rewards]
    if name is None:
        raise RlvrError(
            "curriculum: no reward checks answers (math_accuracy, countdown, ...); add one (weight 0 watches "
            "without training on it) or set curriculum.reward"
        )
    if name not in names:
        raise RlvrError(f"curriculum.reward: {name!r} is not one of this run's rewards ({', '.join(names)})")
    return names.index(name)


def validate_curriculum(exp) -> None:
    cur = exp.curriculum
    if not cur.enabled:
        return
    if cur.window < 1:
        raise RlvrError(f"curriculum.window must be at least 1, got {cur.window}")
    weights = cur.mix_weights()
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise RlvrError(f"curriculum.mix: shares must be >= 0 and not all 0, got {weights}")
    accuracy_reward_index(exp)
