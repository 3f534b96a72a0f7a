"""Every committed sweep (sweeps/<name>/ with raw/) regenerates its committed tables and figures byte for byte from
its raw results alone, and every notebook defaults to a committed sweep that exists on a fresh clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from redi.analysis import raw

REPO = Path(__file__).resolve().parents[2]
COMMITTED = sorted(p for p in (REPO / "sweeps").iterdir() if p.is_dir() and raw.has_raw(p))


def test_there_is_a_committed_sweep():
    assert COMMITTED, "no sweeps/<name>/raw/runs.jsonl.gz in the repository"


@pytest.mark.parametrize("sweep", COMMITTED, ids=lambda p: p.name)
def test_redi_analyze_regenerates_the_committed_outputs_byte_for_byte(sweep, tmp_path):
    from redi.analysis.__main__ import write_all

    written = write_all(sweep, tmp_path)
    assert written
    for path in written:
        committed = sweep / path.name
        assert committed.is_file(), f"{committed} is written by redi analyze but not committed"
        assert path.read_bytes() == committed.read_bytes(), f"{committed} differs from what raw/ gives"
    raw_bytes = sum(p.stat().st_size for p in (sweep / "raw").iterdir())
    assert raw_bytes < 8 * 2**20, f"{sweep}/raw is {raw_bytes / 2**20:.1f} MB"


def test_every_notebook_defaults_to_a_committed_sweep():
    names = {p.relative_to(REPO).as_posix() for p in COMMITTED}
    for script in sorted((REPO / "analysis").glob("*.py")):
        default = re.search(r'^sweep = "([^"]+)"', script.read_text(), re.MULTILINE)
        assert default and default.group(1) in names, (
            f"{script.name}: default sweep {default and default.group(1)}"
        )
