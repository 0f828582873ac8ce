"""The authors' lists: InstaVariety.json, the official split lists, VLOG clip ids and VLOG's own metadata.

Every reader reports all bad entries at once, each with its file and line, and what was expected.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from manifests.split import SPLITS
from manifests.errors import InputError

INSTAGRAM_POST_TEMPLATE = "https://www.instagram.com/p/{shortcode}/"
_SHORTCODE = re.compile(r"^[A-Za-z0-9_-]+$")
_NAME = re.compile(r"^[^/\s]+$")
# VLOG stores clip Y of YouTube video ID under ID(-3)/ID(-2)/ID(-1)/v_ID/Y/ (the three letters are the id's
# last three letters or digits); the HMMR authors' vlog_ids.txt writes that path with '_' for '/'.
_VLOG_CLIP_ID = re.compile(r"^(\w)_(\w)_(\w)_v_([A-Za-z0-9_.-]{11})_(\d+)_?$")
_VLOG_PATH = re.compile(r"^/?(\w)/(\w)/(\w)/v_([A-Za-z0-9_.-]{11})/(\d+)/?$")


class ListError(InputError, ValueError):
    """A list file of the authors' that has entries we cannot use."""


def raise_if_bad(errors: list[str], path: Path, what: str) -> None:
    if errors:
        shown = "\n  ".join(errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise ListError(f"{len(errors)} bad {what} in {path}:\n  {shown}{more}")


# ---------------------------------------------------------------- InstaVariety.json


@dataclass(frozen=True)
class InstaPost:
    """One post of InstaVariety.json.

    authors_id: 'download_tag/video_name', how the split lists and the tracks folder name the video
        (video_name: the file name the authors saved it under, `urls[0]` without its extension).
    url: the post's page, which yt-dlp downloads. metadata: the post's record, verbatim JSON.
    """

    shortcode: str
    download_tag: str
    video_name: str
    url: str
    metadata: str

    @property
    def authors_id(self) -> str:
        return f"{self.download_tag}/{self.video_name}"


def _json_array_items(text: str, path: Path) -> Iterator[tuple[int, object]]:
    """(line, item) of each element of a top-level JSON array, so errors can name a line."""
    decoder = json.JSONDecoder()
    at = len(text) - len(text.lstrip())
    if not text.startswith("[", at):
        raise ListError(f"{path}: expected a JSON array of posts ('[' ...), found {text[at:at + 20]!r}")
    at += 1
    line, counted = 1, 0
    while True:
        while at < len(text) and text[at] in " \t\r\n,":
            at += 1
        if at >= len(text):
            raise ListError(f"{path}: the JSON array is not closed with ']' (a truncated file?)")
        if text[at] == "]":
            return
        line += text.count("\n", counted, at)
        counted = at
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as e:
            raise ListError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from e
        yield line, item


def read_insta_variety(path: Path) -> list[InstaPost]:
    """The posts of InstaVariety.json (doc/insta_variety.md): `shortcode`, `download_tag` and `urls` are
    needed; every other field is kept as provenance."""
    path = Path(path)
    posts, errors = [], []
    for line, item in _json_array_items(path.read_text(encoding="utf-8"), path):
        where = f"{path}:{line}: post {len(posts) + len(errors)}"
        if not isinstance(item, dict):
            errors.append(f"{where}: expected an object with shortcode, download_tag and urls; found {type(item).__name__}")
            continue
        shortcode, tag, urls = item.get("shortcode"), item.get("download_tag"), item.get("urls")
        problems = []
        if not isinstance(shortcode, str) or not _SHORTCODE.match(shortcode):
            problems.append(f"'shortcode' {shortcode!r} is not an Instagram shortcode (letters, digits, _ and -)")
        if not isinstance(tag, str) or not _NAME.match(tag):
            problems.append(f"'download_tag' {tag!r} is not a tag")
        if not (isinstance(urls, list) and urls and isinstance(urls[0], str) and urls[0].strip()):
            problems.append(f"'urls' {urls!r} should list the file name the video was saved under")
        if problems:
            errors.append(f"{where}: " + "; ".join(problems))
            continue
        video_name = Path(urls[0].split("?")[0]).name.rsplit(".", 1)[0]
        posts.append(InstaPost(shortcode=shortcode, download_tag=tag, video_name=video_name,
                               url=INSTAGRAM_POST_TEMPLATE.format(shortcode=shortcode),
                               metadata=json.dumps(item, sort_keys=True, ensure_ascii=False)))
    raise_if_bad(errors, path, "posts")
    return posts


# ---------------------------------------------------------------- split lists


def split_of_list_name(path: Path) -> str | None:
    """'train' for insta_variety_train.txt, 'test' for ..._test.txt, 'val' for ..._val.txt; else None."""
    words = set(re.split(r"[^a-z]+", Path(path).stem.lower()))
    found = [split for split in SPLITS if split in words]
    return found[0] if len(found) == 1 else None


def read_split_list(path: Path, split: str) -> dict[str, str]:
    """{'download_tag/video_name': split} of a split list (insta_variety_train.txt: one 'tag/video' a line;
    a trailing .mp4 and blank or '#' lines are allowed)."""
    if split not in SPLITS:
        raise ListError(f"{path}: split {split!r} is not one of {list(SPLITS)}")
    named, errors = {}, []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("/")
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            errors.append(f"{path}:{number}: {line!r} is not 'download_tag/video_name'")
            continue
        tag, name = parts
        named[f"{tag}/{name[:-4] if name.endswith('.mp4') else name}"] = split
    raise_if_bad(errors, path, "lines")
    return named


# ---------------------------------------------------------------- VLOG


@dataclass(frozen=True)
class VlogClip:
    """Clip `clip` of YouTube video `youtube_id`, as VLOG names it (clip_id as the list wrote it)."""

    clip_id: str
    youtube_id: str
    clip: int

    @property
    def manifest_path(self) -> str:
        """The clip's path in VLOG's manifest.txt, e.g. 0/0/I/v_LdhYI_Pq00I/021/."""
        letters = [c for c in self.youtube_id.replace("-", ".") if c.isalnum()][-3:]
        return "/".join(letters) + f"/v_{self.youtube_id.replace('-', '.')}/{self.clip:03d}/"


def parse_vlog_clip(text: str) -> VlogClip | None:
    """A VLOG clip id ('0_0_I_v_LdhYI_Pq00I_021_') or manifest path ('0/0/I/v_LdhYI_Pq00I/021/'), else None.
    VLOG writes a '-' of a YouTube id as '.'; the id returned is YouTube's."""
    text = text.strip()
    match = _VLOG_CLIP_ID.match(text) or _VLOG_PATH.match(text)
    if not match:
        return None
    youtube_id = match.group(4).replace(".", "-")
    return VlogClip(clip_id=text, youtube_id=youtube_id, clip=int(match.group(5)))


def read_vlog_clips(path: Path) -> list[VlogClip]:
    """The VLOG clip ids of a list (other lines, e.g. URLs, are left to the URL-list reader)."""
    clips = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        clip = parse_vlog_clip(raw.split(" # ")[0])
        if clip is not None:
            clips.append(clip)
    return clips


@dataclass(frozen=True)
class VlogSegment:
    """Where a clip lies in its YouTube video: frames start_frame..end_frame - 1 at the video's own rate."""

    url: str
    start_frame: int
    end_frame: int  # exclusive (VLOG's youtube_links.txt gives the last frame, inclusive)


def read_vlog_segments(meta_dir: Path) -> dict[tuple[str, int], VlogSegment]:
    """{(youtube_id, clip): segment} from VLOG's meta/ folder: manifest.txt (one clip path a line) and
    youtube_links.txt (on the same line: the video's URL, first frame, last frame inclusive)."""
    meta_dir = Path(meta_dir)
    manifest, links = meta_dir / "manifest.txt", meta_dir / "youtube_links.txt"
    for needed in (manifest, links):
        if not needed.is_file():
            raise ListError(f"{meta_dir}: no {needed.name}; give VLOG's meta/ folder (from data_v1.1.tgz), which "
                            f"holds manifest.txt and youtube_links.txt")
    paths = manifest.read_text(encoding="utf-8").splitlines()
    link_lines = links.read_text(encoding="utf-8").splitlines()
    if len(paths) != len(link_lines):
        raise ListError(f"{manifest} has {len(paths)} lines but {links} has {len(link_lines)}; they must be "
                        f"line-aligned (the same release of VLOG)")
    segments, errors = {}, []
    for number, (clip_path, link) in enumerate(zip(paths, link_lines), start=1):
        clip = parse_vlog_clip(clip_path)
        parts = link.split()
        if clip is None:
            errors.append(f"{manifest}:{number}: {clip_path!r} is not a VLOG clip path like 0/0/I/v_LdhYI_Pq00I/021/")
            continue
        if len(parts) != 3 or not parts[1].lstrip("-").isdigit() or not parts[2].lstrip("-").isdigit():
            errors.append(f"{links}:{number}: {link!r} is not 'URL first_frame last_frame'")
            continue
        start, last = int(parts[1]), int(parts[2])
        if start < 0 or last < start:
            errors.append(f"{links}:{number}: frames {start}..{last} are not a segment (0 <= first <= last)")
            continue
        segments[(clip.youtube_id, clip.clip)] = VlogSegment(url=parts[0], start_frame=start, end_frame=last + 1)
    raise_if_bad(errors, meta_dir, "lines")
    return segments
