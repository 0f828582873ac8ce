"""Harvest wiring: enumerate queries, then download each new video, as two runner stages."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import partial
from urllib.parse import urlparse

import pandas as pd
from distributed import Client

from harvest.queries import Query
from harvest.work import DownloadPayload, EnumeratePayload, download_unit, enumerate_unit
from harvest.ytdlp import HarvestConfig, known_single_video
from authors.sources import SourceItem
from manifests import ENTRIES, VIDEOS, DatasetRoot, read_table
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.scheduler import InProcessScheduler
from pipelines.sources import official_splits, record_sources
from pipelines.stage import Stage

log = logging.getLogger(__name__)

ENUMERATE_VERSION = "1"
DOWNLOAD_VERSION = "1"


def site_of(payload: DownloadPayload) -> str:
    """The per-site politeness key: the host a download comes from."""
    return urlparse(payload.url).netloc.lower()


def enumerate_stage(config: HarvestConfig, version: str) -> Stage:
    return Stage(name="enumerate", version=version, outputs=(ENTRIES,),
                 work=partial(enumerate_unit, config=config), config=config)


def download_stage(config: HarvestConfig, root: DatasetRoot) -> Stage:
    return Stage(name="harvest", version=DOWNLOAD_VERSION, outputs=(VIDEOS,),
                 work=partial(download_unit, config=config, root=str(root.path)), config=config,
                 concurrency_key=site_of, max_in_flight_per_key=config.per_site_concurrency,
                 # Small videos take milliseconds each, a Dask task about as much again: send a few per task.
                 units_per_task=8)


def tag_page_version(today: datetime | None = None) -> str:
    """Tag pages change as people post: they are enumerated again once per UTC day, lists only once."""
    return f"{ENUMERATE_VERSION}@{(today or datetime.now(timezone.utc)):%Y-%m-%d}"


def harvest(client: Client, root: DatasetRoot, queries: list[Query], config: HarvestConfig,
            runner: RunnerConfig, today: datetime | None = None, sources: list[SourceItem] = ()) -> list[RunStats]:
    """Record what the authors' lists say (`sources`: names, official splits, clip segments), enumerate
    `queries` (tags once per UTC day, listed URLs once), then download every new entry."""
    cluster, here = DaskScheduler(client), InProcessScheduler()
    tags = [q for q in queries if q.is_tag_page]
    lists = [q for q in queries if not q.is_tag_page]
    # A listed URL that names one video by itself (a YouTube id, a media file) is enumerated without a
    # request: those are done here in the client, where a worker round trip would cost more than the work.
    is_known = [known_single_video(q.url) is not None for q in lists]
    known = [q for q, single in zip(lists, is_known) if single]
    others = [q for q, single in zip(lists, is_known) if not single]
    with holding_root(root, "hmmr-harvest", runner):
        stats = [record_sources(root, list(sources), runner)] if sources else []
        for group, version, scheduler in ((tags, tag_page_version(today), cluster), (others, ENUMERATE_VERSION, cluster),
                                          (known, ENUMERATE_VERSION, here)):
            if group:
                stats.append(run_stage(scheduler, root, enumerate_stage(config, version), enumerate_payloads(group),
                                       runner))
        entries = read_table(root, ENTRIES, units=[q.query_id for q in queries])
        stats.append(run_stage(cluster, root, download_stage(config, root),
                               download_payloads(entries, queries, official_splits(root)), runner))
    return stats


def enumerate_payloads(queries: list[Query]) -> list[EnumeratePayload]:
    return [EnumeratePayload(unit_id=q.query_id, query=q.query, dataset=q.dataset, url=q.url) for q in queries]


def download_payloads(entries: pd.DataFrame, queries: list[Query], splits: dict[str, str] | None = None
                      ) -> list[DownloadPayload]:
    """One unit per video id: a video found by several queries is credited to the first query listed.
    splits: {video_id: split} from official split lists (the sources table); others get the hash split."""
    splits = splits or {}
    order = {q.query_id: i for i, q in enumerate(queries)}
    entries = entries.assign(_order=entries["query_id"].map(order)).sort_values(["_order", "position"], kind="stable")
    entries = entries.drop_duplicates("video_id", keep="first")
    return [DownloadPayload(unit_id=e.video_id, url=e.url, webpage_url=e.webpage_url, extractor=e.extractor,
                            query=e.query, dataset=e.dataset, split=splits.get(e.video_id))
            for e in entries.itertuples(index=False)]
