"""The warm-up's cache key holds exactly what determines the warm-up (rl/train/warmup.py): a smaller evaluation, other
evaluation settings than the probe's or other GRPO settings reuse a cached warm-up; anything it computes from does
not."""

import io


def key_of(overrides):
    """The warm-up cache key `rlvr train --set ...` would use (the tiny model, loaded in float32 on the CPU)."""
    from rl.config import load_experiment
    from rl.data import load_data
    from rl.models import locate
    from rl.train.warmup import cache_key

    exp = load_experiment(None, overrides)
    location = locate(exp.model, exp.seed)
    rows, _ = load_data(exp.data)
    return cache_key(location, exp.model, "float32 on cpu", exp.warmup, rows, exp.seed, exp.eval)


def test_the_warmup_key_holds_what_determines_the_warmup_and_nothing_else():
    small = ["data.train_size=512"]
    base = key_of(small)
    for same in (
        ["data.eval_size=64"],
        ["data.eval_size=8"],
        ["eval.batch_size=8", "eval.before=false", "eval.after=false"],
        ["warmup.cache=false"],
        ["grpo.learning_rate=3e-4", "grpo.max_steps=6"],
        ["logging.backends=[]"],
    ):
        assert key_of(small + same) == base, same
    for other in (
        ["data.train_size=256"],
        ["data.params.tagged=0.5"],
        ["warmup.learning_rate=1e-3"],
        ["warmup.target_accuracy=0.6"],
        ["eval.max_new_tokens=48"],  # the probe generates this long
        ["eval.timeout=2.0"],  # and grades within this
        ["seed=1"],
        ["model.attn_implementation=eager"],
    ):
        assert key_of(small + other) != base, other


def test_weights_of_reads_the_dtypes_and_device():
    import torch

    from rl.train.warmup import weights_of

    model = torch.nn.Linear(2, 2)
    model.device = torch.device("cpu")
    assert weights_of(model) == "float32 on cpu"
    assert weights_of(model.to(torch.bfloat16)) == "bfloat16 on cpu"


def test_a_smaller_evaluation_reuses_the_cached_warmup(tmp_path, monkeypatch):
    from rich.console import Console

    from rl.config import load_experiment
    from rl.data import load_data
    from rl.models import load_policy
    from rl.train.warmup import warm_start

    monkeypatch.setenv("RLVR_CACHE_DIR", str(tmp_path))
    quick = ["data.train_size=64", "warmup.max_steps=2", "warmup.check_every=2", "warmup.check_size=4"]
    infos = []
    for eval_size in (32, 8):
        exp = load_experiment(None, [*quick, f"data.eval_size={eval_size}", "eval.batch_size=4"])
        model, tokenizer, location = load_policy(exp.model, exp.seed)
        console = Console(file=io.StringIO())
        infos.append(warm_start(model, tokenizer, location, load_data(exp.data)[0], exp, console))
    assert infos[0]["cached"] is False and infos[1]["cached"] is True
    assert len(list((tmp_path / "warmup").iterdir())) == 1
