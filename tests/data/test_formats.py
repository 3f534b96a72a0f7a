"""TRL's preference and prompt-completion formats (standard and conversational, explicit or implicit prompt):
detection, the rows the builder makes of them (counted by hand), local jsonl/json/parquet and the hub loader on a
local dataset directory, and the errors for data that fits no format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import datasets
import pytest

from redi.config import BuilderConfig, DataConfig
from redi.data.build import build_rows, build_training_data, prepare
from redi.data.errors import DataError
from redi.data.formats import detect
from redi.data.tables import prompts_of


def build_any(cfg, count, texts):
    return build_rows(cfg, count, texts)


def resolve_format(cfg):
    return prepare(cfg).fmt


OPENR1 = Path(__file__).parent / "fixtures" / "openr1_hand.jsonl"


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cfg_for(path: Path, **kw) -> DataConfig:
    builder = BuilderConfig(max_prompt_tokens=6, max_response_tokens=5, decontaminate=False)
    return DataConfig(source="local", path=str(path), builder=builder, **kw)


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


# 5 standard pairs: "What is 3?" repeats (2 pairs, one distinct prompt); one prompt of 7 words is too long;
# one rejected of 6 words is too long
STANDARD = [
    {"prompt": "What is 1 + 1?", "chosen": "It is 2.", "rejected": "It is 3."},
    {"prompt": "What is 3?", "chosen": "Three.", "rejected": "Four."},
    {"prompt": "What is 3?", "chosen": "It is three.", "rejected": "Five."},
    {"prompt": "Say the name of this long number?", "chosen": "One.", "rejected": "Two."},
    {"prompt": "What is 2 + 2?", "chosen": "It is 4.", "rejected": "it is five or six maybe"},
]


def test_standard_preference_pairs_are_d_pref_and_chosen_is_d_sft(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", STANDARD)
    fmt = resolve_format(cfg_for(path))
    assert (fmt.name, fmt.style, fmt.implicit_prompt) == ("trl_preference", "standard", False)
    built = build_any(cfg_for(path), words, None)
    assert built.funnel == {
        "rows_loaded": 5,
        "rows_max_rows": 5,
        "rows_source": 5,  # no rows_decontaminated: decontamination is off (it did not run)
        "pairs_prompt_fits": 4,  # - the 7-word prompt
        "pairs_responses_fit": 3,  # - the 6-word rejected
        "sft_distinct_prompts": 4,  # "What is 3?" twice
        "sft_prompt_fits": 3,
        "sft_response_fits": 3,  # the chosen of 2 + 2 fits (the long one was its rejected)
        "sft_rows": 3,
        "pair_rows": 3,
    }
    pairs = {
        (p, c, r)
        for p, c, r in zip(
            built.pairs["problem"], built.pairs["chosen"], built.pairs["rejected"], strict=True
        )
    }
    assert pairs == {
        ("What is 1 + 1?", "It is 2.", "It is 3."),
        ("What is 3?", "Three.", "Four."),
        ("What is 3?", "It is three.", "Five."),
    }
    sft = dict(zip(built.sft["problem"], built.sft["response"], strict=True))
    assert set(sft) == {"What is 1 + 1?", "What is 3?", "What is 2 + 2?"}
    assert sft["What is 3?"] in ("Three.", "It is three.")  # the first of its pairs after the shuffle
    assert sorted(built.pairs["problem_id"]) == ["row-0", "row-1", "row-2"]


def test_conversational_preference_keeps_the_prompt_messages(tmp_path):
    rows = [
        {
            "prompt": [{"role": "system", "content": "Be brief."}, *user("What is 1 + 1?")],
            "chosen": assistant("2"),
            "rejected": assistant("3"),
        }
    ]
    cfg = cfg_for(write_jsonl(tmp_path / "conv.jsonl", rows))
    assert resolve_format(cfg).style == "conversational"
    built = build_any(cfg, None, None)
    assert built.pairs["problem"] == ["What is 1 + 1?"] and built.pairs["chosen"] == ["2"]
    assert prompts_of(built.pairs) == [[{"role": "system", "content": "Be brief."}, *user("What is 1 + 1?")]]
    assert prompts_of(built.sft) == prompts_of(built.pairs)


def test_implicit_prompts_are_the_shared_start(tmp_path):
    rows = [{"chosen": "Q: 1 + 1? A: 2", "rejected": "Q: 1 + 1? A: 3"}]
    built = build_any(cfg_for(write_jsonl(tmp_path / "std.jsonl", rows)), None, None)
    assert (built.pairs["problem"], built.pairs["chosen"], built.pairs["rejected"]) == (
        ["Q: 1 + 1? A:"],
        [" 2"],
        [" 3"],
    )
    conv = [{"chosen": user("1 + 1?") + assistant("2"), "rejected": user("1 + 1?") + assistant("3")}]
    cfg = cfg_for(write_jsonl(tmp_path / "conv.jsonl", conv))
    fmt = resolve_format(cfg)
    assert (fmt.style, fmt.implicit_prompt) == ("conversational", True)
    built = build_any(cfg, None, None)
    assert prompts_of(built.pairs) == [user("1 + 1?")] and built.pairs["rejected"] == ["3"]


@pytest.mark.parametrize("conversational", [False, True])
def test_prompt_completion_is_sft_only(tmp_path, conversational):
    wrap_p, wrap_c = (user, assistant) if conversational else (str, str)
    rows = [{"prompt": wrap_p(f"What is {i}?"), "completion": wrap_c(f"It is {i}.")} for i in range(4)]
    cfg = cfg_for(write_jsonl(tmp_path / "pc.jsonl", rows))
    assert resolve_format(cfg).name == "trl_prompt_completion"
    built = build_any(cfg, words, None)
    assert built.funnel["sft_rows"] == 4 and built.funnel["pair_rows"] == 0 and len(built.pairs) == 0
    assert sorted(built.sft["response"]) == [f"It is {i}." for i in range(4)]


def test_json_parquet_and_the_hub_loader_read_the_same_rows(tmp_path):
    jsonl = build_any(cfg_for(write_jsonl(tmp_path / "p.jsonl", STANDARD)), words, None)
    (tmp_path / "p.json").write_text(json.dumps(STANDARD))
    array = build_any(cfg_for(tmp_path / "p.json"), words, None)
    datasets.Dataset.from_list(STANDARD).to_parquet(str(tmp_path / "p.parquet"))
    parquet = build_any(cfg_for(tmp_path / "p.parquet"), words, None)
    hub_dir = tmp_path / "hub_copy"  # load_dataset(<dataset directory>), the code path of a hub id
    hub_dir.mkdir()
    write_jsonl(hub_dir / "train.jsonl", STANDARD)
    hub_cfg = replace(cfg_for(tmp_path / "unused"), source="hub", hub_id=str(hub_dir), path=None)
    hub = build_any(hub_cfg, words, None)
    for other in (array, parquet, hub):
        assert other.funnel == jsonl.funnel
        assert other.pairs.to_dict() == jsonl.pairs.to_dict()


def test_named_formats_and_column_map(tmp_path):
    rows = [{"question": "What is 1?", "good": "One.", "bad": "Two."}]
    path = write_jsonl(tmp_path / "renamed.jsonl", rows)
    mapped = cfg_for(path, column_map={"question": "prompt", "good": "chosen", "bad": "rejected"})
    assert build_any(replace(mapped, format="trl_preference"), None, None).pairs["chosen"] == ["One."]
    with pytest.raises(DataError, match=r"data.format=trl_prompt_completion: .* expected prompt, completion"):
        resolve_format(replace(mapped, format="trl_prompt_completion"))
    with pytest.raises(DataError, match="not one of"):
        resolve_format(replace(mapped, format="sharegpt"))
    openr1 = DataConfig(source="local", path=str(OPENR1), format="openr1")
    assert resolve_format(openr1).name == "openr1" and resolve_format(replace(openr1, format="auto")).detected


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"question": "q", "answer": "a"}],
            r"cannot tell the data format from the columns \['answer', 'question'\]",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "", "rejected": "b"}],
            r"row 1, column 'chosen': empty response",
        ),
        (
            [{"prompt": user("q"), "chosen": user("x") + assistant("a"), "rejected": assistant("b")}],
            r"row 0, column 'chosen': expected one assistant message, got roles \['user', 'assistant'\]",
        ),
        (
            [{"chosen": "abc", "rejected": "xyz"}],
            "row 0: no prompt column and chosen/rejected share no start",
        ),
        (
            [{"prompt": "q", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": 5, "rejected": "b"}],
            r"row 1, column 'chosen': expected a string or a list of chat messages, got int",
        ),
    ],
)
def test_bad_rows_name_the_row_and_column(tmp_path, rows, message):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError, match=message):
        build_any(cfg_for(path), None, None)


def test_the_build_is_cached_and_keyed_by_the_format(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", STANDARD)
    a = build_training_data(cfg_for(path), words, None, tmp_path / "cache", tokenizer_key="w")
    b = build_training_data(cfg_for(path), words, None, tmp_path / "cache", tokenizer_key="w")
    named = build_training_data(cfg_for(path, format="trl_preference"), words, None, tmp_path / "cache", "w")
    assert a.path == b.path and named.key != a.key and named.funnel == a.funnel
    assert "prompt_messages" in b.pairs.column_names


def test_detect_on_columns_alone():
    assert detect(["prompt", "chosen", "rejected"], {"chosen": "x"}, "f").name == "trl_preference"
    assert detect(["problem", "answer", "generations"], {}, "f").name == "openr1"
