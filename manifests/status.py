"""The stage protocol's vocabulary that domain code may use without knowing about the runner."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

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
class UnitResult:
    """What a unit's work function returns when it has counters to report beside its tables.

    tables: {table name: frame} for the stage's output tables (a frame per table, any rows of the unit).
    counters: numbers summed over the run into stats.json, e.g. {"tracks_dropped_too_short": 3}.
    A work function that has no counters may return the tables mapping itself.
    """

    tables: Mapping[str, Any] = field(default_factory=dict)
    counters: Mapping[str, float] = field(default_factory=dict)
