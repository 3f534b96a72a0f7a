"""Rows of text -> token ids through the chat template, with the loss on the assistant turn only.

The prompt is the chat-formatted user turn with the generation prompt (for ``chatml_think`` it ends in
"<think>\\n", so a trace's own leading "<think>\\n" is dropped); the response is the trace followed by the
end-of-turn token, which is the sequence's EOS and counts in |y|. Prompt and response are tokenised separately,
exactly as generation sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from redi.model.chat_templates import generation_prompt_opens_think

log = logging.getLogger(__name__)


@dataclass
class TokenBatch:
    """A padded batch of N sequences.

    input_ids, attention_mask, response_mask: (N, T). response_mask marks the tokens scored by the loss
    (the assistant turn, EOS included). For pairs N = 2B: rows [0, B) chosen, rows [B, 2B) rejected.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor
    num_pairs: int | None = None  # B when the batch holds pairs

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.response_mask.to(device),
            self.num_pairs,
        )

    @property
    def num_tokens(self) -> int:
        """Non-padding tokens in the batch."""
        return int(self.attention_mask.sum())


@dataclass(frozen=True)
class Encoded:
    """One sequence: ids = prompt + response (+ EOS); response tokens are ids[response_start:]."""

    ids: list[int]
    response_start: int
    truncated: bool

    @property
    def response_length(self) -> int:
        return len(self.ids) - self.response_start


@dataclass(frozen=True)
class TokenizationSettings:
    prompt_template: str
    max_length: int
    truncation: str  # keep_end | keep_start | drop
    chat_template: str


def format_prompt(tokenizer, problem: str | list[dict[str, str]], settings: TokenizationSettings) -> str:
    """The chat-formatted prompt text, ending with the assistant prefix the model continues from.

    ``problem``: the problem text (the user turn, through ``prompt_template``) or a conversational prompt's
    messages, used as they are (redi.data.formats).
    """
    if isinstance(problem, list):
        messages = problem
    else:
        messages = [{"role": "user", "content": settings.prompt_template.format(problem=problem)}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def _strip_think(response: str, prompt_opens_think: bool) -> str:
    if prompt_opens_think and response.startswith("<think>"):
        return response[len("<think>") :].lstrip("\n")
    return response


def eos_token_id(tokenizer) -> int:
    """The end-of-turn token that closes every response."""
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if eos is None or eos == tokenizer.unk_token_id:
        eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer has neither <|im_end|> nor an eos_token")
    return int(eos)


def encode(prompt_ids: list[int], response_ids: list[int], settings: TokenizationSettings) -> Encoded | None:
    """Join prompt and response ids and apply the length limit; None when truncation=drop and it is too long."""
    ids = prompt_ids + response_ids
    start = len(prompt_ids)
    if len(ids) <= settings.max_length:
        return Encoded(ids, start, False)
    if settings.truncation == "drop":
        return None
    if settings.truncation == "keep_start":
        return Encoded(ids[: settings.max_length], min(start, settings.max_length - 1), True)
    if settings.truncation == "keep_end":
        cut = len(ids) - settings.max_length
        # keep at least one prompt token so the first response token has a context
        cut = min(cut, len(ids) - 2)
        return Encoded(ids[cut:], max(start - cut, 1), True)
    raise ValueError(f"data.truncation={settings.truncation!r}: expected keep_end, keep_start or drop")


class Encoder:
    """Tokenise problems and traces for one tokenizer and one set of settings."""

    def __init__(self, tokenizer, settings: TokenizationSettings) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.eos_id = eos_token_id(tokenizer)
        # the chat template's generation prompt already opens the thinking (chatml_think, R1-style templates)
        self.prompt_opens_think = generation_prompt_opens_think(tokenizer)

    def prompt_ids(self, problems: Sequence[str | list[dict[str, str]]]) -> list[list[int]]:
        texts = [format_prompt(self.tokenizer, p, self.settings) for p in problems]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def response_ids(self, responses: Sequence[str]) -> list[list[int]]:
        texts = [_strip_think(r, self.prompt_opens_think) for r in responses]
        return [ids + [self.eos_id] for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def count_prompt_tokens(self, problems: list[str]) -> list[int]:
        return [len(x) for x in self.prompt_ids(problems)]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text (no special tokens added); a fast tokenizer's counts never become Python lists."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            return [len(e) for e in backend.encode_batch(list(texts), add_special_tokens=False)]
        return [len(x) for x in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def count_chat_message(self, texts: list[str], role: str) -> list[int]:
        """Tokens of the chat template applied to ``[{role, text}]`` alone, plus one: how the paper's scripts count.

        The REDI repository's length filter (study_length_distribution.py) renders the prompt (the user turn) and
        each response (the assistant turn) as one-message conversations without a generation prompt, tokenises
        them without special tokens and adds 1 (the generation prompt's / EOS token).
        """
        rendered = [
            self.tokenizer.apply_chat_template(
                [{"role": role, "content": t}], add_generation_prompt=False, tokenize=False
            )
            for t in texts
        ]
        return [n + 1 for n in self.count_tokens(rendered)]


@dataclass
class EncodedRows:
    """Encoded training rows: singles (SFT) or pairs; ``lengths`` is what batching groups by."""

    chosen: list[Encoded]
    rejected: list[Encoded] | None
    lengths: list[int]
    dropped: int
    truncated: int
    funnel: dict[str, int] | None = None  # the builder's counts that made these rows (for the model card)

    def __len__(self) -> int:
        return len(self.chosen)

    @property
    def group_lengths(self) -> list[int]:
        """What batching groups by: the longer of chosen and rejected for pairs (both pad to it), else the length."""
        if self.rejected is None:
            return [len(c.ids) for c in self.chosen]
        return [max(len(c.ids), len(r.ids)) for c, r in zip(self.chosen, self.rejected, strict=True)]


def check_prompts_fit(prompt_lengths: Sequence[int], settings: TokenizationSettings) -> None:
    """Refuse a ``data.max_length`` that leaves no room for the response after a row's whole prompt.

    Raises DataError naming the key, the first offending row (0-based, in build order), its prompt length, and
    how many rows are affected, with the ways out (raise the limit, or drop such rows).
    """
    from redi.data.errors import DataError

    bad = [i for i, n in enumerate(prompt_lengths) if n >= settings.max_length]
    if not bad:
        return
    first = bad[0]
    raise DataError(
        f"data.max_length={settings.max_length}: row {first}'s prompt alone has {prompt_lengths[first]} tokens, "
        f"leaving no response token ({len(bad)} of {len(prompt_lengths)} rows, longest prompt "
        f"{max(prompt_lengths[i] for i in bad)} tokens); raise data.max_length above the longest prompt, "
        "or set data.truncation=drop to leave such rows out"
    )


def encode_rows(
    encoder: Encoder,
    problems: Sequence[str | list[dict[str, str]]],
    chosen: list[str],
    rejected: list[str] | None,
) -> EncodedRows:
    """Encode SFT rows (rejected None) or preference pairs, dropping or truncating over-long ones as configured.

    A prompt that alone fills ``max_length`` would leave the row (almost) no prompt or response, so unless such rows
    are dropped (truncation=drop) it is refused before any training: ``check_prompts_fit``.
    """
    prompts = encoder.prompt_ids(problems)
    if encoder.settings.truncation != "drop":
        check_prompts_fit([len(p) for p in prompts], encoder.settings)
    chosen_ids = encoder.response_ids(chosen)
    rejected_ids = encoder.response_ids(rejected) if rejected is not None else None
    out_c: list[Encoded] = []
    out_r: list[Encoded] = []
    lengths: list[int] = []
    dropped = truncated = 0
    for i, p in enumerate(prompts):
        c = encode(p, chosen_ids[i], encoder.settings)
        r = encode(p, rejected_ids[i], encoder.settings) if rejected_ids is not None else None
        if c is None or (rejected_ids is not None and r is None):
            dropped += 1
            continue
        truncated += int(c.truncated or (r is not None and r.truncated))
        out_c.append(c)
        if r is not None:
            out_r.append(r)
        lengths.append(len(c.ids) + (len(r.ids) if r is not None else 0))
    return EncodedRows(out_c, out_r if rejected_ids is not None else None, lengths, dropped, truncated)


TRUNCATION_WARN_FRACTION = 0.1  # above this share of rows cut to data.max_length, the user is told


def warn_if_much_truncated(rows: EncodedRows, max_length: int, truncation: str) -> bool:
    """Warn (and return True) when more than TRUNCATION_WARN_FRACTION of the rows were cut to ``max_length``.

    Cutting changes what the model is trained on (keep_end loses the start of the prompt, keep_start the end of
    the response), so a large share is a setting the user should see rather than a silent change.
    """
    total = len(rows) + rows.dropped
    if total == 0 or rows.truncated / total <= TRUNCATION_WARN_FRACTION:
        return False
    log.warning(
        "data.max_length=%d cut %d of %d rows (%.0f%%, truncation=%s); raise data.max_length to keep whole rows",
        max_length,
        rows.truncated,
        total,
        100 * rows.truncated / total,
        truncation,
    )
    return True


def collate(sequences: Sequence[Encoded], pad_id: int, num_pairs: int | None = None) -> TokenBatch:
    """Right-pad sequences into a TokenBatch; for pairs pass chosen then rejected and num_pairs = B."""
    width = max(len(s.ids) for s in sequences)
    n = len(sequences)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    response = torch.zeros((n, width), dtype=torch.long)
    for i, s in enumerate(sequences):
        input_ids[i, : len(s.ids)] = torch.tensor(s.ids, dtype=torch.long)
        attention[i, : len(s.ids)] = 1
        response[i, s.response_start : len(s.ids)] = 1
    return TokenBatch(input_ids, attention, response, num_pairs)


def collate_rows(rows: EncodedRows, indices: Sequence[int], pad_id: int) -> TokenBatch:
    """The batch of the given row indices: chosen only, or chosen then rejected (one concatenated forward)."""
    if rows.rejected is None:
        return collate([rows.chosen[i] for i in indices], pad_id)
    seqs = [rows.chosen[i] for i in indices] + [rows.rejected[i] for i in indices]
    return collate(seqs, pad_id, num_pairs=len(indices))
