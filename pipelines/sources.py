"""Recording what the authors' lists say (the `sources` table), once, before any download.

A video's rows are one unit of the in-process stage `sources`. A later list that adds a clip, a segment
or a split to a recorded video makes that unit due again with the merged rows; one that would change a
split that is recorded, or the split a harvested video already has, is refused before anything is
written: a video never changes split.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any


from authors.sources import SourceItem, SplitConflict, merge_items, official_split
from manifests import SOURCES, VIDEOS, DatasetRoot, read_table
from manifests.tables import SOURCES_STAGE
from manifests.rows import SourceRows
from manifests.status import UnitPayload, UnitResult
from pipelines.runner import RunnerConfig, RunStats, run_stage
from pipelines.scheduler import InProcessScheduler
from pipelines.stage import Stage

SOURCES_VERSION = "1"
_ITEM_FIELDS = [f.name for f in fields(SourceItem)]


def recorded_items(root: DatasetRoot, video_ids: list[str] | None = None) -> dict[str, list[SourceItem]]:
    frame = read_table(root, SOURCES, columns=_ITEM_FIELDS, units=video_ids)
    out: dict[str, list[SourceItem]] = defaultdict(list)
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
        values = row._asdict()
        for column in ("start_frame", "end_frame"):  # nullable ints come back from Parquet as floats
            values[column] = None if values[column] is None else int(values[column])
        item = SourceItem(**values)
        out[item.video_id].append(item)
    return out


@dataclass(frozen=True)
class SourcesPayload(UnitPayload):
    """One video's list records to commit (unit_id: the video id), merged with those already recorded."""

    items: tuple[SourceItem, ...]


def record_unit(payload: SourcesPayload, context: Any) -> UnitResult:
    columns = {name: [getattr(item, name) for item in payload.items] for name in _ITEM_FIELDS}
    return UnitResult(rows=(SourceRows(**columns, recorded_at=[datetime.now(timezone.utc)] * len(payload.items)),))


def record_sources(root: DatasetRoot, items: list[SourceItem], runner: RunnerConfig) -> RunStats:
    """Record `items` (merged with what is recorded for their videos). Raises SplitConflict, naming every
    video at fault, before writing anything."""
    new_by_video: dict[str, list[SourceItem]] = defaultdict(list)
    for item in items:
        new_by_video[item.video_id].append(item)
    recorded = recorded_items(root, list(new_by_video))
    harvested = read_table(root, VIDEOS, columns=["video_id", "split"], units=list(new_by_video))
    harvested_split = dict(zip(harvested["video_id"], harvested["split"]))
    units, redo, conflicts = [], set(), []
    for video_id, new in new_by_video.items():
        try:
            merged = merge_items(recorded.get(video_id, []), new)
        except SplitConflict as e:
            conflicts.append(str(e))
            continue
        split = official_split(merged)
        if split and video_id in harvested_split and harvested_split[video_id] != split:
            conflicts.append(f"{video_id} was harvested in split {harvested_split[video_id]!r} before this list "
                             f"put it in {split!r}")
            continue
        units.append(SourcesPayload(unit_id=video_id, items=tuple(merged)))
        if video_id in recorded and merged != sorted(recorded[video_id], key=lambda i: i.source_id):
            redo.add(video_id)
    if conflicts:
        shown = "\n  ".join(conflicts[:20])
        more = f"\n  ... and {len(conflicts) - 20} more" if len(conflicts) > 20 else ""
        raise SplitConflict(f"{len(conflicts)} videos would change split, which a video never does:\n  {shown}{more}\n"
                            f"Give split lists with the first harvest of their videos (or harvest into a new root).")
    stage = Stage(name=SOURCES_STAGE, version=SOURCES_VERSION, outputs=(SOURCES,), work=record_unit)
    # Rows of a list cost microseconds each: recorded here, not on workers.
    return run_stage(InProcessScheduler(), root, stage, units, runner, redo=frozenset(redo))


def official_splits(root: DatasetRoot) -> dict[str, str]:
    """{video_id: split} of every video a recorded split list names."""
    frame = read_table(root, SOURCES, columns=["video_id", "split"]).dropna(subset=["split"])
    return dict(zip(frame["video_id"], frame["split"]))
