r"""Pure-Python normalisation of final-answer strings, before (and often instead of) sympy.

Everything here is linear-time string work on short strings; nothing imports sympy. ``quick_equivalent`` settles
the common cases exactly (plain numbers, identical strings, multiple-choice letters, words) so that most items never
reach math-verify; ``explosive`` spots answers that would make sympy compute for minutes (power towers, huge
factorials), which are refused rather than evaluated.

>>> normalize(r"$x = \dfrac{1}{2}\text{ cm}$")
'\\frac{1}{2}'
>>> as_number("1,000.5")
Fraction(2001, 2)
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

from rewards.quantities import MAGNITUDES, UNITS, read_head, read_tail

UNKNOWN = object()  # quick_equivalent could not decide; ask sympy

_UNICODE = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",
    "\u03c0": r"\pi ",
    "\u221e": r"\infty ",
    "\u221a": r"\sqrt",
    "\u00d7": r"\times ",
    "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ",
    "\u00b0": r"^\circ",
    "\u00bd": " 1/2",
    "\u00bc": " 1/4",
    "\u00be": " 3/4",
    "\u2153": " 1/3",
    "\u2154": " 2/3",
    "\u2155": " 1/5",
    "\u2156": " 2/5",
    "\u2157": " 3/5",
    "\u2158": " 4/5",
    "\u2159": " 1/6",
    "\u215a": " 5/6",
    "\u215b": " 1/8",
    "\u215c": " 3/8",
    "\u215d": " 5/8",
    "\u215e": " 7/8",
    "\u2009": " ",  # thin space (1 000)
    "\u202f": " ",  # narrow no-break space
    "\u2044": "/",  # fraction slash
    "\u2264": r"\le ",
    "\u2265": r"\ge ",
    "\u222a": r"\cup ",
    "\u00a0": " ",
}
_WRAPPERS = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname|textnormal)\s*\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\\\|\\[,:;! ]|\\(?:q?quad|displaystyle|left|right|[bB]ig[lr]?)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\(?:circ|degree)(?![A-Za-z])|\bdegrees?\b")
_PREFIX = re.compile(r"^(?:the\s+)?(?:final\s+)?(?:answer|result|solution)\s*(?:is|:|=)\s*:?\s*", re.IGNORECASE)
# a name = value reads the value: x, x_1, \\theta, f(2), f(x), AB (a segment), \\angle ABC; a constant is no name
NAME = r"[a-zA-Z](?:_\{?\w+\}?)?"  # a variable: x, x_1, x_{12}
NAMES = rf"\(\s*{NAME}(?:\s*,\s*{NAME})+\s*\)"  # a tuple of them: (x, y)
_ASSIGN = re.compile(
    rf"^(?P<lhs>{NAME}|\\[a-zA-Z]+|[a-zA-Z]\s*\([^()=]{{1,20}}\)|[A-Z]{{2,3}}|\\angle\s*[A-Z]{{1,3}}"
    rf"|m\s*\\angle\s*[A-Z]{{1,3}}|\\overline\s*\{{[A-Z]{{2}}\}}|{NAMES})\s*=\s*(?P<rhs>[^=<>]+)$"
)
_CONSTANTS = {"\\pi", "\\infty", "\\e", "\\tau", "\\phi", "\\varphi"}
_REPEATING = re.compile(r"(?P<sign>[+-]?)(?P<whole>\d*)\.(?P<fixed>\d*)\\overline\{(?P<rep>\d{1,200})\}")
_SCIENTIFIC = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\d{1,4}")
_BOLD = re.compile(r"^\*\*?([^*]+)\*\*?$|^__?([^_]+)__?$|^`([^`]+)`$")
_SPACED = re.compile(r"[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_INTEGER = re.compile(r"\s*-?\d{1,100}\s*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_FRAC = re.compile(r"(?P<sign>[+-]?)\\frac\{(?P<num>[+-]?\d+)\}\{(?P<den>[+-]?\d+)\}")
_SLASH = re.compile(r"(?P<num>[+-]?\d+)\s*/\s*(?P<den>[+-]?\d+)")
_MIXED = re.compile(r"(?P<whole>[+-]?\d+)\s*(?:\\frac\{(?P<n1>\d+)\}\{(?P<d1>\d+)\}|\s(?P<n2>\d+)/(?P<d2>\d+))")
_LETTER = re.compile(
    r"(?:(?i:option|choice)\s+)?(?:\((?P<p>[A-Ja-j])\)|(?P<b>[A-J])(?:[).:]|$))(?P<rest>.*)", re.DOTALL
)
_WORDS = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*(?: [A-Za-z]+(?:['-][A-Za-z]+)*)*")
_BASE = re.compile(r"([0-9A-Za-z]+)_\{?(\d{1,2})\}?")
_CALCULUS = re.compile(r"\\(?:i*int|oint|lim|sum|prod|partial)(?![A-Za-z])|\bd/dx")
_MAX_DIGITS = 10_000  # a number with more digits than this (10^10000) is refused, not computed
_MAX_ANSWER = 10_000  # characters: a longer "answer" or gold is no value


NO_VALUE = "\u2205"  # what a hedged, denied or operated-on answer normalises to: equal to nothing


def normalize(text: str | None) -> str:
    """A canonical spelling of a final answer: delimiters, wrappers, units, degrees, percent and dollar signs gone.

    Magnitude words scale the value (``5 thousand`` -> ``5000``); an answer that hedges, denies or operates on its
    number (``5 at most``, ``not 5``, ``5 squared``, ``\\pi = 3``) normalises to ``NO_VALUE`` (see
    ``rewards.quantities``).
    """
    return parts(text)[0]


def unit_of(text: str | None) -> str | None:
    """The canonical unit (or counted noun) an answer names after its value: ``12 \\text{ minutes}`` -> ``minute``."""
    return parts(text)[1]


@lru_cache(maxsize=4096)
def _parts_cached(text: str) -> tuple[str, str | None]:
    return _parts(text)


def parts(text: str | None) -> tuple[str, str | None]:
    """(normalised value, unit or None)."""
    if not text:
        return "", None
    return _parts_cached(text) if len(text) <= 1000 else _parts(text)


def _parts(text: str) -> tuple[str, str | None]:
    s = text.strip()
    if len(s) > _MAX_ANSWER:
        return NO_VALUE, None  # no final answer is this long (``explosive`` refuses past 4,000 characters too)
    for char, repl in _UNICODE.items():
        s = s.replace(char, repl)
    s = _BOLD.sub(lambda m: m.group(1) or m.group(2) or m.group(3), s.strip())  # markdown **bold**, *it*, `code`
    s = s.replace(r"\$", "").replace("$", "").replace(r"\%", "").replace("%", "")
    s = s.replace(r"\(", "").replace(r"\)", "").replace(r"\[", "").replace(r"\]", "")
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = re.sub(r"(\d)\s*(?:\{,\}|,\s*\\!)\s*(?=\d{3})", r"\1,", s)  # MATH's 10{,}000 and 10,\!000
    s = re.sub(r"(?<=\d)~(?=\d{3}(?!\d))", " ", s)  # 1~000: a LaTeX tie as the thousands space
    s = re.sub(r"\\(?:bar|dot)\s*\{(\d+)\}", r"\\overline{\1}", s)  # 0.\bar{3}, 0.\dot{3}: repeating
    s = s.replace("{,}", ",").replace("bmatrix", "pmatrix").replace(r"\dots", r"\ldots")
    for _ in range(3):  # unwrap nested \text{\textbf{...}}
        s = _WRAPPERS.sub(r"\1", s)
    s = _SPACING.sub(lambda m: m.group() if m.group() == "\\\\" else " ", s)  # keep "\\" (matrix rows)
    s = _DEGREES.sub("", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = _PREFIX.sub("", s)
    s = s.rstrip(".").strip()
    s = _BOLD.sub(lambda m: m.group(1) or m.group(2) or m.group(3), s)  # "The answer is **5**"
    if _SPACED.fullmatch(s):  # 1 000 000 (thin-space thousands)
        s = s.replace(" ", "")
    match = _ASSIGN.match(s)
    if match:
        if match.group("lhs").replace(" ", "") in _CONSTANTS:
            return NO_VALUE, None  # "\\pi = 3" states a (false) fact, not a value
        s = match.group("rhs").strip()
    s = _roots(s)
    s, unit = _read_words(s)
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    return s, unit


def _roots(s: str) -> str:
    """'x = 1 or x = -2' -> '1, -2' (values of one variable); 'x = 2, y = 3' -> '(2, 3)' (a system, by name)."""
    if "=" not in s or len(s) > 200:
        return s
    pieces = re.split(r"\s*(?:,|;|\bor\b|\band\b)\s*", s)
    matches = [re.fullmatch(rf"({NAME})\s*=\s*([^=<>]+)", p.strip()) for p in pieces]
    if len(pieces) < 2 or not all(matches):
        return s
    names = [m.group(1) for m in matches]
    if len(set(names)) == 1:
        return ", ".join(m.group(2).strip() for m in matches)
    if len(set(names)) == len(names) and "or" not in s.split():
        ordered = sorted(matches, key=lambda m: m.group(1))
        return "(" + ", ".join(m.group(2).strip() for m in ordered) + ")"
    return s


def relation(s: str) -> bool:
    """True when an answer states a relation (=, <, >, \\le, \\neq ...) rather than a value."""
    return bool(re.search(r"[=<>]|\\(?:le|ge|leq|geq|neq|ne|lt|gt)(?![A-Za-z])", s))


def brackets(s: str) -> str | None:
    """``set`` for ``\\{a, b\\}``, ``ordered`` for a bracketed tuple or interval ``(a, b)`` ``[a, b)``, else None."""
    s = s.strip()
    if s.startswith("\\{") and s.endswith("\\}"):
        return "set"
    if s[:1] in "([" and s[-1:] in ")]" and "," in s:
        return "ordered"
    return None


_VALUE_THEN_WORDS = re.compile(r"(?P<value>.*?[\d}])(?P<space>\s*)(?P<tail>[A-Za-z][A-Za-z\s/^{}\d']*)")
_WORDS_THEN_VALUE = re.compile(r"(?P<head>[A-Za-z][A-Za-z\s']*?)\s+(?P<value>[-+\d.\\(].*)")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_ALGEBRA = re.compile(r"[A-Za-z]+(?:\^\{?\d+\}?)?(?:\s*[A-Za-z]+(?:\^\{?\d+\}?)?)*")


def _is_algebra(tail: str, spaced: bool) -> bool:
    """Letters after a number that are variables (``x``, ``x y``, ``x^2``; ``xy`` written against the number), not
    words: a single-letter unit (``5 m``) and any run of 2+ letters that is spaced off or a known word are words."""
    if not _ALGEBRA.fullmatch(tail):
        return False
    runs = re.findall(r"[A-Za-z]+", tail)
    if len(runs) == 1 and (runs[0].lower() in UNITS or runs[0].lower() in MAGNITUDES):
        return False
    return all(len(r) == 1 for r in runs) or not spaced


def _read_words(s: str) -> tuple[str, str | None]:
    """Words before and after a value (see ``rewards.quantities``): (value, unit) or (NO_VALUE, None)."""
    if len(s) > 200 or not re.search(r"[A-Za-z]", _COMMAND.sub("", s)) or _SCIENTIFIC.fullmatch(s):
        return s, None
    head = _WORDS_THEN_VALUE.fullmatch(s)
    if head and read_head(head.group("head")):
        return NO_VALUE, None  # "at most 5", "not 5", "about 5"
    match = _VALUE_THEN_WORDS.fullmatch(s)
    if not match or re.search(r"[A-Za-z]", _COMMAND.sub("", match.group("value"))):
        return (NO_VALUE, None) if _denies(s) else (s, None)
    tail = match.group("tail")
    if _is_algebra(tail.strip(), spaced=bool(match.group("space"))):
        return s, None  # '5x', '5 x y', '3 x^2', '5xy': variables, not words
    kind, what = read_tail(tail)
    value = match.group("value").strip()
    if kind == "refuse":
        return NO_VALUE, None
    if not match.group("space") and kind == "label":
        return s, None  # '5xy' is algebra, not a count of xy
    if kind == "scale":
        number = as_number(value)
        if number is None:
            return f"{value} \\cdot {what}", None
        scaled = number * what
        return (str(scaled.numerator) if scaled.denominator == 1 else f"{scaled.numerator}/{scaled.denominator}"), None
    return value, what


def _denies(s: str) -> bool:
    """A hedge, denial or operator word anywhere in an answer that is more than a value and a unit."""
    return read_head(_COMMAND.sub(" ", s))


def as_number(text: str | None) -> Fraction | None:
    """The exact value of a plain number: integer, decimal, grouped thousands, ``\\frac{a}{b}``, ``a/b``, mixed.

    Spaces inside are not dropped: ``1 2`` is two numbers, not twelve; ``2 1/2`` is a mixed number.
    """
    if not text or len(text) > _MAX_DIGITS:
        return None
    s = re.sub(r"^([+-])\s+", r"\1", text.strip())
    try:
        match = _MIXED.fullmatch(s)
        if match:
            num, den = (
                (match.group("n1"), match.group("d1")) if match.group("n1") else (match.group("n2"), match.group("d2"))
            )
            whole, frac = int(match.group("whole")), Fraction(int(num), int(den))
            return whole - frac if match.group("whole").startswith("-") else whole + frac
        if _GROUPED.fullmatch(s):
            s = s.replace(",", "")
        if _NUMBER.fullmatch(s):
            return Fraction(s)
        if _SCIENTIFIC.fullmatch(s):  # 1.5e3; the exponent has at most 4 digits, and is capped below
            mantissa, exponent = re.split(r"[eE]", s)
            if abs(int(exponent)) > _MAX_DIGITS:
                return None
            return Fraction(mantissa) * Fraction(10) ** int(exponent)
        match = _REPEATING.fullmatch(s)
        if match:  # 0.1\overline{6} = 0.1666...
            fixed, rep = match.group("fixed"), match.group("rep")
            value = int(match.group("whole") or 0) + Fraction(int(fixed or 0), 10 ** len(fixed))
            value += Fraction(int(rep), (10 ** len(rep) - 1) * 10 ** len(fixed))
            return -value if match.group("sign") == "-" else value
        match = _FRAC.fullmatch(s) or _SLASH.fullmatch(s)
        if match:
            value = Fraction(int(match.group("num")), int(match.group("den")))
            return -value if match.groupdict().get("sign") == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def choice_letter(text: str) -> str | None:
    """The multiple-choice letter of an answer like ``(C)``, ``\\text{(C)}``, ``C) 42``, ``Option C``."""
    if not text or len(text) > 200:
        return None
    match = _LETTER.fullmatch(text.strip())
    if not match:
        return None
    rest = match.group("rest")
    if rest and (not rest[0].isspace() or re.search(r"\([A-Ja-j]\)|\b(?:or|and)\b|\b[A-J]\b", rest)):
        return None  # "(A) or (C)", "A, C": more than one choice is no choice
    return (match.group("p") or match.group("b")).upper()


def is_choice(text: str) -> bool:
    """True when a gold answer is a bare multiple-choice letter: ``C``, ``(C)``, ``\\text{(C)}``."""
    return bool(re.fullmatch(r"\(?[A-J]\)?", normalize(text)))


def is_words(text: str) -> bool:
    """True when a gold answer is prose (``\\text{Evelyn}``, ``odd``), to be compared as words, not as symbols."""
    s = normalize(text)
    raw = text.strip().strip("$")
    wrapped = bool(re.fullmatch(r"\\(?:text|textbf|mbox|mathrm)\{[^{}]*\}", raw))
    if not _WORDS.fullmatch(s):
        return False
    letters = re.sub(r"[^A-Za-z]", "", s)
    return len(letters) >= 3 or wrapped and len(letters) >= 2


def words(text: str) -> str:
    """Lower-case words, articles and punctuation dropped: ``The Sunday.`` -> ``sunday``."""
    tokens = re.findall(r"[a-z0-9]+", normalize(text).lower())
    return " ".join(tokens[1:] if tokens[:1] == ["the"] else tokens)


def quick_equivalent(gold: str | None, answer: str | None) -> object:
    """True / False / None (gold unverifiable) when the answer is settled without sympy, else ``UNKNOWN``.

    >>> quick_equivalent("936", "936.0"), quick_equivalent("936", None), quick_equivalent("", "5")
    (True, False, None)
    """
    if gold and answer and _INTEGER.fullmatch(gold) and _INTEGER.fullmatch(answer):
        return int(gold) == int(answer)  # the common case (GSM8K, arithmetic), without the regex pipeline
    g, g_unit = parts(gold)
    if not g or g == NO_VALUE:
        return None
    a, a_unit = parts(answer)
    if a == NO_VALUE or (g_unit and a_unit and g_unit != a_unit):
        return False  # a hedged or operated-on answer, or another unit (12 hours is not 12 minutes)
    g_base = _BASE.fullmatch(g)
    if g_base:  # 2516_8: the digits must match; a base, if the answer writes one, too
        a_base = _BASE.fullmatch(a)
        if a_base:
            return a_base.groups() == g_base.groups()
        return a == g_base.group(1)
    g_num = as_number(g)
    if g_num is not None:
        if not a:
            return False
        a_num = as_number(a)
        if a_num is not None:
            return a_num == g_num
    if a and a == g:
        return True
    if is_choice(gold):
        return bool(a) and choice_letter(a) == choice_letter(g)
    if is_words(gold):
        return bool(a) and words(a) == words(g)
    if not a:
        return UNKNOWN if answer is None else False
    return UNKNOWN


def depth(text: str) -> int:
    """Deepest nesting of (), [] and {} in a string."""
    deepest = level = 0
    for char in re.findall(r"[()[\]{}]", text):
        level = level + 1 if char in "([{" else level - 1
        deepest = max(deepest, level)
    return deepest


def explosive(answer: str, gold: str = "") -> bool:
    """True when evaluating ``answer`` could take unbounded time or memory and the gold gives no reason to try.

    Refused: nesting deeper than 50, towers of powers (an exponent holding an exponent) and unevaluated calculus
    (integrals, limits, sums, products) unless the gold has them too, a literal power or factorial with more than
    10,000 digits, more than 4,000 characters.

    >>> explosive("9^{9^{9^{9}}}"), explosive("2^{10}"), explosive("100000!")
    (True, False, True)
    """
    if len(answer) > 4000 or depth(answer) > 50:
        return True
    if _has_tower(answer) and not _has_tower(gold):
        return True
    if _CALCULUS.search(answer) and not _CALCULUS.search(gold):
        return True
    for base, exponent in re.findall(r"(\d+(?:\.\d+)?)\s*\^\s*\{?\s*(\d+)", answer):
        if float(exponent) * math.log10(max(float(base), 1.0)) > _MAX_DIGITS and float(base) > 1:
            return True
    for n in re.findall(r"(\d+)\s*!", answer):
        if len(n) > 4 or int(n) > 3000:
            return True
    group_factorial = re.compile(r"[)}\]]\s*!|!\s*!")  # (10!)!, (n+1)!, 5!!: refused unless the gold has one
    return bool(group_factorial.search(answer)) and not group_factorial.search(gold)


def _has_tower(s: str) -> bool:
    """An exponent that holds an exponent: ``a^{b^c}``, ``a^b^c``, ``(a^b)^c``, ``a**b**c`` (one pass)."""
    s = s.replace("**", "^")
    if re.search(r"\^\s*[\w.]+\s*\^", s):
        return True
    groups: list[list[bool]] = []  # per open bracket: [opened right after '^', holds a '^']
    open_exponents = 0
    closed_holds_caret = False
    previous = ""
    for char in re.findall(r"[()[\]{}^]|[^\s()[\]{}^]+", s):
        if char in "([{":
            groups.append([previous == "^", False])
            open_exponents += previous == "^"
        elif char in ")]}":
            if groups:
                is_exponent, holds = groups.pop()
                open_exponents -= is_exponent
                closed_holds_caret = holds
                if groups and holds:
                    groups[-1][1] = True
        elif char == "^":
            if open_exponents or previous in (")", "]", "}") and closed_holds_caret:
                return True
            if groups:
                groups[-1][1] = True
        previous = char
    return False
