"""From the authors' list files to harvest queries and `sources` rows (no Dask: the harvest wiring runs them)."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from authors.lists import ListError, read_insta_variety, read_split_list, read_vlog_clips, read_vlog_segments, \
    split_of_list_name
from authors.sources import SourceItem, insta_items, vlog_items
from harvest.queries import YOUTUBE_WATCH, Query, insta_variety_queries
from harvest.ytdlp import known_single_video
from manifests import DatasetRoot
from pipelines.sources import recorded_items

log = logging.getLogger(__name__)


def read_split_lists(specs: tuple[str, ...]) -> dict[str, str]:
    """{'download_tag/video_name': split} of every `[SPLIT=]FILE` given; a name in two splits is an error."""
    named: dict[str, str] = {}
    for spec in specs:
        split, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        split = split or split_of_list_name(Path(path))
        if not split:
            raise ListError(f"{path}: cannot tell the split from the file name; give it as test={path}")
        if not Path(path).is_file():
            raise ListError(f"{path}: no such split list file")
        for name, value in read_split_list(Path(path), split).items():
            if named.get(name, value) != value:
                raise ListError(f"{path}: {name} is in split {value!r} here but {named[name]!r} in another list")
            named[name] = value
    return named


def list_queries_and_sources(root: DatasetRoot, urls: str | None, urls_dataset: str, instavariety: str | None,
                             insta_dataset: str, split_lists: tuple[str, ...],
                             vlog_meta: str | None) -> tuple[list[Query], list[SourceItem]]:
    """Queries for InstaVariety's posts, and the sources rows of its posts, of split lists and of VLOG
    clip ids (with their segments when VLOG's meta folder is given)."""
    splits = read_split_lists(split_lists)
    queries: list[Query] = []
    items: list[SourceItem] = []
    named_now: set[str] = set()
    if instavariety:
        posts = read_insta_variety(Path(instavariety))
        queries = insta_variety_queries(posts, insta_dataset)
        video_ids = [known_single_video(post.url).video_id for post in posts]
        items += insta_items(posts, video_ids, Path(instavariety).name, insta_dataset, splits)
        named_now = {post.authors_id for post in posts}
        log.info("%s: %d posts, %d distinct videos", instavariety, len(posts), len(queries))
    if splits:
        # Names not in this InstaVariety.json may have been recorded by an earlier harvest.
        recorded = {item.source_id: item for rows in recorded_items(root).values() for item in rows}
        unknown = []
        for name, split in splits.items():
            if name in named_now:
                continue
            if name in recorded:
                items.append(replace(recorded[name], split=split))
            else:
                unknown.append(name)
        if unknown:
            log.warning("%d names of the split lists are in no InstaVariety.json given or recorded (e.g. %s); "
                        "their split applies once --instavariety names them", len(unknown), unknown[0])
    if urls:
        clips = read_vlog_clips(Path(urls))
        segments = read_vlog_segments(Path(vlog_meta)) if vlog_meta else None
        clip_urls = [YOUTUBE_WATCH.format(id=clip.youtube_id) for clip in clips]
        video_ids = [known_single_video(url).video_id for url in clip_urls]
        clip_items, missing = vlog_items(clips, video_ids, clip_urls, Path(urls).name, urls_dataset, segments)
        items += clip_items
        if missing:
            log.warning("%d VLOG clips of %s are not in %s (e.g. %s): they are harvested whole", len(missing),
                        urls, vlog_meta, missing[0])
    return queries, items
