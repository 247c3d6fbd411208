"""The sympy half of the grader: math-verify ``parse`` and ``verify`` on already extracted, normalised answers.

Imported lazily (it pulls in sympy, ~0.3 s) and preloaded by the worker pool. math-verify's own timeouts use
``signal.alarm``, which refuses to run off the main thread and cannot interrupt C code (``9^{9^{9}}``), so they are
off here: time is bounded by the pool killing the worker, and ``normalize.explosive`` refuses the known bombs first.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from latex2sympy2_extended import NormalizationConfig
from math_verify import LatexExtractionConfig, parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)  # silence "Timeout is disabled" (we bound time ourselves)

_LATEX = LatexExtractionConfig(
    try_extract_without_anchor=True,
    boxed_match_priority=0,
    normalization_config=NormalizationConfig(
        basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="all", equations=False
    ),
)


@lru_cache(maxsize=8192)
def parse_answer(text: str) -> tuple:
    """math-verify's parse of one answer as LaTeX math; ``()`` when nothing parses.

    LaTeX only (an ANTLR grammar): math-verify's plain-expression extraction goes through sympy's ``parse_expr``,
    which calls ``eval``, so it is never used on model text.
    """
    return tuple(parse(f"${text}$", extraction_config=[_LATEX], parsing_timeout=None))


def verify_parsed(gold: tuple, answer: tuple) -> bool:
    """math-verify's verify, strict: variables matter, sets are not tuples, relations are not sets."""
    return bool(verify(list(gold), list(answer), strict=True, timeout_seconds=None))


_DEFAULT_LATEX = [LatexExtractionConfig()]  # math-verify's own defaults: a second opinion, not rlvr's settings
_COMMAND = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")
_DECORATION = re.compile(r"^[\s*_`]+|[\s*_`.]+$")


def second_opinion(completion: str, gold: str) -> bool | None:
    """math-verify's own verdict with its default LaTeX extraction and comparison; None when it abstains.

    The run-health monitor's independent check of what `math_accuracy` paid (rl/train/health.py). It shares only the
    answer's place with rlvr's grader: the text after the chain of thought, its last `<answer>` block, else its
    last boxed expression, else its last GSM8K `#### N` line, without markdown emphasis or a final period.
    Extraction, normalisation and equivalence are math-verify's defaults. It abstains (None) when the gold does not
    parse, and when the answer has words in it outside LaTeX commands ("72 cookies", "The answer is 18" with no
    tag, box or `####` line): math-verify would read their letters as variables. LaTeX only: its plain-expression
    parser calls `eval`. Run it in the worker pool (no timeouts of its own here).
    """
    from rewards.math import _HASHES, boxed_contents
    from rewards.text import ANSWER_CLOSE, ANSWER_OPEN, answer_region, tag_contents

    gold_parsed = parse(f"${gold}$", extraction_config=_DEFAULT_LATEX, parsing_timeout=None)
    if all(isinstance(x, str) for x in gold_parsed):  # nothing, or only the text back: it did not parse
        return None
    region = answer_region(completion)
    if region is None:
        return False
    tagged = tag_contents(region, ANSWER_OPEN, ANSWER_CLOSE)
    boxed = boxed_contents(region) if not tagged else []
    hashes = _HASHES.findall(region) if not (tagged or boxed) else []
    text = _DECORATION.sub("", tagged[-1] if tagged else boxed[-1] if boxed else hashes[-1] if hashes else region)
    if _WORD.search(_COMMAND.sub(" ", text)):
        return None
    answer = parse(text, extraction_config=_DEFAULT_LATEX, parsing_timeout=None) or parse(
        f"${text}$", extraction_config=_DEFAULT_LATEX, parsing_timeout=None
    )
    return bool(answer) and bool(verify(gold_parsed, answer, timeout_seconds=None))
