"""A video made of JPEG images as they are: each image one packet of an MJPEG stream, never re-encoded.

What stands in for the original frames of a tube imported from the HMMR authors' tfrecords: they ship
each frame's 224x224 crop as a JPEG, not the video. Muxed as packets, the crops are a video that
`media.decode` and `media.probe` read like any other (so our features stage or a viewer can use them),
and `read_jpeg_packets` gives back the very bytes that came in (so an export writes them unchanged).
AVI keeps a time base of exactly one frame, so every frame index maps to one packet.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
from PIL import Image

from manifests.atomic import atomic_write
from media.probe import VideoError

JPEG_STREAM_SUFFIX = ".avi"


def jpeg_size(jpeg: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's header, without decoding it."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            if image.format != "JPEG":
                raise VideoError(f"an image of format {image.format}, not JPEG")
            return image.size
    except (OSError, SyntaxError) as e:
        raise VideoError(f"not a JPEG image ({e})") from e


def write_jpeg_video(path: Path, jpegs: Sequence[bytes], fps: float) -> tuple[int, int]:
    """Write `jpegs` (all of one size) as an MJPEG video at `fps`, atomically; returns (width, height)."""
    if not jpegs:
        raise VideoError(f"{Path(path).name}: no images to write")
    sizes = {jpeg_size(jpeg) for jpeg in jpegs}
    if len(sizes) != 1:
        raise VideoError(f"{Path(path).name}: the images have different sizes {sorted(sizes)}; a video needs one")
    (width, height), = sizes
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_write(Path(path)) as sink:
        with av.open(sink, "w", format="avi") as container:
            stream = container.add_stream("mjpeg", rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuvj420p"
            stream.time_base = 1 / rate
            for index, jpeg in enumerate(jpegs):
                packet = av.Packet(jpeg)
                packet.stream, packet.pts, packet.dts, packet.duration = stream, index, index, 1
                packet.time_base = stream.time_base
                container.mux(packet)
    return width, height


def read_jpeg_packets(path: Path) -> list[bytes]:
    """The JPEG images of an MJPEG video, byte for byte as they were muxed."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.codec_context.name != "mjpeg":
                raise VideoError(f"{Path(path).name}: a {stream.codec_context.name} video, not MJPEG")
            return [bytes(packet) for packet in container.demux(stream) if packet.size]
    except (av.error.FFmpegError, OSError, IndexError) as e:
        raise VideoError(f"{Path(path).name}: not a readable MJPEG video ({e})") from e
