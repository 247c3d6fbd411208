"""Every value the real run would reject, the dry run rejects first: one line, exit 2, and no run directory, for a
`--dry-run` and for a real start alike (the table of mistakes a new user made; each passed the dry run before)."""

import pytest

from rl.cli import main
from tests.conftest import one_line_error

BAD = [
    ("grpo.learning_rate=fast", "'grpo.learning_rate' must be a number, got str 'fast'"),
    ('grpo.max_steps="ten"', "'grpo.max_steps' must be an integer, got str 'ten'"),
    ("grpo.learning_rate=-1e-4", "grpo.learning_rate must be >= 0, got -0.0001"),
    ("grpo.temperature=0", "grpo.temperature must be > 0, got 0"),
    ("grpo.per_device_train_batch_size=0", "grpo.per_device_train_batch_size must be >= 1, got 0"),
    ("grpo.max_completion_length=-40", "grpo.max_completion_length must be >= 1, got -40"),
    ("grpo.max_steps=0", "grpo.max_steps must be at least 1 (or -1"),
    ("grpo.num_generations=7", "grpo.num_generations (7) must divide the completions generated per step"),
    ("grpo.num_generations=1", "grpo.num_generations must be >= 2"),
    ("grpo.top_p=1.5", "grpo.top_p must be in (0, 1]"),
    ("grpo.top_k=-1", "`top_k` has to be a strictly positive integer"),
    ("grpo.adam_beta1=1.5", "grpo.adam_beta1 must be in [0, 1)"),
    ("grpo.optim=adamw_foo", "adamw_foo is not a valid OptimizerNames"),
    ("grpo.lr_scheduler_type=cosine_with_min_lr", "min_lr"),
    ("grpo.bf16=maybe", "'grpo.bf16' must be true or false or null, got str 'maybe'"),
    ("data.eval_size=-5", "data.eval_size must be >= 1, got -5"),
    ("data.train_size=0", "data.train_size must be >= 1, got 0"),
    ("data.train_size=4", "data: 4 training rows, but each step draws 8 prompts"),
    ("seed=-1", "seed must be in [0, 4294967295], got -1"),
    ("eval.timeout=0", "eval.timeout must be > 0, got 0"),
    ("warmup.target_accuracy=1.5", "warmup.target_accuracy must be in (0, 1], got 1.5"),
    ("model.name_or_path=./no/such/model", "model.name_or_path: no such directory './no/such/model'"),
    ("model.name_or_path=builtin:tiny-qwen3", "unknown builtin model 'builtin:tiny-qwen3'"),
]


@pytest.mark.parametrize("override, fragment", BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_fails_the_dry_run_and_the_real_start_alike(override, fragment, tmp_path, capsys):
    one_line_error(capsys, ["train", "--set", override, "--dry-run"], fragment)
    run = tmp_path / "run"
    one_line_error(capsys, ["train", "--set", override, "--output-dir", str(run)], fragment)
    assert not run.exists()


def test_a_hub_model_that_cannot_be_fetched(tmp_path, capsys, monkeypatch):
    """Offline and not cached, the dry run says it cannot check the name; the real start refuses at once (its load
    would fail after minutes of retries)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    typo = "model.name_or_path=Qwen/Qwen2.5-0.5B-Instrct"
    assert main(["train", "--set", typo, "--dry-run"]) == 0
    assert "model: Qwen/Qwen2.5-0.5B-Instrct (hub): not checked" in capsys.readouterr().out
    run = tmp_path / "run"
    one_line_error(capsys, ["train", "--set", typo, "--output-dir", str(run)], "not in the local Hugging Face cache")
    assert not run.exists()


def test_a_local_folder_that_holds_no_model(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a model")
    one_line_error(capsys, ["train", "--set", f"model.name_or_path={tmp_path}", "--dry-run"], "holds no model")


def test_the_dry_run_lists_what_it_built(capsys):
    assert main(["train", "--dry-run"]) == 0
    checked = [line for line in capsys.readouterr().out.splitlines() if line.startswith("# checked: ")]
    topics = [line.removeprefix("# checked: ").split(":")[0] for line in checked]
    assert topics == ["rewards", "grpo", "sampling", "optimizer", "precision", "model", "data", "output"]


def test_a_config_file_with_only_a_grpo_typo_names_the_typo(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("grpo:\n  lerning_rate: 1.0e-6\n")
    one_line_error(capsys, ["train", str(config), "--dry-run"], "unknown grpo field 'grpo.lerning_rate'")
    config.write_text("grpo:\n  learning_rate: 1.0e-6\n")
    one_line_error(capsys, ["train", str(config), "--dry-run"], "not layered on the default")
