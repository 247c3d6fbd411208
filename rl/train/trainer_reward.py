"""The one wrapper the trainer calls a reward through: rendered prompts, guarded failures, observers, metrics.

Its own module, not resilience.py or templates.py: it is where those pieces meet the trainer, one of each per reward.

TRL calls ``fn(prompts=, completions=, completion_ids=, trainer_state=, **columns)`` and logs ``rewards/<__name__>``;
rlvr's trainer reads ``pop_metrics()``. One call, in order:

1. Chat-message prompts are rendered with ``tokenizer``'s chat template (set it once the policy's tokenizer is
   loaded), so a prompt-prefilled ``<think>`` is seen by the reward (rl/templates.py says why).
2. The reward scores the batch. Its first item traceback is kept in ``RUN/reward_errors/<name>.txt``; a reward that
   raises on the whole call, or fails on every item, stops the run (``TrainingStopped``, exit code 3).
3. Each of ``observers`` is called as ``observer(completions, scores, columns)`` with the columns the reward saw
   (run health keeps the accuracy reward's paid answers this way, ``rl.train.health.Tap``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl.rundir import RunDir
from rl.templates import is_conversational, render_prompts
from rl.train.resilience import TrainingStopped

if TYPE_CHECKING:  # importing rewards registers every reward; rl.train.loop imports this module before it needs them
    from rewards.base import Reward, Score

Observer = Callable[[Any, list, dict], None]  # (completions, scores, columns)


class TrainerReward:
    """A built reward as the trainer calls it (see the module docstring). Picklable when the reward is."""

    def __init__(self, reward: Reward, run_dir: Path | None = None, tokenizer=None):
        self.reward = reward
        self.name = self.__name__ = reward.name  # TRL logs rewards/<__name__>/mean
        self.run_dir = run_dir  # None: tracebacks are not written (ranks other than the main one)
        self.tokenizer = tokenizer  # None: prompts are passed as they come
        self.observers: list[Observer] = []
        self.written = False

    def pop_metrics(self) -> dict[str, float]:
        """The reward's counters since the last call (``Reward.pop_metrics``)."""
        return self.reward.pop_metrics()

    def __call__(self, completions, **columns) -> list[Score]:
        prompts = columns.get("prompts")
        if (
            self.tokenizer is not None
            and isinstance(prompts, (list, tuple))
            and any(is_conversational(p) for p in prompts)
        ):
            columns["prompts"] = render_prompts(list(prompts), self.tokenizer)
        scores = self._guarded(completions, columns)
        for observer in self.observers:
            observer(completions, scores, columns)
        return scores

    def _guarded(self, completions, columns: dict) -> list[Score]:
        step = getattr(columns.get("trainer_state"), "global_step", -1) + 1
        try:
            scores = self.reward(completions, **columns)
        except Exception as e:  # the whole call failed: every item of the batch
            self._keep(traceback.format_exc())
            error = f"{type(e).__name__}: {e}".splitlines()[0]
            raise TrainingStopped(f"reward '{self.name}' raised on the whole batch at step {step}: {error}") from None
        self._keep(self.reward.first_traceback)
        failed = self.reward.last_call_errors
        if completions and failed >= len(completions):
            where = f" (first traceback: {self._errors_file()})" if self.written else ""
            raise TrainingStopped(
                f"reward '{self.name}' failed on all {len(completions)} items of the batch at step {step}{where}"
            )
        return scores

    def _errors_file(self) -> Path:
        return RunDir(self.run_dir).reward_errors / f"{self.name}.txt"

    def _keep(self, text: str | None) -> None:
        """Write the first traceback once per run."""
        if text and not self.written and self.run_dir is not None:
            path = self._errors_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            self.written = True
