"""Offline pass-rate filtering: `rlvr filter` over `rlvr eval` samples, and `data.filter` / `data.eval_source`."""

import json
import random

import pytest

from rl.config import DataConfig, PassRateFilter, load_experiment
from rl.data import load_data
from rl.errors import RlvrError
from rl.eval.passrate import buckets, pass_rates
from tests.conftest import rlvr


def samples(rates: list[int], n: int = 8, extra=None) -> list[dict]:
    """`rlvr eval`-shaped records: problem i solved rates[i] times out of n."""
    out = []
    for i, right in enumerate(rates):
        for j in range(n):
            out.append(
                {
                    "index": i,
                    "sample": j,
                    "question": f"What is {i} + 1?",
                    "prompt": f"What is {i} + 1?",
                    "answer": str(i + 1),
                    "completion": "...",
                    "extracted": None,
                    "correct": j < right,
                    "format": True,
                    "length": 9,
                    "majority": j == 0,
                    "data_source": "arithmetic",
                    "level": 2 + i % 3,
                    "columns": {"solution": f"<answer>{i + 1}</answer>", **(extra or {})},
                }
            )
    return out


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("seed", range(20))
def test_pass_rate_is_the_share_right_and_rows_keep_their_columns(seed):
    rng = random.Random(seed)
    n = rng.choice([1, 4, 8, 16])
    rates = [rng.randint(0, n) for _ in range(rng.randint(1, 30))]
    records = samples(rates, n, extra={"numbers": [1, 2]})
    rng.shuffle(records)  # order of lines does not matter
    rows = pass_rates(records)
    assert [r["pass_rate"] for r in rows] == [k / n for k in rates]
    assert all(r["n_samples"] == n for r in rows)
    assert all({"question", "answer", "solution", "numbers", "level", "data_source"} <= set(r) for r in rows), rows[0]
    assert not any(k in rows[0] for k in ("completion", "correct", "extracted", "sample", "index", "columns"))
    counted = buckets(rows)
    assert sum(c for *_, c in counted) == len(rows)  # every problem in exactly one bucket


def test_many_samples_bucket_by_decile_with_zero_and_one_apart():
    rows = [{"pass_rate": r, "n_samples": 32} for r in (0.0, 0.05, 0.1, 0.5, 0.95, 1.0, 1.0)]
    counted = {label: c for label, _, _, c in buckets(rows)}
    assert counted["0"] == 1 and counted["1"] == 2 and counted["(0.0, 0.1]"] == 2 and counted["(0.9, 1.0)"] == 1
    assert sum(counted.values()) == len(rows)


def test_rlvr_filter_writes_the_kept_rows_and_prints_the_buckets(tmp_path):
    evaluated = tmp_path / "eval" / "final"
    evaluated.mkdir(parents=True)
    write(evaluated / "samples.jsonl", samples([0, 8, 3, 4, 8, 1, 0, 7]))
    out = tmp_path / "kept.jsonl"
    result = rlvr(
        "filter", str(tmp_path / "eval"), "--min-pass-rate", "0.1", "--max-pass-rate", "0.9", "--output", str(out)
    )
    assert result.returncode == 0, result.stderr
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["pass_rate"] for r in kept] == [3 / 8, 4 / 8, 1 / 8, 7 / 8]
    assert "kept 4 of 8 problems" in result.stdout
    lines = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if "/8" in line.split()[0]}
    assert lines["0/8"][0] == "2" and lines["0/8"][-1] == "no" and lines["3/8"][-1] == "yes"
    assert lines["8/8"][0] == "2" and lines["8/8"][-1] == "no"
    # the output is a training file as it stands, and data.filter narrows it again
    exp = load_experiment(
        None,
        [
            f"data.source={out}",
            "data.eval_source=builtin:arithmetic",
            "data.filter={min_pass_rate: 0.4, max_pass_rate: 0.9}",
            "data.train_size=null",
        ],
    )
    train, held_out = load_data(exp.data)
    assert sorted(r["pass_rate"] for r in train) == [4 / 8, 7 / 8]
    assert train[0]["prompt"] == train[0]["question"] and train[0]["solution"].startswith("<answer>")
    assert len(held_out) == 256 and all(r["data_source"] == "arithmetic" for r in held_out)
    # never overwritten without --overwrite
    again = rlvr("filter", str(evaluated / "samples.jsonl"), "--output", str(out))
    assert again.returncode == 2 and "exists (an `rlvr filter` output, 4 rows); pass --overwrite" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-pass-rate", "0.8", "--max-pass-rate", "0.2"], "need 0 <= --min-pass-rate <= --max-pass-rate <= 1"),
        (["--output", "x.csv"], "--output must be a .jsonl file"),
        (["--min-pass-rate", "0.5", "--max-pass-rate", "0.6"], "no problem has a pass rate in [0.5, 0.6]"),
    ],
)
def test_rlvr_filter_bad_input_is_a_one_line_error(tmp_path, args, message):
    source = write(tmp_path / "samples.jsonl", samples([0, 8]))
    base = ["--output", str(tmp_path / "o.jsonl")] if "--output" not in args else []
    result = rlvr("filter", str(source), *base, *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_rlvr_filter_refuses_what_is_not_an_eval_output(tmp_path):
    (tmp_path / "a" / "samples.jsonl").parent.mkdir()
    (tmp_path / "b").mkdir()
    write(tmp_path / "a" / "samples.jsonl", samples([1]))
    write(tmp_path / "b" / "samples.jsonl", samples([1]))
    two = rlvr("filter", str(tmp_path), "--output", str(tmp_path / "o.jsonl"))
    assert two.returncode == 2 and "holds 2 evaluated models; pass one" in two.stderr
    (tmp_path / "junk.jsonl").write_text('{"a": 1}\n')
    junk = rlvr("filter", str(tmp_path / "junk.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert junk.returncode == 2 and "is not an `rlvr eval` sample" in junk.stderr
    missing = rlvr("filter", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o.jsonl"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr


def test_data_filter_needs_the_column_and_keeps_something(tmp_path):
    plain = write(tmp_path / "plain.jsonl", [{"question": "q", "answer": "1"}])
    cfg = DataConfig(source=str(plain), eval_source="builtin:arithmetic", filter=PassRateFilter(0.1, 0.9))
    with pytest.raises(RlvrError, match="has no numeric 'pass_rate' column"):
        load_data(cfg)
    rated = write(tmp_path / "rated.jsonl", [{"question": "q", "answer": "1", "pass_rate": 1.0}])
    cfg = DataConfig(source=str(rated), eval_source="builtin:arithmetic", filter=PassRateFilter(0.1, 0.9))
    with pytest.raises(RlvrError, match=r"no training row .* has pass_rate in \[0.1, 0.9\]"):
        load_data(cfg)
    with pytest.raises(RlvrError, match="data.filter needs 0 <= min_pass_rate <= max_pass_rate <= 1"):
        load_experiment(None, ["data.filter={min_pass_rate: 0.9, max_pass_rate: 0.1}"])


def test_mixed_digit_arithmetic_has_equal_levels_disjoint_splits_and_leaves_one_level_unchanged():
    train, held_out = load_data(DataConfig(params={"digits": [2, 3, 4, 5]}, train_size=400, eval_size=40))
    for rows, size in ((train, 400), (held_out, 40)):
        levels = [r["level"] for r in rows]
        assert {d: levels.count(d) for d in (2, 3, 4, 5)} == dict.fromkeys((2, 3, 4, 5), size // 4)
        assert levels[: size // 4] != [levels[0]] * (size // 4)  # interleaved, not in blocks
        for r in rows:
            a, b = (int(x) for x in r["question"].removeprefix("What is ").removesuffix("?").split(" + "))
            assert max(len(str(a)), len(str(b))) <= r["level"] and int(r["answer"]) == a + b

    def pairs(rows):
        return {tuple(sorted(r["question"].removeprefix("What is ").removesuffix("?").split(" + "))) for r in rows}

    assert not pairs(train) & pairs(held_out)
    single, _ = load_data(DataConfig(params={"digits": 3}, train_size=50, eval_size=10))
    assert "level" not in single[0]
    with pytest.raises(RlvrError, match="lists a digit count twice"):
        load_data(DataConfig(params={"digits": [3, 3]}))
    with pytest.raises(RlvrError, match="an integer 1..9 or a list of them"):
        load_data(DataConfig(params={"digits": [2, 10]}))


def filter_cli(capsys, *argv) -> tuple[int, str]:
    """`rlvr filter ...` in this process: (exit code, stderr)."""
    from rl.cli import main

    code = main(["filter", *argv])
    return code, capsys.readouterr().err


def test_filter_overwrite_replaces_only_an_earlier_filter_output_or_an_empty_file(tmp_path, capsys):
    """--overwrite replaces a file `rlvr filter` wrote (every row has question, answer, pass_rate, n_samples) or an
    empty one; any other file, a folder, or a training run's file is refused in one line and left as it was."""
    source = write(tmp_path / "samples.jsonl", samples([2, 5]))
    out = tmp_path / "kept.jsonl"
    assert filter_cli(capsys, str(source), "--output", str(out))[0] == 0
    assert filter_cli(capsys, str(source), "--output", str(out), "--max-pass-rate", "0.5", "--overwrite")[0] == 0
    assert [json.loads(line)["pass_rate"] for line in out.read_text().splitlines()] == [2 / 8]
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    code, err = filter_cli(capsys, str(source), "--output", str(empty))
    assert code == 2 and "exists (empty); pass --overwrite" in err
    assert filter_cli(capsys, str(source), "--output", str(empty), "--overwrite")[0] == 0 and empty.read_text()
    precious = tmp_path / "train.jsonl"
    precious.write_text('{"question": "q", "answer": "1"}\n')
    for target in (precious, source):  # a training file; the very samples being filtered
        kept = target.read_text()
        code, err = filter_cli(capsys, str(source), "--output", str(target), "--overwrite")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "not an earlier `rlvr filter` output" in err
        assert target.read_text() == kept
    (tmp_path / "dir.jsonl").mkdir()
    code, err = filter_cli(capsys, str(source), "--output", str(tmp_path / "dir.jsonl"), "--overwrite")
    assert code == 2 and "is a directory" in err


def test_filter_may_write_its_own_file_under_a_runs_eval_folder(tmp_path, capsys):
    """RUN/eval/<file>.jsonl is the one place inside a run `rlvr filter` writes; the run's own records are not."""
    run = tmp_path / "run"
    (run / "eval").mkdir(parents=True)
    (run / "config.yaml").write_text("name: x\n")
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "eval" / "before.jsonl").write_text("{}\n")
    source = write(tmp_path / "samples.jsonl", samples([2, 5]))
    assert filter_cli(capsys, str(source), "--output", str(run / "eval" / "kept.jsonl"))[0] == 0
    for inside in ("eval/before.jsonl", "metrics.jsonl", "kept.jsonl"):
        code, err = filter_cli(capsys, str(source), "--output", str(run / inside), "--overwrite")
        assert code == 2 and "inside the training run" in err
    assert (run / "eval" / "before.jsonl").read_text() == "{}\n" and not (run / "kept.jsonl").exists()
