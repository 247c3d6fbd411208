"""Config loading: YAML <-> dataclasses, overrides, and one-line errors naming the key."""

import pytest

from rl import config
from rl.config import Experiment, apply_override, dump_yaml, load_experiment
from rl.errors import RlvrError


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


BASE = "name: t\nrewards: [{name: math_accuracy}]\n"


def test_embedded_default_loads_and_states_loss_knobs():
    exp = load_experiment()
    assert isinstance(exp, Experiment)
    assert exp.name == "tiny-arith"
    assert exp.model.name_or_path == "builtin:tiny-qwen2"
    for knob in ("loss_type", "scale_rewards", "beta", "learning_rate", "bf16", "gradient_checkpointing"):
        assert knob in exp.grpo, knob
    assert [r.name for r in exp.rewards] == ["math_accuracy", "think_format"]


def test_round_trip_through_yaml(tmp_path):
    exp = load_experiment()
    again = load_experiment(write(tmp_path, dump_yaml(exp)))
    assert again == exp


@pytest.mark.parametrize(
    "override, check",
    [
        ("grpo.beta=0.04", lambda e: e.grpo["beta"] == 0.04),
        ("seed=7", lambda e: e.seed == 7),
        ("rewards.1.weight=0.5", lambda e: e.rewards[1].weight == 0.5),
        ("grpo.learning_rate=1e-5", lambda e: e.grpo["learning_rate"] == 1e-5),
        ("data.params.digits=2", lambda e: e.data.params == {"digits": 2}),
        ("logging.wandb_tags=[a, b]", lambda e: e.logging.wandb_tags == ["a", "b"]),
    ],
)
def test_overrides(override, check):
    assert check(load_experiment(None, [override]))


def test_float_field_accepts_yaml_1_1_exponent_strings(tmp_path):
    exp = load_experiment(write(tmp_path, BASE + "warmup: {learning_rate: 1e-3}\n"))
    assert exp.warmup.learning_rate == 1e-3


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE + "modle: {}\n", "unknown config key 'modle' (did you mean 'model'?)"),
        (
            BASE + "model: {name_or_pth: x}\n",
            "unknown config key 'model.name_or_pth' (did you mean 'model.name_or_path'?)",
        ),
        (BASE + "seed: abc\n", "config key 'seed' must be an integer, got str 'abc'"),
        (BASE + "warmup: {enabled: 3}\n", "config key 'warmup.enabled' must be true or false"),
        (BASE + "data: {eval_size: 1.5}\n", "config key 'data.eval_size' must be an integer"),
        (
            "name: t\nrewards: [{name: math_acuracy}]\n",
            "unknown reward 'math_acuracy' (did you mean 'math_accuracy'?)",
        ),
        ("name: t\nrewards: []\n", "at least one reward is required"),
        (BASE + "grpo: {num_generatons: 4}\n", "unknown grpo field 'grpo.num_generatons'"),
        (BASE + "grpo: {output_dir: x}\n", "grpo.output_dir is set by rlvr"),
        (BASE + "data: {template: fancy}\n", "data.template must be one of plain, r1_zero, chat"),
        (BASE + "model: [1, 2]\n", "model: expected a mapping, got list"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("name: [unclosed\n", "invalid YAML"),
    ],
)
def test_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(RlvrError) as err:
        load_experiment(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_grpo_field_suggests_the_closest():
    with pytest.raises(RlvrError, match="did you mean 'grpo.num_generations'"):
        load_experiment(None, ["grpo.num_generatons=4"])


@pytest.mark.parametrize("item", ["noequals", "=3", "rewards.9.weight=1"])
def test_bad_overrides(item):
    with pytest.raises(RlvrError):
        apply_override({"rewards": [{"name": "x"}]}, item)


def test_missing_config_file():
    with pytest.raises(RlvrError, match="config file not found"):
        load_experiment("does/not/exist.yaml")


@pytest.mark.parametrize(
    "override, message",
    [
        ("grpo.loss_type=foo", "grpo.loss_type must be one of grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo, vespo"),
        ("grpo.scale_rewards=maybe", "grpo.scale_rewards must be one of group, batch, none, True, False, got 'maybe'"),
        ("grpo.importance_sampling_level=x", "grpo.importance_sampling_level must be one of token, sequence, got 'x'"),
        ("grpo.vllm_mode=y", "grpo.vllm_mode must be one of server, colocate, got 'y'"),
    ],
)
def test_grpo_values_trl_would_reject_mid_training(override, message):
    with pytest.raises(RlvrError) as err:
        load_experiment(None, [override])
    assert message in str(err.value)


@pytest.mark.parametrize("override", ["grpo.scale_rewards=true", "grpo.scale_rewards=none", "grpo.loss_type=dr_grpo"])
def test_grpo_values_trl_takes(override):
    load_experiment(None, [override])


def test_grpo_choices_fail_loudly_when_trl_changes_its_help_texts(monkeypatch):
    import dataclasses

    import trl

    @dataclasses.dataclass
    class Reworded:
        loss_type: str = dataclasses.field(default="dapo", metadata={"help": "See the docs for the loss types."})

    monkeypatch.setattr(trl, "GRPOConfig", Reworded)
    with pytest.raises(RlvrError, match="cannot read the values of grpo.loss_type from trl.GRPOConfig's help text"):
        config.grpo_choices.__wrapped__()
