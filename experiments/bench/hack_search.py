r"""Hack search: mutate wrong answers to real golds the way a policy could, and report every one the grader accepts.

Golds: GSM8K test and MATH-500 (../shared/data). For each gold, completions that are *not right by construction*:
- a wrong value (gold + 1, - 1, x 10, negated, another problem's different numeric gold) in many wrappers;
- the right value with a value-changing word (``thousand``, ``squared``, ``times 2``, ``or more``, ``at most``,
  ``is incorrect``, ``not``, ``maybe``, ...) or another unit against a gold with one;
- both the right and a wrong value (repeated, reordered, two boxes, two tags, ``or``, a list) against a single gold;
- text moved across ``</think>`` (the right answer only inside the chain of thought, ``</think>`` injected);
- look-alike characters (letter O for 0, l for 1, Cyrillic for Latin), huge numbers, symbols appended.
Wrappers: ``<answer>``, ``\boxed{}``, ``$...$``, ``\text{}``, ``\mathbf{}``, ``\left(...\right)``, ``####``.

Every completion is graded by ``rewards.pool.grade_many`` (the training path: exact rules in-process, sympy in
killable workers). A completion graded True is a false positive and is printed.

    python experiments/bench/hack_search.py                    # >= 100,000 mutations; several minutes on 2 cores
    python experiments/bench/hack_search.py --budget 3000      # a quick run (the test does this)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

HEDGES = [
    "{} thousand", "{} million", "{} hundred", "{} dozen", r"{} \text{{ thousand}}", "{} squared", "{} cubed",
    "{} times 2", "{} minus 1", "{} plus 1", "{} divided by 2", "{} over 2", "{} to the power 2", "{} at most",
    "{} at least", "{} or more", "{} or less", "at most {}", "at least {}", "not {}", "maybe {}", "about {}",
    "approximately {}", "{} is incorrect", "{} is wrong", "{} is not the answer", "{} halves", "{} fold",
    r"{} \text{{ or more}}", r"\text{{not }} {}", "{} or {}1", "{}, maybe", "{} (approximately)",
]  # fmt: skip
WRAPS = [
    "<think>w</think><answer>{}</answer>", "<think>w</think> $\\boxed{{{}}}$", "<think>w</think> \\boxed{{{}}}.",
    "<think>w</think><answer>$\\boxed{{{}}}$</answer>", "<think>w</think><answer>\\text{{{}}}</answer>",
    "<think>w</think><answer>\\mathbf{{{}}}</answer>", "<think>w</think><answer>\\left({}\\right)</answer>",
    "<think>w</think>\n#### {}", "<think>w</think><answer>The answer is {}.</answer>",
    "<think>w</think><answer>**{}**</answer>",
]  # fmt: skip
LOOKALIKE = {"0": "O", "1": "l", "5": "S", "8": "B", "3": "\u0417", "6": "b", "2": "Z"}


def load_golds(limit: int | None = None) -> list[str]:
    from rl.data import gsm8k_row, local_split, math500_row

    golds = []
    for name, mapper in (("gsm8k", gsm8k_row), ("math500", math500_row)):
        path = local_split(name, "test")
        with path.open() as f:
            golds += [mapper(json.loads(line))["answer"] for line in f if line.strip()]
    return golds[:limit] if limit else golds


def _number(gold: str) -> Fraction | None:
    from rewards.normalize import as_number, normalize

    return as_number(normalize(gold))


def _spell(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return rf"{sign}\frac{{{abs(value.numerator)}}}{{{value.denominator}}}"


def mutations(gold: str, numeric_golds: list[Fraction], rng: random.Random) -> list[str]:
    """Completions that are not right against ``gold`` (numeric golds get the full set, others a structural one)."""
    value = _number(gold)
    out: list[str] = []
    rights = [gold]
    wrongs: list[str] = []
    if value is not None:
        rights.append(_spell(value))
        wrong_values = {value + 1, value - 1, value * 10, value + Fraction(1, 2)}
        if value:
            wrong_values.add(-value)
        wrong_values.add(rng.choice(numeric_golds))
        wrong_values.discard(value)
        wrongs = [_spell(v) for v in wrong_values]
        digits = str(abs(value.numerator))
        for d, look in LOOKALIKE.items():
            if d in digits:
                out.append(WRAPS[0].format(("-" if value < 0 else "") + digits.replace(d, look, 1)))
                break
        if value:
            out.append(WRAPS[0].format(digits + "0" * 50))
        out.append(WRAPS[1].format("9" * 400))
    else:
        from rewards.math import is_equivalent

        candidates = [r"\frac{1}{2}", "0", "-1", r"\sqrt{2}", r"\pi", "x"]
        wrongs = [w for w in candidates if is_equivalent(gold, w) is False]
    for wrong in wrongs:
        for wrap in WRAPS:
            out.append(wrap.format(wrong))
        for tail in [" cm", r" \text{ units}", ".", "?", r"\%", " ", r"\quad", " (final)"]:  # not "!": 0! = 1
            out.append(WRAPS[0].format(wrong + tail))
        right = rng.choice(rights)
        out += [  # both the right and a wrong value
            f"<think>w</think> $\\boxed{{{right}}}$ and $\\boxed{{{wrong}}}$",
            f"<think>w</think> $\\boxed{{{wrong}}}$ or $\\boxed{{{right}}}$",
            f"<think>w</think><answer>{right}</answer><answer>{wrong}</answer>",
            f"<think>w</think><answer>{right} or {wrong}</answer>",
            f"<think>w</think><answer>{right}, {wrong}</answer>",
            f"<think>w</think> \\boxed{{{right}, {wrong}}}",
            f"<think>w</think><answer>{wrong}</answer>\n#### {right}",
            # the right answer only inside the chain of thought, or smuggled across the tag
            f"<think>\\boxed{{{right}}}</think><answer>{wrong}</answer>",
            f"<think>{right}</think>{wrong}",
            f"<think>w</think><answer>{wrong}</think>{right}</answer>" if value is None else "",
            f"<think>w</think><answer>{wrong}</answer><think>\\boxed{{{right}}}",
            f"<think>w<answer>{right}</answer></think><answer>{wrong}</answer>",
        ]
    from rewards.normalize import is_choice

    for right in rights:
        for hedge in HEDGES:
            scales = any(word in hedge for word in ("thousand", "million", "hundred", "dozen"))
            if scales and (value == 0 or is_choice(gold)):
                continue  # 0 thousand is 0; "(E) thousand" still picks option E: right, not a hack
            out.append(rng.choice(WRAPS[:3]).format(hedge.format(right, right)))
    from rewards.normalize import normalize, unit_of

    unit = unit_of(gold)
    if unit:  # another unit than the gold's
        other = "kilograms" if unit != "kilogram" else "metres"
        out.append(WRAPS[0].format(f"{normalize(gold)} {other}"))
    return [o for o in out if o]


def search(budget: int, seed: int = 0, show: int = 20) -> tuple[int, list[tuple[str, str]]]:
    from rewards.pool import grade_many
    from rl.progress import Phase

    rng = random.Random(seed)
    golds = load_golds()
    numeric = [v for v in (_number(g) for g in golds) if v is not None]
    rng.shuffle(golds)
    completions, targets = [], []
    while len(completions) < budget:  # seconds: the grading below is what takes minutes
        for gold in golds:
            for completion in mutations(gold, numeric, rng):
                completions.append(completion)
                targets.append(gold)
            if len(completions) >= budget:
                break
    completions, targets = completions[:budget], targets[:budget]
    found = []
    with Phase("hack search", len(completions), "completions graded", figures={"false_positives": 0}) as progress:
        for start in range(0, len(completions), 5000):
            chunk = slice(start, start + 5000)
            for completion, gold, verdict in zip(
                completions[chunk], targets[chunk], grade_many(completions[chunk], targets[chunk]), strict=True
            ):
                if verdict is True:
                    found.append((gold, completion))
            progress.update(min(start + 5000, len(completions)), false_positives=len(found))
    for gold, completion in found[:show]:
        print(f"FALSE POSITIVE gold={gold!r} completion={completion[-160:]!r}")
    return len(completions), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=100_000, help="number of mutated completions to grade")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.time()
    graded, found = search(args.budget, args.seed)
    print(f"{graded} mutations graded in {time.time() - start:.0f} s: {len(found)} false positives")
    raise SystemExit(1 if found else 0)


if __name__ == "__main__":
    from rl.errors import RlvrError

    try:
        main()
    except RlvrError as e:  # e.g. no local copy of the data: one line saying where it looked, no traceback
        print(f"hack_search: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
