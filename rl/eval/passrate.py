"""`rlvr filter`: keep the problems a model solves sometimes but not always (open-r1's pass-rate filter, DAPO's
"drop 0/k and k/k" done once, offline).

A group of completions that are all right or all wrong has zero advantage in GRPO: it costs generation and teaches
nothing. Evaluate the starting model on the training split with several samples per problem, then keep the rows
whose pass rate lies in a range; train on them with `data.source: FILE.jsonl` (the `pass_rate` column lets
`data.filter` narrow the range again later).

    rlvr eval runs/tiny__s0/start --split train --n 8 --temperature 1.0 --output runs/passrates
    rlvr filter runs/passrates --min-pass-rate 0.1 --max-pass-rate 0.9 --output data/tiny-filtered.jsonl

The output is a .jsonl file outside any training run, or a file of its own under RUN/eval/. An existing file is
replaced only with --overwrite, and only when it is an earlier `rlvr filter` output (every row has question,
answer, a numeric pass_rate and an integer n_samples) or empty; checked before the samples are read.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from rl.errors import RlvrError

RECORD_KEYS = ("index", "sample", "prompt", "completion", "extracted", "correct", "format", "length", "majority")


def find_samples(source: Path) -> Path:
    """The samples.jsonl of an eval output: the file itself, DIR/samples.jsonl, or the only DIR/<model>/ one."""
    if source.is_file():
        return source
    if not source.is_dir():
        raise RlvrError(f"filter: no such file or directory: {source}")
    if (source / "samples.jsonl").is_file():
        return source / "samples.jsonl"
    found = sorted(source.glob("*/samples.jsonl"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise RlvrError(f"filter: no samples.jsonl in {source} or its model folders (write one with `rlvr eval`)")
    raise RlvrError(f"filter: {source} holds {len(found)} evaluated models; pass one: {', '.join(map(str, found))}")


def read_samples(path: Path) -> list[dict]:
    records = []
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise RlvrError(f"filter: {path} line {number} is not JSON") from None
            if not isinstance(record, dict) or "index" not in record or "correct" not in record:
                raise RlvrError(f"filter: {path} line {number} is not an `rlvr eval` sample (no index or correct)")
            records.append(record)
    if not records:
        raise RlvrError(f"filter: {path} has no samples")
    return records


def pass_rates(records: list[dict]) -> list[dict]:
    """One training row per problem: its question, answer and other columns, `pass_rate` (share of its samples
    graded correct) and `n_samples`, in the order of the evaluation."""
    by_problem: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        by_problem[record["index"]].append(record)
    rows = []
    for index in sorted(by_problem):
        samples = by_problem[index]
        first = samples[0]
        question = first.get("question")
        if question is None and isinstance(first.get("prompt"), str):
            question = first["prompt"]  # samples written before the question was kept: the plain prompt
        if question is None:
            raise RlvrError(
                f"filter: problem {index} has no question (its prompt is a chat): re-run `rlvr eval` to write one"
            )
        row = {"question": question, "answer": first.get("answer")}
        row.update(first.get("columns") or {})
        row.update({k: v for k, v in first.items() if k not in (*RECORD_KEYS, "question", "answer", "columns")})
        row["pass_rate"] = sum(bool(s["correct"]) for s in samples) / len(samples)
        row["n_samples"] = len(samples)
        rows.append(row)
    return rows


def buckets(rows: list[dict]) -> list[tuple[str, float, float, int]]:
    """(label, lowest, highest pass rate it holds, problems): one bucket per possible pass rate k/n when every
    problem has the same n <= 16; else 0, the deciles (0, 0.1], ..., (0.9, 1) and 1."""
    sizes = {r["n_samples"] for r in rows}
    if len(sizes) == 1 and (n := next(iter(sizes))) <= 16:
        counts = [0] * (n + 1)
        for r in rows:
            counts[round(r["pass_rate"] * n)] += 1
        return [(f"{k}/{n}", k / n, k / n, counts[k]) for k in range(n + 1)]
    counts = [0] * 12
    for r in rows:
        rate = r["pass_rate"]
        counts[0 if rate <= 0 else 11 if rate >= 1 else min(10, max(1, math.ceil(rate * 10 - 1e-9)))] += 1
    labels = ["0"] + [f"({i / 10:.1f}, {(i + 1) / 10:.1f}{')' if i == 9 else ']'}" for i in range(10)] + ["1"]
    lows = [0.0] + [i / 10 + 1e-9 for i in range(10)] + [1.0]
    highs = [0.0] + [(i + 1) / 10 for i in range(9)] + [1.0 - 1e-9, 1.0]
    return list(zip(labels, lows, highs, counts, strict=True))


ROW_KEYS = {"question", "answer", "pass_rate", "n_samples"}
"""Every row `rlvr filter` writes has these: how an earlier output is recognised (see `is_filter_output`)."""


def is_filter_output(path: Path) -> bool:
    """`path` is an earlier `rlvr filter` output: every line a JSON object with question, answer, a numeric
    pass_rate and an integer n_samples, as `pass_rates` writes them (an empty file counts too: nothing to lose)."""
    try:
        with path.open() as f:
            for line in f:
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict) or not ROW_KEYS <= set(row):
                    return False
                if not isinstance(row["pass_rate"], (int, float)) or not isinstance(row["n_samples"], int):
                    return False
    except (OSError, ValueError):  # unreadable, not text, not JSON
        return False
    return True


def check_output(output: Path, overwrite: bool) -> None:
    """Raise RlvrError, touching nothing, when `rlvr filter` may not write `output`: not a .jsonl name, a training
    run's file (only a file of its own under RUN/eval/ is allowed), a folder, or an existing file without
    --overwrite; --overwrite replaces only an earlier `rlvr filter` output or an empty file, never another file."""
    from rl.rundir import refuse_inside_run

    if output.suffix != ".jsonl":
        raise RlvrError(f"filter: --output must be a .jsonl file, got {output}")
    refuse_inside_run(output, "filter: --output")
    if output.resolve() != output.absolute():  # a symlink into a run
        refuse_inside_run(output.resolve(), "filter: --output")
    if output.is_dir():
        raise RlvrError(f"filter: --output {output} is a directory; name a .jsonl file")
    if not output.exists():
        return
    if not is_filter_output(output):
        raise RlvrError(
            f"filter: {output} exists and is not an earlier `rlvr filter` output (whose every row has "
            f"{', '.join(sorted(ROW_KEYS))}); --overwrite replaces only those: pick another --output"
        )
    if not overwrite:
        rows = sum(1 for line in output.open() if line.strip())
        what = f"an `rlvr filter` output, {rows} rows" if rows else "empty"
        raise RlvrError(f"filter: {output} exists ({what}); pass --overwrite to replace it")


def cmd_filter(args) -> int:
    low, high = args.min_pass_rate, args.max_pass_rate
    if not 0.0 <= low <= high <= 1.0:
        raise RlvrError(f"filter: need 0 <= --min-pass-rate <= --max-pass-rate <= 1, got {low:g} and {high:g}")
    check_output(args.output, args.overwrite)
    samples = find_samples(Path(args.source))
    rows = pass_rates(read_samples(samples))
    kept = [r for r in rows if low <= r["pass_rate"] <= high]
    n = sorted({r["n_samples"] for r in rows})
    print(f"{samples}: {len(rows)} problems, {'/'.join(map(str, n))} samples each")
    print(f"{'pass rate':>12}  {'problems':>8}  {'share':>6}  kept")
    for label, lo, hi, count in buckets(rows):
        keep = "yes" if low <= lo and hi <= high else "no" if hi < low or lo > high else "part"
        print(f"{label:>12}  {count:>8}  {count / len(rows):>6.1%}  {keep}")
    if not kept:
        raise RlvrError(f"filter: no problem has a pass rate in [{low:g}, {high:g}]; nothing written")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    with tmp.open("w") as f:
        for row in kept:
            f.write(json.dumps(row) + "\n")
    tmp.replace(args.output)
    mean = sum(r["pass_rate"] for r in kept) / len(kept)
    print(
        f"kept {len(kept)} of {len(rows)} problems ({len(kept) / len(rows):.1%}; pass rate in [{low:g}, {high:g}], "
        f"mean {mean:.3f}) -> {args.output}"
    )
    return 0
