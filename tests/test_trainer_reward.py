"""The reward as the trainer calls it: TRL's name, rlvr's counters, rendered prompts, kept failures, observers."""

from __future__ import annotations

import pytest

import rewards
from rewards.base import Reward
from rl.models import build_char_tokenizer
from rl.train.resilience import TrainingStopped
from rl.train.trainer_reward import TrainerReward

MESSAGES = [{"role": "user", "content": "What is 7 + 9?"}]
WRITTEN = [{"role": "assistant", "content": "7+9=16</think><answer>16</answer>"}]  # after a prefilled <think>


class Halting(Reward):
    """Raises on items whose text is "bad" (or on the whole call when a text is "boom"); 1.0 otherwise."""

    name = "halting_test_reward"

    def score(self, texts, columns, tally):
        if "boom" in texts:
            raise RuntimeError("the grader is down")

        def one(text):
            if text == "bad":
                raise ZeroDivisionError("bad item")
            return 1.0

        return self.each(tally, one, texts)


def test_name_and_counters_are_the_rewards():
    fn = TrainerReward(rewards.build("think_format"))
    assert fn.__name__ == fn.name == "think_format"
    assert fn(["<think>a</think><answer>1</answer>", "no"]) == [1.0, 0.0]
    assert fn.pop_metrics()["items"] == 2 and fn.pop_metrics()["items"] == 0


def test_chat_prompts_are_rendered_once_a_tokenizer_is_set():
    fn = TrainerReward(rewards.build("think_format"))
    assert fn([WRITTEN], prompts=[MESSAGES]) == [0.0]  # the prefilled <think> is invisible in the messages
    fn.tokenizer = build_char_tokenizer("tiny-deepseek")
    assert fn([WRITTEN], prompts=[MESSAGES]) == [1.0]


def test_a_failing_item_is_kept_and_a_failing_batch_stops(tmp_path):
    fn = TrainerReward(Halting(), tmp_path)
    assert fn(["ok", "bad"]) == [1.0, None]
    text = (tmp_path / "reward_errors" / "halting_test_reward.txt").read_text()
    assert "Traceback" in text and "ZeroDivisionError: bad item" in text
    with pytest.raises(TrainingStopped, match="'halting_test_reward' failed on all 2 items of the batch at step 0"):
        fn(["bad", "bad"])
    with pytest.raises(TrainingStopped, match="raised on the whole batch at step 0: RuntimeError: the grader is down"):
        fn(["boom"])


def test_observers_see_the_scores_and_the_columns_the_reward_saw():
    seen = []
    fn = TrainerReward(rewards.build("math_accuracy"), tokenizer=build_char_tokenizer("tiny-deepseek"))
    fn.observers.append(lambda completions, scores, columns: seen.append((scores, columns["prompts"])))
    assert fn([WRITTEN], prompts=[MESSAGES], answer=["16"]) == [1.0]
    [(scores, prompts)] = seen
    assert scores == [1.0] and prompts[0].endswith("<think>\n")
