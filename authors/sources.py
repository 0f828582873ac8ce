"""What the authors' lists say about each video, as rows of the `sources` table, and how a new list
merges with what is recorded: new clips and segments are added, an official split never changes."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from authors.lists import InstaPost, VlogClip, VlogSegment
from manifests.errors import InputError


class SplitConflict(InputError, ValueError):
    """A list gives a video another split than the one recorded for it."""


@dataclass(frozen=True)
class SourceItem:
    """One row of `sources` (see manifests.tables.SOURCES for each field's meaning)."""

    video_id: str
    source_id: str
    list_name: str
    dataset: str
    url: str
    split: str | None = None
    start_frame: int | None = None
    end_frame: int | None = None
    metadata: str | None = None


def insta_items(posts: Iterable[InstaPost], video_ids: Iterable[str], list_name: str, dataset: str,
                splits: dict[str, str]) -> list[SourceItem]:
    """Items of InstaVariety posts (video_ids: ours, in the same order), with their official splits."""
    return [SourceItem(video_id=video_id, source_id=post.authors_id, list_name=list_name, dataset=dataset,
                       url=post.url, split=splits.get(post.authors_id), metadata=post.metadata)
            for post, video_id in zip(posts, video_ids)]


def vlog_items(clips: Iterable[VlogClip], video_ids: Iterable[str], urls: Iterable[str], list_name: str, dataset: str,
               segments: dict[tuple[str, int], VlogSegment] | None) -> tuple[list[SourceItem], list[str]]:
    """Items of VLOG clips, with their segments when VLOG's metadata is given; and the clip ids the
    metadata does not have (harvested whole)."""
    items, missing = [], []
    for clip, video_id, url in zip(clips, video_ids, urls):
        segment = segments.get((clip.youtube_id, clip.clip)) if segments is not None else None
        if segments is not None and segment is None:
            missing.append(clip.clip_id)
        items.append(SourceItem(video_id=video_id, source_id=clip.clip_id, list_name=list_name, dataset=dataset,
                                url=url, start_frame=segment.start_frame if segment else None,
                                end_frame=segment.end_frame if segment else None))
    return items, missing


def merge_items(recorded: list[SourceItem], new: list[SourceItem]) -> list[SourceItem]:
    """The rows of one video after a new list: recorded rows updated by the new ones of the same source_id
    (a segment or metadata given now), new ones added. Raises SplitConflict when a split would change."""
    merged = {item.source_id: item for item in recorded}
    for item in new:
        old = merged.get(item.source_id)
        if old is None:
            merged[item.source_id] = item
            continue
        if old.split and item.split and old.split != item.split:
            raise SplitConflict(f"{item.video_id} ({item.source_id}) is recorded in split {old.split!r}; "
                                f"{item.list_name} puts it in {item.split!r}")
        merged[item.source_id] = replace(
            old, split=old.split or item.split,
            start_frame=item.start_frame if item.start_frame is not None else old.start_frame,
            end_frame=item.end_frame if item.end_frame is not None else old.end_frame,
            metadata=item.metadata or old.metadata)
    splits = {item.split for item in merged.values() if item.split}
    if len(splits) > 1:
        names = ", ".join(f"{i.source_id} -> {i.split}" for i in merged.values() if i.split)
        raise SplitConflict(f"{new[0].video_id if new else recorded[0].video_id} is named in more than one "
                            f"split ({names}); a video has one split")
    return sorted(merged.values(), key=lambda item: item.source_id)


def official_split(items: Iterable[SourceItem]) -> str | None:
    return next((item.split for item in items if item.split), None)
