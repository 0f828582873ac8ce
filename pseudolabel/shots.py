"""Hard-cut detection, streaming: one small thumbnail per frame, a cut where the picture jumps.

Internet clips are edited; a tube must never span a cut. The score of a frame is the mean absolute
difference of its 32x18 HSV thumbnail to the previous frame's (as PySceneDetect's content detector
does); a cut is a score above `threshold` that is also `ratio` times the median of the recent scores, so
fast motion or a moving camera (uniformly high scores) does not cut, while an edit (a lone spike) does.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ShotConfig:
    threshold: float = 25.0  # mean |delta| over H, S, V in 0..255
    ratio: float = 3.0
    window: int = 15
    min_shot_frames: int = 5

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.ratio < 1 or self.window < 2 or self.min_shot_frames < 1:
            raise ValueError(f"ShotConfig needs threshold > 0, ratio >= 1, window >= 2, min_shot_frames >= 1: {self}")


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((32, 18), Image.Resampling.BILINEAR).convert("HSV"), np.float32)


class CutDetector:
    """Feed frames in order with `add`; `shots(n_frames)` gives [(start_frame, end_frame_exclusive)]."""

    def __init__(self, config: ShotConfig = ShotConfig()) -> None:
        self.config = config
        self.cuts: list[int] = []
        self._previous: np.ndarray | None = None
        self._recent: deque = deque(maxlen=config.window)

    def add(self, index: int, rgb: np.ndarray) -> None:
        current = thumbnail(rgb)
        if self._previous is not None:
            hue = np.abs(current[..., 0] - self._previous[..., 0])
            hue = np.minimum(hue, 256 - hue)  # hue is circular
            score = float((hue.mean() + np.abs(current[..., 1:] - self._previous[..., 1:]).mean() * 2) / 3)
            baseline = float(np.median(self._recent)) if self._recent else 0.0
            since_last = index - (self.cuts[-1] if self.cuts else 0)
            if (score > self.config.threshold and score > self.config.ratio * baseline
                    and since_last >= self.config.min_shot_frames):
                self.cuts.append(index)
            self._recent.append(score)
        self._previous = current

    def shots(self, n_frames: int) -> list[tuple[int, int]]:
        bounds = [0, *self.cuts, n_frames]
        return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def segment_frames(segments_s: list[tuple[float, float]], fps: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges at `fps` of time segments [start_s, end_s): a frame belongs to a segment
    when its time does (the authors' clip of a longer video, e.g. VLOG's)."""
    epsilon = 1e-6
    out = []
    for start_s, end_s in sorted(segments_s):
        start, end = int(np.ceil(start_s * fps - epsilon)), int(np.ceil(end_s * fps - epsilon))
        if end > start:
            out.append((start, end))
    return out


def restrict_shots(shots: list[tuple[int, int]], segments: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of `shots` inside `segments`; a segment's ends cut too, so no tube crosses out of a clip."""
    return [(max(a, s), min(b, e)) for a, b in shots for s, e in segments if min(b, e) > max(a, s)]
