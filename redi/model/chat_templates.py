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


DEFAULT_TEMPLATE = "chatml_think"
CHOICES = ("auto", "model", *TEMPLATES)


class ChatTemplateError(ValueError):
    """model.chat_template cannot be applied to this tokenizer."""


def template_for_new_tokenizer(setting: str) -> str:
    """The template of a tokenizer trained from scratch (it has none of its own): "auto" -> the default."""
    if setting == "model":
        raise ChatTemplateError(
            "model.chat_template='model': the tiny model's trained tokenizer has no template of its own"
        )
    return get_template(DEFAULT_TEMPLATE if setting == "auto" else setting)


def choose_chat_template(tokenizer, setting: str, origin: str) -> str:
    """Set ``tokenizer.chat_template`` as ``model.chat_template`` says and return a line describing the choice.

    auto: the tokenizer's own template when it has one, else :data:`DEFAULT_TEMPLATE`; model: its own (an
    error when it has none); a name: that template, replacing its own.
    """
    own = getattr(tokenizer, "chat_template", None)
    if setting not in CHOICES:
        raise ChatTemplateError(
            f"model.chat_template: unknown template {setting!r}; known: auto, model, {', '.join(TEMPLATES)}"
        )
    if setting in ("auto", "model") and own:
        return f"chat template: the model's own (from {origin}; model.chat_template={setting})"
    if setting == "model":
        raise ChatTemplateError(
            f"model.chat_template='model': the tokenizer of {origin} has no chat template; "
            f"use model.chat_template=auto or one of {', '.join(TEMPLATES)}"
        )
    tokenizer.chat_template = get_template(DEFAULT_TEMPLATE if setting == "auto" else setting)
    if setting == "auto":
        return f"chat template: {DEFAULT_TEMPLATE} ({origin} has none of its own; model.chat_template=auto)"
    replaced = "replacing its own" if own else "it has none of its own"
    return f"chat template: {setting} (model.chat_template={setting}; {replaced}, from {origin})"


def generation_prompt_opens_think(tokenizer) -> bool:
    """Whether the tokenizer's generation prompt ends with "<think>\\n" (a trace's own leading <think> is dropped)."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
    )
    return rendered.endswith("<think>\n")
