"""Throughput of the ``math_accuracy`` reward against a plain single-process math-verify loop, on the same items.

4,096 completions built from MATH-500 gold answers: about half restate the gold in another spelling (boxed or in
answer tags, ``\\dfrac``, decimals, ``x = ...``, units, spacing), about half are wrong, and 1% are adversarial
(1 MB strings, 10^5-deep nesting, control characters and lone surrogates, code injection, huge factorials, an
integral sympy cannot finish). ``math_accuracy`` scores them in calls of 64 (one GRPO step of 8 prompts x 8); the
baseline runs ``verify(parse("$gold$"), parse(completion))`` item by item in this process with math-verify's own
1 s alarms. Power towers are left out of the adversarial mix: they hang the baseline in C code, where its alarms
cannot reach (the reward refuses or kills them). Latency is per call of 64 items: a reward is usable when its call
returns; the baseline's per-item latency is printed too. Warm-up (pool start, imports) is timed apart.

    python experiments/bench/rewards.py                  # ~1-2 minutes on 2 cores; keep the machine otherwise idle
    RLVR_DATA_DIR=/path/holding/math500 python experiments/bench/rewards.py --items 1024
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def load_golds() -> list[str]:
    from rl.data import local_split

    path = local_split("math500", "test")
    with path.open() as f:
        return [json.loads(line)["answer"] for line in f if line.strip()]


def equivalent_form(gold: str, rng: random.Random) -> str:
    """The gold answer respelled: the grader should call it right."""
    forms = [gold, gold.replace(" ", ""), gold.replace(r"\frac", r"\dfrac"), f"${gold}$"]
    if re.fullmatch(r"-?\d+", gold):
        forms += [f"{gold}.0", f"x = {gold}", f"{gold} \\text{{ units}}", f"{int(gold):,}"]
    match = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", gold)
    if match:
        num, den = int(match.group(1)), int(match.group(2))
        forms += [f"{num}/{den}", f"\\frac{{{2 * num}}}{{{2 * den}}}"]
        if 10**6 % den == 0:
            forms.append(f"{num / den:g}")
    if r"^\circ" in gold:
        forms.append(gold.replace(r"^\circ", ""))
    return rng.choice(forms)


def wrong_form(gold: str, golds: list[str], rng: random.Random) -> str:
    """A wrong answer that often looks close."""
    if re.fullmatch(r"-?\d+", gold):
        return str(int(gold) + rng.choice([-10, -1, 1, 2, 10]))
    if rng.random() < 0.5 and re.search(r"\d", gold):
        digits = [m.start() for m in re.finditer(r"\d", gold)]
        i = rng.choice(digits)
        return gold[:i] + str((int(gold[i]) + 1) % 10) + gold[i + 1 :]
    from rewards.normalize import normalize

    other = rng.choice(golds)
    return other if normalize(other) != normalize(gold) else gold + "+1"


def adversarial(rng: random.Random) -> str:
    """Inputs meant to stall or break a grader (power towers excluded: see the module docstring)."""
    return rng.choice(
        [
            "x" * 1_000_000,
            "{" * 100_000 + "1" + "}" * 100_000,
            "(" * 100_000 + "1" + ")" * 100_000,
            r"\frac{" * 3000 + "1",
            "\x00\x01\x1b[31m\ud800\udfff 5 \u202e",
            "__import__('os').system('echo pwned')",
            "100000!",
            r"\int_0^1 \frac{\ln(1+x)}{1+x^2} dx",
            r"\sqrt{" * 5000 + "2" + "}" * 5000,
        ]
    )


def wrap(answer: str, rng: random.Random) -> str:
    thought = "Let me compute this carefully. " * rng.randint(1, 20)
    if rng.random() < 0.5:
        return f"<think>{thought}</think>\n<answer>{answer}</answer>"
    return f"<think>{thought}</think>\nTherefore the final answer is $\\boxed{{{answer}}}$."


def build_items(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(seed)
    golds = load_golds()
    completions, item_golds, kinds = [], [], []
    for i in range(n):
        gold = golds[i % len(golds)]
        roll = rng.random()
        if roll < 0.01:
            kind, answer = "adversarial", adversarial(rng)
        elif roll < 0.505:
            kind, answer = "equivalent", equivalent_form(gold, rng)
        else:
            kind, answer = "wrong", wrong_form(gold, golds, rng)
        completions.append(wrap(answer, rng))
        item_golds.append(gold)
        kinds.append(kind)
    return completions, item_golds, kinds


def baseline(completions: list[str], golds: list[str]) -> tuple[list[float], list[float]]:
    """math-verify parse + verify, one item at a time, in this process, with its own 1 s timeouts."""
    from math_verify import parse, verify

    scores, latencies = [], []
    for completion, gold in zip(completions, golds, strict=True):
        start = time.perf_counter()
        try:
            gold_parsed = parse(f"${gold}$", parsing_timeout=1)
            answer_parsed = parse(completion, parsing_timeout=1)
            scores.append(float(verify(gold_parsed, answer_parsed, timeout_seconds=1)))
        except Exception:  # math-verify raised (e.g. its own timeout escaped): the item scores 0
            scores.append(0.0)
        latencies.append(time.perf_counter() - start)
    return scores, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=64, help="completions per math_accuracy call (one GRPO step)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import rewards

    completions, golds, kinds = build_items(args.items)
    counts = {k: kinds.count(k) for k in ("equivalent", "wrong", "adversarial")}
    print(f"{len(completions)} items from MATH-500 golds: {counts}; load average {os.getloadavg()[0]:.2f}")

    fn = rewards.build("math_accuracy", timeout=1.0)
    start = time.perf_counter()
    fn([r"<think>.</think><answer>\sqrt{8}</answer>"], answer=[r"2\sqrt{2}"])  # start the pool
    warm_ours = time.perf_counter() - start
    fn.pop_metrics()
    ours, call_seconds = [], []
    start = time.perf_counter()
    for i in range(0, len(completions), args.batch):
        call_start = time.perf_counter()
        ours += fn(completions[i : i + args.batch], answer=golds[i : i + args.batch])
        call_seconds.append(time.perf_counter() - call_start)
    ours_seconds = time.perf_counter() - start
    metrics = fn.pop_metrics()
    rewards.shutdown()

    start = time.perf_counter()
    baseline(completions[:1], golds[:1])  # import math-verify and sympy
    warm_base = time.perf_counter() - start
    start = time.perf_counter()
    theirs, item_seconds = baseline(completions, golds)
    base_seconds = time.perf_counter() - start
    base_calls = [sum(item_seconds[i : i + args.batch]) for i in range(0, len(item_seconds), args.batch)]

    n = len(completions)
    print(f"\n{'':<26}{'items/s':>9}{'total s':>9}{'warm-up s':>11}{'p50 call':>10}{'p99 call':>10}{'max call':>10}")
    for name, seconds, warm, calls in (
        ("math_accuracy (pool)", ours_seconds, warm_ours, call_seconds),
        ("math-verify loop", base_seconds, warm_base, base_calls),
    ):
        print(
            f"{name:<26}{n / seconds:>9.0f}{seconds:>9.1f}{warm:>11.2f}{percentile(calls, 0.5):>10.3f}"
            f"{percentile(calls, 0.99):>10.3f}{max(calls):>10.3f}"
        )
    print(f"\nthroughput ratio (math_accuracy / math-verify loop): {base_seconds / ours_seconds:.2f}x")
    print(
        f"latency is per call of {args.batch} items; math-verify per item: p99 {percentile(item_seconds, 0.99):.3f}"
        f" s, max {max(item_seconds):.3f} s"
    )
    print(f"math_accuracy metrics: { ({k: round(v, 3) for k, v in metrics.items()}) }")
    for kind in ("equivalent", "wrong", "adversarial"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        mean_ours = statistics.fmean(ours[i] or 0.0 for i in idx)
        mean_theirs = statistics.fmean(theirs[i] for i in idx)
        print(f"mean score on {kind:<12} math_accuracy {mean_ours:.3f}   math-verify {mean_theirs:.3f}")


if __name__ == "__main__":
    from rl.errors import RlvrError

    try:
        main()
    except RlvrError as e:  # e.g. no local copy of the data: one line saying where it looked, no traceback
        print(f"rewards: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
