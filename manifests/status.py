"""The stage protocol's vocabulary that domain code may use without knowing about the runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


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
