"""The builder's funnel (ordered counts of what each rule kept) as text, and why a build kept no rows."""

from __future__ import annotations


def format_funnel(funnel: dict[str, int]) -> str:
    """The funnel as aligned lines, one step per line."""
    width = max(len(k) for k in funnel)
    return "\n".join(f"  {k:<{width}}  {v:>10,d}" for k, v in funnel.items())


def empty_step(funnel: dict[str, int], table: str) -> str:
    """The first funnel step at which ``table`` ("sft" or "pairs") had no rows left, e.g. "sft_prompt_fits"."""
    own = ("sft_has_correct", "sft_prompt_fits", "sft_response_fits")
    if table != "sft":
        own = ("pairs_has_both", "pairs_prompt_fits", "pairs_responses_fit")
    for step in ("rows_loaded", "rows_max_rows", "rows_valid", "rows_source", "rows_decontaminated", *own):
        if funnel.get(step) == 0:
            return step
    return "sft_rows" if table == "sft" else "pair_rows"


_STEP_HINTS = {
    "rows_loaded": "the source has no rows",
    "rows_max_rows": "data.builder.max_rows",
    "rows_valid": "data.builder.require_valid (no row has problem_is_valid == yes)",
    "rows_source": "data.builder.drop_sources",
    "rows_decontaminated": "data.builder.decontaminate (every problem shares an n-gram with a benchmark)",
    "sft_has_correct": "data.builder.verifiers / null_verdict (no trace counts as correct)",
    "pairs_has_both": "data.builder.verifiers / null_verdict (no problem has a correct and an incorrect trace)",
    "sft_prompt_fits": "data.builder.max_prompt_tokens",
    "pairs_prompt_fits": "data.builder.max_prompt_tokens",
    "sft_response_fits": "data.builder.max_response_tokens",
    "pairs_responses_fit": "data.builder.max_response_tokens",
}


def empty_message(funnel: dict[str, int], table: str, origin: str) -> str:
    """Why the build of ``table`` kept no rows: the funnel step that removed the last ones and the key behind it."""
    step = empty_step(funnel, table)
    what = "SFT rows" if table == "sft" else "preference pairs"
    return (
        f"{origin}: the data build kept no {what}: funnel step {step!r} removed every remaining row "
        f"({_STEP_HINTS.get(step, 'see the funnel')}); funnel: {funnel}"
    )
