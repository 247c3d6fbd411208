"""How often each grader agrees with the hand-labelled equivalence table (tests/rewards/equivalence_table.py).

Graders compared, on the same (completion, gold) pairs:
- rlvr: ``rewards.pool.grade_many`` (extract after ``</think>``: answer tag, last box, ``####``; then exact rules,
  then math-verify + sympy in killable workers, 1 s per item);
- math-verify: plain ``verify(parse("$gold$"), parse(completion))`` with its default extraction;
- TRL: ``trl.rewards.accuracy_reward`` (boxed or ``$...$`` answers, gold parsed with math-verify).
A grader is right on an item when it returns the label: True, False, or None for an unverifiable gold. The two
baselines run in worker processes with a 5 s limit per item (math-verify's own alarms cannot stop a power tower);
an item that runs out scores as False, as it would in training. False positives: True where the label is not.

    python experiments/bench/grader_agreement.py            # ~1 minute on 2 cores
    python experiments/bench/grader_agreement.py --show 20  # also print up to 20 disagreements per grader
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "rewards"))

BASELINE_TIMEOUT = 5.0


def plain_math_verify(completion: str, gold: str) -> bool | None:
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$")
    if not gold_parsed:
        return None
    return bool(verify(gold_parsed, parse(completion)))


def trl_accuracy(completion: str, gold: str) -> bool | None:
    logging.disable(logging.WARNING)
    from trl.rewards import accuracy_reward

    score = accuracy_reward([[{"role": "assistant", "content": completion}]], [f"${gold}$"])[0]
    return None if score is None else bool(score)


def run_baseline(fn, cases) -> tuple[list[bool | None], int]:
    """``fn`` on every case in 2 worker processes, each item limited to BASELINE_TIMEOUT seconds."""
    from pebble import ProcessPool

    results, timeouts = [], 0
    with ProcessPool(max_workers=2, context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.schedule(fn, args=(c.completion, c.gold), timeout=BASELINE_TIMEOUT) for c in cases]
        for future in futures:
            try:
                results.append(future.result())
            except TimeoutError:
                results.append(False)
                timeouts += 1
            except Exception:  # the grader itself raised: it gave no answer
                results.append(False)
    return results, timeouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=0, help="print up to N disagreements per grader")
    args = parser.parse_args()

    from equivalence_table import CASES

    import rewards
    from rewards.pool import grade_batch

    graders: dict[str, tuple[list[bool | None], int, float]] = {}
    start = time.perf_counter()
    batch = grade_batch([c.completion for c in CASES], [c.gold for c in CASES], timeout=1.0)
    graders["rlvr"] = (batch.results, batch.timeouts, time.perf_counter() - start)
    rewards.shutdown()
    for name, fn in (("math-verify", plain_math_verify), ("TRL accuracy_reward", trl_accuracy)):
        start = time.perf_counter()
        results, timeouts = run_baseline(fn, CASES)
        graders[name] = (results, timeouts, time.perf_counter() - start)

    kinds = list(dict.fromkeys(c.kind for c in CASES))
    sizes = Counter(c.kind for c in CASES)
    print(f"equivalence table: {len(CASES)} labelled cases ({', '.join(f'{k} {sizes[k]}' for k in kinds)})\n")
    header = f"{'grader':<22}{'right':>12}{'false pos':>11}{'timeouts':>10}{'seconds':>9}  " + "  ".join(kinds)
    print(header)
    print("-" * len(header))
    for name, (results, timeouts, seconds) in graders.items():
        right = [r == c.expected for r, c in zip(results, CASES, strict=True)]
        false_pos = sum(r is True and c.expected is not True for r, c in zip(results, CASES, strict=True))
        per_kind = defaultdict(int)
        for ok, case in zip(right, CASES, strict=True):
            per_kind[case.kind] += ok
        share = sum(right) / len(CASES)
        kind_cells = "  ".join(f"{per_kind[k]}/{sizes[k]}".rjust(len(k)) for k in kinds)
        print(f"{name:<22}{sum(right):>5} {share:6.1%}{false_pos:>11}{timeouts:>10}{seconds:>9.1f}  {kind_cells}")
        if args.show:
            wrong = [(c, r) for ok, c, r in zip(right, CASES, results, strict=True) if not ok][: args.show]
            for case, result in wrong:
                print(
                    f"    {case.kind:<12} label={case.expected!s:<5} got={result!s:<5} gold={case.gold[:30]!r} "
                    f"completion={case.completion[-60:]!r}"
                )


if __name__ == "__main__":
    main()
