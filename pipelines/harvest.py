"""Harvest wiring: enumerate queries, then download each new video, as two runner stages."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import partial
from typing import Any, Mapping
from urllib.parse import urlparse

import pandas as pd
from distributed import Client

from harvest.queries import Query
from harvest.work import download_unit, enumerate_unit
from harvest.ytdlp import HarvestConfig, known_single_video
from authors.sources import SourceItem
from manifests import ENTRIES, VIDEOS, DatasetRoot, read_table
from pipelines.runner import RunnerConfig, RunStats, Stage, run_stage
from pipelines.sources import official_splits, record_sources

log = logging.getLogger(__name__)

ENUMERATE_VERSION = "1"
DOWNLOAD_VERSION = "1"


def site_of(payload: Mapping[str, Any]) -> str:
    """The per-site politeness key: the host a download comes from."""
    return urlparse(str(payload["url"])).netloc.lower()


def enumerate_stage(config: HarvestConfig, version: str, in_process: bool = False) -> Stage:
    return Stage(name="enumerate", version=version, outputs=(ENTRIES,),
                 work=partial(enumerate_unit, config=config), config=config, in_process=in_process)


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
    stats = [record_sources(client, root, list(sources), runner)] if sources else []
    tags = [q for q in queries if q.is_tag_page]
    lists = [q for q in queries if not q.is_tag_page]
    # A listed URL that names one video by itself (a YouTube id, a media file) is enumerated without a
    # request: those are done here in the client, where a worker round trip would cost more than the work.
    is_known = [known_single_video(q.url) is not None for q in lists]
    known = [q for q, single in zip(lists, is_known) if single]
    others = [q for q, single in zip(lists, is_known) if not single]
    for group, version, in_process in ((tags, tag_page_version(today), False), (others, ENUMERATE_VERSION, False),
                                       (known, ENUMERATE_VERSION, True)):
        if group:
            stats.append(run_stage(client, root, enumerate_stage(config, version, in_process), _query_units(group),
                                   runner))
    entries = read_table(root, ENTRIES, units=[q.query_id for q in queries])
    units = download_units(entries, queries)
    units["split"] = units["unit_id"].map(official_splits(root))  # NaN: the hash split
    stats.append(run_stage(client, root, download_stage(config, root), units, runner))
    return stats


def _query_units(queries: list[Query]) -> pd.DataFrame:
    return pd.DataFrame({"unit_id": [q.query_id for q in queries], "query": [q.query for q in queries],
                         "dataset": [q.dataset for q in queries], "url": [q.url for q in queries]})


def download_units(entries: pd.DataFrame, queries: list[Query]) -> pd.DataFrame:
    """One unit per video id: a video found by several queries is credited to the first query listed."""
    order = {q.query_id: i for i, q in enumerate(queries)}
    entries = entries.assign(_order=entries["query_id"].map(order)).sort_values(["_order", "position"], kind="stable")
    entries = entries.drop_duplicates("video_id", keep="first")
    return pd.DataFrame({"unit_id": entries["video_id"].to_numpy(), "url": entries["url"].to_numpy(),
                         "webpage_url": entries["webpage_url"].to_numpy(), "extractor": entries["extractor"].to_numpy(),
                         "query": entries["query"].to_numpy(),
                         "dataset": entries["dataset"].to_numpy()})
