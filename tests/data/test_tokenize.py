"""Tokenisation through the chat template: loss on the assistant turn only, EOS counted, truncation as configured."""

from __future__ import annotations

import pytest

from redi.data.tokenize import Encoder, TokenizationSettings, collate_rows, encode, encode_rows
from redi.model import train_tokenizer

TEXTS = ["What is 12 + 30?", "<think>\n12 + 30 = 42\n</think>\nThe answer is \\boxed{42}."] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(TEXTS, vocab_size=300, chat_template="chatml_think")


def settings(max_length: int = 512, truncation: str = "keep_end") -> TokenizationSettings:
    return TokenizationSettings("{problem}", max_length, truncation, "chatml_think")


def test_prompt_ends_with_think_and_response_with_eos(tokenizer):
    enc = Encoder(tokenizer, settings())
    rows = encode_rows(
        enc, ["What is 12 + 30?"], ["<think>\n12 + 30 = 42\n</think>\nThe answer is \\boxed{42}."], None
    )
    ids, start = rows.chosen[0].ids, rows.chosen[0].response_start
    prompt = tokenizer.decode(ids[:start])
    response = tokenizer.decode(ids[start:])
    assert prompt == "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n<think>\n"
    # the trace's own leading <think> is not repeated; the end-of-turn token closes the response
    assert response == "12 + 30 = 42\n</think>\nThe answer is \\boxed{42}.<|im_end|>"
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    # the same text through the chat template with the assistant turn gives the same ids
    full = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "What is 12 + 30?"},
            {"role": "assistant", "content": "12 + 30 = 42\n</think>\nThe answer is \\boxed{42}."},
        ],
        tokenize=False,
    )
    assert full.startswith(tokenizer.decode(ids))


def test_response_mask_covers_exactly_the_response(tokenizer):
    enc = Encoder(tokenizer, settings())
    rows = encode_rows(enc, ["What is 12 + 30?"] * 2, ["a", "much longer answer"], ["b b b b", "c"])
    batch = collate_rows(rows, [0, 1], pad_id=tokenizer.pad_token_id)
    assert batch.num_pairs == 2 and batch.input_ids.shape[0] == 4
    for row, seq in zip(
        range(4), [rows.chosen[0], rows.chosen[1], rows.rejected[0], rows.rejected[1]], strict=True
    ):
        assert int(batch.response_mask[row].sum()) == seq.response_length
        assert int(batch.attention_mask[row].sum()) == len(seq.ids)


@pytest.mark.parametrize(
    ("truncation", "expected"),
    [("keep_end", ([3, 4, 5, 6, 7, 8], 1)), ("keep_start", ([1, 2, 3, 4, 5, 6], 3)), ("drop", None)],
)
def test_truncation(truncation, expected):
    out = encode([1, 2, 3], [4, 5, 6, 7, 8], settings(max_length=6, truncation=truncation))
    if expected is None:
        assert out is None
    else:
        assert (out.ids, out.response_start) == expected and out.truncated


def test_keep_end_keeps_the_answer_and_eos_when_the_response_alone_is_too_long():
    out = encode([1, 2], [3, 4, 5, 6, 7, 99], settings(max_length=4))
    assert out.ids == [5, 6, 7, 99] and out.response_start == 1  # one token of context, then scored tokens


def test_dropped_and_truncated_rows_are_counted(tokenizer):
    prompt_length = len(Encoder(tokenizer, settings()).prompt_ids(["What is 12 + 30?"])[0])
    enc = Encoder(tokenizer, settings(max_length=prompt_length + 8, truncation="drop"))
    rows = encode_rows(enc, ["What is 12 + 30?"] * 2, ["short", "a " * 40], None)
    assert (len(rows), rows.dropped) == (1, 1)
