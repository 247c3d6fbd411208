"""think_format, soft_format, tag_count, reasoning_steps: hand-written positives and negatives."""

from __future__ import annotations

import pytest

import rewards

STRICT_OK = [
    "<think>7+9=16</think><answer>16</answer>",
    "<think>\nreasoning\n</think>\n<answer>\n16\n</answer>",
    "<think> a </think>   <answer> b </answer>\n\n",
    "\n<think>a</think><answer>b</answer>",
]
STRICT_BAD = [
    "",
    "<think>a</think>",
    "<answer>b</answer>",
    "<think>a</think>b",
    "Sure! <think>a</think><answer>b</answer>",
    "<think>a</think><answer>b</answer> trailing text",
    "<think>a</think> gap <answer>b</answer>",
    "<think>a</think><answer>b</answer><answer>c</answer>",
    "<think>a<think>b</think><answer>c</answer>",
    "<answer>b</answer><think>a</think>",
    "<think></think><answer>b</answer>",
    "<think>a</think><answer> </answer>",
    "<think>a</think></think><answer>b</answer>",
    "<THINK>a</THINK><ANSWER>b</ANSWER>",
]


@pytest.mark.parametrize("text", STRICT_OK)
def test_think_format_accepts_the_strict_layout(text):
    assert rewards.build("think_format")([text]) == [1.0]


@pytest.mark.parametrize("text", STRICT_BAD)
def test_think_format_rejects_everything_else(text):
    assert rewards.build("think_format")([text]) == [0.0]


def test_think_format_with_a_prefilled_prompt():
    fn = rewards.build("think_format")
    completion = "7+9=16</think><answer>16</answer>"
    assert fn([completion], prompts=["What is 7+9? <think>\n"]) == [1.0]
    assert fn(
        [completion], prompts=[[{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>"}]]
    ) == [1.0]
    assert fn([completion], prompts=["What is 7+9?"]) == [0.0]
    assert fn(["<think>" + completion], prompts=["q <think>"]) == [1.0]


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("Sure. <think>a</think> so <answer>b</answer> done", 1.0),
        ("<think>a</think><answer>b</answer>", 1.0),
        ("<answer>b</answer><think>a</think>", 0.0),
        ("<think>a</think> b", 0.0),
        ("<think>a<answer>b</answer></think>", 0.0),
    ],
)
def test_soft_format(text, score):
    assert rewards.build("soft_format")([text]) == [score]


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("<think>a</think><answer>b</answer>", 1.0),
        ("<think>a</think>", 0.5),
        ("<think>a</think><answer>b", 0.75),
        ("<think><think></think><answer>b</answer>", 0.75),
        ("nothing", 0.0),
    ],
)
def test_tag_count(text, score):
    assert rewards.build("tag_count")([text]) == [score]


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("<think>Step 1: add.\nStep 2: carry.\nStep 3: done.</think><answer>1</answer>", 1.0),
        ("<think>1. add\n2. carry\n3. done\n4. check</think>", 1.0),
        ("<think>- add\n- carry</think>", 2 / 3),
        ("<think>First, add. Then, carry.</think>", 2 / 3),
        ("<think>7+9=16 4+8+1=13</think><answer>Step 1: Step 2: Step 3:</answer>", 0.0),
        ("plain text without steps", 0.0),
    ],
)
def test_reasoning_steps(text, score):
    assert rewards.build("reasoning_steps")([text]) == [pytest.approx(score)]


def test_reasoning_steps_min_steps_param():
    assert rewards.build("reasoning_steps", min_steps=1)(["<think>Step 1: a</think>"]) == [1.0]
