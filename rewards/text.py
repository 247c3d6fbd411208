"""Getting plain text out of what TRL hands a reward, and splitting it at the think tags.

TRL passes completions either as strings or as chat messages (a list of ``{"role", "content"}`` dicts); prompts
likewise. Everything here is linear in the length of the text and never raises on odd input.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def as_text(item: object) -> str:
    """The text of one completion or prompt: a string as is, chat messages as the last assistant content.

    >>> as_text([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<think>x</think>"}])
    '<think>x</think>'
    """
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        return _content(item)
    if isinstance(item, (list, tuple)) and item:
        messages = [m for m in item if isinstance(m, dict)]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        chosen = assistant or messages
        return _content(chosen[-1]) if chosen else ""
    return ""


def prompt_text(item: object) -> str:
    """The text a prompt ends with: a string as is, chat messages as the last message's content."""
    if isinstance(item, (list, tuple)) and item and isinstance(item[-1], dict):
        return _content(item[-1])
    return as_text(item)


def _content(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_opens_think(prompt: object) -> bool:
    """True when the prompt itself ends with ``<think>`` (a prefilled, R1-Distill style template)."""
    return prompt_text(prompt).rstrip().endswith(THINK_OPEN)


def with_prefill(completion: str, prompt: object) -> str:
    """The completion as if the prompt's trailing ``<think>`` were part of it.

    >>> with_prefill("abc</think><answer>1</answer>", "Q: 1? <think>")
    '<think>abc</think><answer>1</answer>'
    """
    if prompt is not None and THINK_OPEN not in completion and prompt_opens_think(prompt):
        return THINK_OPEN + completion
    return completion


def completions_text(completions: object, prompts: object = None) -> list[str]:
    """One string per completion, with a prompt-prefilled ``<think>`` restored."""
    items = list(completions) if isinstance(completions, (list, tuple)) else []
    prompt_list = list(prompts) if isinstance(prompts, (list, tuple)) and len(prompts) == len(items) else None
    texts = [as_text(c) for c in items]
    if prompt_list is not None:
        texts = [with_prefill(t, p) for t, p in zip(texts, prompt_list, strict=True)]
    return texts


def answer_region(text: str) -> str | None:
    """The part of a completion that may hold the final answer, or None if the chain of thought never closed.

    Rule: text after the last ``</think>`` counts; if a ``<think>`` is open there (no ``</think>`` after it), the
    model never finished thinking and there is no answer; a completion with no think tags is read whole.

    >>> answer_region("<think>2+2=4</think> <answer>4</answer>")
    ' <answer>4</answer>'
    >>> answer_region("<think>the answer is \\\\boxed{4}") is None
    True
    """
    cut = text.rfind(THINK_CLOSE)
    region = text if cut < 0 else text[cut + len(THINK_CLOSE) :]
    return None if THINK_OPEN in region else region


def think_region(text: str) -> str:
    """The chain of thought: text between the first ``<think>`` and the last ``</think>`` (or the whole text)."""
    start = text.find(THINK_OPEN)
    end = text.rfind(THINK_CLOSE)
    begin = 0 if start < 0 else start + len(THINK_OPEN)
    if end < begin:
        return text[begin:] if start >= 0 else text
    return text[begin:end]


def tag_contents(text: str, open_tag: str, close_tag: str) -> list[str]:
    """Contents of every complete ``open_tag ... close_tag`` pair, left to right, without overlap."""
    found, pos = [], 0
    while True:
        start = text.find(open_tag, pos)
        if start < 0:
            return found
        end = text.find(close_tag, start + len(open_tag))
        if end < 0:
            return found
        found.append(text[start + len(open_tag) : end])
        pos = end + len(close_tag)
