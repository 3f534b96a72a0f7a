"""Token limits: the byte bound (a byte-level BPE token is >= 1 byte of its normalised input) holds for the
tokenizers redi uses, texts within it are not tokenised, and the result is the full count's; counting and
decontamination in worker processes give the in-process result."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from redi.config import BuilderConfig, DataConfig
from redi.data import decontaminate, lengths
from redi.data.build import build_rows
from redi.data.tokenize import Encoder, TokenizationSettings
from redi.model.load import train_tokenizer

QWEN2_SPLIT = (  # Qwen2's pre-tokenizer regex (its tokenizer.json): a Split before the ByteLevel step
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# texts that stress the bound: a character NFC expands (U+0958 -> 2 code points, 3 -> 6 bytes), combining marks,
# CJK, emoji, LaTeX, long runs of spaces and digits, the special tokens themselves inside the text
PIECES = ["\u0958", "e\u0301", "数学", "\U0001f600", "\\boxed{42}", " " * 17, "1234567890", "<|im_end|>",
          "<think>\n", "x^2+y^2", "\n\n", "Ω", "ﬁ", "\t", "a"]  # fmt: skip


def texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def qwen2_like(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A tokenizer built as Qwen2.5's is (NFC, regex split, byte-level BPE), trained on ``corpus``."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(pattern=__import__("tokenizers").Regex(QWEN2_SPLIT), behavior="isolated"),
         pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )  # fmt: skip
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)  # fmt: skip
    tok.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    from redi.model.chat_templates import CHATML_THINK

    wrapped.chat_template = CHATML_THINK
    return wrapped


@pytest.fixture(scope="module", params=["redi", "qwen2_like"])
def tokenizer(request):
    corpus = texts(400, seed=1) + ["What is 12 + 7? The answer is \\boxed{19}."] * 50
    return train_tokenizer(corpus, 400, "chatml_think") if request.param == "redi" else qwen2_like(corpus)


@pytest.mark.parametrize("mode", ["text", "paper"])
def test_the_byte_bound_holds_for_every_text(tokenizer, mode):
    encoder = Encoder(tokenizer, TokenizationSettings("{problem}", 4096, "keep_end", "chatml_think"))
    for role_counter in lengths.counters(mode, encoder.count_tokens, encoder.count_chat_message, tokenizer):
        assert role_counter.overhead is not None  # both tokenizers are byte-level BPE, the template is linear
        sample = texts(500, seed=2)
        column = pa.chunked_array([pa.array(sample)])
        bounds = role_counter.upper_bounds(column, np.arange(len(sample)))
        counts = np.asarray(role_counter.count(sample))
        assert (counts <= bounds).all(), [
            (t, c, b) for t, c, b in zip(sample, counts, bounds, strict=True) if c > b
        ]
        assert (counts < bounds).any()  # and it is not vacuous: most texts take fewer tokens than bytes


def test_no_bound_for_a_tokenizer_that_is_not_byte_level():
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    assert lengths.byte_level_normaliser(PreTrainedTokenizerFast(tokenizer_object=tok)) is None
    assert lengths.template_overhead(lambda t: t.strip()) is None  # content-dependent: no fixed wrapper


def responses(n: int, seed: int = 3) -> list[str]:
    """Short answers (their bytes decide), long prose (counted, fits) and long digit runs (counted, too long)."""
    rng = random.Random(seed)
    kinds = [
        lambda: f"The answer is \\boxed{{{rng.randint(0, 99)}}}.",
        lambda: " ".join(
            rng.choice(["so", "then", "we", "add", "the", "terms", "数学", "é"]) for _ in range(60)
        ),
        lambda: "".join(rng.choice("0123456789") for _ in range(260)),
    ]
    return [kinds[k % 3]() if k % 4 == 0 else kinds[0]() for k in range(n)]


def test_texts_within_the_bound_are_not_tokenised_and_the_build_is_the_full_counts(tokenizer):
    answers = responses(300)
    rows = [
        {"prompt": f"Question {i}?", "chosen": a, "rejected": answers[-1 - i]} for i, a in enumerate(answers)
    ]
    table = pa.Table.from_pylist(rows)
    encoder = Encoder(tokenizer, TokenizationSettings("{problem}", 4096, "keep_end", "chatml_think"))
    counted: list[int] = []

    def count_chat(batch, role):
        counted.append(len(batch))
        return encoder.count_chat_message(batch, role)

    builder = BuilderConfig(max_prompt_tokens=40, max_response_tokens=250, decontaminate=False)
    cfg = DataConfig(source="local", path="rows.jsonl", builder=builder, format="trl_preference")
    fast = build_rows(cfg, encoder.count_tokens, None, count_chat, tokenizer, table=table)
    tokenised = sum(counted)
    counted.clear()
    full = build_rows(cfg, encoder.count_tokens, None, count_chat, None, table=table)  # no bound: count all
    assert fast.funnel == full.funnel and 0 < full.funnel["pair_rows"] < len(rows)
    assert fast.pairs.to_dict() == full.pairs.to_dict() and fast.sft.to_dict() == full.sft.to_dict()
    assert tokenised < sum(counted) / 2  # most texts were decided by their bytes


def test_worker_processes_count_and_decontaminate_as_one_process(monkeypatch):
    sample = texts(3000, seed=4)
    column = pa.chunked_array([pa.array(sample)])
    counter = lengths.LengthCounter(lambda batch: [len(t) % 97 for t in batch])
    one, _ = lengths.lengths(counter, column, np.arange(3000), 50, processes=1)
    two, _ = lengths.lengths(counter, column, np.arange(3000), 50, processes=2)
    assert (one == two).all()
    index = decontaminate.NgramIndex(["\\boxed{42}", "x^2+y^2 Ω"], 8)
    monkeypatch.setattr(decontaminate, "PARALLEL_FROM", 10)
    pieces = [sample[i : i + 700] for i in range(0, 3000, 700)]
    assert decontaminate.contaminated(index, pieces, 3000, 2) == decontaminate.contaminated(
        index, pieces, 3000, 1
    )
    assert any(decontaminate.contaminated(index, pieces, 3000, 2))
