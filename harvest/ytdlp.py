"""yt-dlp through its Python API (`YoutubeDL`), never a shell string: enumerate a query, download a video."""
from __future__ import annotations

import logging
import re
import threading
import time
from urllib.parse import urlparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yt_dlp
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.http import HttpFD
from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, TransportError
from yt_dlp.utils import DownloadError

from harvest.bounds import (DownloadGuard, DownloadTimeout, DownloadTooLarge, bounded_wait_s, current_guard,
                            guard_progress, guarded_urlopen)
from harvest.ids import generic_id_for, normalise_url, video_id_for, with_hash
from harvest.queries import INSTAGRAM_POST, check_tag_template
from harvest.ytdlp_options import check_ytdlp_options
from manifests.status import printable
from media.probe import DEFAULT_MAX_FRAME_PIXELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HarvestConfig:
    """How to talk to sites and what to keep.

    source_template: URL of a tag page, with {tag}.
    max_per_tag: newest entries enumerated per query (0 = all the page gives).
    min_duration_s / max_duration_s: videos outside are skipped (too_short / too_long).
    max_filesize_mb: bigger downloads are skipped (too_large): announced by the site, or counted as the
        bytes arrive (a response without Content-Length stops at the cap).
    download_timeout_s: a download (its page requests, bytes and retries) still running after this long
        fails (DownloadTimeout), however steadily the server trickles.
    max_frame_pixels: a video whose frames have more pixels (width x height) fails its probe, before any
        frame is decoded (the default, 8K UHD, is four times 4K).
    format: yt-dlp format selector (by default mp4 up to 720p, video-only where that is sharper).
    cookies_file: a Netscape cookies file (Instagram needs a logged-in session).
    sleep_s: pause before each download, and between extraction requests (politeness).
    rate_limit_bps: speed cap of each download in bytes/s (0 = none); a site sees up to per_site_concurrency
        downloads at once, each capped.
    retries: retries of a request that meets a passing failure (429, a 5xx, a dropped connection), for media
        bytes, fragments and extractor pages alike; waits back off (0.5 s, 1 s, 2 s, ...) or follow Retry-After.
    socket_timeout_s: a server that sends nothing for this long fails the unit.
    per_site_concurrency: at most this many downloads from one site at once.
    """

    source_template: str = "https://www.instagram.com/explore/tags/{tag}/"
    max_per_tag: int = 500
    min_duration_s: float = 1.0
    max_duration_s: float = 600.0
    max_filesize_mb: float = 500.0
    download_timeout_s: float = 900.0
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS
    # The best mp4 stream with video up to 720p, audio or not: pose needs no sound, and YouTube and Instagram
    # serve 720p only as video-only streams (with audio, YouTube's best mp4 is 360p). Then the best
    # progressive stream up to 720p, any video up to 720p, and the best there is.
    format: str = "bv*[height<=720][ext=mp4]/b[height<=720]/bv*[height<=720]/b"
    cookies_file: str | None = None
    sleep_s: float = 0.0
    rate_limit_bps: int = 0
    retries: int = 3
    socket_timeout_s: float = 20.0
    per_site_concurrency: int = 4
    extra_ytdlp_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_tag_template(self.source_template)
        if not 0 <= self.min_duration_s < self.max_duration_s:
            raise ValueError(f"HarvestConfig needs 0 <= min_duration_s < max_duration_s, got "
                             f"{self.min_duration_s} and {self.max_duration_s}")
        for name in ("max_per_tag", "retries", "rate_limit_bps"):
            if getattr(self, name) < 0:
                raise ValueError(f"HarvestConfig.{name} must be >= 0, got {getattr(self, name)}")
        if (self.max_filesize_mb <= 0 or self.socket_timeout_s <= 0 or self.download_timeout_s <= 0
                or self.per_site_concurrency < 1 or self.max_frame_pixels < 1):
            raise ValueError("HarvestConfig.max_filesize_mb, socket_timeout_s, download_timeout_s and max_frame_pixels "
                             f"must be > 0, per_site_concurrency >= 1; got {self.max_filesize_mb}, "
                             f"{self.socket_timeout_s}, {self.download_timeout_s}, {self.max_frame_pixels} and "
                             f"{self.per_site_concurrency}")
        if self.cookies_file and not Path(self.cookies_file).is_file():
            raise ValueError(f"HarvestConfig.cookies_file {self.cookies_file} does not exist")
        check_ytdlp_options(self.extra_ytdlp_options)  # yt-dlp would ignore a misspelt one


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


def is_media_file_url(url: str) -> bool:
    """A URL whose path names a media file (…/clip.mp4): it is the video, with nothing to extract."""
    return urlparse(url).path.lower().endswith(_MEDIA_SUFFIXES)


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
