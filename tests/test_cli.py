"""CLI: bad input gives one line on stderr and exit code 2, never a traceback; work is never overwritten."""

import json
import subprocess
import sys

import pytest

from rl.cli import main
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


def test_dry_run_lists_what_it_checked():
    result = rlvr("train", "--dry-run")
    assert result.returncode == 0, result.stderr
    checked = [line for line in result.stdout.splitlines() if line.startswith("# checked: ")]
    assert [line.split()[2] for line in checked] == [
        "rewards:",
        "grpo:",
        "sampling:",
        "optimizer:",
        "precision:",
        "model:",
        "data:",
        "output:",
    ]
    assert "64 completions per generation = 8 prompts x 8" in result.stdout
    assert "4096 training rows, 256 held-out rows" in result.stdout


@pytest.mark.parametrize(
    "sets, fragments",
    [
        # a typo in a reward's params: the real run used to fail a second after the dry run passed
        (["rewards=[{name: math_accuracy, params: {timout: 2}}]"], ["no param 'timout'", "did you mean 'timeout'"]),
        # TRL's GRPOConfig check, made without weights
        (
            ["grpo.num_generations=3", "grpo.per_device_train_batch_size=8"],
            ["grpo.num_generations (3) must divide the completions generated per step", "= 8"],
        ),
        (["data.source=./no/such/train.jsonl"], ["no such file './no/such/train.jsonl'"]),
        # a misspelt dataset name: it used to go to the hub (retries, ~23 s) when the run loaded its data
        (["data.source=gsm8kk"], ["data.source: unknown data 'gsm8kk'; did you mean 'gsm8k'?"]),
    ],
)
def test_dry_run_catches_what_the_run_would(tmp_path, sets, fragments):
    args = [x for s in sets for x in ("--set", s)]
    assert_one_line_error(rlvr("train", *args, "--dry-run"), *fragments)
    run = tmp_path / "run"  # and the real start fails the same way, leaving no directory behind
    assert_one_line_error(rlvr("train", *args, "--output-dir", str(run)), *fragments)
    assert not run.exists()


def test_a_failed_start_leaves_nothing_so_the_retry_needs_no_overwrite(tmp_path):
    run = tmp_path / "run"
    bad = ["--set", "model.name_or_path=./no/such/model", "--set", "warmup.enabled=false"]
    assert_one_line_error(rlvr("train", *bad, "--output-dir", str(run)), "no such directory")
    assert not run.exists()  # it failed after creating the directory (loading the model): removed again
    run.mkdir()
    (run / "config.yaml").write_text("name: mine\n")  # a directory that was already there is never removed
    assert_one_line_error(rlvr("train", *bad, "--output-dir", str(run)), "already exists", "--overwrite")
    assert (run / "config.yaml").read_text() == "name: mine\n"


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
    assert_one_line_error(rlvr("train", "--output-dir", str(run)), "already exists", "holds no rlvr run")
    for flag in ("--overwrite", "--discard-run"):  # no flag deletes a folder that is not a run
        assert_one_line_error(rlvr("train", "--output-dir", str(run), flag), "holds no rlvr run", "precious.txt")
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
    assert_one_line_error(result, "grpo.num_generations (7)", "per_device_train_batch_size 64")


def test_bad_grpo_choice_is_caught_before_training():
    result = rlvr("train", "--set", "grpo.loss_type=nonsense", "--dry-run")
    assert_one_line_error(result, "grpo.loss_type must be one of")


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("rlvr ")


def test_rewards_list_their_params_and_one_reward_its_description(capsys):
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    assert "params: max_length=4096, min_value_correct=0.5" in out  # cosine_length
    assert main(["rewards", "overlong_penalty"]) == 0
    assert capsys.readouterr().out.startswith("overlong_penalty(max_length")
    assert main(["rewards", "overlong_penality"]) == 2
    assert "did you mean 'overlong_penalty'" in capsys.readouterr().err


def test_every_launch_flag_has_help(capsys):
    with pytest.raises(SystemExit):
        main(["launch", "--help"])
    assert "override a recipe value by dotted path" in capsys.readouterr().out


def test_a_closed_pipe_ends_quietly():
    """`rlvr ... | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rl", "train", "--dry-run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_the_summary_without_an_evaluation_says_it_was_off():
    from rich.console import Console

    from rl.train.loop import print_summary

    console = Console(record=True, width=100)
    summary = {"name": "x", "seed": 0, "run_dir": "r", "steps": 2, "wall_seconds": 1.0, "n_eval": None}
    summary |= dict.fromkeys(["accuracy_before", "accuracy_after", "format_rate_before", "format_rate_after"])
    print_summary(console, summary)
    text = console.export_text()
    assert "held-out evaluation" in text and "off" in text and "None" not in text
