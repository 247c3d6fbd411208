"""DAPO's dynamic sampling (Yu et al. 2025, sec. 3.2), which TRL lacks: drop groups whose rewards all agree.

A group whose completions all earn the same reward has zero advantage everywhere: it costs a forward/backward pass
and teaches nothing, and as a policy improves more and more groups are all-correct. Dynamic sampling drops those
groups and refills the batch with groups from fresh prompts, for at most `max_rounds` extra generation rounds; if
the batch is still short it is topped up with dropped groups (zero advantage, so no gradient) to keep its size.

The selection logic is pure tensor code (`informative_groups`, `plan_batch`, `merge_batches`) tested on its own;
`DynamicSamplingMixin` is the small hook into TRL's `GRPOTrainer._generate_and_score_completions`.
Departures from the paper: the refill draws prompts uniformly from the training set (seeded by step), and it runs
with one training process (groups are split across ranks in multi-process TRL batches).
"""

from __future__ import annotations

from typing import Any

import torch

PROMPT_KEYS_LEFT_PADDED = ("prompt_ids", "prompt_mask")


def informative_groups(advantages: torch.Tensor, group_size: int, atol: float = 1e-6) -> torch.Tensor:
    """One bool per group: True when any completion of the group has a non-zero advantage.

    >>> informative_groups(torch.tensor([0.0, 0.0, 0.5, -0.5]), 2).tolist()
    [False, True]
    """
    if advantages.numel() % group_size:
        raise ValueError(f"{advantages.numel()} advantages do not split into groups of {group_size}")
    return (advantages.view(-1, group_size).abs() > atol).any(dim=1)


def plan_batch(rounds: list[torch.Tensor], needed: int) -> tuple[list[tuple[int, int]], int]:
    """Pick `needed` groups from generation rounds: informative ones first (in order), then dropped ones as filler.

    `rounds[r][g]` says whether group g of round r is informative. Returns ([(round, group), ...], n_filler).

    >>> plan_batch([torch.tensor([True, False]), torch.tensor([False, True])], 2)
    ([(0, 0), (1, 1)], 0)
    >>> plan_batch([torch.tensor([False, False])], 2)
    ([(0, 0), (0, 1)], 2)
    """
    good = [(r, g) for r, flags in enumerate(rounds) for g, ok in enumerate(flags.tolist()) if ok]
    picks = good[:needed]
    filler = [(r, g) for r, flags in enumerate(rounds) for g, ok in enumerate(flags.tolist()) if not ok]
    n_filler = needed - len(picks)
    return picks + filler[:n_filler], n_filler


def _pad_to(t: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    extra = width - t.shape[1]
    if extra <= 0:
        return t
    pad = torch.full((t.shape[0], extra, *t.shape[2:]), value, dtype=t.dtype, device=t.device)
    return torch.cat([pad, t] if left else [t, pad], dim=1)


def merge_batches(
    batches: list[dict[str, Any]], picks: list[tuple[int, int]], group_size: int, pad_token_id: int
) -> dict[str, Any]:
    """Concatenate the picked groups' rows of TRL generation batches, re-padding sequences to a common width.

    Prompt tensors are left-padded (as TRL pads prompts), completion-side tensors right-padded; masks pad with 0.
    `num_items_in_batch` is recomputed as the number of completion tokens kept.
    """
    out: dict[str, Any] = {}
    for key, value in batches[0].items():
        if key == "num_items_in_batch" or not isinstance(value, torch.Tensor) or value.dim() == 0:
            continue
        rows = [batches[r][key][g * group_size : (g + 1) * group_size] for r, g in picks]
        if value.dim() >= 2:
            width = max(x.shape[1] for x in rows)
            fill = pad_token_id if key.endswith("_ids") else 0
            rows = [_pad_to(x, width, fill, left=key in PROMPT_KEYS_LEFT_PADDED) for x in rows]
        out[key] = torch.cat(rows, dim=0)
    if "num_items_in_batch" in batches[0]:
        out["num_items_in_batch"] = out["completion_mask"].sum()
    return out


class DynamicSamplingMixin:
    """Mixed into the GRPOTrainer subclass; active when `dynamic_rounds` > 0 and training."""

    dynamic_rounds: int = 0

    def _fresh_inputs(self, n_groups: int, salt: int) -> list[dict]:
        generator = torch.Generator().manual_seed(self.args.seed * 1_000_003 + self.state.global_step * 101 + salt)
        rows = torch.randint(len(self.train_dataset), (n_groups,), generator=generator).tolist()
        return [self.train_dataset[i] for i in rows for _ in range(self.num_generations)]

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        if not self.dynamic_rounds or not self.model.training:
            return batch
        size = self.num_generations
        rounds, batches = [informative_groups(batch["advantages"], size)], [batch]
        needed = len(rounds[0])
        while sum(int(r.sum()) for r in rounds) < needed and len(rounds) <= self.dynamic_rounds:
            missing = needed - sum(int(r.sum()) for r in rounds)
            extra = super()._generate_and_score_completions(self._fresh_inputs(missing, len(rounds)))
            batches.append(extra)
            rounds.append(informative_groups(extra["advantages"], size))
        picks, n_filler = plan_batch(rounds, needed)
        metrics = self._metrics["train"]
        metrics["dynamic_sampling/dropped_share"].append(1.0 - rounds[0].float().mean().item())
        metrics["dynamic_sampling/extra_rounds"].append(float(len(rounds) - 1))
        metrics["dynamic_sampling/filler_share"].append(n_filler / needed)
        if len(batches) == 1:
            return batch  # no refill round ran: the batch stands as generated
        return merge_batches(batches, picks, size, self.processing_class.pad_token_id)
