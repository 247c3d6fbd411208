"""Every registered reward against hostile completions: nothing escapes, nothing runs, nothing takes long.

Power towers, huge factorials, 10^5-deep nesting, 1 MB strings, control characters and lone surrogates, code
injection, None and empty completions. Each item is scored alone and must come back within timeout + 0.5 s.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

import rewards

TIMEOUT = 1.0
DEEP = 100_000
MB = 1_000_000
PACKAGE = Path(rewards.__file__).parent


def _hostile(sentinel: Path) -> list[object]:
    touch = f"__import__('os').system('touch {sentinel}')"
    return [
        "<answer>9^{9^{9^{9}}}</answer>",
        r"<think>a</think> \boxed{9^{9^{9^{9}}}}",
        "<answer>10^{10^{10}}</answer>",
        "<answer>99999999999^{99999999}</answer>",
        "<answer>1000000!</answer>",
        "<answer>(10^{10})!</answer>",
        "<answer>" + "{" * DEEP + "5" + "}" * DEEP + "</answer>",
        "<answer>" + "(" * DEEP + "5" + ")" * DEEP + "</answer>",
        r"\boxed{" * DEEP + "5" + "}" * DEEP,
        "<answer>" + r"\frac{" * DEEP + "</answer>",
        "<answer>" + r"\sqrt{" * DEEP + "2" + "}" * DEEP + "</answer>",
        "<think>" * DEEP + "</think>" * DEEP,
        "x" * MB,
        "a " * (MB // 2),
        "a" + " " * MB + "b",
        "<answer>" + "1" * MB + "</answer>",
        r"<think>a</think> \boxed{" + "9" * MB + "}",
        "#### " + "9" * MB,
        "$" * MB,
        r"\(" * (MB // 2),
        "<answer>" * (MB // 8),
        "Step 1: " * (MB // 8),
        "<think>" + "我" * MB + "</think><answer>5</answer>",
        "\x00\x01\x02\x1b[2J\x7f<answer>5\x00</answer>",
        "\ud800\udfff<answer>\ud800</answer>",
        "\u202e\u200b<think>\ud83d</think><answer>\udc00 5</answer>",
        f"<answer>{touch}</answer>",
        f'<answer>eval("{touch}")</answer>',
        rf"<think>a</think> \boxed{{exec(\"{touch}\")}}",
        f"<answer>$(touch {sentinel})</answer>",
        f"<answer>; touch {sentinel}</answer>",
        "<answer>{{7*7}}</answer>",
        "<answer>().__class__.__bases__[0].__subclasses__()</answer>",
        f"<answer>lambda: open('{sentinel}', 'w')</answer>",
        None,
        "",
        [],
        [{"role": "assistant", "content": None}],
        [{"role": "assistant"}],
        42,
        {"content": 5},
    ]


def _text_len(item: object) -> int:
    return len(item) if isinstance(item, str) else 0


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    rewards.pool.grade_many([r"<answer>\sqrt{8}</answer>"], [r"2\sqrt{2}"])
    yield
    rewards.shutdown()


@pytest.mark.parametrize("name", rewards.names())
def test_hostile_completions_through_every_reward(name, tmp_path):
    sentinel = tmp_path / "pwned"
    fn = rewards.build(name)
    slowest = 0.0
    for item in _hostile(sentinel):
        columns = {
            "prompts": ["What is 2+3?"],
            "completion_ids": [[0] * (_text_len(item) // 4)],
            "answer": ["5"],
            "numbers": [[1, 2, 3]],
            "target": [6],
        }
        start = time.perf_counter()
        scores = fn([item], **columns)
        elapsed = time.perf_counter() - start
        slowest = max(slowest, elapsed)
        assert len(scores) == 1 and (scores[0] is None or isinstance(scores[0], float)), repr(item)[:80]
        assert elapsed < TIMEOUT + 0.5, f"{name} took {elapsed:.2f}s on {repr(item)[:80]}"
    assert not sentinel.exists()
    metrics = fn.pop_metrics()
    assert metrics["errors"] == 0, metrics


def test_hostile_golds_do_not_hang_the_grader():
    fn = rewards.build("math_accuracy")
    golds = ["9^{9^{9^{9}}}", "{" * DEEP, "x" * MB, "\ud800", None, 5, ["5"], "1000000!"]
    start = time.perf_counter()
    scores = fn(["<answer>5</answer>"] * len(golds), answer=golds)
    assert time.perf_counter() - start < TIMEOUT + 0.5
    assert scores[4] is None and scores[5] == 1.0 and scores[6] is None and all(s in (0.0, None) for s in scores[:4])


def test_the_package_never_calls_eval():
    builtins, methods = {"eval", "exec", "compile", "__import__"}, {"parse_expr", "sympify", "eval", "exec"}
    calls = []
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                if (isinstance(func, ast.Name) and func.id in builtins) or (
                    isinstance(func, ast.Attribute) and func.attr in methods
                ):
                    calls.append(f"{path.name}:{node.lineno}")
    assert len(list(PACKAGE.glob("*.py"))) >= 10 and not calls
