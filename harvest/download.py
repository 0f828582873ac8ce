"""Downloading one video with yt-dlp, bounded in time and bytes (harvest.bounds), into media/<video_id>.<ext>."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yt_dlp
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.http import HttpFD
from yt_dlp.networking.exceptions import HTTPError
from yt_dlp.utils import DownloadError

from harvest.bounds import DownloadGuard, DownloadTooLarge, guard_progress
from harvest.config import HarvestConfig
from harvest.ytdlp import _client, _CollectingLogger, _extract_info, _raise_bound_behind, is_media_file_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """A finished download and what the site said about it."""

    path: Path
    info: dict[str, Any]


class DownloadSkipped(Exception):
    """yt-dlp declined the download on purpose (size or duration filter)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason




def download_video(url: str, video_id: str, media_dir: Path, config: HarvestConfig,
                   extractor: str | None = None) -> Download:
    """Download one video to `media_dir/<video_id>.<ext>`; resumes a `.part` left by an interrupted run.

    extractor: the yt-dlp extractor that listed the video, when known: yt-dlp then goes straight to it
    instead of asking each of its ~1,800 extractors whether it suits the URL (a third of the per-video
    cost on small files). A media file's own URL (the generic extractor's) goes straight to yt-dlp's
    HTTP downloader: extraction would only name the file, at four times the cost of the download.
    """
    media_dir.mkdir(parents=True, exist_ok=True)
    max_bytes = int(config.max_filesize_mb * 2**20)
    try:
        with DownloadGuard(config.download_timeout_s, max_bytes):
            return _download_within_bounds(url, video_id, media_dir, config, extractor)
    except DownloadTooLarge as e:
        remove_download(media_dir, video_id)
        raise DownloadSkipped("too_large", f"{url}: {e}") from e
    except Exception:
        # A partial or invalid file must not be taken for the video by a later run (--retry-failed): it
        # would be reported "already downloaded" and fail again without a request. A .part left by a
        # killed or interrupted run is still resumed.
        remove_download(media_dir, video_id)
        raise


def remove_download(media_dir: Path, video_id: str) -> list[Path]:
    """Delete what a download of `video_id` left in media_dir: the file, its .part, yt-dlp's .ytdl state.
    Ids hold no '.', so `<id>.*` names this id's files and no other's."""
    removed = []
    for path in media_dir.glob(f"{video_id}.*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _download_within_bounds(url: str, video_id: str, media_dir: Path, config: HarvestConfig,
                            extractor: str | None) -> Download:
    options = {
        "format": config.format,
        "max_filesize": int(config.max_filesize_mb * 2**20),  # what a site announces; harvest.bounds counts
        "match_filter": _duration_filter(config),
        "continuedl": True,
        "nopart": False,
        "overwrites": False,
        "noplaylist": True,
        "sleep_interval": config.sleep_s or None,
    }
    if config.rate_limit_bps:
        options["ratelimit"] = config.rate_limit_bps
    if extractor == "Generic" and is_media_file_url(url):
        # Straight to the HTTP downloader: a YoutubeDL without extractors, shared by the worker's threads.
        ydl, logger = _client("media", config, options, for_extraction=False)
        return _download_media_file(ydl, logger, url, media_dir / f"{video_id}{Path(urlparse(url).path).suffix.lower()}",
                                    config)
    ydl, logger = _client("download", config, options)
    # The output name is the one per-video option: set it on the reused client (YoutubeDL reads
    # params["outtmpl"] each time it names a file).
    ydl.params["outtmpl"]["default"] = str(media_dir / f"{video_id}.%(ext)s")
    try:
        info = _extract_info(ydl, url, config, download=True, ie_key=_suitable_extractor(ydl, extractor, url))
    except DownloadError as e:
        # yt-dlp reports a deadline met inside a retry loop (its own or ours) as a DownloadError.
        _raise_bound_behind(e)
        raise
    if info is None:
        raise DownloadSkipped("filtered", f"yt-dlp returned nothing for {url}: {' | '.join(logger.lines[-3:])}")
    paths = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    if paths and paths[0].is_file():
        return Download(path=paths[0], info=info)
    raise _no_file(url, logger, config)


def _download_media_file(ydl: yt_dlp.YoutubeDL, logger: _CollectingLogger, url: str, target: Path,
                         config: HarvestConfig) -> Download:
    """yt-dlp's HTTP downloader on a media file's URL: the same retries, resume, rate limit, size cap and
    socket timeout as any download, and the same pause before it (sleep_interval); the duration is
    checked by the probe, as for any direct link."""
    info = {"id": target.stem, "url": url, "ext": target.suffix.lstrip("."), "protocol": urlparse(url).scheme,
            "webpage_url": url, "title": Path(urlparse(url).path).stem}
    try:
        if get_suitable_downloader(info, ydl.params) is HttpFD:
            # The headers YoutubeDL.dl would send; cookies (--cookies) are added to each request by
            # YoutubeDL.urlopen from the client's cookie jar, on this path as on yt-dlp's own.
            downloader = _UnreportedHttpFD(ydl, ydl.params)
            downloader.add_progress_hook(guard_progress)
            downloader.download(str(target), {**info, "http_headers": ydl.params["http_headers"]})
        else:  # an external downloader chosen through extra yt-dlp options
            ydl.dl(str(target), info)
    except HTTPError as e:
        raise DownloadError(f"{url}: {e}") from e
    except DownloadError as e:
        _raise_bound_behind(e)
        raise
    if not target.is_file():
        raise _no_file(url, logger, config)
    with open(target, "rb") as head:
        start = head.read(512).lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")):
        target.unlink()
        raise DownloadError(f"{url}: the server sent an HTML page, not a video (a login wall or an error page?)")
    return Download(path=target, info=info)


class _UnreportedHttpFD(HttpFD):
    """yt-dlp's HTTP downloader (its retries, resume, rate limit, size cap, socket timeout), without its
    progress report. That report renders two templates twice a file even with nothing to print: ~0.8 ms
    of a worker's CPU per video, 15% of a harvest of small clips; we report per video ourselves."""

    def report_progress(self, s: dict[str, Any]) -> None:
        return




def _no_file(url: str, logger: _CollectingLogger, config: HarvestConfig) -> Exception:
    """Why yt-dlp finished without a file: a skip (size, filter) or a failure, with its last words."""
    if logger.said("larger than max-filesize"):
        return DownloadSkipped("too_large", f"{url}: larger than {config.max_filesize_mb:g} MB")
    if logger.said("does not pass filter") or logger.said("skipping .."):
        return DownloadSkipped("filtered", f"{url}: {' | '.join(logger.lines[-2:])}")
    return DownloadError(f"{url}: yt-dlp finished without a file: {' | '.join(logger.lines[-3:])}")


def _suitable_extractor(ydl: yt_dlp.YoutubeDL, key: str | None, url: str) -> str | None:
    """`key` if yt-dlp has that extractor and it takes this URL; None (yt-dlp searches) otherwise."""
    if not key:
        return None
    try:
        extractor = ydl.get_info_extractor(key)
    except (KeyError, AttributeError):  # not one of yt-dlp's extractor keys (e.g. from an old entries row)
        return None
    return key if extractor.suitable(url) else None


def _duration_filter(config: HarvestConfig):
    def keep(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        duration = info.get("duration")
        if duration is None:
            return None  # unknown before download (direct links): checked again by the probe
        if duration > config.max_duration_s:
            return f"too long: {duration:.0f} s > {config.max_duration_s:g} s"
        if duration < config.min_duration_s:
            return f"too short: {duration:.1f} s < {config.min_duration_s:g} s"
        return None

    return keep
