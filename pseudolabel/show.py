"""An mp4 of a video with every detection's skeleton and track id drawn (hmmr-pseudolabel show)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd

from manifests.joints import N_BODY_25
from media.decode import DecodeConfig, open_stream
from pseudolabel.draw import draw_people


def render_tracks(media_path: Path, fps: float, detections: pd.DataFrame, out_path: Path,
                  max_side_px: int | None = 960) -> int:
    """Write `out_path` (H.264 mp4) with skeletons coloured and labelled by track id; returns frames written.

    detections: rows of one video with frame, keypoints (75) and track_id (-1 where untracked).
    """
    by_frame = {frame: group for frame, group in detections.groupby("frame")}
    info, frames = open_stream(media_path, DecodeConfig(fps=fps, max_side_px=max_side_px))
    n_written = 0
    with av.open(str(out_path), mode="w") as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=round(fps))
                stream.height, stream.width = frame.rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
            rows = by_frame.get(frame.index)
            people, ids = [], []
            if rows is not None:
                people = [np.asarray(k, np.float32).reshape(N_BODY_25, 3) / [frame.scale, frame.scale, 1.0]
                          for k in rows["keypoints"]]
                ids = rows["track_id"].astype(int).tolist()
            drawn = draw_people(frame.rgb, people, ids=ids)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(drawn), format="rgb24")):
                container.mux(packet)
            n_written += 1
        if stream is not None:
            for packet in stream.encode():
                container.mux(packet)
    return n_written
