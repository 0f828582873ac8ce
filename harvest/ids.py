"""Video ids: `<extractor>-<id>` as yt-dlp names them, safe as a file name on every file system."""
from __future__ import annotations

import posixpath
import re
from urllib.parse import urlparse

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sanitise(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "x"


def video_id_for(extractor_key: str, site_id: str) -> str:
    """'Instagram', 'C1a2b3' -> 'instagram-C1a2b3'. Titles never enter an id or a path."""
    return f"{sanitise(extractor_key).lower()}-{sanitise(site_id)}"


def generic_id_for(media_url: str) -> str:
    """The id yt-dlp's generic extractor gives a direct media URL: its file name without the extension."""
    name = posixpath.basename(urlparse(media_url).path)
    return video_id_for("generic", posixpath.splitext(name)[0] or name)
