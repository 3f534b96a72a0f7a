"""The user-turn templates of evaluation prompts: a known name (the paper's Open-R1 prompt, the raw problem) or a
format string with one ``{problem}`` slot. Light: the pre-flight checks eval.prompt_template with it.
"""

from __future__ import annotations

# The Open-R1 evaluation prompt (lighteval's MATH-500/AIME template) the paper evaluates with; "{problem}" is the slot.
OPEN_R1_PROMPT = (
    "Solve the following math problem efficiently and clearly.  The last line of your response should be of the "
    "following format: 'Therefore, the final answer is: $\\boxed{{ANSWER}}$. I hope it is correct' (without quotes) "
    "where ANSWER is just the final number or expression that solves the problem. Think step by step before "
    "answering.\n\n{problem}"
)
PROMPT_TEMPLATES: dict[str, str] = {"open_r1": OPEN_R1_PROMPT, "raw": "{problem}"}


def resolve_prompt_template(template: str) -> str:
    """The user-turn template: a name from PROMPT_TEMPLATES or a format string with one ``{problem}`` slot."""
    text = PROMPT_TEMPLATES.get(template, template)
    try:
        filled = text.format(problem="\x00")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(
            f"eval.prompt_template: {template!r:.120} is not a known name ({sorted(PROMPT_TEMPLATES)}) nor a format "
            f"string whose only field is {{problem}} (literal braces must be doubled): {e!r}"
        ) from e
    if "\x00" not in filled:
        raise ValueError(f"eval.prompt_template: {template!r:.120} has no {{problem}} slot")
    return text
