"""redi.data.tables.take: rows of a chunked column in the asked order, past Arrow's 2 GiB limit of one string array."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from redi.data.tables import take


@pytest.mark.parametrize("seed", range(5))
def test_take_equals_arrows_take_over_any_chunking(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = [f"text {i} " * int(rng.integers(0, 4)) for i in range(200)]
    cuts = np.sort(rng.choice(np.arange(1, 200), size=int(rng.integers(0, 12)), replace=False))
    column = pa.chunked_array([pa.array(part, pa.string()) for part in np.split(np.array(values), cuts)])
    rows = rng.integers(0, 200, size=int(rng.integers(0, 300)))  # repeats, any order, possibly none
    assert take(column, rows).to_pylist() == [values[r] for r in rows]


def test_take_of_a_column_with_more_than_2_gib_of_text() -> None:
    # 4 chunks sharing one 550 MiB buffer: 2.1 GiB of text, held once
    chunk = pa.array(["x" * 2**20] * 549 + ["last"], pa.string())
    column = pa.chunked_array([chunk] * 4)
    with pytest.raises(pa.ArrowInvalid, match="offset overflow"):
        column.take(pa.array([2199, 0]))  # what the data build did at half of OpenR1-Math-Raw's size
    got = take(column, np.array([2199, 1649, 0]))
    assert got.to_pylist()[:2] == ["last", "last"] and len(got[2].as_py()) == 2**20
