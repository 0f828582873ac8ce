"""Reading what to harvest: hashtag files and VLOG-style lists of URLs, YouTube ids or VLOG clip ids.

Bad lines are reported all at once with their line numbers, so a 5,000-line list is fixed in one pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from authors.lists import InstaPost, parse_vlog_clip
from manifests.errors import InputError

DEFAULT_TAG_TEMPLATE = "https://www.instagram.com/explore/tags/{tag}/"
YOUTUBE_WATCH = "https://www.youtube.com/watch?v={id}"

_TAG = re.compile(r"^#?(\w+)$", re.UNICODE)
_YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_URL = re.compile(r"^https?://\S+$")
# An Instagram post's page names its video: yt-dlp's Instagram extractor takes the shortcode as the id.
INSTAGRAM_POST = re.compile(r"^https?://(?:www\.)?instagram\.com/(?:p|reel|tv)/([A-Za-z0-9_-]+)/?(?:[?#].*)?$")


class InputFileError(InputError, ValueError):
    """A hashtags or URL list file has lines we cannot use."""


@dataclass(frozen=True)
class Query:
    """One thing to enumerate: a tag page or a listed URL.

    query_id: unique key of the query (the enumerate stage's unit).
    query: what the `videos.query` column records: '#tag' or the list file's name.
    is_tag_page: a tag page, enumerated again each day; otherwise a listed URL, enumerated once.
    """

    query_id: str
    query: str
    dataset: str
    url: str
    is_tag_page: bool = False


def check_tag_template(template: str) -> None:
    """A tag page template must name the tag as {tag} and hold no other replacement field ({0}, {id})."""
    try:
        filled = template.format(tag="\0")
    except (IndexError, KeyError, ValueError) as e:
        raise InputFileError(f"--source-template {template!r} has a replacement field other than {{tag}} ({e!r}); "
                         "write literal braces as {{ and }}") from None
    if "\0" not in filled:
        raise InputFileError(f"--source-template {template!r} must contain '{{tag}}', e.g. "
                         "https://www.instagram.com/explore/tags/{tag}/")


def _strip_comment(line: str) -> str:
    """Drop a trailing ' # comment'; a leading '#' belongs to a tag."""
    return re.split(r"\s+#\s", line, maxsplit=1)[0].strip()


def read_hashtags(path: Path, dataset: str = "insta", template: str = DEFAULT_TAG_TEMPLATE) -> list[Query]:
    """One query per tag. Lines: 'dance', '#dance', blank lines and '# a comment' lines."""
    check_tag_template(template)
    queries, errors, seen = [], [], set()
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = _strip_comment(raw)
        if not line or line.startswith("# ") or line == "#":
            continue
        match = _TAG.match(line)
        if not match:
            errors.append(f"{path}:{number}: {raw.strip()!r} is not a hashtag (letters, digits and _ only)")
            continue
        tag = match.group(1).lower()
        if tag in seen:
            continue
        seen.add(tag)
        queries.append(Query(query_id=f"{dataset}:#{tag}", query=f"#{tag}", dataset=dataset,
                             url=template.format(tag=quote(tag)), is_tag_page=True))
    _raise_if(errors, path)
    return queries


def read_url_list(path: Path, dataset: str = "vlog") -> list[Query]:
    """One query per line: a video or playlist URL, a bare 11-character YouTube id, or a VLOG clip id
    (`0_0_I_v_LdhYI_Pq00I_021_`, as the HMMR authors' vlog_ids.txt lists them: the YouTube video, harvested
    once for all of its clips; `authors.lists.read_vlog_clips` keeps the clip ids)."""
    queries, errors, seen = [], [], set()
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = _strip_comment(raw)
        if not line or line.startswith("#"):
            continue
        clip = parse_vlog_clip(line)
        if _YOUTUBE_ID.match(line):
            url = YOUTUBE_WATCH.format(id=line)
        elif clip is not None:
            url = YOUTUBE_WATCH.format(id=clip.youtube_id)
        elif _URL.match(line):
            url = line
        else:
            errors.append(f"{path}:{number}: {raw.strip()!r} is neither an http(s) URL, an 11-character YouTube id "
                          f"nor a VLOG clip id like 0_0_I_v_LdhYI_Pq00I_021_")
            continue
        if url in seen:
            continue
        seen.add(url)
        queries.append(Query(query_id=f"{dataset}:{url}", query=Path(path).name, dataset=dataset, url=url))
    _raise_if(errors, path)
    return queries


def insta_variety_queries(posts: list[InstaPost], dataset: str = "insta") -> list[Query]:
    """One query per post of InstaVariety.json: its page (yt-dlp downloads it), with its download tag as
    the query, as a harvest of that tag page would have recorded it."""
    queries, seen = [], set()
    for post in posts:
        if post.url in seen:
            continue  # a post downloaded under two tags: harvested once, credited to the first
        seen.add(post.url)
        queries.append(Query(query_id=f"{dataset}:{post.url}", query=f"#{post.download_tag}", dataset=dataset,
                             url=post.url))
    return queries


def _raise_if(errors: list[str], path: Path) -> None:
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise InputFileError(f"{len(errors)} bad lines in {path}:\n  {shown}{more}")
