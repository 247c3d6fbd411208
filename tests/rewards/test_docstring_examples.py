"""Every docstring example in the rewards package runs and gives the output it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rewards

MODULES = ["rewards", *sorted(m.name for m in pkgutil.iter_modules(rewards.__path__, "rewards."))]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_reward_has_an_example():
    for name in rewards.names():
        assert ">>>" in (type(rewards.build(name)).__doc__ or ""), name
