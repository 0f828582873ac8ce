"""The one way this code base writes a file that must never be seen half-written.

Write to a temporary name in the same folder, flush and fsync it, rename it over the final name, and
fsync the folder so the rename itself survives a power cut. A reader sees the old file or the new one,
never a torn one; a crash leaves at most a `.tmp-*` file, which no reader opens.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Iterator

TEMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; on a clean exit it replaces `path` durably.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f"{TEMP_PREFIX}{path.name}")
    try:
        with open(temporary, mode) as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call `write(binary file)` inside `atomic_write`; e.g. `write_atomic(p, lambda f: torch.save(x, f))`."""
    with atomic_write(path, "wb") as sink:
        write(sink)
    return Path(path)


def write_text_atomic(path: Path, text: str) -> Path:
    with atomic_write(path, "w") as sink:
        sink.write(text)
    return Path(path)


def write_json_atomic(path: Path, data: Any) -> Path:
    """`data` as indented, key-sorted JSON (plain types only: convert dataclasses first)."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
