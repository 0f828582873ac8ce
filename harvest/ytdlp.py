"""yt-dlp through its Python API (`YoutubeDL`), never a shell string: its clients and their options, and
enumerating a query (downloads: harvest.download; the config: harvest.config)."""
from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import urlparse
from dataclasses import dataclass, replace
from typing import Any

import yt_dlp
from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
from yt_dlp.utils import DownloadError

from harvest.bounds import (DownloadGuard, DownloadTimeout, DownloadTooLarge, bounded_wait_s, current_guard,
                            guard_progress, guarded_urlopen)
from harvest.config import HarvestConfig
from harvest.ids import generic_id_for, normalise_url, video_id_for, with_hash
from harvest.queries import INSTAGRAM_POST
from manifests.status import printable

log = logging.getLogger(__name__)
@dataclass(frozen=True)
class Entry:
    """One video found on a query's page, before download."""

    video_id: str
    url: str
    webpage_url: str | None
    extractor: str
    title: str | None


class _CollectingLogger:
    """yt-dlp's log, kept for our error messages instead of printed to the terminal. Each thread sees
    its own lines, so one YoutubeDL can serve several download threads."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def lines(self) -> list[str]:
        if not hasattr(self._local, "lines"):
            self._local.lines = []
        return self._local.lines

    def debug(self, message: str) -> None:
        if not message.startswith("[debug]"):
            self.lines.append(printable(message))

    info = debug

    def warning(self, message: str) -> None:
        self.lines.append(printable(message))
        log.debug("yt-dlp: %s", message)

    def error(self, message: str) -> None:
        self.lines.append(printable(message))

    def said(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)


def _base_options(config: HarvestConfig, logger: _CollectingLogger) -> dict[str, Any]:
    options: dict[str, Any] = {
        "logger": logger,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        # yt-dlp formats a progress line on every block read even when it prints none; we report per
        # video, so let it format one a minute, and start with 64 KiB reads rather than 1 KiB ones.
        "progress_delta": 60,
        "buffersize": 64 * 1024,
        "socket_timeout": config.socket_timeout_s,
        "retries": config.retries,
        "fragment_retries": config.retries,
        "extractor_retries": config.retries,
        "retry_sleep_functions": {"http": _backoff, "fragment": _backoff, "extractor": _backoff},
        "sleep_interval_requests": config.sleep_s,
        "noplaylist": False,
        "cachedir": False,
    }
    if config.cookies_file:
        options["cookiefile"] = config.cookies_file
    options.update(config.extra_ytdlp_options)
    return options


def _backoff(n: int) -> float:
    """Seconds before retry n (yt-dlp calls this with n=0, 1, ...): 0.5, 1, 2, ... capped at 30, and at the
    time left to a download's deadline (past it, DownloadTimeout ends the retries)."""
    return bounded_wait_s(min(30.0, 0.5 * 2 ** n))


# A YoutubeDL costs ~35 ms to build with its extractor table, and ~20 ms more on its first request (it
# loads the system's CA certificates): a worker keeps them, per purpose and config.
_CLIENTS: dict[tuple[str, int | None, str], tuple[yt_dlp.YoutubeDL, _CollectingLogger]] = {}
_CLIENTS_LOCK = threading.Lock()


def _client(purpose: str, config: HarvestConfig, options: dict[str, Any],
            for_extraction: bool = True) -> tuple[yt_dlp.YoutubeDL, _CollectingLogger]:
    """The YoutubeDL for `purpose`. for_extraction: one per thread, with the extractor table (extraction
    sets per-video params, so it is not shared); otherwise one per process, shared by its download
    threads: `YoutubeDL.dl` keeps a download's state in its own downloader object, as yt-dlp's
    concurrent fragment downloads rely on."""
    thread = threading.get_ident() if for_extraction else None
    key = (purpose, thread, repr(config))  # configs arrive unpickled: compare by value
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            logger = _CollectingLogger()
            ydl = yt_dlp.YoutubeDL({**_base_options(config, logger), **options}, auto_init=for_extraction)
            # Every request and every downloader of this client answer to the calling thread's download
            # bounds (harvest.bounds); without a guard (enumeration) both are no-ops.
            ydl.urlopen = guarded_urlopen(ydl.urlopen)
            ydl.add_progress_hook(guard_progress)
            _CLIENTS[key] = (ydl, logger)
    ydl, logger = _CLIENTS[key]
    logger.lines.clear()
    return ydl, logger


MAX_RETRY_AFTER_S = 120.0  # a longer Retry-After fails the unit; a later run (--retry-failed) tries again


def _extract_info(ydl: yt_dlp.YoutubeDL, url: str, config: HarvestConfig, **kwargs: Any) -> dict[str, Any] | None:
    """`ydl.extract_info`, retried up to config.retries times when extraction meets a passing failure (429,
    a 5xx, a dropped connection): yt-dlp retries those for the media bytes but not for an extractor's own
    requests (a tag page, a post's page). Waits back off, or follow the site's Retry-After."""
    attempt = 0
    while True:
        try:
            return ydl.extract_info(url, **kwargs)
        except DownloadError as error:
            wait_s = _transient_wait_s(error, attempt)
            if attempt >= config.retries or wait_s is None:
                raise
            wait_s = bounded_wait_s(wait_s)
            log.info("retrying %s in %.1f s after: %s", url, wait_s, error)
            time.sleep(wait_s)
            attempt += 1


def _transient_wait_s(error: DownloadError, attempt: int) -> float | None:
    """Seconds to wait before retrying an extraction that failed with `error`; None = do not retry."""
    cause = error.exc_info[1] if error.exc_info else None
    for _ in range(8):  # down the chain of causes (ExtractorError.cause, __cause__) to the network's error
        if cause is None or isinstance(cause, (HTTPError, TransportError)):
            break
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, HTTPError) and (cause.status == 429 or 500 <= cause.status < 600):
        retry_after = cause.response.get_header("Retry-After") if cause.response else None
        if retry_after and retry_after.strip().isdigit():
            wait_s = float(retry_after)
            return wait_s if wait_s <= MAX_RETRY_AFTER_S else None
        return _backoff(attempt)
    if isinstance(cause, TransportError) and not isinstance(cause, CertificateVerifyError):
        return _backoff(attempt)
    return None


_MEDIA_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi")
_YOUTUBE_WATCH = re.compile(r"^https?://(?:www\.|m\.)?(?:youtube\.com/watch\?v=|youtu\.be/)([A-Za-z0-9_-]{11})(?:[&#?].*)?$")


def known_single_video(url: str) -> Entry | None:
    """The entry of a URL that names exactly one video by itself (a YouTube watch URL, a media file),
    so that a VLOG list of 10,000 ids is not fetched twice. None = ask yt-dlp."""
    youtube = _YOUTUBE_WATCH.match(url)
    if youtube:
        return Entry(video_id=video_id_for("Youtube", youtube.group(1)), url=url, webpage_url=url,
                     extractor="Youtube", title=None)
    instagram = INSTAGRAM_POST.match(url)
    if instagram:
        return Entry(video_id=video_id_for("Instagram", instagram.group(1)), url=url, webpage_url=url,
                     extractor="Instagram", title=None)
    if is_media_file_url(url):
        return Entry(video_id=generic_id_for(url), url=url, webpage_url=url, extractor="Generic", title=None)
    return None


def enumerate_query(url: str, config: HarvestConfig) -> list[Entry]:
    """The videos on a tag page or behind a listed URL (a single video gives one entry).

    Raises DownloadError (from yt-dlp) for pages it cannot read: 404, login walls, unsupported URLs.
    """
    options: dict[str, Any] = {"extract_flat": "in_playlist", "skip_download": True}
    if config.max_per_tag:
        options["playlistend"] = config.max_per_tag
    ydl, _ = _client("enumerate", config, options)
    # A page is read within the same deadline as a download (a trickling page would hold its worker forever).
    with DownloadGuard(config.download_timeout_s, int(config.max_filesize_mb * 2**20)):
        try:
            info = _extract_info(ydl, url, config, download=False)
        except DownloadError as e:
            _raise_bound_behind(e)
            raise
    if info is None:
        return []
    entries = info.get("entries") if info.get("_type") in ("playlist", "multi_video") else [info]
    found, seen = [], set()
    owner_of: dict[str, str] = {}  # id named after a media URL -> the normalised URL that holds it on this page
    for entry in entries or []:
        if not entry:
            continue
        item = _entry_of(entry, page_url=info.get("webpage_url") or url)
        if item.extractor == "Generic":
            # Two media files of one name on a page (/a/clip.mp4, /b/clip.mp4) are two videos: the later
            # gets a hash of its URL, as harvest.ids.assign_video_ids does across pages and runs.
            source = normalise_url(item.url)
            if owner_of.setdefault(item.video_id, source) != source:
                item = replace(item, video_id=with_hash(item.video_id, source))
                owner_of.setdefault(item.video_id, source)
        if item.video_id not in seen:
            seen.add(item.video_id)
            found.append(item)
    return found


def _entry_of(entry: dict[str, Any], page_url: str) -> Entry:
    if entry.get("_type") in ("url", "url_transparent") and entry.get("ie_key") and entry.get("id"):
        # A site extractor's entry (Instagram shortcode, YouTube id): stable across re-harvests.
        video_id = video_id_for(entry["ie_key"], str(entry["id"]))
        extractor = entry["ie_key"]
    elif entry.get("extractor_key", "").lower() in ("generic", "html5mediaembed"):
        # Media embedded in a page: yt-dlp numbers them by position, which shifts as the page grows,
        # so name the video by its media URL the way the generic extractor does for a direct link.
        video_id = generic_id_for(entry["url"])
        extractor = "Generic"
    else:
        extractor = entry.get("extractor_key") or entry.get("ie_key") or "generic"
        video_id = video_id_for(extractor, str(entry.get("id") or generic_id_for(entry["url"])))
    return Entry(video_id=video_id, url=entry.get("url") or entry.get("webpage_url"),
                 webpage_url=entry.get("webpage_url") or page_url, extractor=extractor, title=entry.get("title"))

def is_media_file_url(url: str) -> bool:
    """A URL whose path names a media file (…/clip.mp4): it is the video, with nothing to extract."""
    return urlparse(url).path.lower().endswith(_MEDIA_SUFFIXES)


def _raise_bound_behind(error: DownloadError) -> None:
    """yt-dlp wraps some exceptions of a download in a DownloadError (a retry loop's report), and a read
    cut at the deadline fails as a dropped connection: raise the bound met instead, so the unit says
    which limit it was."""
    cause = error.exc_info[1] if error.exc_info else None
    for _ in range(8):
        if cause is None or isinstance(cause, (DownloadTimeout, DownloadTooLarge)):
            break
        cause = getattr(cause, "cause", None) or cause.__cause__ or cause.__context__
    if isinstance(cause, (DownloadTimeout, DownloadTooLarge)):
        raise cause from error
    guard = current_guard()
    if guard is not None and guard.expired:
        raise DownloadTimeout(guard.timeout_s) from error
