"""The kto format (TRL's unpaired prompt / completion / label rows), added as one module: detected from its
columns over trl_prompt_completion's, named by data.format and the pre-flight without any other edit, and mapped
onto D_SFT / D_Pref as counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from redi.config import BuilderConfig, DataConfig
from redi.config.checks import Checks
from redi.data import formats
from redi.data.build import build_rows, build_training_data, prepare
from redi.data.checks import check_build_settings
from redi.data.errors import DataError
from redi.data.tables import prompts_of

# 7 rows, 4 prompts: "a" has desirable, undesirable, desirable; "b" only desirable; "c" only undesirable;
# "d" undesirable then desirable (a pair, chosen = its 2nd row); tokens are words, limits 6 / 4
ROWS = [
    {"prompt": "What is a?", "completion": "It is A.", "label": True},
    {"prompt": "What is a?", "completion": "It is not A.", "label": False},
    {"prompt": "What is b?", "completion": "B.", "label": True},
    {"prompt": "What is a?", "completion": "A, surely.", "label": True},
    {"prompt": "What is c?", "completion": "No idea.", "label": False},
    {"prompt": "What is d?", "completion": "it is probably not d at all", "label": False},
    {"prompt": "What is d?", "completion": "D.", "label": True},
]


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cfg_for(path: Path, **kw) -> DataConfig:
    builder = BuilderConfig(max_prompt_tokens=6, max_response_tokens=4, decontaminate=False)
    return DataConfig(source="local", path=str(path), builder=builder, **kw)


def test_kto_rows_are_detected_and_registered_without_any_other_edit(tmp_path):
    cfg = cfg_for(write_jsonl(tmp_path / "kto.jsonl", ROWS))
    fmt = prepare(cfg).fmt
    assert (fmt.name, fmt.style, fmt.detected) == ("kto", "standard", True)  # not trl_prompt_completion
    assert "kto" in formats.names()
    c = Checks(OmegaConf.structured(DataConfig(format="kto")), "data")
    check_build_settings(c)
    assert c.errors == []


def test_first_desirable_and_first_undesirable_per_prompt(tmp_path):
    built = build_rows(cfg_for(write_jsonl(tmp_path / "kto.jsonl", ROWS)), words, None)
    assert built.funnel == {
        "rows_loaded": 7,
        "rows_max_rows": 7,
        "rows_source": 7,
        "completions_desirable": 4,
        "completions_undesirable": 3,
        "sft_has_desirable": 3,  # a, b, d
        "pairs_has_both": 2,  # a, d
        "pairs_prompt_fits": 2,
        "pairs_responses_fit": 1,  # d's undesirable completion has 7 words
        "sft_rows": 3,
        "pair_rows": 1,
    }
    assert dict(zip(built.sft["problem"], built.sft["response"], strict=True)) == {
        "What is a?": "It is A.",  # its first desirable, not "A, surely."
        "What is b?": "B.",
        "What is d?": "D.",
    }
    assert (built.pairs["problem"], built.pairs["chosen"], built.pairs["rejected"]) == (
        ["What is a?"],
        ["It is A."],
        ["It is not A."],
    )
    assert sorted(built.sft["problem_id"]) == ["row-0", "row-2", "row-5"]  # each prompt's first row


def test_conversational_kto_keeps_the_prompt_messages_and_swap_pairs_inverts(tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "1 + 1?"}], "completion": [{"role": "assistant", "content": "2"}],
         "label": True},
        {"prompt": [{"role": "user", "content": "1 + 1?"}], "completion": [{"role": "assistant", "content": "3"}],
         "label": False},
    ]  # fmt: skip
    cfg = cfg_for(write_jsonl(tmp_path / "conv.jsonl", rows))
    cfg.builder.swap_pairs = True
    built = build_rows(cfg, None, None)
    assert prompts_of(built.pairs) == [[{"role": "user", "content": "1 + 1?"}]]
    assert (built.pairs["chosen"], built.pairs["rejected"]) == (["3"], ["2"])


def test_a_label_that_is_not_a_bool_names_the_row(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl", [*ROWS[:2], {"prompt": "q", "completion": "a", "label": "yes"}]
    )
    with pytest.raises(
        DataError, match=r"row 2, column 'label': expected true \(desirable\) or false, got 'yes'"
    ):
        build_rows(cfg_for(path), None, None)


def test_named_kto_builds_through_the_cache(tmp_path):
    path = write_jsonl(tmp_path / "kto.jsonl", ROWS)
    built = build_training_data(
        cfg_for(path, format="kto"), words, None, tmp_path / "cache", tokenizer_key="w"
    )
    assert (built.funnel["sft_rows"], built.funnel["pair_rows"]) == (3, 1)
    again = build_training_data(
        cfg_for(path, format="kto"), words, None, tmp_path / "cache", tokenizer_key="w"
    )
    assert again.path == built.path and again.pairs["chosen"] == built.pairs["chosen"]
