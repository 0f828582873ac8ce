"""A published dataset's frames as a media file the features stage decodes like any download.

Penn Action and 3DPW ship their frames as numbered JPEG files. The features stage reads videos, so each
sequence becomes one video: its JPEG files, byte for byte, as the packets of an MJPEG stream in an MP4
container (a remux: nothing is decoded or re-encoded, so no quality is lost and it costs about a file
copy; re-encoding to H.264 would save disk but cost CPU minutes per thousand 1080p frames and change the
pixels the published numbers were measured on). MP4 keeps each frame's time as an exact multiple of
1/fps, so frame k decodes as frame k. Human3.6M ships videos: they are linked, not copied.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
from PIL import Image

from manifests.atomic import TEMP_PREFIX, atomic_write, fsync_dir
from media.fingerprint import file_sha256
from media.probe import VideoProbe, probe_video
from manifests.errors import InputError


class FramesError(InputError, ValueError):
    """Frames that cannot make one video (unreadable, or not all the same size)."""


def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header (the pixels are not decoded)."""
    try:
        with Image.open(path) as image:
            if image.format != "JPEG":
                raise FramesError(f"{path}: expected a JPEG frame, found {image.format}")
            return image.size
    except (OSError, Image.DecompressionBombError) as e:
        raise FramesError(f"{path}: not a readable image ({e})") from e


def remux_jpegs(frames: Sequence[Path], out: Path, fps: float) -> Path:
    """Write `frames` (JPEG files, in order) as an MJPEG-in-MP4 video at `fps`, atomically."""
    if not frames:
        raise FramesError(f"no frames to write into {out.name}")
    width, height = jpeg_size(frames[0])
    rate = Fraction(fps).limit_denominator(1001)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as sink, av.open(sink, "w", format="mp4") as container:
        stream = container.add_stream("mjpeg", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
        # Packet times in 1/fps; the muxer may pick a finer time base for the stream once the header is out.
        tick = 1 / rate
        stream.time_base = tick
        for index, path in enumerate(frames):
            # Each frame's size is checked from its header (cheap): one odd frame would decode as garbage.
            if index and jpeg_size(path) != (width, height):
                raise FramesError(f"{path}: {jpeg_size(path)} pixels, but {frames[0].name} is {(width, height)}; "
                                  f"every frame of a sequence must have the same size")
            packet = av.Packet(Path(path).read_bytes())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, tick
            packet.is_keyframe = True
            container.mux(packet)
    return out


def link_media(source: Path, out: Path) -> Path:
    """`out` as a symbolic link to `source` (absolute), replacing any older link atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f"{TEMP_PREFIX}{out.name}")
    temporary.unlink(missing_ok=True)
    os.symlink(Path(source).resolve(), temporary)
    os.replace(temporary, out)
    fsync_dir(out.parent)
    return out


def video_id_of(dataset: str, *parts: str) -> str:
    """`<dataset>-<part>-<part>...` with every character outside [A-Za-z0-9_-] made `_` (ids name files)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join((dataset, *parts)))

@dataclass(frozen=True)
class ImportedVideo:
    """What the `videos` table says of an imported sequence's media file."""

    video_id: str
    dataset: str
    split: str
    source: str  # the published file or folder the frames came from
    media_path: str  # relative to the dataset root
    title: str
    probe: VideoProbe
    sha256: str
    n_bytes: int

    def row(self) -> dict:
        return {"video_id": [self.video_id], "dataset": [self.dataset], "query": [f"import:{self.dataset}"],
                "url": [self.source], "webpage_url": [None], "media_path": [self.media_path],
                "sha256": [self.sha256], "n_bytes": [self.n_bytes], "duration_s": [self.probe.duration_s],
                "fps": [self.probe.fps], "width": [self.probe.width], "height": [self.probe.height],
                "codec": [self.probe.codec], "uploader": [None], "upload_date": [None], "license": [None],
                "title": [self.title], "harvested_at": [datetime.now(timezone.utc)], "split": [self.split]}


def describe_media(root: Path, media: Path, video_id: str, dataset: str, split: str, source: str,
                   title: str) -> ImportedVideo:
    """Probe and fingerprint a media file under `root`/media for its `videos` row."""
    return ImportedVideo(video_id=video_id, dataset=dataset, split=split, source=source,
                         media_path=str(media.relative_to(root)), title=title, probe=probe_video(media),
                         sha256=file_sha256(media), n_bytes=media.stat().st_size)
