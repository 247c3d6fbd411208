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


def _word_share_by_rescanning(text: str, scripts: tuple[str, ...]) -> float:
    """The rule spelled out slowly: blank closed math spans one at a time, then classify word by word."""
    import re

    from rewards.language import _CJK, _CLASSIFY

    closers = {"$": "$", "\\(": "\\)", "\\[": "\\]"}
    kept, position = [], 0
    while True:
        opener = re.compile(r"\$|\\\(|\\\[").search(text, position)
        end = -1 if opener is None else text.find(closers[opener.group()], opener.end())
        if end < 0:
            kept.append(text[position:])
            break
        kept.append(text[position : opener.start()])
        position = end + len(closers[opener.group()])
    plain = re.sub(r"\\[A-Za-z]+", " ", " ".join(kept))
    words = [w for w in re.findall(rf"[{_CJK}]|[^\W\d_{_CJK}]+", plain) if not (len(w) == 1 and w.isascii())]
    if not words:
        return 1.0
    return sum(any(_CLASSIFY[s].match(w) for s in scripts) for w in words) / len(words)


def test_script_share_equals_the_word_by_word_rule_on_random_mixtures():
    import random

    from rewards.language import LANGUAGES, script_share

    rng = random.Random(7)
    atoms = [
        "$",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "\\",
        "\\frac",
        "a",
        "x y",
        "carry",
        "我",
        "们",
        "かな",
        "한국",
        "сложим",
        "7+9",
        " ",
        "\n",
        "_",
        "é",
    ]
    for _ in range(5_000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 24)))
        scripts = LANGUAGES[rng.choice(["en", "zh", "ja", "ko", "ru"])]
        assert script_share(text, scripts) == pytest.approx(_word_share_by_rescanning(text, scripts)), (text, scripts)


@pytest.mark.parametrize("text", ["我" * 1_000_000, "$" * 1_000_000, "\\(" * 500_000, "\\[" + "\\(" * 500_000])
def test_script_share_is_linear_on_a_megabyte(text):
    import time

    from rewards.language import script_share

    start = time.perf_counter()
    script_share(text, ("latin",))
    assert time.perf_counter() - start < 0.75  # ~0.05-0.2 s here; the rescanning rule took 1.5 s on the CJK text
