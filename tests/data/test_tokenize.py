"""Tokenisation through the chat template: loss on the assistant turn only, EOS counted, truncation as configured."""

from __future__ import annotations

import pytest

from redi.data.errors import DataError
from redi.data.tokenize import (
    Encoder,
    TokenizationSettings,
    check_prompts_fit,
    collate_rows,
    encode,
    encode_rows,
    warn_if_much_truncated,
)
from redi.model.load import train_tokenizer

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


@pytest.mark.parametrize("truncation", ["keep_end", "keep_start"])
def test_a_max_length_the_prompt_alone_fills_is_refused_naming_key_row_and_length(tokenizer, truncation):
    prompt_length = len(Encoder(tokenizer, settings()).prompt_ids(["What is 12 + 30?"])[0])
    assert prompt_length > 5
    enc = Encoder(tokenizer, settings(max_length=5, truncation=truncation))
    with pytest.raises(DataError) as e:
        encode_rows(enc, ["What is 12 + 30?"] * 3, ["a", "b", "c"], None)
    assert str(e.value).startswith(
        f"data.max_length=5: row 0's prompt alone has {prompt_length} tokens, leaving no response token "
        f"(3 of 3 rows, longest prompt {prompt_length} tokens)"
    )
    assert "data.truncation=drop" in str(e.value)


def test_the_first_offending_row_and_the_count_are_named(tokenizer):
    enc = Encoder(tokenizer, settings())
    short, long = enc.prompt_ids(["What is 12 + 30?", "What is 12 + 30? " * 6])
    assert len(short) < len(long)
    # a limit that fits the short prompt (and one response token) but not the long one
    with pytest.raises(DataError, match=rf"row 1's prompt alone has {len(long)} tokens, .*\(1 of 2 rows"):
        check_prompts_fit([len(short), len(long)], settings(max_length=len(long)))
    check_prompts_fit([len(short), len(long)], settings(max_length=len(long) + 1))  # one response token fits


def test_with_truncation_drop_such_rows_are_dropped_and_counted(tokenizer):
    enc = Encoder(tokenizer, settings(max_length=5, truncation="drop"))
    rows = encode_rows(enc, ["What is 12 + 30?"] * 2, ["a", "b"], None)
    assert (len(rows), rows.dropped, rows.truncated) == (0, 2, 0)


def test_a_large_share_of_truncated_rows_is_warned_about(tokenizer, caplog):
    prompt_length = len(Encoder(tokenizer, settings()).prompt_ids(["What is 12 + 30?"])[0])
    enc = Encoder(tokenizer, settings(max_length=prompt_length + 4))
    few = encode_rows(enc, ["What is 12 + 30?"] * 10, ["a " * 40] + ["x"] * 9, None)
    many = encode_rows(enc, ["What is 12 + 30?"] * 10, ["a " * 40] * 2 + ["x"] * 8, None)
    assert (few.truncated, many.truncated) == (1, 2)
    with caplog.at_level("WARNING", logger="redi.data.tokenize"):
        assert not warn_if_much_truncated(few, prompt_length + 4, "keep_end")  # 10 %: at the threshold
        assert not caplog.records
        assert warn_if_much_truncated(many, prompt_length + 4, "keep_end")
    assert caplog.records[0].getMessage() == (
        f"data.max_length={prompt_length + 4} cut 2 of 10 rows (20%, truncation=keep_end); "
        "raise data.max_length to keep whole rows"
    )
