"""Removal wiring: choose the videos to take down, count what would go, and commit it as the stage `remove`.

One unit per video (its tombstone, no other row: its rows stop being live in every table keyed by video)
and one per query whose entries list it (those entries again, less it). Committed by the generic runner
like any stage, so a crash at any point leaves whole units, and a re-run finishes what is left: the
videos still selected that have live rows or no tombstone yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from harvest.remove import ENTRIES_OF_QUERY, VIDEO, RemovePayload, remove_unit
from manifests import DATA_TABLES, ENTRIES, VIDEOS, DatasetRoot, InputError, live_table_flushes, read_table
from manifests.commit import CommitHook
from manifests.store import part_path
from manifests.tables import REMOVE_STAGE, TOMBSTONES
from manifests.tombstones import removed_video_ids
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.scheduler import InProcessScheduler
from pipelines.stage import Stage

REMOVE_VERSION = "1"
# Every table a removal ends rows of: those keyed by video, and entries (keyed by query, struck per query).
REMOVED_FROM = tuple(spec for spec in DATA_TABLES.values() if REMOVE_STAGE in spec.importers)
REMOVE_OUTPUTS = (*REMOVED_FROM, TOMBSTONES)


@dataclass(frozen=True)
class Selection:
    """What to take down: video ids, uploaders (videos.uploader), queries ('#tag', a list file's name, or a
    query id 'dataset:#tag'). A video matching any of them is selected."""

    video_ids: tuple[str, ...] = ()
    uploaders: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.video_ids or self.uploaders or self.queries):
            raise InputError("nothing selected: give video ids (--id, --ids-file), --uploader or --query")


@dataclass(frozen=True)
class RemovalPlan:
    """selected: {video id: selector}; rows: {table: live rows that would go}; media: files that would go."""

    selected: dict[str, str]
    rows: dict[str, int]
    media: tuple[str, ...]

    def summary(self) -> str:
        lines = [f"{len(self.selected)} videos selected"]
        lines += [f"  {name:<11} {n:>8} rows" for name, n in self.rows.items()]
        lines.append(f"  {'media':<11} {len(self.media):>8} files")
        return "\n".join(lines)


def select_videos(root: DatasetRoot, selection: Selection) -> dict[str, str]:
    """{video id: what selected it}, in a stable order. An id the root has never seen is selected too: its
    tombstone keeps a later harvest from fetching it."""
    videos = read_table(root, VIDEOS, columns=["video_id", "query", "uploader"])
    entries = read_table(root, ENTRIES, columns=["query_id", "query", "video_id"])
    selected = {video_id: f"id:{video_id}" for video_id in selection.video_ids}
    for uploader in selection.uploaders:
        for video_id in videos.loc[videos["uploader"] == uploader, "video_id"]:
            selected.setdefault(video_id, f"uploader:{uploader}")
    for query in selection.queries:
        found = set(videos.loc[videos["query"] == query, "video_id"])
        found |= set(entries.loc[(entries["query"] == query) | (entries["query_id"] == query), "video_id"])
        for video_id in sorted(found):
            selected.setdefault(video_id, f"query:{query}")
    return selected


def plan_removal(root: DatasetRoot, selected: dict[str, str]) -> RemovalPlan:
    """What removing `selected` would take away: live rows per table, media files (a --dry-run's answer)."""
    ids = list(selected)
    rows = {spec.name: int(read_table(root, spec, columns=["video_id"])["video_id"].isin(ids).sum())
            for spec in REMOVED_FROM}
    media = read_table(root, VIDEOS, columns=["video_id", "media_path"], units=ids)
    files = tuple(str(root.path / p) for p in media["media_path"] if (root.path / p).is_file())
    return RemovalPlan(selected=selected, rows=rows, media=files)


def removal_payloads(root: DatasetRoot, selected: dict[str, str], reason: str) -> list[RemovePayload]:
    """The units still to do: each selected video with live rows anywhere or no tombstone yet, and each
    query whose live entries list one of them."""
    ids = list(selected)
    has_rows = set().union(*(set(read_table(root, spec, columns=["video_id"])["video_id"]) & set(ids)
                             for spec in REMOVED_FROM))
    tombstoned = removed_video_ids(root)
    pending = [v for v in ids if v in has_rows or v not in tombstoned]
    videos = read_table(root, VIDEOS, columns=["video_id", "url", "webpage_url", "media_path"], units=pending)
    videos = videos.set_index("video_id")
    entries = read_table(root, ENTRIES, columns=["query_id", "video_id", "url", "webpage_url"])
    listed = entries[entries["video_id"].isin(ids)]
    payloads = [_video_payload(root, video_id, selected[video_id], reason, videos, listed) for video_id in pending]
    entry_flushes = live_table_flushes(root, ENTRIES)
    for query_id, group in listed.groupby("query_id", sort=True):
        payloads.append(RemovePayload(unit_id=query_id, kind=ENTRIES_OF_QUERY,
                                      entries_part=str(part_path(root, ENTRIES, entry_flushes[query_id])),
                                      dropped=tuple(sorted(group["video_id"]))))
    return payloads


def _video_payload(root: DatasetRoot, video_id: str, selector: str, reason: str, videos: pd.DataFrame,
                   listed: pd.DataFrame) -> RemovePayload:
    if video_id in videos.index:
        video = videos.loc[video_id]
        url, webpage_url, media = video["url"], video["webpage_url"], str(root.path / video["media_path"])
    else:  # never downloaded (or already gone from videos): the URLs its entries give, if any
        entry = listed[listed["video_id"] == video_id].head(1)
        url = entry["url"].iloc[0] if len(entry) else ""
        webpage_url = entry["webpage_url"].iloc[0] if len(entry) else None
        media = None
    return RemovePayload(unit_id=video_id, kind=VIDEO, reason=reason, selector=selector, url=url,
                         webpage_url=webpage_url, media_file=_inside(root, media))


def _inside(root: DatasetRoot, path: str | None) -> str | None:
    """Only a file under the root's media folder is ever deleted (a hand-edited media_path is not obeyed)."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    return str(resolved) if resolved.is_relative_to(root.media_dir) else None


def remove_stage() -> Stage:
    return Stage(name=REMOVE_STAGE, version=REMOVE_VERSION, outputs=REMOVE_OUTPUTS, work=remove_unit)


def remove_videos(root: DatasetRoot, selection: Selection, reason: str, runner: RunnerConfig,
                  commit_hook: CommitHook | None = None) -> tuple[RemovalPlan, RunStats]:
    """Take the selected videos down (see the module doc); returns what went and the run's stats."""
    if not reason.strip():
        raise InputError("give a --reason: it is kept in the tombstone and shown when a harvest skips the video")
    with holding_root(root, "hmmr-dataset remove", runner):
        selected = select_videos(root, selection)
        plan = plan_removal(root, selected)
        payloads = removal_payloads(root, selected, reason)
        # Every payload is due by construction (a removal, or a query's entries, to do now), done before or not.
        stats = run_stage(InProcessScheduler(), root, remove_stage(), payloads, runner,
                          redo=frozenset(p.unit_id for p in payloads), commit_hook=commit_hook)
    return plan, stats


def dry_run(root: DatasetRoot, selection: Selection) -> RemovalPlan:
    return plan_removal(root, select_videos(root, selection))


def read_id_file(path: str | Path) -> tuple[str, ...]:
    """Video ids, one a line; blank lines and '# comments' ignored."""
    lines = Path(path).read_text().splitlines()
    return tuple(line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip())


def removal_selection(video_ids: Sequence[str], uploaders: Sequence[str], queries: Sequence[str]) -> Selection:
    return Selection(tuple(dict.fromkeys(video_ids)), tuple(uploaders), tuple(queries))
