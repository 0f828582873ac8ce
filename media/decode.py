"""Streaming decode with PyAV: frames one at a time, optionally resampled to a frame rate and downscaled.

Never holds the video in memory. Frame indices are at the output rate (the `--fps` rate when given,
else the file's), chosen by presentation time, so variable-frame-rate files give evenly spaced samples.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from media.probe import DEFAULT_MAX_FRAME_PIXELS, VideoError, displayed_size, open_video, upright


class DecodeTimeout(VideoError):
    """Decoding took longer than the unit's time limit (a pathological file must not hang a worker)."""


@dataclass(frozen=True)
class DecodeConfig:
    """fps: resample to this rate (None = the file's own); max_side_px: downscale so the longer side is at
    most this (None = full size; keypoints are always mapped back to original pixels); time_limit_s:
    fail a video that takes longer than this to decode; max_frame_pixels: refuse, before decoding, a video
    whose frames have more pixels than this (the default, 8K UHD, is four times 4K)."""

    fps: float | None = None
    max_side_px: int | None = None
    time_limit_s: float = 1800.0
    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS

    def __post_init__(self) -> None:
        if self.fps is not None and not 0 < self.fps <= 240:
            raise ValueError(f"DecodeConfig.fps must be in (0, 240], got {self.fps}")
        if self.max_side_px is not None and self.max_side_px < 32:
            raise ValueError(f"DecodeConfig.max_side_px must be >= 32, got {self.max_side_px}")
        if self.max_frame_pixels < 1:
            raise ValueError(f"DecodeConfig.max_frame_pixels must be >= 1, got {self.max_frame_pixels}")


@dataclass(frozen=True)
class Frame:
    index: int  # at the output rate
    time_s: float
    rgb: np.ndarray  # (H, W, 3) uint8, upright (rotation metadata applied), possibly downscaled
    scale: float  # original pixels per pixel of `rgb`


@dataclass(frozen=True)
class StreamInfo:
    fps: float  # the output rate frame indices refer to
    width: int  # as displayed (rotation applied), before any downscale
    height: int
    rotation_deg: int = 0  # the counter-clockwise turn applied to every stored frame


def open_stream(path: Path, config: DecodeConfig) -> tuple[StreamInfo, Iterator[Frame]]:
    """(what the frames will be, an iterator over them). Raises VideoError for unusable files.
    Decodes the first frame here: its rotation metadata says which way up the frames are shown."""
    path = Path(path)
    container, stream = open_video(path, config.max_frame_pixels)
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    native_fps = float(rate) if rate else 0.0
    if native_fps <= 0:
        container.close()
        raise VideoError(f"{path.name}: the video stream has no frame rate")
    decoded = container.decode(stream)
    try:
        first = next(decoded, None)
    except (av.error.FFmpegError, OSError) as e:
        container.close()
        raise VideoError(f"{path.name}: corrupt or truncated video at its first frame ({e})") from e
    if first is None:
        container.close()
        raise VideoError(f"{path.name}: no decodable frame (zero-frame or truncated file)")
    rotation_deg = round(first.rotation / 90) % 4 * 90
    width, height = displayed_size(stream.codec_context.width, stream.codec_context.height, rotation_deg)
    out_fps = config.fps or native_fps
    info = StreamInfo(fps=out_fps, width=width, height=height, rotation_deg=rotation_deg)
    frames = _frames(container, itertools.chain([first], decoded), stream, path, out_fps,
                     _scale_for(width, height, config.max_side_px), rotation_deg, config)
    return info, frames


def _scale_for(width: int, height: int, max_side_px: int | None) -> float:
    if not max_side_px or max(width, height) <= max_side_px:
        return 1.0
    return max(width, height) / max_side_px


def _frames(container, decoded_frames, stream, path: Path, out_fps: float, scale: float, rotation_deg: int,
            config: DecodeConfig) -> Iterator[Frame]:
    """Each output tick k / out_fps gets the frame on screen at that time: the last decoded frame whose
    timestamp is <= the tick (a one-frame lookahead, so variable frame rates are exact)."""
    deadline = time.monotonic() + config.time_limit_s
    native_fps = float(stream.average_rate or stream.guessed_rate or out_fps)
    out_w = int(round(stream.codec_context.width / scale)) // 2 * 2
    out_h = int(round(stream.codec_context.height / scale)) // 2 * 2
    next_index = 0
    n_decoded = 0
    start_s: float | None = None
    held = None  # (time_s, decoded frame) waiting for the next frame's time
    # A frame's time is rounded to its container's tick (Matroska/WebM: whole milliseconds), so a frame
    # due at a tick may say a little after it (frame 2 at 30 fps: 0.067 s for 0.0667 s). Within one tick
    # (never more than a quarter frame) it counts as on time; otherwise the frame before it is shown
    # twice and it is dropped.
    tick_s = float(stream.time_base) if stream.time_base else 0.0
    epsilon = max(1e-6, min(tick_s, 0.25 / max(native_fps, out_fps)))

    def emit_until(frame, until_s: float) -> Iterator[Frame]:
        nonlocal next_index
        rgb = None
        while next_index / out_fps < until_s - epsilon:
            if rgb is None:
                rgb = frame.to_ndarray(format="rgb24") if scale == 1.0 else \
                    frame.to_ndarray(format="rgb24", width=out_w, height=out_h)
                rgb = upright(rgb, rotation_deg)
            yield Frame(index=next_index, time_s=next_index / out_fps, rgb=rgb, scale=scale)
            next_index += 1

    try:
        for decoded in decoded_frames:
            if time.monotonic() > deadline:
                raise DecodeTimeout(f"{path.name}: decoding took longer than {config.time_limit_s:.0f} s")
            n_decoded += 1
            t = float(decoded.time) if decoded.time is not None else (n_decoded - 1) / native_fps
            start_s = t if start_s is None else start_s
            t -= start_s
            if held is not None:
                yield from emit_until(held[1], t)
            held = (t, decoded)
        if held is not None:
            yield from emit_until(held[1], held[0] + 1.0 / native_fps)
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path.name}: corrupt or truncated video after {n_decoded} frames ({e})") from e
    finally:
        container.close()
    if n_decoded == 0:
        raise VideoError(f"{path.name}: no decodable frame (zero-frame or truncated file)")
