"""The harvest stages' per-unit work: enumerate one query, download one video. Pure of Dask.

Both functions take the unit's payload and return rows for the manifests, or raise SkipUnit with a
reason; any other exception fails only that unit.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from yt_dlp.utils import DownloadError, UnsupportedError

from harvest.config import HarvestConfig
from harvest.download import DownloadSkipped, download_video, remove_download
from harvest.ytdlp import enumerate_query, known_single_video
from manifests import SkipUnit, split_of
from manifests.rows import EntryRows, VideoRows
from manifests.status import UnitPayload, UnitResult
from media.fingerprint import file_sha256
from media.probe import probe_video

SHA_CLAIMS_DIR = ".sha256"  # media/.sha256/<sha256> holds the id of the first video with those bytes


@dataclass(frozen=True)
class EnumeratePayload(UnitPayload):
    """One query to list (unit_id: its query id): '#tag' or the list file's name, its dataset and URL."""

    query: str
    dataset: str
    url: str


@dataclass(frozen=True)
class DownloadPayload(UnitPayload):
    """One video to download (unit_id: its video id), as the first query that listed it found it.

    extractor: the yt-dlp extractor that listed it ("Generic" for a media file's URL: downloaded straight by
    yt-dlp's HTTP downloader); None = let yt-dlp find one.
    """

    url: str
    webpage_url: str | None
    extractor: str | None
    query: str
    dataset: str
    split: str | None = None  # from an official split list (the sources table); None: the hash split


def enumerate_unit(payload: EnumeratePayload, context: Any, config: HarvestConfig) -> UnitResult:
    """List the videos of one query -> rows of `entries`."""
    known = known_single_video(payload.url)  # a tag page's URL never names one video
    try:
        entries = [known] if known else enumerate_query(payload.url, config)
    except DownloadError as e:
        if payload.query.startswith("#") and isinstance(e.exc_info[1] if e.exc_info else None, UnsupportedError):
            raise SkipUnit("no_videos", f"tag page {payload.url} has no videos") from e
        raise
    if not entries:
        raise SkipUnit("no_videos", f"{payload.url} lists no videos")
    now = datetime.now(timezone.utc)
    n = len(entries)
    return UnitResult(rows=(EntryRows(
        query_id=[payload.unit_id] * n,
        query=[payload.query] * n,
        dataset=[payload.dataset] * n,
        position=list(range(n)),
        video_id=[e.video_id for e in entries],
        url=[e.url for e in entries],
        webpage_url=[e.webpage_url for e in entries],
        extractor=[e.extractor for e in entries],
        title=[e.title for e in entries],
        enumerated_at=[now] * n,
    ),))


def download_unit(payload: DownloadPayload, context: Any, config: HarvestConfig, root: str) -> UnitResult:
    """Download, probe and fingerprint one video -> its `videos` row.

    Skips (and deletes the file of) videos that are too long, too short, too large, or the same
    bytes as a video already harvested under another id. A file that fails its probe is deleted too, so
    that --retry-failed downloads it again rather than probing the same bad bytes.
    """
    video_id = payload.unit_id
    media_dir = Path(root) / "media"
    try:
        download = download_video(payload.url, video_id, media_dir, config, payload.extractor)
    except DownloadSkipped as e:
        raise SkipUnit(e.reason, str(e)) from e
    path = download.path
    try:
        probe = probe_video(path, config.max_frame_pixels)
        n_bytes = path.stat().st_size
        reason = _out_of_bounds(probe.duration_s, n_bytes, config)
        if reason:
            raise SkipUnit(*reason)
        sha256 = file_sha256(path)
        first = claim_sha256(media_dir, sha256, video_id)
        if first != video_id:
            raise SkipUnit("duplicate", f"duplicate of {first} (same sha256)")
    except Exception:
        remove_download(media_dir, video_id)
        raise
    info = download.info
    return UnitResult(rows=(VideoRows(
        video_id=[video_id],
        dataset=[payload.dataset],
        query=[payload.query],
        url=[payload.url],
        webpage_url=[info.get("webpage_url") or payload.webpage_url],
        media_path=[str(path.relative_to(Path(root)))],
        sha256=[sha256],
        n_bytes=[n_bytes],
        duration_s=[probe.duration_s],
        fps=[probe.fps],
        width=[probe.width],
        height=[probe.height],
        codec=[probe.codec],
        uploader=[info.get("uploader")],
        upload_date=[info.get("upload_date")],
        license=[info.get("license")],
        title=[info.get("title")],
        harvested_at=[datetime.now(timezone.utc)],
        # An official split list recorded before the download (the sources table) wins over the hash.
        split=[payload.split if payload.split is not None else split_of(video_id)],
    ),))


def _out_of_bounds(duration_s: float, n_bytes: int, config: HarvestConfig) -> tuple[str, str] | None:
    if duration_s > config.max_duration_s:
        return "too_long", f"{duration_s:.1f} s is longer than --max-duration {config.max_duration_s:g} s"
    if duration_s < config.min_duration_s:
        return "too_short", f"{duration_s:.1f} s is shorter than --min-duration {config.min_duration_s:g} s"
    if n_bytes > config.max_filesize_mb * 2**20:
        return "too_large", f"{n_bytes / 2**20:.1f} MB is more than --max-filesize {config.max_filesize_mb:g} MB"
    return None

def claim_sha256(media_dir: Path, sha256: str, video_id: str) -> str:
    """Record `video_id` as the owner of these bytes unless another id owns them; return the owner.

    An exclusive create is atomic on a shared file system, so two workers downloading the same bytes
    under two ids at the same moment agree on one owner.
    """
    claims = media_dir / SHA_CLAIMS_DIR
    claims.mkdir(parents=True, exist_ok=True)
    claim = claims / sha256
    # Write the id to a private file, then hard-link it to the claim name: the link either appears
    # whole or fails because another worker's claim exists, so no reader sees a half-written claim.
    # The draft's name is bounded whatever the id's length (a name over 255 bytes fails to open).
    draft = claims / f".{sha256}.{os.getpid()}.{threading.get_ident()}"
    draft.write_text(video_id)
    try:
        os.link(draft, claim)
    except FileExistsError:
        return claim.read_text().strip()
    finally:
        draft.unlink(missing_ok=True)
    return video_id
