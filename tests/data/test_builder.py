"""The builder on a hand-written Open-R1 fixture: funnel counts and pairs checked against a count made by hand.

Rules of the fixture (tests/data/fixtures/openr1_hand.jsonl, each row's "note" says what it covers): tokens are
words, prompts <= 12 words, responses <= 10 words, one benchmark problem for 8-gram decontamination.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import replace
from pathlib import Path

import datasets
import pytest

from redi.config import BuilderConfig, DataConfig
from redi.data import build as build_mod
from redi.data.build import build_rows, build_training_data, load_rows
from redi.data.errors import DataError
from redi.data.formats.openr1 import trace_correct

FIXTURE = Path(__file__).parent / "fixtures" / "openr1_hand.jsonl"
BENCHMARK = ["Find the number of ordered pairs of positive integers whose product is 100."]


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def hand_cfg(**builder) -> DataConfig:
    """The fixture's rules: raw-text word counts, and D_Pref's limits on D_SFT too (the mechanics of every filter)."""
    b = BuilderConfig(
        max_prompt_tokens=12,
        max_response_tokens=10,
        decontaminate=True,
        sft_length_limits=True,
        length_count="text",
    )
    return DataConfig(source="local", path=str(FIXTURE), builder=replace(b, **builder))


def gen(pid: str, k: int) -> str:
    rows = {
        r["uuid"] or f"row-{i}": r for i, r in enumerate(map(json.loads, FIXTURE.read_text().splitlines()))
    }
    return rows[pid]["generations"][k]


# counted by hand from the notes: 20 rows; p02 invalid, p04 cn_k12, p05 contaminated -> 17 rows with 37 traces
HAND_FUNNEL = {
    "rows_loaded": 20,
    "rows_max_rows": 20,
    "rows_valid": 19,
    "rows_source": 18,
    "rows_decontaminated": 17,
    "traces": 37,
    "traces_dropped_incomplete": 0,
    "traces_correct": 21,
    "traces_incorrect": 16,
    "sft_has_correct": 16,  # all but p09
    "sft_prompt_fits": 15,  # p11's prompt is 16 words
    "sft_response_fits": 14,  # p12's first correct trace is 14 words
    "pairs_has_both": 13,  # p01 p03 p06 p07 p10 p11 p12 p13 p14 p15 p16 p17 p18
    "pairs_prompt_fits": 12,  # - p11
    "pairs_responses_fit": 10,  # - p12 (chosen too long), p13 (rejected too long)
    "sft_rows": 14,
    "pair_rows": 10,
}
HAND_SFT = {"p00": 0, "p01": 1, "p03": 0, "p06": 1, "p07": 0, "p08": 0, "p10": 1, "p13": 0, "p14": 1, "p15": 0,
            "p16": 1, "p17": 0, "p18": 1, "row-19": 0}  # fmt: skip
HAND_PAIRS = {"p01": (1, 0), "p03": (0, 1), "p06": (1, 0), "p07": (0, 1), "p10": (1, 0), "p14": (1, 0),
              "p15": (0, 1), "p16": (1, 0), "p17": (0, 2), "p18": (1, 0)}  # fmt: skip


@pytest.fixture(scope="module")
def traces() -> datasets.Dataset:
    return load_rows(hand_cfg())


def test_funnel_sft_and_pairs_match_the_hand_count(traces):
    built = build_rows(hand_cfg(), words, BENCHMARK, table=traces)
    assert built.funnel == HAND_FUNNEL
    assert list(built.funnel) == list(HAND_FUNNEL)  # ordered as the steps run
    assert {r["problem_id"]: r["response"] for r in built.sft} == {p: gen(p, k) for p, k in HAND_SFT.items()}
    got = {r["problem_id"]: (r["chosen"], r["rejected"]) for r in built.pairs}
    assert got == {p: (gen(p, c), gen(p, r)) for p, (c, r) in HAND_PAIRS.items()}
    assert built.sft.column_names == ["problem_id", "problem", "response", "answer"]
    assert built.pairs.column_names == ["problem_id", "problem", "chosen", "rejected", "answer"]
    assert dict(zip(built.sft["problem_id"], built.sft["answer"], strict=True))["p17"] == "34"


def test_order_is_the_seed_42_shuffle_of_the_kept_rows(traces):
    built = build_rows(hand_cfg(), words, BENCHMARK, table=traces)
    # the paper's scripts shuffle every row first, then filter: the kept rows in Dataset.shuffle(seed=42)'s order
    shuffled = traces.add_column("row", list(range(len(traces)))).shuffle(seed=42)
    order = [u or f"row-{i}" for u, i in zip(shuffled["uuid"], shuffled["row"], strict=True)]
    assert built.sft["problem_id"] == [p for p in order if p in HAND_SFT]
    assert built.pairs["problem_id"] == [p for p in order if p in HAND_PAIRS]
    other = build_rows(hand_cfg(shuffle_seed=7), words, BENCHMARK, table=traces)
    assert other.sft["problem_id"] != built.sft["problem_id"]
    assert sorted(other.sft["problem_id"]) == sorted(built.sft["problem_id"])


@pytest.mark.parametrize(
    ("builder", "changes", "pairs_changed"),
    [
        # math-verify alone: p06's trace 0 becomes correct, so p06 has no incorrect trace
        ({"verifiers": "math_verify"}, {"traces_correct": 22, "traces_incorrect": 15, "pairs_has_both": 12,
                                        "pairs_prompt_fits": 11, "pairs_responses_fit": 9, "pair_rows": 9},
         {"p06": None}),
        # llama alone: p10's trace 2 becomes correct (its pair is unchanged: trace 1 is still first)
        ({"verifiers": "llama"}, {"traces_correct": 22, "traces_incorrect": 15}, {}),
        # a null verdict counts as incorrect: p07 and p15 lose their correct trace; p08 gains a pair (1, 0)
        ({"null_verdict": "incorrect"}, {"traces_correct": 18, "traces_incorrect": 19, "sft_has_correct": 14,
                                         "sft_prompt_fits": 13, "sft_response_fits": 12, "sft_rows": 12,
                                         "pairs_has_both": 12, "pairs_prompt_fits": 11, "pairs_responses_fit": 9,
                                         "pair_rows": 9},
         {"p07": None, "p15": None, "p08": (1, 0)}),
        # incomplete traces dropped: p14 keeps its SFT row but loses its rejected trace
        ({"require_complete": True}, {"traces_dropped_incomplete": 1, "traces_incorrect": 15, "pairs_has_both": 12,
                                      "pairs_prompt_fits": 11, "pairs_responses_fit": 9, "pair_rows": 9},
         {"p14": None}),
    ],
)  # fmt: skip
def test_verifier_rules_change_the_counts_as_counted_by_hand(traces, builder, changes, pairs_changed):
    built = build_rows(hand_cfg(**builder), words, BENCHMARK, table=traces)
    assert built.funnel == {**HAND_FUNNEL, **changes}
    expected = {**HAND_PAIRS, **pairs_changed}
    expected = {p: v for p, v in expected.items() if v is not None}
    assert {r["problem_id"]: (r["chosen"], r["rejected"]) for r in built.pairs} == {
        p: (gen(p, c), gen(p, r)) for p, (c, r) in expected.items()
    }


def test_without_a_token_counter_the_length_filters_are_skipped(traces):
    built = build_rows(hand_cfg(decontaminate=False, drop_sources=[]), None, None, table=traces)
    assert built.funnel["rows_source"] == 19 and "rows_decontaminated" not in built.funnel  # it did not run
    assert built.funnel["sft_rows"] == built.funnel["sft_has_correct"] == 18  # + p04, p05 (kept), p11, p12
    assert built.funnel["pair_rows"] == built.funnel["pairs_has_both"] == 15


def test_max_rows_takes_the_first_rows(traces):
    built = build_rows(hand_cfg(max_rows=4), words, BENCHMARK, table=traces)
    assert (built.funnel["rows_max_rows"], built.funnel["rows_valid"], built.funnel["sft_rows"]) == (4, 3, 3)


def test_trace_correct_truth_table():
    T, F, N = True, False, None
    assert [trace_correct(a, b, "both", "other") for a, b in [(T, T), (T, F), (F, T), (T, N), (N, T), (N, N)]] == [
        T, F, F, T, T, F]  # fmt: skip
    assert [trace_correct(a, b, "both", "incorrect") for a, b in [(T, T), (T, N), (N, T)]] == [T, F, F]
    assert [trace_correct(a, b, "math_verify", "other") for a, b in [(T, F), (F, T), (N, T), (N, F)]] == [
        T,
        F,
        T,
        F,
    ]
    assert [trace_correct(a, b, "llama", "incorrect") for a, b in [(F, T), (T, F), (T, N)]] == [T, F, F]


def test_decontaminate_without_texts_is_an_error(traces):
    with pytest.raises(DataError, match="decontaminate is true but no contamination texts"):
        build_rows(hand_cfg(), words, None, table=traces)


def test_bad_builder_settings_name_the_key(traces):
    with pytest.raises(DataError, match="data.builder.verifiers"):
        build_rows(hand_cfg(verifiers="majority"), words, BENCHMARK, table=traces)
    with pytest.raises(DataError, match="data.builder.null_verdict"):
        build_rows(hand_cfg(null_verdict="skip"), words, BENCHMARK, table=traces)
    with pytest.raises(DataError, match="prompt_template"):
        build_rows(replace(hand_cfg(), prompt_template="{question}"), words, BENCHMARK, table=traces)


# ---------------------------------------------------------------------------------------------------------------
# cache


def test_cache_is_reused_and_keyed_by_inputs(tmp_path, monkeypatch):
    first = build_training_data(hand_cfg(), words, BENCHMARK, tmp_path, tokenizer_key="words")
    assert first.funnel == HAND_FUNNEL
    assert json.loads((first.path / "funnel.json").read_text()) == HAND_FUNNEL
    assert first.path.parent == tmp_path / "data"

    def no_load(*args, **kwargs):
        raise AssertionError("the cached build should have been reused")

    monkeypatch.setattr(build_mod, "read_rows", no_load)
    again = build_training_data(hand_cfg(), words, BENCHMARK, tmp_path, tokenizer_key="words")
    assert again.path == first.path and again.sft["problem_id"] == first.sft["problem_id"]
    monkeypatch.undo()
    other_tok = build_training_data(hand_cfg(), words, BENCHMARK, tmp_path, tokenizer_key="chars")
    other_cfg = build_training_data(
        hand_cfg(max_response_tokens=11), words, BENCHMARK, tmp_path, tokenizer_key="words"
    )
    other_bench = build_training_data(
        hand_cfg(), words, ["another benchmark"], tmp_path, tokenizer_key="words"
    )
    assert len({first.key, other_tok.key, other_cfg.key, other_bench.key}) == 4
    assert (
        other_cfg.funnel["sft_rows"] == 14 and other_cfg.funnel["pair_rows"] == 10
    )  # 11 words: p12/p13 still out
    assert not list((tmp_path / "data").glob(".*"))


def test_a_changed_source_file_changes_the_key(tmp_path):
    copy = tmp_path / "copy.jsonl"
    copy.write_text(FIXTURE.read_text())
    cfg = replace(hand_cfg(), path=str(copy))
    a = build_training_data(cfg, words, BENCHMARK, tmp_path, tokenizer_key="words")
    copy.write_text("\n".join(FIXTURE.read_text().splitlines()[:10]) + "\n")
    b = build_training_data(cfg, words, BENCHMARK, tmp_path, tokenizer_key="words")
    assert a.key != b.key and b.funnel["rows_loaded"] == 10


def test_tokenizer_key_is_required_with_a_counter(tmp_path):
    with pytest.raises(ValueError, match="tokenizer_key is required"):
        build_training_data(hand_cfg(), words, BENCHMARK, tmp_path)


def _build_in_child(cache: str, log: str) -> None:
    real = build_mod.read_rows

    def counting(*args, **kwargs):
        with open(log, "a") as f:
            f.write("built\n")
        return real(*args, **kwargs)

    build_mod.read_rows = counting
    built = build_training_data(hand_cfg(), words, BENCHMARK, Path(cache), tokenizer_key="words")
    assert built.funnel == HAND_FUNNEL


def test_concurrent_builders_build_once(tmp_path):
    log = tmp_path / "builds.log"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_build_in_child, args=(str(tmp_path), str(log))) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert log.read_text().count("built") == 1
    assert len([d for d in (tmp_path / "data").iterdir() if d.is_dir()]) == 1


@pytest.mark.parametrize(
    ("builder", "step"),
    [
        ({"max_prompt_tokens": 1}, "sft_prompt_fits"),
        ({"drop_sources": ["amc_aime", "cn_k12", "olympiads"]}, "rows_source"),  # every source of the fixture
    ],
)
def test_a_build_that_keeps_no_rows_names_the_step_and_leaves_no_entry(tmp_path, builder, step):
    with pytest.raises(DataError, match=f"funnel step '{step}' removed every remaining row") as err:
        build_training_data(hand_cfg(**builder), words, BENCHMARK, tmp_path, tokenizer_key="words")
    assert str(FIXTURE) in str(err.value)
    assert [p.name for p in (tmp_path / "data").iterdir() if not p.name.endswith(".lock")] == []


# ---------------------------------------------------------------------------------------------------------------
# the paper's rules (the defaults): D_SFT without length limits, lengths as one-message chats


def chat_words(calls: list[str]):
    def count(texts: list[str], role: str) -> list[int]:
        calls.append(role)
        return [
            len(t.split()) + 2 for t in texts
        ]  # the role's template tokens and the paper's +1, as 2 words

    return count


def test_paper_rules_sft_unlimited_and_chat_counted_lengths(traces):
    cfg = hand_cfg(sft_length_limits=False, length_count="paper")
    calls: list[str] = []
    built = build_rows(cfg, words, BENCHMARK, count_chat=chat_words(calls), table=traces)
    assert set(calls) == {"user", "assistant"}
    # D_SFT: every problem with a correct trace (16), p11 (16-word prompt) and p12 (14-word trace) included.
    # D_Pref, counted as words + 2: p18's 12-word prompt is 14 > 12; p06's rejected trace (9 words) is 11 > 10
    expected = {k: v for k, v in HAND_FUNNEL.items() if k not in ("sft_prompt_fits", "sft_response_fits")}
    expected.update(sft_rows=16, pairs_prompt_fits=11, pairs_responses_fit=8, pair_rows=8)
    assert built.funnel == expected and list(built.funnel) == list(expected)
    assert {r["problem_id"]: r["response"] for r in built.sft} == {
        p: gen(p, k) for p, k in {**HAND_SFT, "p11": 0, "p12": 0}.items()
    }
    pairs = {k: v for k, v in HAND_PAIRS.items() if k not in ("p06", "p18")}
    assert {r["problem_id"]: (r["chosen"], r["rejected"]) for r in built.pairs} == {
        p: (gen(p, c), gen(p, r)) for p, (c, r) in pairs.items()
    }


def test_paper_data_configs_count_null_verdicts_incorrect():
    from omegaconf import OmegaConf

    for name in ("openr1_raw", "openr1_220k"):
        conf = OmegaConf.load(Path(__file__).parents[2] / "conf" / "data" / f"{name}.yaml")
        assert conf.builder.null_verdict == "incorrect", name
    assert BuilderConfig().length_count == "paper" and BuilderConfig().sft_length_limits is False
