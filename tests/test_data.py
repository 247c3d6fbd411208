"""Data sources map rows to {prompt, answer, data_source}; held-out splits never leak into training."""

import hashlib
import json

import pytest

from rl.config import DataConfig
from rl.data import R1_ZERO, apply_template, arithmetic_solution, data_root, load_data, render_prompt
from rl.errors import RlvrError
from rl.models import build_char_tokenizer

needs_shared_data = pytest.mark.skipif(not (data_root() / "gsm8k").is_dir(), reason="../shared/data not present")


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (347, 589, "<think>7+9=16 4+8+1=13 3+5+1=9</think><answer>936</answer>"),
        (5, 123, "<think>5+3=8 0+2=2 0+1=1</think><answer>128</answer>"),
        (999, 1, "<think>9+1=10 9+0+1=10 9+0+1=10</think><answer>1000</answer>"),
        (0, 0, "<think>0+0=0</think><answer>0</answer>"),
    ],
)
def test_arithmetic_solution(a, b, expected):
    assert arithmetic_solution(a, b) == expected


def test_arithmetic_splits_are_disjoint_seeded_and_sized():
    cfg = DataConfig(train_size=2000, eval_size=300, params={"digits": 3})
    train, held_out = load_data(cfg)
    assert (len(train), len(held_out)) == (2000, 300)

    def pair(row):
        a, b = row["question"].removeprefix("What is ").removesuffix("?").split(" + ")
        return frozenset((int(a), int(b)))

    assert not {pair(r) for r in train} & {pair(r) for r in held_out}
    assert load_data(cfg) == (train, held_out)  # same seed, same rows
    other_train, other_eval = load_data(DataConfig(train_size=2000, eval_size=300, seed=5))
    assert other_eval != held_out
    row = held_out[0]
    assert set(row) >= {"prompt", "answer", "data_source", "solution"}
    assert row["solution"].endswith(f"<answer>{row['answer']}</answer>")


def test_arithmetic_rejects_unknown_params():
    with pytest.raises(RlvrError, match="unknown parameter"):
        load_data(DataConfig(params={"digitz": 2}))


def test_templates():
    assert apply_template("What is 1 + 2?", "plain") == "What is 1 + 2?"
    assert apply_template("Q?", "r1_zero") == R1_ZERO.format(question="Q?")
    assert apply_template("Q?", "r1_zero").endswith("User: Q? Assistant:")
    messages = apply_template("Q?", "chat", "Be brief.")
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}]
    tok = build_char_tokenizer()
    assert render_prompt(messages, tok) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"
    )


@needs_shared_data
def test_gsm8k_local_copy():
    train, test = load_data(DataConfig(source="gsm8k", train_size=50, eval_size=20))
    assert len(train) == 50 and len(test) == 20
    first = test[0]
    assert first["answer"] == "18" and first["data_source"] == "gsm8k"
    assert "Janet" in first["prompt"] and "<<" not in first["solution"]
    assert all("," not in r["answer"] for r in train)
    assert load_data(DataConfig(source="openai/gsm8k", eval_size=20))[1] == test  # hub name, local copy


@needs_shared_data
def test_math500_local_copy_keeps_level_and_subject():
    _, test = load_data(DataConfig(source="math500", train_split="test", eval_size=10, template="r1_zero"))
    assert test[0]["answer"] == r"\left( 3, \frac{\pi}{2} \right)"
    assert test[0]["level"] == 2 and test[0]["subject"] == "Precalculus"
    assert test[0]["prompt"].startswith("A conversation between User and Assistant")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_local_jsonl_with_custom_columns(tmp_path):
    rows = [{"q": f"{i}+1?", "gold": i + 1} for i in range(10)]
    path = write_jsonl(tmp_path / "mine.jsonl", rows)
    train, test = load_data(DataConfig(source=str(path), prompt_column="q", answer_column="gold", eval_size=4))
    assert len(test) == 4 and all(isinstance(r["answer"], str) for r in test)
    assert {r["data_source"] for r in train} == {"mine.jsonl"}


def test_missing_answer_column_lists_columns(tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question": "1+1?", "solution": "2"}])
    with pytest.raises(RlvrError, match=r"no answer column 'answer' \(columns: question, solution\)"):
        load_data(DataConfig(source=str(path)))


def test_missing_file():
    with pytest.raises(RlvrError, match="no such file"):
        load_data(DataConfig(source="nope/missing.jsonl"))


def test_countdown_task_rows_are_solvable_and_evaluation_grades_them_with_the_countdown_reward():
    from rl.eval.evaluate import score_samples

    train, held_out = load_data(DataConfig(source="builtin:countdown", train_size=64, eval_size=16))
    assert not {r["question"] for r in train} & {r["question"] for r in held_out}
    rows = held_out[:3]
    right = rows[0]["solution"]  # the generating expression: uses the numbers, reaches the target
    only_value = f"<think>x</think><answer>{rows[1]['target']}</answer>"  # the target's value, no equation
    wrong = "<think>x</think><answer>1 + 1</answer>"
    result, samples = score_samples(rows, [[right], [only_value], [wrong]], [[1]] * 3)
    assert [s["correct"] for s in samples] == [True, False, False]
    assert result["overall"]["pass@1"] == pytest.approx(1 / 3)


def test_arithmetic_tagged_share_changes_only_the_solutions():
    """`tagged`, the share of warm-up solutions in R1 tags (the rest end in a `#### N` line), leaves rows as they
    were."""
    from rl.data import arithmetic_task

    base = DataConfig(source="builtin:arithmetic", train_size=400, eval_size=16)
    full, _ = arithmetic_task(base)
    half, _ = arithmetic_task(DataConfig(**{**base.__dict__, "params": {"tagged": 0.5}}))
    assert [r["question"] for r in half] == [r["question"] for r in full]
    tagged = sum(r["solution"].startswith("<think>") for r in half)
    assert 150 < tagged < 250 and all(r["solution"].startswith("<think>") for r in full)
    plain = next(r for r in half if not r["solution"].startswith("<think>"))
    assert plain["solution"].endswith(f"\n#### {plain['answer']}")
    import rewards

    assert rewards.build("math_accuracy")([plain["solution"]], answer=[plain["answer"]]) == [1.0]
    assert rewards.build("think_format")([plain["solution"]]) == [0.0]
    with pytest.raises(RlvrError, match="tagged must be a share"):
        arithmetic_task(DataConfig(**{**base.__dict__, "params": {"tagged": 2}}))


@pytest.fixture
def no_hub_cache(monkeypatch):
    """The datasets cache holds nothing (whatever this machine's cache holds): offline, load_dataset fails."""
    import datasets

    def not_cached(*args, **kwargs):
        raise ConnectionError("Couldn't reach the hub and found no cached copy")

    monkeypatch.setattr(datasets, "load_dataset", not_cached)


def test_a_named_dataset_without_a_local_copy_says_where_it_looked(tmp_path, monkeypatch, no_hub_cache):
    """Offline and no copy in $RLVR_DATA_DIR: one line naming the folder it looked in and how to provide one."""
    monkeypatch.setenv("RLVR_DATA_DIR", str(tmp_path))
    with pytest.raises(RlvrError) as err:
        load_data(DataConfig(source="gsm8k"))
    message = str(err.value)
    assert "\n" not in message and f"looked in $RLVR_DATA_DIR/gsm8k = {tmp_path / 'gsm8k'}" in message
    assert (
        "HF_HUB_OFFLINE=1 is set" in message and "set $RLVR_DATA_DIR to a folder holding gsm8k/train.jsonl" in message
    )
    assert "data.path" in message


def test_the_local_copy_hint_names_the_users_places_not_the_packages(tmp_path, monkeypatch, no_hub_cache):
    """$RLVR_DATA_DIR unset: a source checkout looked beside itself (said relative to the current folder); an
    installed package looked nowhere, and never names a path inside site-packages."""
    import rl.data

    monkeypatch.delenv("RLVR_DATA_DIR", raising=False)
    checkout = tmp_path / "src" / "rlvr"
    (checkout / "rl").mkdir(parents=True)
    (checkout / "pyproject.toml").touch()
    monkeypatch.setattr(rl.data, "__file__", str(checkout / "rl" / "data.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RlvrError) as err:
        load_data(DataConfig(source="math500", train_split="test"))
    message = str(err.value)
    assert "$RLVR_DATA_DIR is unset; looked in src/shared/data/math500 beside this rlvr checkout" in message
    installed = tmp_path / "lib" / "python3.11" / "site-packages"
    (installed / "rl").mkdir(parents=True)
    monkeypatch.setattr(rl.data, "__file__", str(installed / "rl" / "data.py"))
    assert rl.data.data_root() is None
    with pytest.raises(RlvrError) as err:
        load_data(DataConfig(source="math500", train_split="test"))
    message = str(err.value)
    assert "$RLVR_DATA_DIR is unset)" in message and "site-packages" not in message and "python3.11" not in message
    assert "set $RLVR_DATA_DIR to a folder holding math500/test.jsonl" in message


@pytest.mark.parametrize(
    "source, suggestion",
    [
        ("gsm8kk", "gsm8k"),
        ("gms8k", "gsm8k"),
        ("GSM8K", "gsm8k"),
        ("math-500", "math500"),
        ("openai/gsm8kk", "openai/gsm8k"),
        ("HuggingFaceH4/MATH500", "HuggingFaceH4/MATH-500"),
        ("arithmetic", "builtin:arithmetic"),
        ("bultin:countdown", "builtin:countdown"),
        ("builtin:aritmetic", "arithmetic"),
    ],
)
def test_a_name_close_to_a_known_one_is_refused_at_once(source, suggestion, monkeypatch):
    """A misspelt name is one line with a suggestion, for `rlvr eval --data` and a training config alike (the
    preflight asks `from_hub`), and never reaches the hub."""
    import datasets

    from rl.data import from_hub

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("went to the hub"))
    for call in (load_data, from_hub):
        with pytest.raises(RlvrError, match=f"did you mean '{suggestion}'") as err:
            call(DataConfig(source=source))
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("source", ["openai/gsm8k-fr", "someorg/gsm8k", "math", "HuggingFaceH4/MATH", "gsm8k_fr"])
def test_other_hub_names_are_not_called_typos(source):
    from rl.data import check_source

    check_source(source)  # no error: left to the hub


@pytest.mark.parametrize("source", ["./nope", "/nowhere/at/all", "data/train.jsnol", "nope.parquet"])
def test_a_missing_local_path_is_not_looked_up_on_the_hub(source, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("went to the hub"))
    with pytest.raises(RlvrError, match="data.source: no such file"):
        load_data(DataConfig(source=source))


def test_an_offline_or_unreachable_hub_fails_in_one_line_without_retries(monkeypatch, no_hub_cache):
    """HF_HUB_OFFLINE=1: the cache is read, and its miss said in one line. Unreachable (one quick probe failed):
    refused before the datasets library starts its retries, naming the local alternatives."""
    import datasets

    with pytest.raises(RlvrError) as err:
        load_data(DataConfig(source="someorg/somedata"))
    message = str(err.value)
    assert "HF_HUB_OFFLINE=1 is set and the datasets cache has no copy" in message and "a .jsonl/.parquet" in message
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("retried the hub"))
    with pytest.raises(RlvrError) as err:
        load_data(DataConfig(source="someorg/somedata"))
    message = str(err.value)
    assert "cannot fetch 'someorg/somedata' from the hub (http://127.0.0.1:9 is unreachable" in message
    assert "set HF_HUB_OFFLINE=1 to read the datasets cache" in message and "\n" not in message


def test_unknown_splits_name_the_ones_there_are(tmp_path):
    from rl.data import from_hub

    for check in (load_data, from_hub):  # from_hub: the preflight of a run, before the hub or weights
        with pytest.raises(RlvrError, match=r"eval_split: gsm8k has no split 'tset' \(splits: train, test\); did"):
            check(DataConfig(source="gsm8k", eval_split="tset"))
        with pytest.raises(RlvrError, match=r"data.train_split: math500 has no split 'train' \(splits: test\)"):
            check(DataConfig(source="math500"))
    folder = tmp_path / "mine"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", [{"question": "q", "answer": "1"}])
    write_jsonl(folder / "validation.jsonl", [{"question": "q", "answer": "1"}])
    with pytest.raises(RlvrError, match=r"data.eval_split: .*mine has no split 'test' \(splits: train, validation\)"):
        load_data(DataConfig(source=str(folder)))
    from rl.data import load_split

    with pytest.raises(RlvrError, match=r"no trian.jsonl .*\(splits: train, validation\); did you mean 'train'"):
        load_split(DataConfig(source=str(folder)), "trian")


def test_a_name_under_a_folder_here_is_a_path_not_a_hub_id(tmp_path, monkeypatch):
    from rl.models import looks_like_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "myrun").mkdir()
    assert looks_like_path("myrun/final") and looks_like_path("./x") and looks_like_path("/x")
    assert not looks_like_path("Qwen/Qwen2.5-0.5B") and not looks_like_path("gpt2")


@pytest.mark.parametrize("bench", ["rewards.py", "hack_search.py"])
def test_benches_without_local_data_fail_in_one_line(bench, tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {"RLVR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench" / bench)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert "no local copy at" in line and str(tmp_path) in line and "$RLVR_DATA_DIR" in line


def fingerprint(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize(
    "source,params",
    [("builtin:arithmetic", {}), ("builtin:arithmetic", {"digits": [2, 3, 4]}), ("builtin:countdown", {})],
)
def test_a_builtin_tasks_training_rows_stay_the_same_for_any_held_out_size_up_to_256(source, params):
    """Held-out problems are drawn from a reserve of 256 (rl.data.HELD_OUT_RESERVE), so a smaller evaluation trains
    on the same rows (and reuses a cached warm-up); its problems are among the 256 and never trained on."""
    train, held_out = load_data(DataConfig(source=source, params=params, train_size=300, eval_size=256))
    for eval_size in (8, 100, 255):
        small_train, small = load_data(DataConfig(source=source, params=params, train_size=300, eval_size=eval_size))
        assert small_train == train and len(small) == eval_size
        assert all(row in held_out for row in small)
    larger, _ = load_data(DataConfig(source=source, params=params, train_size=300, eval_size=300))
    assert larger != train  # past the reserve, more held-out problems are kept out of training


def test_the_builtin_tasks_rows_at_256_held_out_problems_and_more_are_those_measured():
    """The demo's rows (and every shipped config's, 256 or more held-out problems) are those of one draw of
    `eval_size` held-out problems, then the training ones: the rows docs/measurements.md was measured on."""
    assert [fingerprint(x) for x in load_data(DataConfig())] == ["83648d923a189277", "835097a7325e6440"]
    mixed = load_data(DataConfig(params={"digits": [2, 3, 4]}))
    assert [fingerprint(x) for x in mixed] == ["9c27017fd0abf247", "70e6d48b679e7e82"]
    countdown = load_data(DataConfig(source="builtin:countdown", eval_size=512))
    assert [fingerprint(x) for x in countdown] == ["715b152fad296460", "7ba31787e4706aad"]
