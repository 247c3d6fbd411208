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

from rewards.normalize import NAME, UNKNOWN, as_number, brackets, explosive, normalize, quick_equivalent, relation
from rewards.text import ANSWER_CLOSE, ANSWER_OPEN, answer_region, tag_contents

_BOX = re.compile(r"\\(?:boxed|fbox)\b\s*")
_BRACE = re.compile(r"\\[{}]|[{}]")
_HASHES = re.compile(r"^[ \t]*####([^\n]*)", re.MULTILINE)


def extract_answer(completion: str | None) -> str | None:
    r"""The final answer of a completion, or None when there is none or more than one.

    Only text after the last ``</think>`` counts (a completion without think tags is read whole; one whose last
    ``<think>`` never closes has no answer). Inside that part: the ``<answer>`` tag's content (its ``\boxed{}``
    if it holds one), else the last ``\boxed{}``, else a ``#### N`` line. Two or more candidates of the chosen kind
    with different values (several boxes, several answer tags, several ``####`` lines that disagree) count as no
    answer; the same value written twice (``\frac12`` ... ``0.5``) is one answer.

    >>> extract_answer(r"<think>hmm</think> First \boxed{3}, then \boxed{4}.") is None
    True
    >>> extract_answer("Natalia sold 72 clips.\n#### 72")
    '72'
    """
    answers = extract_answers(completion)
    return answers[0] if len(answers) == 1 else None


def extract_answers(completion: str | None, lenient: bool = False) -> tuple[str, ...]:
    r"""Every final-answer candidate of the chosen kind (see ``extract_answer``), one per distinct value.

    Several values are no answer against a single-valued gold, and a multi-part answer against a gold with that
    many parts (``grade``). ``lenient`` (for *evaluating* base models that never box; never a training default):
    with no tag, box or ``####`` line, the last LaTeX expression, else the last number, of the final sentence.
    """
    if not isinstance(completion, str) or not completion:
        return ()
    region = answer_region(completion)
    if region is None:
        return ()
    tags = tag_contents(region, ANSWER_OPEN, ANSWER_CLOSE)
    if tags:
        candidates = []
        for content in tags:
            candidates.extend(boxed_contents(content) or [content])
    else:
        candidates = boxed_contents(region) or _HASHES.findall(region)
    if not candidates and lenient:
        candidates = _last_expression(region)
    return _distinct([c.strip() for c in candidates if normalize(c)])


def _distinct(candidates: list[str]) -> tuple[str, ...]:
    """One candidate per value, the last spelling of each, in order of their last appearance."""
    kept: list[str] = []
    for c in reversed(candidates):
        if not any(_same_value(c, k) for k in kept):
            kept.append(c)
    return tuple(reversed(kept))


def _same_value(a: str, b: str) -> bool:
    na, nb = normalize(a), normalize(b)
    if na == nb:
        return True
    x, y = as_number(na), as_number(nb)
    return x is not None and x == y


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_LAST_MATH = re.compile(r"\$([^$]{1,200})\$|\\\((.{1,200}?)\\\)")
_LAST_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[+-]?\d+(?:\.\d+)?(?:/\d+)?")


def _last_expression(region: str) -> list[str]:
    sentences = [s for s in _SENTENCE_END.split(region.strip()) if s.strip()]
    if not sentences:
        return []
    last = sentences[-1][-2000:]
    maths = _LAST_MATH.findall(last)
    if maths:
        return [next(m for m in maths[-1] if m)]
    numbers = _LAST_NUMBER.findall(last)
    return numbers[-1:]


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
        if "\\boxed" in gold or "\\fbox" in gold:  # a gold written as "\boxed{5}", or as several boxes
            return ", ".join(boxed_contents(gold))
        return gold
    if isinstance(gold, (int, float, Fraction)) and not isinstance(gold, bool):
        return str(gold)
    return ""


def grade(completion: str | None, gold: object, lenient: bool = False) -> bool | None:
    r"""Whether the completion's final answer equals the gold; None when the gold cannot be parsed.

    A gold with several parts (``1, -2``; several boxes; ``(5,8), (8,5)``) is matched, as a set, against the
    answer's parts: several final boxes, or one answer listing them (``-2 \text{ and } 1``,
    ``(x, y) = (5, 8) \text{ and } (8, 5)``). Against a single-valued gold several values stay no answer.

    >>> grade("<think>7+9=16</think><answer>936</answer>", "936")
    True
    >>> grade(r"<think>roots</think> $\boxed{-2}$ \text{ and } $\boxed{1}$", "1,-2")
    True
    """
    return grade_answers(_gold_text(gold), extract_answers(completion, lenient))


def grade_answers(gold_text: str, answers: tuple[str, ...]) -> bool | None:
    """``grade`` after extraction: the gold's text against the distinct answer candidates."""
    gold_parts = split_parts(gold_text)
    if len(gold_parts) < 2:
        return is_equivalent(gold_text, answers[0] if len(answers) == 1 else None)
    answer_parts = _distinct([part for a in answers for part in split_parts(a)])
    if len(answers) == 1 and len(answer_parts) < 2:
        return is_equivalent(gold_text, answers[0])  # one object against the listed gold: math-verify decides
    return _match_parts(gold_parts, answer_parts)


def quick_grade(completion: str | None, gold: object) -> object:
    """``grade`` when it is settled without sympy (cheap, in-process), else ``normalize.UNKNOWN``."""
    return quick_grade_answers(_gold_text(gold), extract_answers(completion))


def quick_grade_answers(gold_text: str, answers: tuple[str, ...]) -> object:
    if len(split_parts(gold_text)) >= 2:
        return UNKNOWN
    return quick_equivalent(gold_text, answers[0] if len(answers) == 1 else None)


_PART_WORDS = re.compile(r"\\(?:text|mbox|textrm|mathrm)\s*\{\s*(and|or)\s*\}")
_NAMES_EQUAL = re.compile(rf"^\s*\(?\s*{NAME}(?:\s*,\s*{NAME})+\s*\)?\s*=\s*")  # "(x, y) = ", "x, y = "
_MAX_PARTS = 12


def split_parts(text: str) -> list[str]:
    r"""The top-level parts of an answer or gold: ``1, -2`` -> ``['1', '-2']``; ``(5, 8) and (8, 5)`` -> two tuples.

    One bracketed object (``(2, 3)``, ``[1, 2)``, ``\{1, 2\}``), a grouped number (``1,000``, ``10,\!000``) and
    plain text are one part.
    """
    if not text or len(text) > 2000:
        return [text] if text else []
    s = _PART_WORDS.sub(lambda m: f" {m.group(1)} ", text)
    s = s.replace("$", " ").strip()
    s = re.sub(r"\\(?:left|right)(?![A-Za-z])", "", s)
    s = _NAMES_EQUAL.sub("", s)  # "(x, y) = (5, 8) and (8, 5)": the names, then the values
    if as_number(normalize(s)) is not None or _one_group(s):
        return [text]
    pieces, depth, start = [], 0, 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch in ",;":
            if ch == "," and re.match(r"\d{3}(?!\d)", s[i + 1 :]) and i and s[i - 1].isdigit():
                i += 1
                continue  # 1,000: thousands, not two parts
            pieces.append(s[start:i])
            start = i + 1
        elif depth == 0 and re.match(r"\s(?:and|or)\s", s[i : i + 5]):
            pieces.append(s[start:i])
            start = i + (4 if s[i + 1 : i + 4] == "and" else 3)
        i += 1
    pieces.append(s[start:])
    parts = [p.strip() for p in pieces if p.strip()]
    return parts if len(parts) >= 2 else [text]


def _one_group(s: str) -> bool:
    """True when ``s`` is one bracketed object: its first bracket closes at its last character."""
    s = s.strip()
    if s.startswith("\\{"):
        s = s[1:]
    if not s or s[0] not in "([{":
        return False
    depth = 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
    return False


def _match_parts(gold_parts: list[str], answer_parts: tuple[str, ...] | list[str]) -> bool | None:
    """The answer's parts equal the gold's as a set (a perfect matching under ``is_equivalent``)."""
    if len(gold_parts) > _MAX_PARTS:
        return None
    if len(answer_parts) != len(gold_parts):
        return False if all(is_equivalent(g, g) is not None for g in gold_parts) else None
    table = [[is_equivalent(g, a) for a in answer_parts] for g in gold_parts]
    if any(all(v is None for v in row) for row in table):
        return None
    used: set[int] = set()

    def place(row: int) -> bool:
        if row == len(table):
            return True
        for col, ok in enumerate(table[row]):
            if ok and col not in used:
                used.add(col)
                if place(row + 1):
                    return True
                used.discard(col)
        return False

    return place(0)
