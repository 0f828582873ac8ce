"""The default format choice, through yt-dlp's own format selection, on format lists shaped like what its
YouTube and Instagram extractors return (no network: the choice is made before any byte is fetched)."""
from __future__ import annotations

import pytest
import yt_dlp

from harvest.config import HarvestConfig


def stream(format_id: str, ext: str, height: int | None, vcodec: str, acodec: str, tbr: float) -> dict:
    return {"format_id": format_id, "ext": ext, "height": height, "width": height and height * 16 // 9,
            "vcodec": vcodec, "acodec": acodec, "tbr": tbr, "url": f"https://cdn.example/{format_id}",
            "protocol": "https"}


YOUTUBE = [  # one progressive 360p mp4; everything sharper is video-only or audio-only (DASH)
    stream("18", "mp4", 360, "avc1.42001E", "mp4a.40.2", 500),
    stream("134", "mp4", 360, "avc1.4d401e", "none", 300),
    stream("136", "mp4", 720, "avc1.4d401f", "none", 1500),
    stream("137", "mp4", 1080, "avc1.640028", "none", 3000),
    stream("247", "webm", 720, "vp9", "none", 1200),
    stream("140", "m4a", None, "none", "mp4a.40.2", 128),
]
INSTAGRAM = [stream("dash-720v", "mp4", 720, "avc1", "none", 1500), stream("dash-a", "m4a", None, "none", "mp4a", 100),
             stream("8", "mp4", 640, "avc1", "mp4a", 1200)]
WEBM_ONLY = [stream("a", "webm", 480, "vp9", "opus", 800), stream("b", "webm", 1080, "vp9", "opus", 3000)]
TOO_SHARP = [stream("22", "mp4", 1080, "avc1", "mp4a", 3000)]


def chosen(formats: list[dict]) -> str:
    ydl = yt_dlp.YoutubeDL({"quiet": True, "simulate": True, "format": HarvestConfig().format})
    info = ydl.process_ie_result({"id": "v", "title": "v", "formats": [dict(f) for f in formats], "extractor": "test",
                                  "extractor_key": "Test", "webpage_url": "https://site.example/v"}, download=False)
    return info["format_id"]


@pytest.mark.parametrize("formats, expected", [
    (YOUTUBE, "136"),       # 720p video-only mp4, not the 360p progressive stream
    (INSTAGRAM, "dash-720v"),
    (WEBM_ONLY, "a"),       # no mp4: the best video up to 720p
    (TOO_SHARP, "22"),      # nothing up to 720p: the best there is, rather than nothing
], ids=["youtube", "instagram", "webm-only", "only-1080p"])
def test_default_format_is_the_sharpest_mp4_up_to_720p(formats, expected):
    assert chosen(formats) == expected
