r"""Property tests for the math grader (hypothesis): one value in many surface forms must grade True; a value-changing
edit of it must grade False.

Forms: integers and fractions as plain numbers, thousands separators (``,``, ``\,``, ``{,}``, ``,\!``, spaces),
e-notation, decimals, ``\frac``/``\dfrac``/``a/b``, mixed numbers, repeating decimals, percent, units the gold does not
contradict, magnitude words that scale to the gold, markdown bold, ``x =``, ``\text{}``, inside ``<answer>``,
``\boxed{}`` or "The answer is $...$". Edits: another digit, the sign, a magnitude word, an operator word, a hedge or
denial, a second different answer, another unit.

The seed is random per run and printed (rerun one with ``RLVR_PROPERTY_SEED=<seed>``).
"""

from __future__ import annotations

import os
import random
from fractions import Fraction

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from rewards.math import grade

SEED = int(os.environ.get("RLVR_PROPERTY_SEED", random.randrange(2**32)))
CASES = 1500  # per test: thousands per run in all
SETTINGS = settings(
    max_examples=CASES, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck)
)
UNITS = ["cm", "km", "kg", "dollars", r"\text{ dollars}", "minutes", r"\mathrm{m}", "apples", r"\text{ cm}^2"]


def _grouped(n: int, sep: str) -> str:
    digits = str(abs(n))
    groups = []
    while digits:
        groups.append(digits[-3:])
        digits = digits[:-3]
    return ("-" if n < 0 else "") + sep.join(reversed(groups))


def _decimal(value: Fraction) -> str | None:
    """A terminating decimal, or None."""
    q = value.denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    if q != 1:
        return None
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    text = str(abs(value.numerator) * 10**places // value.denominator).zfill(places + 1)
    whole, frac = text[:-places] if places else text, text[-places:] if places else ""
    return ("-" if value < 0 else "") + (whole or "0") + ("." + frac if frac else "")


def _repeating(value: Fraction) -> str | None:
    r"""``0.1\overline{6}`` for 1/6; None for a terminating decimal."""
    if _decimal(value) is not None or value < 0:
        return None
    whole, rest = divmod(value.numerator, value.denominator)
    digits, seen = [], {}
    while rest and rest not in seen:
        seen[rest] = len(digits)
        rest *= 10
        digits.append(str(rest // value.denominator))
        rest %= value.denominator
    start = seen[rest]
    return f"{whole}." + "".join(digits[:start]) + r"\overline{" + "".join(digits[start:]) + "}"


def forms(value: Fraction) -> list[str]:
    """Spellings of ``value`` that a grader must accept against its plain gold."""
    out = []
    if value.denominator == 1:
        n = value.numerator
        out += [
            str(n),
            f"{n}.0",
            f"{n}.00",
            f"**{n}**",
            f"x = {n}",
            rf"\text{{{n}}}",
            rf"{n}\%",
            f"+{n}" if n >= 0 else str(n),
        ]
        if abs(n) >= 1000:
            out += [_grouped(n, sep) for sep in (",", r"\,", "{,}", r",\!", " ", "\u2009")]
        if n and n % 1000 == 0:
            out += [f"{n // 1000} thousand", rf"{n // 1000} \text{{ thousand}}"]
        if n and n % 10**6 == 0:
            out.append(f"{n // 10**6} million")
        if n and abs(n) >= 10:
            mantissa = Fraction(n, 10 ** (len(str(abs(n))) - 1))
            out.append(f"{_decimal(mantissa)}e{len(str(abs(n))) - 1}")
    else:
        p, q = abs(value.numerator), value.denominator
        sign = "-" if value < 0 else ""
        out += [rf"{sign}\frac{{{p}}}{{{q}}}", rf"{sign}\dfrac{{{p}}}{{{q}}}", f"{sign}{p}/{q}"]
        if p > q:
            out.append(rf"{sign}{p // q}\frac{{{p % q}}}{{{q}}}")
        decimal = _decimal(value)
        if decimal:
            out.append(decimal)
        repeating = _repeating(value)
        if repeating:
            out.append(repeating)
    out += [f + " " + u for f in out[:2] for u in UNITS]
    return [f for f in out if f]


def wrap(answer: str, how: int) -> str:
    return [
        f"<think>Work.</think>\n<answer>{answer}</answer>",
        f"<think>Work.</think>\nSo the answer is $\\boxed{{{answer}}}$.",
        f"<think>Work.</think>\n<answer>The answer is ${answer}$</answer>",
    ][how]


def gold_of(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else rf"\frac{{{value.numerator}}}{{{value.denominator}}}"


values = st.one_of(
    st.integers(-(10**7), 10**7).map(Fraction),
    st.builds(Fraction, st.integers(-999, 999), st.integers(2, 64)),
)


class Counter:
    ran = 0


@seed(SEED)
@SETTINGS
@given(values, st.data())
def _every_form_grades_true(value, data):
    answer = data.draw(st.sampled_from(forms(value)))
    how = data.draw(st.integers(0, 2))
    Counter.ran += 1
    assert grade(wrap(answer, how), gold_of(value)) is True, (answer, gold_of(value), SEED)


def _edits(value: Fraction, draw) -> list[str]:
    text = draw(st.sampled_from(forms(value)[:3]))
    other = value + draw(st.sampled_from([1, -1, 10, Fraction(1, 2), 1000]))
    edits = [
        draw(st.sampled_from(forms(other)[:3])),  # another digit / value
        f"{gold_of(value)} thousand" if value else "1",
        f"{text} squared" if value not in (0, 1) else "2",
        draw(st.sampled_from([f"{text} times 2", f"{text} minus 1", f"{text} plus 1", f"{text} divided by 2"])),
        draw(st.sampled_from([f"at most {text}", f"{text} or more", f"{text} at least", f"maybe {text}"])),
        draw(st.sampled_from([f"{text} is incorrect", f"not {text}", f"approximately {text}", f"{text} or less"])),
    ]
    if value:
        edits.append(f"-{text}" if not text.startswith("-") else text[1:])
    return edits


@seed(SEED)
@SETTINGS
@given(values, st.data())
def _every_edit_grades_false(value, data):
    answer = data.draw(st.sampled_from(_edits(value, data.draw)))
    how = data.draw(st.integers(0, 2))
    Counter.ran += 1
    assert grade(wrap(answer, how), gold_of(value)) is False, (answer, gold_of(value), SEED)


@seed(SEED)
@settings(max_examples=CASES // 3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(values, values, st.sampled_from([("minutes", "hours"), ("km", "miles"), ("cm", "kg"), ("dollars", "cents")]))
def _two_answers_or_another_unit_grade_false(value, other, units):
    Counter.ran += 2
    if other != value:
        two = f"<think>w</think> $\\boxed{{{gold_of(value)}}}$ or $\\boxed{{{gold_of(other)}}}$"
        assert grade(two, gold_of(value)) is False, (two, SEED)
    gold_unit, answer_unit = units
    answer = f"<think>w</think><answer>{gold_of(value)} {answer_unit}</answer>"
    assert grade(answer, f"{gold_of(value)} \\text{{ {gold_unit}}}") is False, (answer, gold_unit, SEED)


def test_right_answers_in_every_form_grade_true():
    print(f"property seed {SEED} (rerun: RLVR_PROPERTY_SEED={SEED})")
    before = Counter.ran
    _every_form_grades_true()
    assert Counter.ran - before >= CASES * 0.9


def test_value_changing_edits_grade_false():
    print(f"property seed {SEED} (rerun: RLVR_PROPERTY_SEED={SEED})")
    before = Counter.ran
    _every_edit_grades_false()
    assert Counter.ran - before >= CASES * 0.9


def test_a_second_answer_or_another_unit_grades_false():
    print(f"property seed {SEED} (rerun: RLVR_PROPERTY_SEED={SEED})")
    _two_answers_or_another_unit_grade_false()
    print(f"{Counter.ran} property cases graded in this module")
