"""The build-once helper every cache uses: two processes wanting the same entry build it once, the second reuses it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from redi.infra.cache import COMPLETE, building, building_file, content_key

REPO = Path(__file__).resolve().parents[2]

# one process wanting the entry: the data build (a directory), stage 1 (a run directory built in place) or the
# reference log-probs (one file); it holds the build open until the test creates the release file
CHILD = r"""
import logging, sys, time
from pathlib import Path
from redi.infra.cache import building, building_file
mode, entry, builds, started, release, log_file = sys.argv[1:]
logging.basicConfig(filename=log_file, level=logging.INFO)
entry = Path(entry)
if mode == "file":
    ctx = building_file(entry, "the entry")
elif mode == "in_place":
    ctx = building(entry, "the entry", in_place=True, complete=lambda d: (d / "finished").exists())
else:
    ctx = building(entry, "the entry")
with ctx as work:
    if work is None:
        print("reused", flush=True)
    else:
        with open(builds, "a") as f:
            f.write("built\n")
        Path(started).touch()
        while not Path(release).exists():
            time.sleep(0.05)
        if mode == "file":
            work.write_text("payload")
        else:
            (work / "payload").write_text("payload")
            if mode == "in_place":
                (work / "finished").touch()
        print("built", flush=True)
"""


def _wait_for(condition, what: str, limit_s: float = 300.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("mode", ["dir", "in_place", "file"])
def test_two_processes_build_the_same_entry_once(tmp_path, mode):
    entry = tmp_path / "cache" / (content_key(mode) + (".pt" if mode == "file" else ""))
    builds, release = tmp_path / "builds.txt", tmp_path / "release"

    def start(name: str) -> subprocess.Popen:
        args = [mode, entry, builds, tmp_path / f"{name}.started", release, tmp_path / f"{name}.log"]
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, *map(str, args)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )

    first = start("first")
    _wait_for(lambda: (tmp_path / "first.started").exists(), "the first process to start building")
    second = start("second")  # wants the same entry while the first is still building it
    log = tmp_path / "second.log"
    _wait_for(lambda: log.exists() and "waiting for the entry" in log.read_text(), "the second to wait")
    release.touch()
    outputs = [p.communicate(timeout=300)[0].strip() for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert outputs == ["built", "reused"]
    assert builds.read_text() == "built\n"  # built once
    payload = entry if mode == "file" else entry / "payload"
    assert payload.read_text() == "payload"
    # the entry and its lock, no work directory or temporary file left behind
    assert {p.name for p in entry.parent.iterdir()} == {entry.name, entry.stem + ".lock"}


def test_a_failed_build_leaves_no_entry_and_the_next_one_builds(tmp_path):
    entry, file_entry = tmp_path / "entry", tmp_path / "entry.pt"
    with pytest.raises(RuntimeError, match="killed"), building(entry, "the entry") as work:
        (work / "half").write_text("half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError, match="killed"), building_file(file_entry, "the entry") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry.lock"]
    with building(entry, "the entry") as work:
        assert work is not None
        (work / "payload").write_text("payload")
    assert (entry / COMPLETE).is_file() and (entry / "payload").read_text() == "payload"
    with building(entry, "the entry") as work:
        assert work is None
