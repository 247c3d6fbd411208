"""The Countdown game (TinyZero): reach the target with + - * / over the given numbers, each used at most once."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

from rewards.base import Reward, Score, Tally
from rewards.math import extract_answer
from rewards.registry import register

MAX_CHARS = 256  # a Countdown answer over a handful of numbers is short; anything longer scores 0 unread
MAX_MAGNITUDE = 10**12  # numerators and denominators beyond this end the evaluation (scores 0)
_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*/()]))")
_SPELLINGS = [
    (r"\times", "*"), (r"\cdot", "*"), ("\u00d7", "*"), ("\u00b7", "*"), (r"\div", "/"), ("\u00f7", "/"),
    ("\u2212", "-"), (r"\left", ""), (r"\right", ""), ("$", ""), ("[", "("), ("]", ")"), ("{", "("), ("}", ")"),
]  # fmt: skip
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def evaluate(expression: str) -> tuple[Fraction, list[int]] | None:
    """Exact value and the integer literals of a ``+ - * /`` expression; None if malformed, too big, or ``/0``.

    Binary operators only (no unary minus), integers only, parentheses allowed; parsed without recursion (shunting
    yard), so depth and length cost nothing but a scan. No ``eval``.

    >>> evaluate("(25 - 5) * 4 / 2")
    (Fraction(40, 1), [25, 5, 4, 2])
    >>> evaluate("2 ** 9999") is None, evaluate("-3 + 4") is None, evaluate("1 / (2 - 2)") is None
    (True, True, True)
    """
    if len(expression) > MAX_CHARS:
        return None
    output: list[Fraction] = []
    operators: list[str] = []
    literals: list[int] = []
    expect_operand, position = True, 0
    text = expression.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            return None
        position = match.end()
        number, symbol = match.groups()
        if number is not None:
            if not expect_operand or len(number) > 12:
                return None
            literals.append(int(number))
            output.append(Fraction(int(number)))
            expect_operand = False
        elif symbol == "(":
            if not expect_operand:
                return None
            operators.append(symbol)
        elif symbol == ")":
            if expect_operand:
                return None
            while operators and operators[-1] != "(":
                if not _apply(operators.pop(), output):
                    return None
            if not operators:
                return None
            operators.pop()
        else:
            if expect_operand:
                return None  # unary operators are not allowed
            while operators and operators[-1] != "(" and _PRECEDENCE[operators[-1]] >= _PRECEDENCE[symbol]:
                if not _apply(operators.pop(), output):
                    return None
            operators.append(symbol)
            expect_operand = True
    if expect_operand:
        return None
    while operators:
        operator = operators.pop()
        if operator == "(" or not _apply(operator, output):
            return None
    return (output[0], literals) if len(output) == 1 else None


def _apply(operator: str, stack: list[Fraction]) -> bool:
    if len(stack) < 2:
        return False
    right, left = stack.pop(), stack.pop()
    if operator == "/" and right == 0:
        return False
    value = (
        {"+": left + right, "-": left - right, "*": left * right}.get(operator) if operator != "/" else left / right
    )
    if abs(value.numerator) > MAX_MAGNITUDE or value.denominator > MAX_MAGNITUDE:
        return False
    stack.append(value)
    return True


def _integer(value: object) -> int:
    """An int from an int, an integral float, or a string of digits; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a bool is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,12}\s*", value):
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def countdown_score(text: str, numbers: object, target: object, use_all: bool = False) -> float | None:
    """1.0 / 0.0 for one completion; None when the row's ``numbers`` or ``target`` are not integers."""
    try:
        given = Counter(_integer(n) for n in numbers)  # type: ignore[union-attr]
        goal = Fraction(_integer(target))
    except (TypeError, ValueError):
        return None
    answer = extract_answer(text)
    if answer is None or len(answer) > MAX_CHARS:
        return 0.0
    for spelling, plain in _SPELLINGS:
        answer = answer.replace(spelling, plain)
    result = evaluate(answer.split("=")[0])
    if result is None:
        return 0.0
    value, literals = result
    used = Counter(literals)
    if any(used[n] > given[n] for n in used) or use_all and used != given:
        return 0.0
    return float(value == goal)


@register
class Countdown(Reward):
    """1.0 when the answer is a ``+ - * /`` expression over ``numbers`` (each at most once) equal to ``target``.

    The expression is the final answer (``<answer>`` tag, else last ``\\boxed{}``, after ``</think>``); a trailing
    ``= N`` is ignored (the left side must reach the target). Integers and binary operators only, no unary minus,
    evaluated exactly on a parsed tree with magnitudes bounded by 10^12 and 256 characters, so it cannot run long
    and needs no worker pool. Dataset columns: ``numbers`` (list of ints) and ``target`` (int); a row where they are
    not integers scores None. Params: ``use_all`` (require every number exactly once, as TinyZero; default False).

    >>> Countdown()(["<think>..</think><answer>(25 - 5) * 4 / 2</answer>"], numbers=[[2, 4, 5, 25]], target=[40])
    [1.0]
    """

    name = "countdown"
    checks_answer = True

    def __init__(self, use_all: bool = False) -> None:
        super().__init__()
        self.use_all = use_all

    def score(self, texts: list[str], columns: dict, tally: Tally) -> list[Score]:
        numbers = self.column(columns, "numbers", len(texts))
        targets = self.column(columns, "target", len(texts))
        return self.each(tally, lambda t, n, g: countdown_score(t, n, g, self.use_all), texts, numbers, targets)
