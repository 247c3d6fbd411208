"""Extraction and the pure-Python normalisation rules of the math grader, one rule at a time."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rewards.math import boxed_contents, extract_answer, grade, is_equivalent
from rewards.normalize import UNKNOWN, as_number, choice_letter, explosive, normalize, quick_equivalent
from rewards.text import answer_region, as_text, with_prefill


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("<think>7+9=16</think><answer>16</answer>", "16"),
        ("<think>a</think>\n<answer>\n 16 \n</answer>", "16"),
        (r"<think>a</think><answer>so \boxed{16}</answer>", "16"),
        (r"<think>a</think> \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"<think>a</think> \boxed{\{1,2\}}", r"\{1,2\}"),
        (r"<think>a</think> \boxed{\boxed{3}}", "3"),
        (r"<think>a</think> \boxed 7.", "7."),
        (r"no tags at all, \boxed{4}", "4"),
        ("Total is 9.\n#### 9", "9"),
        ("  ####   1,000  \n", "1,000"),
        (r"</think> \boxed{5}", "5"),
        (r"<think>\boxed{1}</think><think>\boxed{2}</think> \boxed{3}", "3"),
        (r"<think>a</think> \boxed{5} then \boxed{ 5 }", "5"),
    ],
)
def test_extract_answer_finds_the_final_answer(completion, expected):
    assert extract_answer(completion) == expected


@pytest.mark.parametrize(
    "completion",
    [
        None,
        "",
        "just prose, 5",
        r"<think>\boxed{5}",  # never closed
        r"<think>a</think><think>\boxed{5}",  # the last chain of thought never closed
        r"<think>\boxed{5}</think>",  # only inside the chain of thought
        r"<think>a</think> \boxed{5} \boxed{6}",
        "<think>a</think><answer>5</answer><answer>6</answer>",
        "#### 5\n#### 6",
        r"<think>a</think> \boxed{}",
        "<think>a</think><answer>  </answer>",
        r"<think>a</think> \boxed{5",  # unbalanced
        "<think>a</think><answer>5",  # unclosed tag
    ],
)
def test_extract_answer_refuses_missing_or_ambiguous_answers(completion):
    assert extract_answer(completion) is None


def test_answer_tag_wins_over_boxes_and_hashes():
    assert extract_answer("<think>a</think><answer>1</answer> \\boxed{2}\n#### 3") == "1"
    assert extract_answer("<think>a</think> \\boxed{2}\n#### 3") == "2"


def test_text_helpers():
    assert as_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]) == "a"
    assert as_text([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "image"}]}]) == "a"
    assert as_text(None) == "" and as_text(42) == "" and as_text([]) == ""
    assert with_prefill("x</think>", [{"role": "user", "content": "q <think>\n"}]) == "<think>x</think>"
    assert with_prefill("<think>x</think>", "q <think>") == "<think>x</think>"
    assert answer_region("<think>a</think>b") == "b" and answer_region("<think>a") is None


def test_boxed_contents_is_linear_on_a_megabyte_of_boxes():
    text = "\\boxed{" * 150_000
    assert boxed_contents(text) == []
    assert boxed_contents("\\boxed{1}" * 1000) == ["1"] * 1000


def _unbox_by_rescanning(content: str) -> str:
    """The unwrapping rule spelled out on strings (one brace scan per level): the reference for `boxed_contents`."""
    import re

    from rewards.math import _brace_pairs

    box = re.compile(r"\\(?:boxed|fbox)\b\s*")
    for _ in range(8):
        stripped = content.strip()
        match = box.match(stripped)
        if not (match and stripped.startswith("{", match.end())):
            return content
        if _brace_pairs(stripped).get(match.end()) != len(stripped) - 1:
            return content
        content = stripped[match.end() + 1 : -1]
    return content


def test_nested_boxes_unwrap_as_the_rescanning_rule_does():
    """Property: over random nestings (spaces, \\fbox, boxes that do not span their parent, escaped braces, depths
    past the 8-level cap) the one-scan unwrapping equals the per-level rescanning rule."""
    import random

    rng = random.Random(0)
    leaves = ["5", r"\frac{1}{2}", r"\{1, 2\}", "x + 1", "", r"\boxed{3} + 1", r"\boxed{a}\boxed{b}"]
    for _ in range(2000):
        inner = rng.choice(leaves)
        for _ in range(rng.randint(0, 12)):
            command = rng.choice([r"\boxed", r"\fbox", "\\boxed "])
            inner = " " * rng.randint(0, 2) + command + "{" + inner + "}" + " " * rng.randint(0, 2)
        text = r"so \boxed{" + inner + "} done"
        expected = _unbox_by_rescanning(inner)
        assert boxed_contents(text) == [expected], text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"$x = \dfrac{1}{2}$", r"\frac{1}{2}"),
        (r"10\text{ cm}", "10"),
        (r"15\mbox{ cm}^2", "15"),
        (r"90^{\circ}", "90"),
        ("90\u00b0", "90"),
        (r"50\%", "50"),
        (r"\$18.90", "18.90"),
        ("1,000,000", "1000000"),
        ("1{,}000", "1000"),
        (r"\left( 1, 2 \right)", "( 1, 2 )"),
        ("The final answer is 7.", "7"),
        ("5 apples", "5"),
        ("5 or 6", "\u2205"),  # NO_VALUE: two values offered is no value
        ("5x", "5x"),
        ("x = 1 or x = -2", "1, -2"),
        (r"\sqrt8", r"\sqrt{8}"),
        (r"\frac12", r"\frac{1}{2}"),
        ("\u22123", "-3"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", Fraction(12)),
        ("-0.5", Fraction(-1, 2)),
        (".25", Fraction(1, 4)),
        ("1,234.5", Fraction(2469, 2)),
        (r"\frac{3}{4}", Fraction(3, 4)),
        (r"-\frac{3}{4}", Fraction(-3, 4)),
        ("3/4", Fraction(3, 4)),
        (r"2\frac{1}{2}", Fraction(5, 2)),
        ("2 1/2", Fraction(5, 2)),
        ("1 2", None),
        ("1,2", None),
        ("1/0", None),
        ("x", None),
        ("", None),
    ],
)
def test_as_number(text, value):
    assert as_number(text) == value


@pytest.mark.parametrize(
    ("text", "letter"),
    [("C", "C"), ("(C)", "C"), ("(c)", "C"), ("C) 42", "C"), ("Option B", "B"), ("(A) or (C)", None),
     ("A or C", None), ("ABCD", None), ("c", None), ("Evelyn", None), ("(C)42", None)],
)  # fmt: skip
def test_choice_letter(text, letter):
    assert choice_letter(text) == letter


@pytest.mark.parametrize(
    "answer",
    ["9^{9^{9^{9}}}", "9^9^9", "(2^{64})^{64}", "2**3**4", "10^{100000}", "99999999999^{99999999}", "100000!",
     "(10!)!", "{" * 60 + "1" + "}" * 60, "1" * 5000, r"\int_0^1 x\,dx", r"\lim_{x\to 0} x", r"\sum_{n=1}^{10} n"],
)  # fmt: skip
def test_explosive_answers_are_refused(answer):
    assert explosive(answer, gold="5")


@pytest.mark.parametrize("answer", ["2^{10}", "e^{x^2}", "x^2 + y^2", "(x+1)^{2}", "3!", "2^{2014}"])
def test_ordinary_answers_are_not_explosive(answer):
    assert not explosive(answer, gold="e^{x^2}")


def test_quick_path_settles_numbers_and_defers_the_rest():
    assert quick_equivalent("936", "936") is True
    assert quick_equivalent("936", "935") is False
    assert quick_equivalent("936", None) is False
    assert quick_equivalent(r"\frac{1}{2}", "0.5") is True
    assert quick_equivalent("  ", "5") is None
    assert quick_equivalent(r"2\sqrt{2}", r"\sqrt{8}") is UNKNOWN


def test_is_equivalent_takes_numbers_and_rejects_non_strings():
    assert is_equivalent(936, "936.0") is True
    assert is_equivalent(0.5, r"\frac{1}{2}") is True
    assert is_equivalent(None, "5") is None
    assert is_equivalent("5", 5) is False  # an answer must be text
    assert grade(["not", "a", "string"], "5") is False


def test_unverifiable_gold_is_none_even_without_an_answer():
    assert grade("no answer here", "") is None
    assert grade("no answer here", "$$") is None
    assert grade("no answer here", r"2\sqrt{2}") is False
