"""language_consistency: the share of the chain of thought in the target script."""

from __future__ import annotations

import pytest

import rewards


@pytest.mark.parametrize(
    ("language", "text", "score"),
    [
        ("en", "<think>First add the units, then carry.</think><answer>5</answer>", 1.0),
        ("en", "<think>我们先算个位</think><answer>5</answer>", 0.0),
        ("en", "<think>add 个位 then carry</think>", 0.6),
        ("zh", "<think>我们先算个位，然后进位</think><answer>five</answer>", 1.0),
        ("zh", "<think>先算 $x^2 + y$ 再用 \\frac 约分</think>", 1.0),
        ("zh", "<think>first 个</think>", 0.5),
        ("ja", "<think>まず計算する</think>", 1.0),
        ("ru", "<think>сначала сложим</think>", 1.0),
        ("en", "<think>7+9=16 4+8+1=13</think><answer>936</answer>", 1.0),
        ("en", "no think tags, all English", 1.0),
    ],
)
def test_language_consistency(language, text, score):
    assert rewards.build("language_consistency", language=language)([text]) == [pytest.approx(score)]
