"""The unit protocol's vocabulary, which domain code uses without knowing about the runner.

A stage's work function takes a payload (a frozen dataclass deriving from `UnitPayload`, one per stage) and
returns a `UnitResult` (rows of its output tables, as `manifests.rows` records, and counters), or raises
`SkipUnit`. Anything else it raises fails that unit alone (pipelines.stage.run_unit).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from manifests.rows import Rows
from manifests.status_table import UNIT_ID  # noqa: F401 - the status column; payloads carry it as `unit_id`

# Terminal control in a message (yt-dlp starts progress lines with '\r', colours with ANSI escapes):
# printed, a '\r' sends the cursor back and the text after it overwrites what came before.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")


def printable(text: str) -> str:
    """`text` with its line breaks kept and every other control character (\\r, escapes, NULs) gone."""
    text = _ANSI_ESCAPE.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub(" ", text).replace("  ", " ").strip()


def first_line(text: str | None) -> str:
    """The first line of a message that says something (a status row's `message`, for one-line views)."""
    for line in printable(text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


class SkipUnit(Exception):
    """Raised by a unit's work function to end the unit as `skipped` (not `failed`).

    reason: a short machine-readable word ("duplicate", "too_long", "no_people", ...).
    message: the human explanation, e.g. "duplicate of youtube-abc (same sha256)".
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class UnitPayload:
    """What one unit of a stage works on. Each stage derives its own frozen dataclass from this one, with
    the fields its work reads (a path, a URL, the part file holding its input rows), so that a misspelt
    field fails in the type checker or where the plan is built, not as every unit `failed`.

    unit_id: the unit's key in the stage's status table (a video id, a query id).
    """

    unit_id: str


@dataclass(frozen=True)
class UnitResult:
    """What a unit's work function returns.

    rows: the unit's rows of the stage's output tables, one `Rows` record per table (any number of rows).
    counters: numbers summed over the run into stats.json, e.g. {"tracks_dropped_too_short": 3}.
    """

    rows: tuple[Rows, ...] = ()
    counters: Mapping[str, float] = field(default_factory=dict)
