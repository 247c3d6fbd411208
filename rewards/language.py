"""Language consistency of the chain of thought, as DeepSeek-R1 used against language mixing."""

from __future__ import annotations

import re

from rewards.base import Reward, Score, Tally
from rewards.registry import register
from rewards.text import think_region

_SCRIPTS = {
    "latin": "A-Za-z\u00c0-\u024f\u1e00-\u1eff",
    "han": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "kana": "\u3040-\u30ff",
    "hangul": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "cyrillic": "\u0400-\u04ff",
    "greek": "\u0370-\u03ff",
    "arabic": "\u0600-\u06ff\u0750-\u077f",
    "hebrew": "\u0590-\u05ff",
    "devanagari": "\u0900-\u097f",
    "thai": "\u0e00-\u0e7f",
}
LANGUAGES = {
    **dict.fromkeys(["en", "fr", "de", "es", "it", "pt", "nl", "vi", "id", "tr", "pl"], ("latin",)),
    "zh": ("han",),
    "ja": ("han", "kana"),
    "ko": ("hangul", "han"),
    **dict.fromkeys(["ru", "uk", "bg"], ("cyrillic",)),
    "el": ("greek",),
    "ar": ("arabic",),
    "he": ("hebrew",),
    "hi": ("devanagari",),
    "th": ("thai",),
}
_CJK = _SCRIPTS["han"] + _SCRIPTS["kana"]
# a word: one CJK character, or a run of other letters
_CJK_SCRIPT = {name: re.compile(f"[{_SCRIPTS[name]}]+") for name in ("han", "kana")}
_CJK_ANY = re.compile(f"[{_CJK}]+")
_LETTERS = re.compile(rf"[^\W\d_{_CJK}]+")
_SPAN = r"\$[^$]*\$|\\\(.*?\\\)|\\\[.*?\\\]"
_MATH_SPAN = re.compile(_SPAN, re.S)
# plain runs and closed spans, possessive so that the one failing opener is scanned once and nothing backtracks
_MATH_PREFIX = re.compile(rf"(?:[^$\\]+|\\(?![(\[])|{_SPAN})*+", re.S)
_COMMAND = re.compile(r"\\[A-Za-z]+")
_CLASSIFY = {name: re.compile(f"[{chars}]") for name, chars in _SCRIPTS.items()}


def script_share(text: str, scripts: tuple[str, ...]) -> float:
    """Share of the words of ``text`` (outside LaTeX math; one-letter Latin variables skipped) in ``scripts``.

    A text with no words (only numbers and symbols) scores 1.0: nothing in it is in another language.

    >>> script_share("so 这个 works, x = 3", ("latin",))
    0.5
    """
    text = _without_math(text)
    # one CJK character is one word: count them per script with one C-level pass each, not a string apiece
    total = hits = 0
    for name in ("han", "kana"):
        count = len(text) - len(_CJK_SCRIPT[name].sub("", text))
        total += count
        hits += count if name in scripts else 0
    letters = [w for w in _LETTERS.findall(_CJK_ANY.sub(" ", text)) if not (len(w) == 1 and w.isascii())]
    total += len(letters)
    if not total:
        return 1.0
    targets = [_CLASSIFY[s] for s in scripts if s not in _CJK_SCRIPT]
    hits += sum(any(t.match(w) for t in targets) for w in letters)
    return hits / total


def _without_math(text: str) -> str:
    """Text with ``$..$``, ``\\(..\\)``, ``\\[..\\]`` spans and LaTeX commands blanked; linear, in C.

    Spans are taken left to right, each closed by the nearest closer; the first opener with no closer ends the
    blanking and the rest is kept as written (an unclosed ``$`` is a dollar sign, not math).
    """
    reach = _MATH_PREFIX.match(text).end()  # up to the first opener that never closes
    return _COMMAND.sub(" ", _MATH_SPAN.sub(" ", text[:reach]) + text[reach:])


@register
class LanguageConsistency(Reward):
    """Share of the chain of thought written in the target language's script (DeepSeek-R1's language reward).

    Words are counted inside the think block (the whole text without one); LaTeX math and one-letter variables are
    skipped; a CJK character counts as a word. Params: ``language`` ("en"; also zh, ja, ko, ru, ar, hi, ...).

    >>> LanguageConsistency(language="zh")(["<think>我们先算 7+9=16，然后进位</think><answer>16</answer>"])
    [1.0]
    """

    name = "language_consistency"

    def __init__(self, language: str = "en") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(sorted(LANGUAGES))}; got {language!r}")
        super().__init__()
        self.language = language

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        scripts = LANGUAGES[self.language]
        return self.each(tally, lambda t: script_share(think_region(t), scripts), texts)
