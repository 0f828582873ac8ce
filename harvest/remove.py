"""The work of taking one video down, or of striking it from the entries of a query that listed it.

A removal commits, per video, a tombstone and no other row: every table's live rows of that video are those
of its latest `ok` commit across the table's producers, and that commit (the stage `remove`'s) holds none,
so they disappear from every reader exactly as superseded rows do. Pure but for one side effect, which a
crashed run repeats harmlessly: the media file is deleted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from manifests.rows import EntryRows, TombstoneRows
from manifests.status import UnitPayload, UnitResult
from manifests.store import read_part
from manifests.tables import ENTRIES

VIDEO, ENTRIES_OF_QUERY = "video", "entries"


@dataclass(frozen=True)
class RemovePayload(UnitPayload):
    """unit_id: a video id (kind "video"), or a query id (kind "entries") whose entries list removed videos.

    video: reason, selector (what chose it), url/webpage_url (kept in the tombstone so a harvest refuses
    them), media_file (absolute path to delete, or None).
    entries: entries_part (the part holding the query's live entries), dropped (the video ids to strike).
    """

    kind: str
    reason: str = ""
    selector: str = ""
    url: str = ""
    webpage_url: str | None = None
    media_file: str | None = None
    entries_part: str | None = None
    dropped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in (VIDEO, ENTRIES_OF_QUERY):
            raise ValueError(f"RemovePayload.kind must be {VIDEO!r} or {ENTRIES_OF_QUERY!r}, got {self.kind!r}")


def remove_unit(payload: RemovePayload, context: Any) -> UnitResult:
    if payload.kind == ENTRIES_OF_QUERY:
        return UnitResult(rows=(remaining_entries(payload),))
    deleted = 0
    if payload.media_file:
        media = Path(payload.media_file)
        deleted = int(media.is_file())
        media.unlink(missing_ok=True)
    return UnitResult(rows=(TombstoneRows(
        video_id=[payload.unit_id], url=[payload.url], webpage_url=[payload.webpage_url], reason=[payload.reason],
        selector=[payload.selector], removed_at=[datetime.now(timezone.utc)]),), counters={"media_deleted": deleted})


def remaining_entries(payload: RemovePayload) -> EntryRows:
    """The query's live entries less the removed videos' (zero rows when it listed nothing else)."""
    table = read_part(ENTRIES, Path(payload.entries_part), [payload.unit_id])
    table = table.filter(pc.invert(pc.is_in(table["video_id"], value_set=pa.array(list(payload.dropped), pa.string()))))
    return EntryRows(**{name: table[name] for name in ENTRIES.columns})

