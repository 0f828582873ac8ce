"""Regenerate the committed clips of real people from OpenCV's vtest.avi (see ../shared/data/README.md).

    python tests/data/cut_clips.py ../shared/data/vtest.avi

vtest.avi: pedestrians on a campus path, 768x576, 10 fps. Each clip is 8 s re-encoded to H.264 mp4
(CRF 30, faststart), small enough to commit, so tests and `make demo` have real people on a fresh clone.
`angle*.mp4` are crops of the same footage at another framing, used to build edited videos with hard cuts.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg

HERE = Path(__file__).resolve().parent
CLIPS = {
    # name: (start second, extra video filter)
    "people_a.mp4": (0, None),
    "people_b.mp4": (20, None),
    "people_c.mp4": (40, None),
    "people_d.mp4": (60, None),
    "angle_zoom.mp4": (10, "crop=384:288:300:100,scale=768:576"),
    "angle_mirror.mp4": (50, "hflip,crop=576:432:96:72,scale=768:576"),
}


def main(source: str) -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, (start_s, video_filter) in CLIPS.items():
        command = [ffmpeg, "-loglevel", "error", "-y", "-ss", str(start_s), "-i", source, "-t", "8", "-an",
                   "-c:v", "libx264", "-preset", "slow", "-crf", "30", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
        if video_filter:
            command += ["-vf", video_filter]
        subprocess.run([*command, str(HERE / name)], check=True)
        print(f"{name}: {(HERE / name).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE.parents[2] / "shared" / "data" / "vtest.avi"))
