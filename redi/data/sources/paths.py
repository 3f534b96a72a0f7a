"""``data.path`` as typed: one file, a folder of shards or a glob, resolved to the files it names.

The one spelling of "no such file" and of the extension rule; light enough for the pre-flight (no pyarrow).
"""

from __future__ import annotations

import glob
from pathlib import Path

from redi.data.errors import DataError

EXTENSIONS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}  # suffix -> reader


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def extension_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read by its extension, or None."""
    if path.suffix.lower() in EXTENSIONS:
        return None
    return f"has extension {path.suffix!r}; expected one of {', '.join(EXTENSIONS)}"


def data_files(path_text: str, key: str = "data.path") -> list[Path]:
    """The files ``data.path`` names, sorted: the file itself, a folder's data files, or a glob's matches.

    A folder holds shards: its files with a data extension (sub-folders are not searched); every shard must have
    the same extension. Raises DataError naming ``key`` and the value as typed.
    """
    text = str(path_text)
    where = f"{key}={text!r}"
    if _is_glob(text):
        files = sorted(Path(p) for p in glob.glob(str(Path(text).expanduser()), recursive=True))
        files = [f for f in files if f.is_file()]
        if not files:
            raise DataError(f"{where}: no file matches this pattern")
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(f for f in path.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
            if not files:
                raise DataError(
                    f"{where}: is a directory with no {', '.join(EXTENSIONS)} file in it; give a file, a folder "
                    "of shards or a glob"
                )
        elif not path.is_file():
            raise DataError(f"{where}: no such file")
        else:
            files = [path]
    for f in files:
        if problem := extension_problem(f):
            raise DataError(f"{where}: {problem}" if len(files) == 1 else f"{where}: shard {f} {problem}")
    kinds = {f.suffix.lower() for f in files}
    if len(kinds) > 1:
        raise DataError(f"{where}: the shards mix extensions {sorted(kinds)}; give one kind of file")
    return files
