"""Harvest wiring: enumerate queries, then download each new video, as two runner stages."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from urllib.parse import urlparse

import pandas as pd
from distributed import Client

from harvest.ids import assign_video_ids
from harvest.queries import Query
from harvest.work import DownloadPayload, EnumeratePayload, download_unit, enumerate_unit
from harvest.config import HarvestConfig
from harvest.ytdlp import known_single_video
from authors.sources import SourceItem
from manifests import ENTRIES, VIDEOS, DatasetRoot, latest_status, read_table
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
                 units_per_task=8,
                 # A video taken down is refused by its id and by either URL it was found under.
                 removal_keys=lambda payload: (payload.unit_id, payload.url, payload.webpage_url))


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
        stats.append(run_stage(cluster, root, download_stage(config, root),
                               download_payloads(resolved_entries(root, queries), official_splits(root)), runner))
    return stats


def enumerate_payloads(queries: list[Query]) -> list[EnumeratePayload]:
    return [EnumeratePayload(unit_id=q.query_id, query=q.query, dataset=q.dataset, url=q.url) for q in queries]


def resolved_entries(root: DatasetRoot, queries: list[Query]) -> pd.DataFrame:
    """The entries of `queries`, in the order they are credited (queries as listed, then page position),
    each with `unit_id`: the id its video is downloaded under (harvest.ids.assign_video_ids). Two
    different media URLs of one name never share an id: the first to hold it, in this root's `videos` or
    else in the order its entries were listed (every query of the root, earliest first), keeps it."""
    all_entries = read_table(root, ENTRIES, columns=["query_id", "position", "video_id", "url", "extractor",
                                                     "enumerated_at"])
    wanted = {q.query_id: i for i, q in enumerate(queries)}
    all_entries = all_entries.assign(_order=all_entries["query_id"].map(wanted).fillna(len(wanted)))
    all_entries = all_entries.sort_values(["enumerated_at", "_order", "position"], kind="stable")
    videos = read_table(root, VIDEOS, columns=["video_id", "url"])
    bound = dict(zip(videos["url"], videos["video_id"]))
    ids = assign_video_ids(zip(all_entries["video_id"], all_entries["url"], all_entries["extractor"] == "Generic"),
                           bound)
    unit_of = dict(zip(zip(all_entries["query_id"], all_entries["video_id"]), ids))
    entries = read_table(root, ENTRIES, units=list(wanted))
    entries = entries.assign(_order=entries["query_id"].map(wanted)).sort_values(["_order", "position"], kind="stable")
    return entries.assign(unit_id=[unit_of[key] for key in zip(entries["query_id"], entries["video_id"])])


def download_payloads(entries: pd.DataFrame, splits: dict[str, str] | None = None) -> list[DownloadPayload]:
    """One unit per video id (`resolved_entries`): a video found by several queries is credited to the first.
    splits: {video_id: split} from official split lists (the sources table); others get the hash split."""
    splits = splits or {}
    entries = entries.drop_duplicates("unit_id", keep="first")
    return [DownloadPayload(unit_id=e.unit_id, url=e.url, webpage_url=e.webpage_url, extractor=e.extractor,
                            query=e.query, dataset=e.dataset, split=splits.get(e.unit_id))
            for e in entries.itertuples(index=False)]


@dataclass(frozen=True)
class LineCounts:
    """What became of each input line (query) of a harvest: its outcome and the lines that got no row.

    A line's outcome: its page's (enumerate) status when that is not ok; else its videos': ok if one was
    downloaded, skipped if all were skipped, failed otherwise. A line gets no row when its query or one
    of its videos has no status at all (a run cut short by --limit, or a bug)."""

    n_lines: int
    by_outcome: dict[str, int]
    without_row: tuple[str, ...]

    def summary(self) -> str:
        counts = ", ".join(f"{self.by_outcome.get(k, 0)} {k}" for k in ("ok", "skipped", "failed"))
        line = f"input: {self.n_lines} lines: {counts}"
        if self.without_row:
            line += f"; {len(self.without_row)} without a row: {', '.join(self.without_row[:5])}"
        return line


def count_lines(root: DatasetRoot, queries: list[Query]) -> LineCounts:
    """The outcome of every input line after a harvest (see LineCounts)."""
    pages = latest_status(root, "enumerate")["status"].to_dict()
    videos = latest_status(root, "harvest")["status"].to_dict()
    entries = resolved_entries(root, queries)
    units_of = entries.groupby("query_id")["unit_id"].agg(list).to_dict()
    by_outcome: dict[str, int] = {}
    without_row = []
    for query in queries:
        page = pages.get(query.query_id)
        if page is None:
            without_row.append(query.url)
            continue
        outcome = page
        if page == "ok":
            found = [videos.get(unit) for unit in units_of.get(query.query_id, [])]
            if None in found or not found:
                without_row.append(query.url)
                continue
            outcome = "ok" if "ok" in found else "skipped" if set(found) == {"skipped"} else "failed"
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    return LineCounts(n_lines=len(queries), by_outcome=by_outcome, without_row=tuple(without_row))
