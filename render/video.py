"""People's meshes over a video file: an mp4 of a span of frames, or one still. The video is decoded once,
streaming, at the rate the people's frame indices refer to; the mp4 is written whole or not at all."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image
from tqdm import tqdm

from manifests.atomic import atomic_write
from media.decode import DecodeConfig, open_stream
from render.backend import Renderer, open_renderer
from render.overlay import OverlayConfig, draw_frame
from render.people import PersonSequence

log = logging.getLogger(__name__)


class FramesPastTheEnd(ValueError):
    """Frames were asked for that the video does not have (the caller's input, not a bug)."""


@dataclass(frozen=True)
class VideoRenderConfig:
    """overlay: how each frame is drawn; max_side_px: downscale the output so its longer side (of the
    video frame, before a side view doubles the width) is at most this (None = the video's size);
    frames: (first, end) video frames to render, end exclusive (None = every frame of the video);
    crf: H.264 quality (lower is better; 18 looks lossless, 23 is x264's default)."""

    overlay: OverlayConfig = OverlayConfig()
    max_side_px: int | None = 1280
    frames: tuple[int, int] | None = None
    crf: int = 20

    def __post_init__(self) -> None:
        if self.frames is not None and not 0 <= self.frames[0] < self.frames[1]:
            raise ValueError(f"VideoRenderConfig.frames must be (first, end) with 0 <= first < end, got {self.frames}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"VideoRenderConfig.crf must be in 0..51, got {self.crf}")


def people_span(people: list[PersonSequence]) -> tuple[int, int]:
    """(first, end) frames in which anyone is present."""
    if not people:
        raise ValueError("no people to render")
    return min(int(p.frames[0]) for p in people), max(int(p.frames[-1]) + 1 for p in people)


def render_video(media_path: Path, fps: float, people: list[PersonSequence], faces: np.ndarray, out_path: Path,
                 config: VideoRenderConfig = VideoRenderConfig(), progress: bool = True,
                 renderer: Renderer | None = None) -> int:
    """Write `out_path` (H.264 mp4 at `fps`): each frame of the span with the people present drawn.
    Returns the number of frames written. Raises FramesPastTheEnd when the video ends before the span does."""
    first, end = config.frames or (0, None)
    info, frames = open_stream(Path(media_path), DecodeConfig(fps=fps, max_side_px=config.max_side_px))
    total = (end or _frame_count(media_path, fps)) - first
    own_renderer = renderer is None
    renderer = renderer or open_renderer()
    n_written = 0
    try:
        with atomic_write(Path(out_path)) as sink, av.open(sink, mode="w", format="mp4") as container:
            stream = None
            bar = tqdm(total=total, unit="frame", desc=f"render {Path(out_path).name}", disable=not progress)
            for frame in frames:
                if end is not None and frame.index >= end:
                    break
                if frame.index < first:
                    continue
                drawn = draw_frame(renderer, frame.rgb, frame.index, people, faces, (info.width, info.height),
                                   config.overlay, display_scale=frame.scale)
                if stream is None:
                    stream = container.add_stream("libx264", rate=_rate(fps), options={"crf": str(config.crf)})
                    stream.height, stream.width = drawn.shape[:2]
                    stream.pix_fmt = "yuv420p"
                for packet in stream.encode(av.VideoFrame.from_ndarray(drawn, format="rgb24")):
                    container.mux(packet)
                n_written += 1
                bar.update()
            bar.close()
            if stream is not None:
                for packet in stream.encode():
                    container.mux(packet)
            if end is not None and first + n_written < end:
                raise FramesPastTheEnd(f"{Path(media_path).name}: frames {first}..{end - 1} were asked for at "
                                       f"{fps:g} fps; the video ends after frame {first + n_written - 1}")
            if n_written == 0:
                raise FramesPastTheEnd(f"{Path(media_path).name}: no frame from {first} on (the video is shorter)")
    finally:
        if own_renderer:
            renderer.close()
    return n_written


def render_still(media_path: Path, fps: float, people: list[PersonSequence], faces: np.ndarray, frame_index: int,
                 config: VideoRenderConfig = VideoRenderConfig(), renderer: Renderer | None = None) -> np.ndarray:
    """Video frame `frame_index` (at `fps`) with the people present drawn: (H, W or 2W, 3) uint8."""
    info, frames = open_stream(Path(media_path), DecodeConfig(fps=fps, max_side_px=config.max_side_px))
    frame = next((f for f in frames if f.index == frame_index), None)
    if frame is None:
        raise FramesPastTheEnd(f"{Path(media_path).name}: no frame {frame_index} at {fps:g} fps "
                               f"(the video is shorter)")
    own_renderer = renderer is None
    renderer = renderer or open_renderer()
    try:
        return draw_frame(renderer, frame.rgb, frame_index, people, faces, (info.width, info.height), config.overlay,
                          display_scale=frame.scale)
    finally:
        if own_renderer:
            renderer.close()


def write_png(path: Path, rgb: np.ndarray) -> Path:
    with atomic_write(Path(path)) as sink:
        Image.fromarray(rgb).save(sink, format="PNG")
    return Path(path)


def _rate(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def _frame_count(media_path: Path, fps: float) -> int:
    """Frames the decoder will give at `fps` (for the progress bar only; estimated from the duration)."""
    try:
        with av.open(str(media_path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            seconds = float(stream.duration * stream.time_base) if stream.duration else (container.duration or 0) / 1e6
        return max(1, int(round(seconds * fps)))
    except (av.error.FFmpegError, OSError, IndexError):
        return 0
