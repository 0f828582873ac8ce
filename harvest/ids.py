"""Video ids: `<extractor>-<id>` as yt-dlp names them, safe as a file name on every file system.

An id is readable (a site's own id, or a media file's base name) and bounded in length. A media file
named by its URL alone is ambiguous (`/a/clip.mp4` and `/b/clip.mp4`, two all-non-ASCII names, `?id=1`
and `?id=2`), so such ids carry a short hash of the normalised URL where the name alone would not tell
two sources apart: always for a URL with a query or a non-ASCII name, and, for two different URLs of the
same name, for every one but the first to hold it (`assign_video_ids`).
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Iterable, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
GENERIC = "generic"
# Long enough for any site's own id (YouTube 11, Instagram 11, TikTok 19), short enough that the file
# name `<id>.<ext>.part` and a claim file stay far below the 255 bytes most file systems allow.
MAX_VIDEO_ID_CHARS = 96
HASH_CHARS = 10  # 40 bits: no two of a million same-named files meet (p ~ 1e-7 per pair of names)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def sanitise(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "x"


def url_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_CHARS]


def with_hash(readable: str, source: str) -> str:
    """`readable-<hash of source>`, the readable part cut so that the whole fits MAX_VIDEO_ID_CHARS."""
    keep = MAX_VIDEO_ID_CHARS - HASH_CHARS - 1
    return f"{readable[:keep].rstrip('_-')}-{url_hash(source)}"


def bounded(video_id: str) -> str:
    """An id over MAX_VIDEO_ID_CHARS: its start plus a hash of the whole (two long ids that share a start
    stay apart)."""
    return video_id if len(video_id) <= MAX_VIDEO_ID_CHARS else with_hash(video_id, video_id)


def video_id_for(extractor_key: str, site_id: str) -> str:
    """'Instagram', 'C1a2b3' -> 'instagram-C1a2b3'. Titles never enter an id or a path."""
    return bounded(f"{sanitise(extractor_key).lower()}-{sanitise(site_id)}")


def normalise_url(url: str) -> str:
    """The form of a URL that two spellings of one resource share: scheme and host in lower case, no
    default port, no fragment, one percent-encoding of the path, query parameters sorted."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port and parts.port != _DEFAULT_PORTS.get(scheme) else None
    netloc = f"{host}:{port}" if port else host
    path = quote(unquote(parts.path), safe="/-._~!$&'()*+,;=:@") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)))
    return urlunsplit((scheme, netloc, path, query, ""))


def generic_id_for(media_url: str) -> str:
    """A direct media URL's id: `generic-<file name without extension>`, as yt-dlp's generic extractor
    names it, plus a hash of the normalised URL when the name cannot tell it from another source: the URL
    has a query (`watch.mp4?id=1`), or the name has characters an id cannot keep (`视频.mp4`)."""
    parts = urlsplit(media_url)
    name = unquote(posixpath.basename(parts.path))
    stem = posixpath.splitext(name)[0] or name
    readable = f"{GENERIC}-{sanitise(stem)}"
    if parts.query or not stem.isascii() or not stem:
        return with_hash(readable, normalise_url(media_url))
    return bounded(readable)


def assign_video_ids(listed: Iterable[tuple[str, str, bool]], bound: Mapping[str, str]) -> list[str]:
    """The id each listed video is downloaded under, so that two different sources never share one.

    listed: (id as enumerated, url, whether the id is a name taken from the URL (the generic
        extractor's)) in priority order: the first of two same-named URLs keeps the plain id.
    bound: url -> id of the media URLs the root already holds (its `videos` rows): each keeps its id in
        every later run, and no other URL gets it.

    A site's own id (a YouTube id, an Instagram shortcode) names one video whatever URL it came by, so
    only ids named after a URL are checked. The same URL, however spelt, gets the same id. URLs are
    normalised only where an id is in question (~50 us each; most ids have one URL and no rival).
    """
    listed = list(listed)
    urls_of: dict[str, set[str]] = {}
    for video_id, url, named_by_url in listed:
        if named_by_url:
            urls_of.setdefault(video_id, set()).add(url)
    held_by = {video_id: url for url, video_id in bound.items()}
    bound_by_key: dict[str, str] | None = None  # normalised url -> id, built on first need
    owner_of: dict[str, str] = {}  # id -> normalised url, of ids in question
    by_key: dict[str, str] = {}
    ids = []
    for video_id, url, named_by_url in listed:
        if not named_by_url or (len(urls_of[video_id]) == 1 and held_by.get(video_id, url) == url):
            ids.append(video_id)  # one URL for this id, here and in the root: nothing to decide
            continue
        if bound_by_key is None:
            bound_by_key = {normalise_url(u): i for u, i in bound.items()}
            owner_of = {i: k for k, i in bound_by_key.items()}
        key = normalise_url(url)
        if key not in by_key:
            if key in bound_by_key:
                by_key[key] = bound_by_key[key]
            else:
                chosen = video_id if owner_of.get(video_id, key) == key else with_hash(video_id, key)
                owner_of.setdefault(chosen, key)
                by_key[key] = chosen
        ids.append(by_key[key])
    return ids
