"""The one list of reward names. Config validation and CLI help read it; nothing else lists rewards.

A reward class joins with ``@register``; its ``__init__`` keyword parameters (annotated, with defaults) are the
params a YAML entry may set. ``build`` checks names, params and their types, and says in one line what is wrong.
"""

from __future__ import annotations

import difflib
import inspect
import typing

from rewards.base import Reward

_REGISTRY: dict[str, type[Reward]] = {}


def register(cls: type[Reward]) -> type[Reward]:
    """Class decorator: make ``cls`` buildable by ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"reward name {cls.name!r} is empty or taken")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Every registered reward name, sorted."""
    return sorted(_REGISTRY)


def _lookup(name: object) -> type[Reward]:
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown reward {name!r}{hint} (known: {', '.join(names())})")


def describe(name: str) -> str:
    """One-line summary of a reward: the first line of its docstring."""
    doc = inspect.getdoc(_lookup(name)) or ""
    return doc.splitlines()[0].replace("``", "") if doc else name


def checks_answer(name: str) -> bool:
    """Whether the reward grades the final answer against a gold (what run health watches as accuracy)."""
    return _lookup(name).checks_answer


def params(name: str) -> dict[str, object]:
    """The params a reward accepts, with their defaults (``inspect.Parameter.empty`` when required)."""
    return {p.name: p.default for p in _parameters(_lookup(name)).values()}


def _parameters(cls: type[Reward]) -> dict[str, inspect.Parameter]:
    signature = inspect.signature(cls.__init__)
    return {k: p for k, p in signature.parameters.items() if k != "self" and p.kind is not p.VAR_KEYWORD}


def build(name: str, **kwargs: object) -> Reward:
    """A ready reward function for ``name`` with the given params; ``ValueError`` (one line) when anything is off.

    >>> fn = build("overlong_penalty", max_length=100, buffer=20)
    >>> fn(["x"], completion_ids=[[0] * 90]), fn.__name__
    ([-0.5], 'overlong_penalty')
    """
    cls = _lookup(name)
    accepted = _parameters(cls)
    hints = typing.get_type_hints(cls.__init__)
    listing = ", ".join(accepted) or "none"
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, list(accepted), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"reward {name!r} has no param {key!r}{hint} (its params: {listing})")
    missing = [k for k, p in accepted.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise ValueError(f"reward {name!r} needs param {missing[0]!r} (its params: {listing})")
    values = {key: _coerce(name, key, value, hints.get(key)) for key, value in kwargs.items()}
    try:
        return cls(**values)
    except ValueError as error:
        message = " ".join(str(error).split())
        raise ValueError(f"reward {name!r}: {message}") from None


def _coerce(name: str, key: str, value: object, expected: object) -> object:
    """Check a param's type: int where int, float (or int) where float, str, bool; one-line error otherwise."""
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected in (int, str, bool) and type(value) is expected:
        return value
    if expected in (int, float, str, bool):
        raise ValueError(
            f"reward {name!r} param {key!r} must be {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return value
