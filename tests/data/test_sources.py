"""Sources: data.path as a file, a folder of shards or a glob (the same rows as the one file); the pre-flight's
spelling of a path that cannot be read; rows read once per process and stored as memory-mapped Arrow."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from redi.config import BuilderConfig, DataConfig
from redi.data import sources
from redi.data.build import build_rows, build_training_data
from redi.data.errors import DataError
from redi.data.sources import open_source, stored
from redi.data.sources.paths import data_files

FIXTURE = Path(__file__).parent / "fixtures" / "openr1_hand.jsonl"
BENCHMARK = ["Find the number of ordered pairs of positive integers whose product is 100."]


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def hand_cfg(path: Path | str) -> DataConfig:
    b = BuilderConfig(max_prompt_tokens=12, max_response_tokens=10, sft_length_limits=True, length_count="text",
                      decontaminate=True)  # fmt: skip
    return DataConfig(source="local", path=str(path), builder=b)


def shards(tmp_path: Path, sizes: tuple[int, ...] = (7, 6, 7)) -> Path:
    """The fixture's 20 rows split into shards (part-0.jsonl, part-1.parquet is not mixed in: one kind)."""
    lines = FIXTURE.read_text().splitlines()
    folder = tmp_path / "shards"
    folder.mkdir()
    start = 0
    for k, n in enumerate(sizes):
        (folder / f"part-{k}.jsonl").write_text("\n".join(lines[start : start + n]) + "\n")
        start += n
    (folder / "README.md").write_text("not data")  # a folder's other files are not shards
    return folder


def test_a_folder_and_a_glob_of_shards_build_the_same_data_as_the_file(tmp_path):
    whole = build_rows(hand_cfg(FIXTURE), words, BENCHMARK)
    folder = shards(tmp_path)
    for path in (folder, f"{folder}/part-*.jsonl"):
        built = build_rows(hand_cfg(path), words, BENCHMARK)
        assert built.funnel == whole.funnel
        assert built.sft.to_dict() == whole.sft.to_dict() and built.pairs.to_dict() == whole.pairs.to_dict()


def test_parquet_shards_and_the_cache_key_follow_every_shard(tmp_path):
    table = pa.Table.from_pylist([json.loads(x) for x in FIXTURE.read_text().splitlines()])
    folder = tmp_path / "pq"
    folder.mkdir()
    pq.write_table(table.slice(0, 10), folder / "a.parquet")
    pq.write_table(table.slice(10), folder / "b.parquet")
    first = build_training_data(hand_cfg(folder), words, BENCHMARK, tmp_path / "cache", tokenizer_key="w")
    assert first.funnel == build_rows(hand_cfg(FIXTURE), words, BENCHMARK).funnel
    pq.write_table(table.slice(10, 5), folder / "b.parquet")  # one shard changes: a new build
    second = build_training_data(hand_cfg(folder), words, BENCHMARK, tmp_path / "cache", tokenizer_key="w")
    assert second.key != first.key and second.funnel["rows_loaded"] == 15


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("{tmp}/nothing/*.jsonl", "data.path='{tmp}/nothing/*.jsonl': no file matches this pattern"),
        ("{tmp}/no_such.jsonl", "data.path='{tmp}/no_such.jsonl': no such file"),
        (
            "{tmp}/empty_dir",
            "data.path='{tmp}/empty_dir': is a directory with no .jsonl, .json, .parquet file",
        ),
        (
            "{tmp}/t.csv",
            "data.path='{tmp}/t.csv': has extension '.csv'; expected one of .jsonl, .json, .parquet",
        ),
        ("{tmp}/mixed", "data.path='{tmp}/mixed': the shards mix extensions ['.jsonl', '.parquet']"),
    ],
)
def test_paths_that_cannot_be_read_are_named_as_typed(tmp_path, path, message):
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "t.csv").write_text("a,b\n")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.jsonl").write_text("{}\n")
    (tmp_path / "mixed" / "b.parquet").write_bytes(b"x")
    typed = path.format(tmp=tmp_path)
    with pytest.raises(DataError) as err:
        data_files(typed)
    assert str(err.value) == message.format(tmp=tmp_path) or str(err.value).startswith(
        message.format(tmp=tmp_path)
    )


def test_rows_are_read_once_per_process(tmp_path, monkeypatch):
    sources.forget_reads()
    calls = []
    real = sources.read_file

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sources, "read_file", counting)
    cfg = hand_cfg(FIXTURE)
    for _ in range(3):
        assert len(open_source(cfg).read()) == 20
    other_map = replace(cfg, column_map={"problem": "question_text"})
    assert "question_text" in open_source(other_map).read().column_names  # same parse, renamed
    assert calls == [FIXTURE]
    sources.forget_reads()


def test_a_stored_parse_is_memory_mapped_and_unifies_the_pieces_types(tmp_path):
    pieces = [
        pa.table({"a": pa.array([None, None]), "b": ["x", "y"]}),  # "a" all null in the first piece
        pa.table({"a": [[True], [False, None]], "c": [1, 2]}),
    ]
    stored.store(iter(pieces), tmp_path / "s")
    table = stored.load(tmp_path / "s")
    assert table.column_names == ["a", "b", "c"]
    assert table.to_pylist()[2] == {"a": [True], "b": None, "c": 1}
    assert pa.total_allocated_bytes() < 1 << 20  # mapped, not copied


def test_json_lines_read_through_arrow_equal_pythons_json(tmp_path, monkeypatch):
    """Verdict lists with nulls in every pattern (a column that begins null or absent, nulls inside lists, structs),
    in pieces of several sizes: Arrow 26's JSON reader infers such columns wrongly, so the reader must not let it."""
    import random

    from redi.data.sources import files

    rng = random.Random(0)
    for trial in range(150):
        monkeypatch.setattr(files, "CHUNK_BYTES", rng.choice([50, 300, 3000]))
        rows = []
        for _ in range(rng.randint(1, 40)):
            n = rng.randint(1, 4)

            def verdicts(n: int = n):
                return None if rng.random() < 0.25 else [rng.choice([True, False, None]) for _ in range(n)]

            row = {"problem": "p", "generations": ["g"] * n, "l": verdicts(), "m": verdicts(),
                   "s": {"x": verdicts(), "y": rng.choice([None, "a"])}}  # fmt: skip
            if rng.random() < 0.2:
                row.pop("m")
            if rng.random() < 0.1:
                row["s"] = None
            rows.append(row)
        path = tmp_path / f"t{trial}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        table = stored.concat(list(files.read_file(path, max_row_mb=1)), str(path))
        table.validate(full=True)
        for want, got in zip(rows, table.to_pylist(), strict=True):
            assert (got["l"], got["m"]) == (want["l"], want.get("m")), (trial, want, got)
            assert got["s"] == want["s"] or {k: got["s"][k] for k in want["s"]} == want["s"], (
                trial,
                want,
                got,
            )
