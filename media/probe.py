"""What a media file holds, read with PyAV (the same library the decoder uses).

A probe opens the container, checks for a video stream, decodes the first frame, and reads (without
decoding) the video packets of the last half second: a truncated or corrupt download is caught at
harvest time, rather than on a GPU worker. Reading packets needs no keyframe, so the probe seeks
straight to the tail through the container's index; a download cut short ends before it, and its
tail has no packets. (Decoding near the end would mean decoding from the last keyframe, often the
whole clip; a scan of every packet grows with the video's length.)

Frames larger than a pixel limit are refused before anything is decoded (`open_video`), and sizes are
reported as displayed: a portrait phone clip stored landscape with a 90-degree rotation is portrait here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

# 8K UHD, four times 4K. A frame's decoded size, not its file's, is what costs memory: 16000x16000 frames
# fit in a 4 MB file and took ~11 GB per decoding worker.
DEFAULT_MAX_FRAME_PIXELS = 7680 * 4320


class VideoError(Exception):
    """A media file that cannot be used: unreadable, no video stream, corrupt, truncated or too large."""


@dataclass(frozen=True)
class VideoProbe:
    duration_s: float
    fps: float
    width: int  # as displayed: rotation metadata applied
    height: int
    codec: str
    n_frames: int  # from the container when it says, else duration x fps rounded
    rotation_deg: int = 0  # counter-clockwise turn the player applies to stored frames (0, 90, 180, 270)


def open_video(path: Path, max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS):
    """(container, its first video stream), with frames over `max_frame_pixels` refused before any decode.

    FFmpeg decodes a frame or more while it opens a file (to learn its codec's parameters), and the
    decoder allocates what the stream's header claims: both are capped at the limit (FFmpeg's
    `max_pixels`), and a stream whose header claims more is refused here, naming its size.
    """
    path = Path(path)
    # FFmpeg checks its cap against frames padded to a stride (up to 63 more columns): a quarter more
    # headroom keeps it from refusing a stream this check accepts, and still stops a huge frame.
    cap = {"max_pixels": str(max_frame_pixels + max_frame_pixels // 4)}
    try:
        container = av.open(str(path), metadata_errors="ignore", options=cap)
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path.name}: not a readable media file ({e})") from e
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoError(f"{path.name}: no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_frame_pixels:
            raise VideoError(f"{path.name}: frames of {width}x{height} ({width * height / 1e6:.0f} MP) are larger than "
                             f"--max-frame-pixels {max_frame_pixels} ({max_frame_pixels / 1e6:.1f} MP); not decoded")
        if width <= 0 or height <= 0:
            raise VideoError(f"{path.name}: no frame size in the video stream (frames over --max-frame-pixels "
                             f"{max_frame_pixels} are not decoded to find it)")
        stream.codec_context.options = cap  # a stream that grows its frames later is refused by the decoder
    except BaseException:
        container.close()
        raise
    return container, stream


def upright(rgb: np.ndarray, rotation_deg: int) -> np.ndarray:
    """A decoded frame (H, W, C) turned as a player shows it: `rotation_deg` counter-clockwise (PyAV's
    `VideoFrame.rotation`, from the stream's display matrix; phones record portrait clips this way)."""
    turns = round(rotation_deg / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def displayed_size(width: int, height: int, rotation_deg: int) -> tuple[int, int]:
    return (height, width) if round(rotation_deg / 90) % 2 else (width, height)


def probe_video(path: Path, max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS) -> VideoProbe:
    """Probe `path`; raises VideoError naming the file and what is wrong with it."""
    path = Path(path)
    container, stream = open_video(path, max_frame_pixels)
    with container:
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration_s = _duration_s(container, stream)
        if fps <= 0 or duration_s <= 0:
            raise VideoError(f"{path.name}: no frame rate or duration in the container (fps {fps}, duration {duration_s})")
        n_frames = int(stream.frames) if stream.frames else int(round(duration_s * fps))
        first = _decode_one(container, stream, path, at_s=0.0)
        rotation_deg = round(first.rotation / 90) % 4 * 90
        _check_packets_reach_the_end(container, stream, path, duration_s, fps)
        width, height = displayed_size(int(stream.codec_context.width), int(stream.codec_context.height), rotation_deg)
        return VideoProbe(duration_s=duration_s, fps=fps, width=width, height=height, codec=stream.codec_context.name,
                          n_frames=n_frames, rotation_deg=rotation_deg)


def _duration_s(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


TAIL_S = 0.5  # the packets read at the end: well inside the slack the check allows (one frame + 1 s)


def _check_packets_reach_the_end(container, stream, path: Path, duration_s: float, fps: float) -> None:
    start = stream.start_time or 0
    tail_start = start + int(max(0.0, duration_s - TAIL_S) / stream.time_base)
    try:
        # Any packet, not the keyframe before: for an indexed container (mp4, mkv with cues) this reads
        # only the tail; without an index, FFmpeg searches the file for the spot.
        container.seek(tail_start, stream=stream, backward=True, any_frame=True)
    except (av.error.FFmpegError, OSError):
        container.seek(0, stream=stream)  # a container that cannot seek so: scan it all
    last_pts, n_packets = None, 0
    try:
        # Integer timestamps while scanning (a Fraction per packet was a fifth of the probe's time); seconds once.
        for packet in container.demux(stream):
            pts = packet.pts
            if pts is not None and packet.size:
                n_packets += 1
                if last_pts is None or pts > last_pts:
                    last_pts = pts
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path.name}: corrupt container after {n_packets} packets ({e})") from e
    if last_pts is None:
        raise VideoError(f"{path.name}: truncated: no video packets in its last {TAIL_S:g} s of {duration_s:.1f} s")
    last_s = max(0.0, float((last_pts - start) * stream.time_base))
    # The last frame starts one frame before the end; allow a second of slack for edit lists.
    if last_s < duration_s - 1.0 / fps - 1.0:
        raise VideoError(f"{path.name}: truncated: video packets end at {last_s:.1f} s of {duration_s:.1f} s")


def _decode_one(container: av.container.InputContainer, stream: av.stream.Stream, path: Path,
                at_s: float) -> av.VideoFrame:
    stream.codec_context.thread_count = 1  # one frame: starting a pool of decoder threads costs more than it
    try:
        if at_s > 0:
            container.seek(int(at_s / stream.time_base), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path.name}: corrupt or truncated video near {at_s:.1f} s ({e})") from e
    raise VideoError(f"{path.name}: no decodable frame near {at_s:.1f} s (truncated download?)")
