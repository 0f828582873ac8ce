"""What a harvest may do and keep: the one config of the harvest stages, checked where it is built."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvest.queries import check_tag_template
from harvest.ytdlp_options import check_ytdlp_options
from media.probe import DEFAULT_MAX_FRAME_PIXELS


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
