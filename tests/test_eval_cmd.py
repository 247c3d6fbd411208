"""`rlvr eval`: grading and maj@n through the reward's pool, a run's checkpoint curve, one-line errors."""

import importlib.util
import json

import pytest

from rl.cli import main
from rl.config import dump_yaml, load_experiment
from rl.errors import RlvrError
from rl.eval.evaluate import majority_indices, score_samples
from tests.conftest import one_line_error, rlvr
from tests.test_train_e2e import TINY

# ------------------------------------------------------------------------------------------------ grading, maj@n


def test_majority_groups_equivalent_answers_through_the_pool():
    answers = [
        [r"2\sqrt{2}", r"\sqrt{8}", "3", "3", r"\sqrt{8}"],  # sqrt(8) = 2 sqrt(2): sympy, in the pool
        ["7", None, "7.0", "8", "8"],  # 7 = 7.0 by the exact rules
        [None, None],
        ["5"],
    ]
    chosen = majority_indices(answers)
    assert chosen[0] in (0, 1, 4) and chosen[1] == 0 and chosen[2] is None and chosen[3] == 0


def test_majority_groups_by_value_where_grouping_by_string_elects_another_answer():
    from rl.eval.metrics import majority_vote

    samples = ["3", "1/2", "0.5", r"\frac{1}{2}", "3", r"\dfrac12"]
    by_string = majority_vote(samples, lambda a, b: a == b)
    assert samples[by_string] == "3"  # the only string written twice
    (by_value,) = majority_indices([samples])
    assert samples[by_value] != "3" and by_value in (1, 2, 3, 5)  # one half, written four ways


def test_score_samples_figures_and_records():
    rows = [
        {"prompt": "What is 2 + 3?", "answer": "5", "data_source": "a", "level": 1},
        {"prompt": "What is 1 + 1?", "answer": "2", "data_source": "a", "level": 2},
        {"prompt": "Q? <think>", "answer": r"\frac{1}{2}", "data_source": "b"},  # prefilled <think>
        {"prompt": "Unverifiable", "answer": "", "data_source": "b"},
    ]
    texts = [
        ["<think>2+3</think><answer>5</answer>", "<think>x</think><answer>6</answer>", r"so \boxed{5.0}", "none"],
        ["<answer>3</answer>", "<answer>3</answer>", "<answer>2</answer>", "<answer>4</answer>"],
        ["half</think><answer>0.5</answer>", "</think><answer>1/2</answer>", "<answer>1</answer>", "x"],
        ["<answer>1</answer>"] * 4,
    ]
    lengths = [[10, 20, 30, 40]] * 4
    result, records = score_samples(rows, texts, lengths)
    overall = result["overall"]
    # per problem correct counts: 2/4, 1/4, 2/4 (the prefilled think restored), 0/4 (gold unverifiable)
    assert overall["pass@1"] == pytest.approx((2 + 1 + 2 + 0) / 16)
    assert overall["pass@2"] == pytest.approx((1 - 1 / 6 + 0.5 + 1 - 1 / 6 + 0) / 4)
    assert overall["pass@4"] == pytest.approx(3 / 4)
    # majority: {5, 5.0} wins; {3, 3} beats 2; {0.5, 1/2} wins; the unverifiable problem never counts
    assert overall["maj@4"] == pytest.approx(2 / 4)
    assert overall["unverifiable"] == pytest.approx(1 / 4)
    assert overall["mean_length"] == pytest.approx(25)
    # strict <think>reasoning</think><answer>…</answer>; an empty prefilled think block does not count
    assert overall["format_rate"] == pytest.approx((2 + 0 + 1 + 0) / 16)
    assert result["by"]["data_source"]["a"]["pass@1"] == pytest.approx(3 / 8)
    assert set(result["by"]["level"]) == {"1", "2"}
    assert len(records) == 16
    assert records[0] | {"prompt": None} == {
        "index": 0,
        "sample": 0,
        "prompt": None,
        "answer": "5",
        "completion": texts[0][0],
        "extracted": "5",
        "correct": True,
        "format": 1.0,
        "length": 10,
        "majority": True,
        "data_source": "a",
        "level": 1,
        "question": None,  # these rows have none; loaded rows do, and `rlvr filter` writes it back
        "columns": {},
    }
    assert [r["correct"] for r in records[8:12]] == [True, True, False, False]
    assert all(r["correct"] is None for r in records[12:])


# ------------------------------------------------------------------------------------------------ errors


@pytest.fixture
def unfinished_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(load_experiment()))
    return run


def test_run_without_checkpoints_or_final_model(capsys, unfinished_run):
    one_line_error(capsys, ["eval", str(unfinished_run), "--all-checkpoints"], "has no checkpoints")
    one_line_error(capsys, ["eval", str(unfinished_run)], "has no final model", "--all-checkpoints")


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["./no/such/model", "--data", "gsm8k"], ["no such model or run directory: ./no/such/model"]),
        (["builtin:tiny-qwen2"], ["--data is required"]),
        (["builtin:tiny-qwen2", "--data", "gsm8k", "--all-checkpoints"], ["--all-checkpoints needs a run directory"]),
        (["builtin:tiny-qwen2", "--data", "gsm8k", "--n", "4"], ["--n 4 needs --temperature above 0"]),
        (["builtin:tiny-qwen2", "--data", "gsm8k", "--limit", "0"], ["--limit must be at least 1"]),
        (["builtin:tiny-qwen2", "--data", "gsm8k", "--top-p", "1.5"], ["--top-p must be in (0, 1]"]),
        (["builtin:tiny-qwen2", "--backend", "tpu"], ["invalid choice: 'tpu'"]),
    ],
)
def test_argument_errors(capsys, argv, fragments):
    if "--backend" in argv:  # argparse's own errors exit through Parser.error
        with pytest.raises(SystemExit) as exit_info:
            main(["eval", *argv])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and all(f in err[0] for f in fragments), err
        return
    one_line_error(capsys, ["eval", *argv], *fragments)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_backend_vllm_without_vllm(capsys):
    one_line_error(
        capsys,
        ["eval", "builtin:tiny-qwen2", "--data", "builtin:arithmetic", "--backend", "vllm"],
        "vLLM is not installed",
    )


def test_existing_output_is_kept(capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    argv = ["eval", "builtin:tiny-qwen2", "--data", "builtin:arithmetic", "--limit", "2", "--output", str(out)]
    one_line_error(capsys, argv, "already exists", "precious.txt")
    one_line_error(capsys, [*argv, "--overwrite"], "holds no `rlvr eval` output (precious.txt)")
    assert (out / "precious.txt").read_text() == "keep"


def test_local_jsonl_with_levels_and_subjects(tmp_path, capsys):
    data = tmp_path / "mini.jsonl"
    rows = [
        {"problem": "What is 1 + 1?", "answer": "2", "level": "Level 1", "subject": "Algebra"},
        {"problem": "What is 2 + 2?", "answer": "4", "level": "Level 2", "subject": "Algebra"},
        {"problem": "What is 3 + 3?", "answer": "\\frac{12}{2}", "level": "Level 2", "subject": "Geometry"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    argv = ["eval", "builtin:tiny-qwen2", "--data", str(data), "--max-new-tokens", "4", "--output", str(out)]
    assert main([*argv, "--wandb-mode", "offline"]) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["template"] == "chat" and "boxed" in metrics["system_prompt"]  # a chat model's defaults
    point = metrics["points"][0]
    assert point["by"]["level"]["Level 2"]["n_problems"] == 2 and set(point["by"]["subject"]) == {
        "Algebra",
        "Geometry",
    }
    assert point["by"]["data_source"]["mini.jsonl"]["n_problems"] == 3
    samples = read_jsonl(out / "tiny-qwen2" / "samples.jsonl")
    assert [s["prompt"][-1]["content"] for s in samples] == [r["problem"] for r in rows]
    assert [s["level"] for s in samples] == ["Level 1", "Level 2", "Level 2"]
    assert list((out / "wandb").glob("offline-run-*")), "wandb offline run missing"
    assert "by level" in capsys.readouterr().out  # breakdown tables printed


# ------------------------------------------------------------------------------------------------ a real run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The e2e test's tiny run (10 warm-up steps, 2 GRPO steps, a checkpoint after each)."""
    out = tmp_path_factory.mktemp("eval-e2e") / "run"
    result = rlvr("train", *TINY, "--output-dir", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_all_checkpoints_curve_matches_the_run_summary(run_dir, tmp_path, capsys):
    out = tmp_path / "curve"
    code = main(["eval", str(run_dir), "--all-checkpoints", "--output", str(out), "--wandb-mode", "offline"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(p["label"], p["step"]) for p in metrics["points"]] == [
        ("start", 0),
        ("checkpoint-1", 1),
        ("checkpoint-2", 2),
    ]
    first, last = metrics["points"][0]["overall"], metrics["points"][-1]["overall"]
    assert first["pass@1"] == summary["accuracy_before"] and last["pass@1"] == summary["accuracy_after"]
    assert first["format_rate"] == summary["format_rate_before"]
    assert last["format_rate"] == summary["format_rate_after"]
    assert metrics["max_new_tokens"] == 40 and metrics["batch_size"] == 32 and metrics["n_problems"] == 32
    # greedy decoding reproduces training's own evaluation completion for completion
    before, after = read_jsonl(run_dir / "eval" / "before.jsonl"), read_jsonl(run_dir / "eval" / "after.jsonl")
    start, final = read_jsonl(out / "start" / "samples.jsonl"), read_jsonl(out / "checkpoint-2" / "samples.jsonl")
    assert [s["completion"] for s in start] == [s["completion"] for s in before]
    assert [s["completion"] for s in final] == [s["completion"] for s in after]
    assert "pass@1" in stdout and "checkpoint-2" in stdout  # the curve's table
    assert list((out / "wandb").glob("offline-run-*")), "wandb offline run missing"


def test_sampling_a_checkpoint_of_a_run(run_dir, tmp_path, capsys):
    out = tmp_path / "sampled"
    argv = [
        "eval",
        str(run_dir / "checkpoints" / "checkpoint-1"),
        "--n",
        "4",
        "--temperature",
        "1.0",
        "--limit",
        "6",
        "--max-new-tokens",
        "12",
        "--output",
        str(out),
        "--wandb-mode",
        "disabled",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["template"] == load_experiment(run_dir / "config.yaml").data.template  # the run's template
    point = metrics["points"][0]
    assert point["step"] == 1 and set(point["overall"]) >= {"pass@1", "pass@2", "pass@4", "maj@4"}
    samples = read_jsonl(out / "checkpoint-1" / "samples.jsonl")
    assert len(samples) == 24 and all(1 <= s["length"] <= 12 for s in samples)
    assert samples[0]["prompt"] == read_jsonl(run_dir / "eval" / "before.jsonl")[0]["prompt"]  # its held-out split
    assert point["overall"]["pass@1"] == pytest.approx(sum(bool(s["correct"]) for s in samples) / 24)
    assert len({s["completion"] for s in samples[:4]}) > 1  # sampled, not greedy


@pytest.fixture
def fake_run(tmp_path):
    """A run directory whose start, checkpoints and final model are different random tiny models."""
    from rl.models import build_tiny

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    exp = load_experiment(None, ["data.eval_size=4", "eval.max_new_tokens=8", "eval.batch_size=4"])
    (run / "config.yaml").write_text(dump_yaml(exp))
    (run / "summary.json").write_text(json.dumps({"steps": 30}))
    for seed, where in enumerate(["start", "checkpoints/checkpoint-10", "checkpoints/checkpoint-20", "final"]):
        build_tiny("tiny-qwen2", seed, run / where)
    (run / "checkpoints" / "checkpoint-10" / "trainer_state.json").write_text("{}")  # complete
    return run  # checkpoint-20 has no trainer_state.json: an interrupted save, skipped


def test_curve_points_are_the_run_models_in_step_order(fake_run, tmp_path, capsys):
    out = tmp_path / "curve"
    # sampled: greedy decoding of a random tiny model tends to repeat the prompt's last character, whatever the weights
    args = ["eval", str(fake_run), "--all-checkpoints", "--temperature", "1.0", "--output", str(out)]
    assert main([*args, "--wandb-mode", "disabled"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert [(p["label"], p["step"]) for p in metrics["points"]] == [("start", 0), ("checkpoint-10", 10), ("final", 30)]
    completions = [
        [s["completion"] for s in read_jsonl(out / p["label"] / "samples.jsonl")] for p in metrics["points"]
    ]
    assert all(len(c) == 4 for c in completions)
    assert completions[0] != completions[1] != completions[2]  # each point evaluated its own weights
    assert metrics["max_new_tokens"] == 8 and metrics["batch_size"] == 4  # the run's eval settings
    assert "final" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ vLLM (GPU)


def _cuda_and_vllm() -> bool:
    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_and_vllm(), reason="needs CUDA and vLLM")
def test_vllm_backend_on_the_tiny_model(tmp_path):
    common = [
        "--data",
        "builtin:arithmetic",
        "--limit",
        "16",
        "--max-new-tokens",
        "16",
        "--dtype",
        "float32",
        "--wandb-mode",
        "disabled",
    ]
    sampled = rlvr(
        "eval",
        "builtin:tiny-qwen2",
        *common,
        "--backend",
        "vllm",
        "--n",
        "4",
        "--temperature",
        "1.0",
        "--output",
        str(tmp_path / "sampled"),
    )
    assert sampled.returncode == 0, sampled.stdout[-3000:] + sampled.stderr[-3000:]
    metrics = json.loads((tmp_path / "sampled" / "metrics.json").read_text())
    assert metrics["backend"] == "vllm" and set(metrics["points"][0]["overall"]) >= {"pass@4", "maj@4"}
    samples = read_jsonl(tmp_path / "sampled" / "tiny-qwen2" / "samples.jsonl")
    assert len(samples) == 64 and all(1 <= s["length"] <= 16 for s in samples)
    assert any(len({s["completion"] for s in samples[i : i + 4]}) > 1 for i in range(0, 64, 4))  # n samples differ
    # greedy: vLLM sees the same prompt tokens as transformers, so completions agree (bar float near-ties)
    greedy = {}
    for backend in ("vllm", "hf"):
        result = rlvr("eval", "builtin:tiny-qwen2", *common, "--backend", backend, "--output", str(tmp_path / backend))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        greedy[backend] = [s["completion"] for s in read_jsonl(tmp_path / backend / "tiny-qwen2" / "samples.jsonl")]
    agree = sum(a == b for a, b in zip(greedy["vllm"], greedy["hf"], strict=True))
    assert agree >= 12, (agree, greedy)


def test_split_train_takes_a_builtin_tasks_training_rows_for_pass_rates():
    """`rlvr eval ... --split train` on a built-in task (or a run's data) reads its training rows: what `rlvr filter`
    needs; the default stays the held-out split."""
    import argparse

    from rl.config import load_experiment
    from rl.data import load_data
    from rl.eval.command import load_rows

    exp = load_experiment(None, ["data.params.digits=[2, 3]", "data.train_size=40", "data.eval_size=8"])
    train, held_out = load_data(exp.data)
    args = argparse.Namespace(data=None, split="train", limit=None)
    got = load_rows(args, exp, "plain", None)
    assert [r["question"] for r in got.rows] == [r["question"] for r in train]
    assert (got.source, got.split) == ("builtin:arithmetic", "train")
    args.split = None
    got = load_rows(args, exp, "plain", None)
    assert [r["question"] for r in got.rows] == [r["question"] for r in held_out]
    assert (got.source, got.split) == ("builtin:arithmetic", "test")
    args.data, args.split, args.limit = "builtin:arithmetic", "train", 5
    got = load_rows(args, None, "plain", None)
    assert len(got.rows) == 5 and got.name == "arithmetic"
    assert got.rows[0]["question"] == load_data(exp.data.__class__())[0][0]["question"]  # the task's training rows


def test_split_errors_name_the_splits_and_the_held_out_source_is_recorded(capsys, tmp_path):
    """An unknown --split is refused (did you mean), before any model loads; a single file has no splits. A run
    evaluating on data.eval_source records that source, not data.source."""
    import argparse

    from rl.eval.command import load_rows

    base = ["eval", "builtin:tiny-qwen2", "--data", "builtin:arithmetic"]
    one_line_error(capsys, [*base, "--split", "trian"], "has no split 'trian'", "splits: train, test", "'train'?")
    data = tmp_path / "mini.jsonl"
    data.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n")
    one_line_error(capsys, [*base[:3], str(data), "--split", "train"], "single file, with no splits")
    exp = load_experiment(None, [f"data.eval_source={data}", "data.train_size=8"])
    args = argparse.Namespace(data=None, split=None, limit=None)
    got = load_rows(args, exp, "plain", None)
    assert (got.source, got.split, got.name, len(got.rows)) == (str(data), None, "mini", 1)  # a file: no split
    args.split = "train"
    got = load_rows(args, exp, "plain", None)
    assert (got.source, got.split, len(got.rows)) == ("builtin:arithmetic", "train", 8)
    args.split = "tset"
    with pytest.raises(RlvrError, match=r"the run's data \(builtin:arithmetic\) has no split 'tset'.*'test'\?"):
        load_rows(args, exp, "plain", None)


def test_metrics_record_the_split_and_source_evaluated(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "builtin:tiny-qwen2", "--data", "builtin:arithmetic", "--split", "train", "--limit", "2"]
    assert main([*argv, "--max-new-tokens", "2", "--output", str(out), "--wandb-mode", "disabled"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["data"], metrics["split"], metrics["n_problems"]) == ("builtin:arithmetic", "train", 2)


@pytest.mark.parametrize("data, suggestion", [("gsm8kk", "gsm8k"), ("openai/gsm8kk", "openai/gsm8k")])
def test_a_misspelt_data_name_is_refused_before_the_model_loads(capsys, monkeypatch, data, suggestion):
    monkeypatch.setattr("rl.eval.command.resolve", lambda opts: pytest.fail("resolved the model first"))
    one_line_error(capsys, ["eval", "builtin:tiny-qwen2", "--data", data], f"did you mean '{suggestion}'?")


# ------------------------------------------------------------------------------------------------ never a training run


def snapshot(folder):
    """Every path under `folder` with its size and modification time: what must not change."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to reach the network (a hub retry) instead of waiting for it."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


INSIDE_RUN = ["", "final", "checkpoints", "eval", "eval/before.jsonl"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_eval_and_filter_never_write_into_a_finished_run(run_dir, tmp_path, capsys, no_network, overwrite):
    """Every `rlvr eval` / `rlvr filter` output aimed into a finished run (the run, its final model, checkpoints,
    eval folder, a record of training) is refused in one line, with or without --overwrite, before any model
    loads; the run's files stay as they were."""
    assert (run_dir / "summary.json").is_file()  # finished
    before = snapshot(run_dir)
    samples = tmp_path / "samples"
    samples.mkdir()
    for inside in INSIDE_RUN:
        target = str(run_dir / inside) if inside else str(run_dir)
        for model in (str(run_dir), str(run_dir / "final")):
            one_line_error(capsys, ["eval", model, "--output", target, "--limit", "4", *overwrite], "training run")
        one_line_error(capsys, ["filter", str(samples), "--output", target, *overwrite], "--output")
    for inside in ["metrics.jsonl", "eval/before.jsonl", "eval/after.jsonl", "final/kept.jsonl", "kept.jsonl"]:
        one_line_error(
            capsys, ["filter", str(samples), "--output", str(run_dir / inside), *overwrite], "inside the training run"
        )
    assert snapshot(run_dir) == before


def test_eval_overwrite_replaces_only_an_earlier_eval_output(capsys, tmp_path):
    """--overwrite replaces an earlier `rlvr eval` output, never another folder (a home directory, a project)."""
    home = tmp_path / "home"
    (home / "projects").mkdir(parents=True)
    (home / "notes.txt").write_text("keep")
    argv = ["eval", "builtin:tiny-qwen2", "--data", "builtin:arithmetic", "--limit", "2", "--max-new-tokens", "2"]
    argv += ["--wandb-mode", "disabled"]
    one_line_error(capsys, [*argv, "--output", str(home), "--overwrite"], "holds no `rlvr eval` output", "notes.txt")
    assert (home / "notes.txt").read_text() == "keep" and (home / "projects").is_dir()
    out = tmp_path / "out"
    assert main([*argv, "--output", str(out)]) == 0
    capsys.readouterr()  # that evaluation's own output (its progress lines on stderr)
    one_line_error(capsys, [*argv, "--output", str(out)], "an `rlvr eval` output of builtin:tiny-qwen2", "--overwrite")
    (out / "tiny-qwen2" / "mine.txt").write_text("not rlvr's")  # no longer only what rlvr eval wrote
    one_line_error(capsys, [*argv, "--output", str(out), "--overwrite"], "holds no `rlvr eval` output")
    (out / "tiny-qwen2" / "mine.txt").unlink()
    first = (out / "metrics.json").stat().st_mtime_ns
    assert main([*argv, "--output", str(out), "--overwrite", "--split", "train"]) == 0
    assert (
        json.loads((out / "metrics.json").read_text())["split"] == "train"
        and first != (out / "metrics.json").stat().st_mtime_ns
    )


def test_a_missing_local_model_fails_at_once(capsys, tmp_path, monkeypatch, no_network):
    """A path-like model that is not there is one line at once, never a hub download: ./x, /abs/x, and RUN/final
    of a run in the current folder that has no final model (one `/`, which a hub id also has)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # a hub lookup would try the network (and fail the test)
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(load_experiment()))
    (run / "state.json").write_text("{}")
    base = ["--data", "builtin:arithmetic", "--limit", "2"]
    one_line_error(capsys, ["eval", "myrun/final", *base], "no such model or run directory: myrun/final", "no model")
    one_line_error(capsys, ["eval", "./x", *base], "no such model or run directory: ./x")
    one_line_error(capsys, ["eval", str(tmp_path / "x"), *base], f"no such model or run directory: {tmp_path}/x")
