r"""The math grader, shared by the ``math_accuracy`` reward and by evaluation: extract, then compare.

``extract_answer`` reads only the part of a completion after the chain of thought, and takes, in order, the
``<answer>`` tag, else the last ``\boxed{}``, else a GSM8K ``#### N`` line. ``is_equivalent`` first tries exact
pure-Python rules (numbers as fractions, identical normalised strings, multiple-choice letters, words), and only then
math-verify + sympy. ``grade`` is the two together. No ``eval`` anywhere.

These functions run in-process and are not time-bounded beyond the ``explosive`` guard; for untrusted text in bulk
use ``rewards.pool.grade_many``, which runs the same code in worker processes that are killed when they overrun.

>>> extract_answer("<think>7+9=16</think><answer>936</answer>")
'936'
>>> grade(r"<think>...</think> so \boxed{\sqrt{8}}", r"2\sqrt{2}")
True
>>> grade("<think>I guess \\boxed{4}</think>", "4")  # the answer must come after the chain of thought
False
"""

from __future__ import annotations

import re
from fractions import Fraction

from rewards.normalize import UNKNOWN, brackets, explosive, normalize, quick_equivalent, relation
from rewards.text import ANSWER_CLOSE, ANSWER_OPEN, answer_region, tag_contents

_BOX = re.compile(r"\\(?:boxed|fbox)\b\s*")
_BRACE = re.compile(r"\\[{}]|[{}]")
_HASHES = re.compile(r"^[ \t]*####([^\n]*)", re.MULTILINE)


def extract_answer(completion: str | None) -> str | None:
    r"""The final answer of a completion, or None when there is none or more than one.

    Only text after the last ``</think>`` counts (a completion without think tags is read whole; one whose last
    ``<think>`` never closes has no answer). Inside that part: the ``<answer>`` tag's content (its ``\boxed{}``
    if it holds one), else the last ``\boxed{}``, else a ``#### N`` line. Two or more distinct candidates of the
    chosen kind (several boxes, several answer tags, several ``####`` lines that disagree) count as no answer.

    >>> extract_answer(r"<think>hmm</think> First \boxed{3}, then \boxed{4}.") is None
    True
    >>> extract_answer("Natalia sold 72 clips.\n#### 72")
    '72'
    """
    if not isinstance(completion, str) or not completion:
        return None
    region = answer_region(completion)
    if region is None:
        return None
    tags = tag_contents(region, ANSWER_OPEN, ANSWER_CLOSE)
    if tags:
        candidates = []
        for content in tags:
            candidates.extend(boxed_contents(content) or [content])
    else:
        candidates = boxed_contents(region) or _HASHES.findall(region)
    return _single(candidates)


def _single(candidates: list[str]) -> str | None:
    """The one distinct non-empty candidate, or None."""
    kept = [c.strip() for c in candidates if normalize(c)]
    if not kept or len({normalize(c) for c in kept}) > 1:
        return None
    return kept[-1]


def boxed_contents(text: str) -> list[str]:
    r"""Contents of the top-level ``\boxed{...}`` / ``\fbox{...}`` in ``text`` (``\boxed 5`` too), left to right.

    >>> boxed_contents(r"\boxed{\frac{1}{2}} and \boxed{\{1, 2\}}")
    ['\\frac{1}{2}', '\\{1, 2\\}']
    """
    if "\\boxed" not in text and "\\fbox" not in text:
        return []
    closing = _brace_pairs(text)
    found, resume = [], 0
    for match in _BOX.finditer(text):
        if match.start() < resume:
            continue  # a box inside the previous box
        start = match.end()
        if text.startswith("{", start):
            end = closing.get(start)
            if end is None:
                continue
            found.append(_unbox(text, start + 1, end, closing))
            resume = end + 1
        elif match.group()[-1].isspace():  # "\boxed 5": the next token
            token = re.match(r"[^\s$]+", text[start : start + 200])
            if token:
                found.append(token.group())
                resume = start + token.end()
    return found


def _unbox(text: str, start: int, end: int, pairs: dict[int, int]) -> str:
    r"""``text[start:end]`` without the ``\boxed{...}`` wrappers that span all of it (``\boxed{\boxed{5}}`` ->
    ``5``, at most 8 deep). ``pairs`` is ``_brace_pairs(text)``: a matched pair's inside is balanced, so its own
    pairs are the same, and each level costs O(1) instead of another pass over the text."""
    for _ in range(8):
        first, stop = start, end
        while first < stop and text[first].isspace():
            first += 1
        while stop > first and text[stop - 1].isspace():
            stop -= 1
        match = _BOX.match(text, first, stop)
        if not (match and match.end() < stop and text[match.end()] == "{"):
            break
        if pairs.get(match.end()) != stop - 1:
            break
        start, end = match.end() + 1, stop - 1
    return text[start:end]


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of the matching ``}`` for each ``{``, escaped ``\\{`` ``\\}`` skipped; one pass."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for match in _BRACE.finditer(text):
        token = match.group()
        if len(token) == 2:
            continue
        if token == "{":
            stack.append(match.start())
        elif stack:
            pairs[stack.pop()] = match.start()
    return pairs


def is_equivalent(gold: object, answer: str | None) -> bool | None:
    r"""Whether ``answer`` is mathematically the ``gold`` answer; None when the gold cannot be parsed.

    Exact rules first (numbers compared as fractions, normalised strings, choice letters, words), then
    math-verify + sympy. Sets compare unordered, tuples and intervals ordered. An ``answer`` of None is wrong.

    >>> is_equivalent(r"\frac{1}{2}", "0.5"), is_equivalent("(1,2)", "(2,1)"), is_equivalent("", "5")
    (True, False, None)
    """
    gold_text = _gold_text(gold)
    answer = answer if isinstance(answer, str) else None
    quick = quick_equivalent(gold_text, answer)
    if quick is not UNKNOWN:
        return quick
    from rewards import _symbolic  # sympy: imported only when the exact rules cannot decide

    g = normalize(gold_text)
    if explosive(g, gold=g):
        return None
    gold_parsed = _symbolic.parse_answer(g)
    if not gold_parsed:
        return None
    a = normalize(answer)
    if not a or explosive(a, g):
        return False
    if relation(a) and not relation(g):
        return False  # "6 = 5" is a claim, not the value 5
    kinds = brackets(g), brackets(a)
    if None not in kinds and kinds[0] != kinds[1]:
        return False  # a set is not a tuple or an interval
    answer_parsed = _symbolic.parse_answer(a)
    return bool(answer_parsed) and _symbolic.verify_parsed(gold_parsed, answer_parsed)


def _gold_text(gold: object) -> str:
    """Golds arrive as strings, sometimes as numbers (a numeric dataset column)."""
    if isinstance(gold, str):
        if "\\boxed" in gold or "\\fbox" in gold:  # a gold written as "\boxed{5}"
            boxes = boxed_contents(gold)
            return boxes[0] if len(boxes) == 1 else ""
        return gold
    if isinstance(gold, (int, float, Fraction)) and not isinstance(gold, bool):
        return str(gold)
    return ""


def grade(completion: str | None, gold: object) -> bool | None:
    r"""Whether the completion's final answer equals the gold; None when the gold cannot be parsed.

    >>> grade("<think>7+9=16</think><answer>936</answer>", "936")
    True
    """
    return is_equivalent(gold, extract_answer(completion))


def quick_grade(completion: str | None, gold: object) -> object:
    """``grade`` when it is settled without sympy (cheap, in-process), else ``normalize.UNKNOWN``."""
    return quick_equivalent(_gold_text(gold), extract_answer(completion))
