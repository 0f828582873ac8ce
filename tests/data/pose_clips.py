"""Run the default pose backend on the committed real clips, one npz per clip (frames, keypoints): the
real detections `python -m tracking.calibrate` measures joint spreads from and `python -m
tracking.evaluate --clips-cache` tracks (tracking/ must not import the pose stage, so this lives here).

    python tests/data/pose_clips.py ~/.cache/hmmr/tracking-calibration
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from pseudolabel.work import PoseStageConfig, pose_video

HERE = Path(__file__).resolve().parent
CLIPS = ("people_a.mp4", "people_b.mp4", "people_c.mp4", "people_d.mp4", "angle_zoom.mp4", "angle_mirror.mp4")


def main(out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    config = PoseStageConfig()
    backend = config.backend.build()
    for name in CLIPS:
        target = folder / (Path(name).stem + ".npz")
        if target.exists():
            continue
        pose = pose_video(HERE / name, backend, config)
        np.savez_compressed(target, frames=pose.frames, keypoints=pose.keypoints)
        print(f"{target}: {len(pose.frames)} detections in {pose.n_frames} frames")


if __name__ == "__main__":
    main(sys.argv[1])
