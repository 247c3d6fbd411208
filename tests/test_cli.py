"""CLI: bad input gives one line on stderr and exit code 2, never a traceback; work is never overwritten."""

import json

import pytest

from tests.conftest import rlvr


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("rlvr: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_dry_run_prints_the_resolved_default():
    result = rlvr("train", "--dry-run", "--set", "grpo.beta=0.04")
    assert result.returncode == 0, result.stderr
    assert "name: tiny-arith" in result.stdout
    assert "beta: 0.04" in result.stdout
    assert "loss_type: dr_grpo" in result.stdout


def test_rewards_lists_the_registry():
    result = rlvr("rewards")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"math_accuracy", "think_format"} <= set(names)


def config(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("name: x\nrewards: [{name: math_accuracy}]\nmodle: {}\n", ["unknown config key 'modle'", "'model'"]),
        ("name: x\nrewards: [{name: math_accuracy}]\nseed: one\n", ["'seed' must be an integer"]),
        ("name: x\nrewards: [{name: math_acc}]\n", ["unknown reward 'math_acc'"]),
        (
            "name: x\nrewards: [{name: math_accuracy}]\ngrpo: {lerning_rate: 1}\n",
            ["unknown grpo field 'grpo.lerning_rate'", "'grpo.learning_rate'"],
        ),
    ],
)
def test_config_errors(tmp_path, body, fragments):
    assert_one_line_error(rlvr("train", config(tmp_path, body), "--dry-run"), *fragments)


def test_unknown_flag_is_one_line():
    assert_one_line_error(rlvr("train", "--frobnicate"), "unrecognized arguments")


def test_missing_model_path(tmp_path):
    result = rlvr("train", "--set", "model.name_or_path=./no/such/model", "--output-dir", str(tmp_path / "run"))
    assert_one_line_error(result, "no such directory './no/such/model'")


def test_dataset_without_answer_column(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"question": "1+1?", "result": "2"}) + "\n")
    result = rlvr(
        "train", "--set", f"data.source={data}", "--set", "warmup.enabled=false", "--output-dir", str(tmp_path / "run")
    )
    assert_one_line_error(result, "no answer column 'answer'", "columns: question, result")


def test_existing_output_dir_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    assert_one_line_error(rlvr("train", "--output-dir", str(run)), "already exists", "--resume", "--overwrite")
    assert (run / "precious.txt").read_text() == "keep me"


def test_resume_without_a_run(tmp_path):
    assert_one_line_error(rlvr("train", "--resume"), "--resume needs the run directory")
    assert_one_line_error(rlvr("train", "--resume", str(tmp_path / "nothing")), "no run to continue")


def test_bad_grpo_value_is_one_line(tmp_path):
    result = rlvr(
        "train",
        "--set",
        "grpo.num_generations=7",
        "--set",
        "warmup.enabled=false",
        "--set",
        "eval.before=false",
        "--set",
        "logging.wandb_mode=disabled",
        "--output-dir",
        str(tmp_path / "run"),
    )
    assert_one_line_error(result, "grpo:", "num_generations")


def test_bad_grpo_choice_is_caught_before_training():
    result = rlvr("train", "--set", "grpo.loss_type=nonsense", "--dry-run")
    assert_one_line_error(result, "grpo.loss_type must be one of")
