"""Chat templates by name: the prompt format a model is trained and evaluated with.

``chatml_think`` is ChatML whose assistant turn starts with "<think>\n", as the paper's training template does;
the generation prompt ends with that prefix, so a sampled response continues the thinking.
"""

from __future__ import annotations

CHATML_THINK = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n<think>\\n' }}{%- endif -%}"
)

CHATML = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

TEMPLATES: dict[str, str] = {"chatml_think": CHATML_THINK, "chatml": CHATML}

# The assistant turn's prefix and end marker for each template: the response tokens are what follows the prefix,
# up to and including the end-of-turn token (the sequence's EOS).
ASSISTANT_PREFIX: dict[str, str] = {
    "chatml_think": "<|im_start|>assistant\n<think>\n",
    "chatml": "<|im_start|>assistant\n",
}
END_OF_TURN = "<|im_end|>"


def get_template(name: str) -> str:
    """Return the Jinja chat template called ``name``; raises naming the known ones."""
    if name not in TEMPLATES:
        raise ValueError(
            f"model.chat_template: unknown template {name!r}; known: {sorted(TEMPLATES)} or 'model'"
        )
    return TEMPLATES[name]
