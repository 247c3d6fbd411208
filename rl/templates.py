"""Chat conventions: the chat templates of the tiny family models, and the rendered prompts rewards must see.

Each tiny family speaks its real family's chat format, with the same special tokens (built on the char tokenizer):

    qwen2     ChatML                <|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\n
    llama     Llama-3 headers       <|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\nQ<|eot_id|>...
    mistral   [INST]                <s>[INST] Q[/INST]
    falcon    plain role names      User: Q\\nAssistant:
    deepseek  R1-Distill, prefilled <｜begin▁of▁sentence｜><｜User｜>Q<｜Assistant｜><think>\\n

A template that *prefills* `<think>` (DeepSeek-R1-Distill style) puts the opening tag in the prompt, so the policy's
completion starts inside the chain of thought and lacks it. The rewards library restores it when the `prompts` it
is given end with `<think>` (`rewards.text.with_prefill`), but for chat data TRL hands rewards the prompt as *chat
messages*, whose last message is the user's question: the prefill is invisible there. The trainer's reward wrapper
(`rl.train.trainer_reward.TrainerReward`) hands each reward the rendered prompt text instead
(`render_prompts`), exactly
what the policy was conditioned on; the held-out evaluation grades with rendered prompts for the same reason.
"""

from __future__ import annotations

from typing import Any

from rl.data import render_prompt

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# Mistral v0.3 style: no system role, so a system message is put before the first user message.
MISTRAL = (
    "{{ bos_token }}{% set system = messages[0]['content'] if messages[0]['role'] == 'system' else '' %}"
    "{% for message in messages if message['role'] != 'system' %}{% if message['role'] == 'user' %}"
    "[INST] {% if system and loop.first %}{{ system }}\n\n{% endif %}{{ message['content'] }}[/INST]"
    "{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)
FALCON = (
    "{% for message in messages %}{% if message['role'] == 'system' %}System: {{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
    "{% else %}Assistant: {{ message['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
# DeepSeek-R1-Distill: system text right after BOS, past reasoning cut from assistant turns, `<think>\n` prefilled.
DEEPSEEK_R1 = (
    "{{ bos_token }}{% for message in messages if message['role'] == 'system' %}{{ message['content'] }}{% endfor %}"
    "{% for message in messages %}{% if message['role'] == 'user' %}<｜User｜>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<｜Assistant｜>{{ message['content'].split('</think>')[-1] }}"
    "<｜end▁of▁sentence｜>{% endif %}{% endfor %}{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)


def is_conversational(prompt: Any) -> bool:
    return isinstance(prompt, (list, tuple)) and bool(prompt) and isinstance(prompt[0], dict)


def render_prompts(prompts: list[Any], tokenizer) -> list[Any]:
    """Chat-message prompts rendered with the tokenizer's chat template (as TRL renders them); strings as they are."""
    cache: dict[str, str] = {}
    out = []
    for prompt in prompts:
        if not is_conversational(prompt):
            out.append(prompt)
            continue
        key = repr(prompt)
        if key not in cache:
            cache[key] = render_prompt(list(prompt), tokenizer)
        out.append(cache[key])
    return out


def prefills_think(tokenizer, question: str = "What is 1 + 1?") -> bool:
    """True when the tokenizer's chat template ends the generation prompt with `<think>` (R1-Distill style)."""
    if not getattr(tokenizer, "chat_template", None):
        return False
    text = render_prompt([{"role": "user", "content": question}], tokenizer)
    return text.rstrip().endswith("<think>")
