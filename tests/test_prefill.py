"""A chat template that prefills `<think>` (DeepSeek-R1-Distill style) scores exactly like the plain template.

The same completions are scored twice: after a plain prompt with the full completion (`<think>` included), and
after the prefilled prompt with the completion the policy actually writes (no opening `<think>`), the prompt given
as rendered text, as chat messages the way TRL hands it to rewards (through
`rl.train.trainer_reward.TrainerReward`), and in
the held-out evaluation. open-r1 warns that its format reward breaks in the prefilled case; here it must not.
"""

import pytest

import rewards
from rewards.base import Reward
from rewards.math import extract_answer, grade
from rewards.text import completions_text
from rl.data import R1_ZERO, render_prompt
from rl.eval.evaluate import score_samples
from rl.models import build_char_tokenizer
from rl.templates import prefills_think
from rl.train.trainer_reward import TrainerReward

QUESTION = "What is 7 + 9?"
MESSAGES = [{"role": "user", "content": QUESTION}]
# What the policy writes after a prefilled `<think>\n`; then (format, correct) expected for gold 16.
TABLE = [
    ("7+9=16</think><answer>16</answer>", 1.0, True),
    ("\n7+9=16</think>\n<answer>16</answer>\n", 1.0, True),
    ("7+9=15</think><answer>15</answer>", 1.0, False),
    ("</think><answer>16</answer>", 0.0, True),  # empty reasoning: right answer, wrong layout
    ("7+9=16</think>\\boxed{16}", 0.0, True),  # no answer tag: the last box counts
    ("7+9=16</think>16", 0.0, False),  # nothing to extract
    ("7+9=16 so \\boxed{16}", 0.0, False),  # thinking never closed: no answer (read whole, it would be right)
    ("7+9=16</think><answer>16</answer><answer>17</answer>", 0.0, False),  # two answers
    ("", 0.0, False),
]


@pytest.fixture(scope="module")
def tok():
    tokenizer = build_char_tokenizer("tiny-deepseek")
    assert prefills_think(tokenizer)
    return tokenizer


def scores(completions, prompts, golds):
    """(think_format, math_accuracy, extracted, graded) of each completion, as training and evaluation see it."""
    texts = completions_text(completions, prompts)
    return list(
        zip(
            rewards.build("think_format")(completions, prompts=prompts),
            rewards.build("math_accuracy")(completions, prompts=prompts, answer=golds),
            [extract_answer(t) for t in texts],
            [grade(t, g) for t, g in zip(texts, golds, strict=True)],
            strict=True,
        )
    )


def test_prefilled_template_scores_as_the_plain_one(tok):
    n = len(TABLE)
    golds = ["16"] * n
    plain = scores(["<think>" + c for c, _, _ in TABLE], [R1_ZERO.format(question=QUESTION)] * n, golds)
    prefilled_prompt = render_prompt(MESSAGES, tok)
    assert prefilled_prompt.endswith("<｜Assistant｜><think>\n")
    prefilled = scores([c for c, _, _ in TABLE], [prefilled_prompt] * n, golds)
    assert prefilled == plain
    for (completion, fmt, correct), (got_fmt, got_acc, _, graded) in zip(TABLE, plain, strict=True):
        assert (got_fmt, got_acc, bool(graded)) == (fmt, float(correct), correct), completion
    print(f"{n} completions: plain and prefilled scores identical; format {[s[0] for s in plain]}")


def test_trl_chat_prompts_reach_rewards_rendered(tok):
    """TRL passes chat prompts as messages and completions as assistant messages; the wrapper renders the prompts."""
    n = len(TABLE)
    golds = ["16"] * n
    completions = [[{"role": "assistant", "content": c}] for c, _, _ in TABLE]
    prompts = [MESSAGES] * n
    fmt = TrainerReward(rewards.build("think_format"), tokenizer=tok)
    acc = TrainerReward(rewards.build("math_accuracy"), tokenizer=tok)
    assert fmt.__name__ == "think_format" and acc.pop_metrics()["none"] == 0
    assert fmt(completions, prompts=prompts) == [float(f) for _, f, _ in TABLE]
    assert acc(completions, prompts=prompts, answer=golds) == [float(c) for _, _, c in TABLE]
    # without the wrapper the prefill is invisible in the messages: a well-formed completion fails the format
    assert rewards.build("think_format")(completions[:1], prompts=prompts[:1]) == [0.0]


def test_evaluation_grades_prefilled_chat_prompts(tok):
    rows = [{"prompt": MESSAGES, "answer": "16"} for _ in TABLE]
    result, samples = score_samples(rows, [[c] for c, _, _ in TABLE], [[1]] * len(rows), tokenizer=tok)
    assert [s["format"] for s in samples] == [f for _, f, _ in TABLE]
    assert [s["correct"] for s in samples] == [c for _, _, c in TABLE]
    assert samples[0]["prompt"] == MESSAGES  # records keep the row's prompt
    assert result["overall"]["pass@1"] == pytest.approx(sum(c for _, _, c in TABLE) / len(TABLE))


def test_templates_without_prefill_are_left_alone():
    tok = build_char_tokenizer("tiny-llama")
    fmt = TrainerReward(rewards.build("think_format"), tokenizer=tok)
    assert not prefills_think(tok)
    full = [[{"role": "assistant", "content": "<think>" + c}] for c, _, _ in TABLE]
    assert fmt(full, prompts=[MESSAGES] * len(TABLE)) == [f for _, f, _ in TABLE]
    assert fmt(["x"], prompts=["plain text prompt"]) == [0.0]


def test_what_trl_hands_rewards(tok, tmp_path):
    """One GRPO step on tiny-deepseek with chat prompts: record the `prompts` each reward is called with."""
    from trl import GRPOConfig, GRPOTrainer

    from rl.config import ModelConfig
    from rl.data import to_dataset
    from rl.models import build_tiny, load_policy

    seen = {}

    def record(name):
        def fn(completions, prompts, **kwargs):
            seen[name] = (prompts, completions)
            return [0.0] * len(completions)

        fn.__name__ = name
        return fn

    class Recorded(Reward):
        name = "rendered"

        def score(self, texts, columns, tally):
            seen[self.name] = (columns["prompts"], texts)
            return [0.0] * len(texts)

    build_tiny("tiny-deepseek", 0, tmp_path / "model")
    model, tokenizer, _ = load_policy(ModelConfig(name_or_path=str(tmp_path / "model")), 0)
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=1,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=4,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
    )
    data = to_dataset([{"prompt": MESSAGES, "answer": "16"}] * 4)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[record("raw"), TrainerReward(Recorded(), tokenizer=tokenizer)],
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
    )
    trainer.train()
    raw_prompts, completions = seen["raw"]
    assert raw_prompts[0] == MESSAGES  # messages: the prefill is not in them
    assert completions[0][0]["role"] == "assistant"
    rendered, _ = seen["rendered"]
    assert rendered[0] == render_prompt(MESSAGES, tokenizer) and rendered[0].endswith("<think>\n")


def test_wrapper_pickles_and_forwards(tok):
    import pickle

    fn = TrainerReward(rewards.build("think_format"), tokenizer=tok)
    again = pickle.loads(pickle.dumps(fn))
    completions = [[{"role": "assistant", "content": TABLE[0][0]}]]
    assert again(completions, prompts=[MESSAGES]) == [1.0]
    assert again.pop_metrics()["none"] == 0 and again.name == "think_format"
