"""One sampling definition for both backends: nothing inherited from a checkpoint's generation_config, every
sampling parameter explicit, and samples seeded per problem (independent of batching, order and rank)."""

import pytest
import torch

from rl.config import ModelConfig
from rl.eval.evaluate import Sampling, SeededSampling, sample, sample_seed
from rl.models import load_policy

PROMPTS = [f"What is {a} + {b}?" for a, b in [(12, 34), (503, 77), (9, 9), (640, 360), (1, 998), (45, 54)]]


@pytest.fixture(scope="module")
def policy():
    model, tokenizer, _ = load_policy(ModelConfig(name_or_path="builtin:tiny-qwen2"), seed=0)
    return model, tokenizer


def polluted(model):
    """What a real checkpoint's generation_config.json may carry (Qwen2.5-Instruct: repetition_penalty 1.05,
    top_k 20, top_p 0.8, temperature 0.7, do_sample true), exaggerated so any leak changes the output."""
    g = model.generation_config
    g.do_sample, g.temperature, g.top_k, g.top_p = True, 0.3, 2, 0.5
    g.repetition_penalty, g.no_repeat_ngram_size, g.min_new_tokens, g.min_p = 3.0, 2, 20, 0.3


def test_generation_config_defaults_do_not_leak_into_evaluation(policy):
    model, tok = policy
    clean_greedy = sample(model, tok, PROMPTS, Sampling(max_new_tokens=24), batch_size=4)
    clean_sampled = sample(model, tok, PROMPTS, Sampling(2, 24, temperature=1.0, seed=7), batch_size=4)
    saved = model.generation_config.to_dict()
    try:
        polluted(model)
        assert sample(model, tok, PROMPTS, Sampling(max_new_tokens=24), batch_size=4) == clean_greedy
        again = sample(model, tok, PROMPTS, Sampling(2, 24, temperature=1.0, seed=7), batch_size=4)
        assert again == clean_sampled
        # and the polluting defaults do change plain `generate`, so the check above can fail
        batch = tok(PROMPTS[:2], return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(0)
        leaked = tok.batch_decode(model.generate(**batch, max_new_tokens=24)[:, batch["input_ids"].shape[1] :])
        assert leaked != [t[0] for t in clean_greedy[0:1] + clean_greedy[1:2]]
        assert model.generation_config.repetition_penalty == 3.0  # restored after evaluation
    finally:
        for key, value in saved.items():
            setattr(model.generation_config, key, value)


def test_samples_are_seeded_per_problem_not_per_batch(policy):
    model, tok = policy
    kw = dict(n=3, max_new_tokens=16, temperature=1.0, top_p=0.9, seed=3)
    whole = sample(model, tok, PROMPTS, Sampling(**kw), batch_size=6)[0]
    small_batches = sample(model, tok, PROMPTS, Sampling(**kw), batch_size=3)[0]
    reversed_order = sample(model, tok, PROMPTS[::-1], Sampling(**kw), 9, indices=list(range(6))[::-1])[0][::-1]
    assert whole == small_batches == reversed_order
    assert any(len(set(group)) > 1 for group in whole)  # the samples of a problem differ from each other
    other_seed = sample(model, tok, PROMPTS, Sampling(**(kw | {"seed": 4})), batch_size=6)[0]
    assert other_seed != whole


def test_seeded_sampling_matches_the_distribution():
    """The per-row sampler draws from softmax(logits / T) restricted to the top-p nucleus."""
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    counts = torch.zeros(4)
    for s in range(4000):
        proc = SeededSampling([s], temperature=1.0, top_p=0.8, device="cpu")
        out = proc(None, logits.clone())
        assert torch.isinf(out).sum() == 3 and (out == 0).sum() == 1
        counts[out.argmax()] += 1
    freq = counts / counts.sum()
    assert counts[2] == counts[3] == 0  # outside the 0.8 nucleus (0.5 + 0.3)
    assert abs(freq[0] - 0.5 / 0.8) < 0.03 and abs(freq[1] - 0.3 / 0.8) < 0.03


def test_seeds_differ_across_problems_and_samples():
    seeds = {sample_seed(0, i, j) for i in range(200) for j in range(8)}
    assert len(seeds) == 1600
    assert sample_seed(1, 0, 0) != sample_seed(0, 0, 0)


def test_vllm_request_states_every_sampling_parameter():
    greedy = Sampling(1, 64, 0.0, 0.9, seed=5).vllm()
    assert greedy == {
        "n": 1,
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": 0,
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "max_tokens": 64,
        "seed": 5,
        "skip_special_tokens": True,
    }
    assert Sampling(4, 64, 0.6, 0.95, seed=5).vllm()["top_p"] == 0.95
    with pytest.raises(ValueError, match="greedy"):
        Sampling(4, 64, 0.0, 1.0, seed=0)


def test_training_rollouts_sample_with_the_same_neutral_defaults(tmp_path):
    from rl.config import load_experiment
    from rl.train.loop import NEUTRAL_HF_SAMPLING, grpo_args

    hf = grpo_args(load_experiment(None, []), tmp_path, "none")
    assert hf.min_p == 0.0 and hf.generation_kwargs == NEUTRAL_HF_SAMPLING
    mine = grpo_args(load_experiment(None, ["grpo.generation_kwargs={typical_p: 0.9}"]), tmp_path, "none")
    assert mine.generation_kwargs["typical_p"] == 0.9  # the user's own settings win
