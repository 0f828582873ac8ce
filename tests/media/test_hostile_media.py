"""Media a careless or hostile source hands us: frames claimed huge, clips stored sideways."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hostile_media import claim_frame_size, portrait_clip_stored_sideways
from media.decode import DecodeConfig, open_stream
from media.probe import VideoError, probe_video
from tests_helpers import ffmpeg_exe

REPO = Path(__file__).resolve().parents[2]


def shown_by_ffmpeg(path: Path, width: int, height: int) -> np.ndarray:
    """The frames as FFmpeg's own player pipeline shows them (it applies rotation metadata by default)."""
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


@pytest.mark.parametrize("rotation_deg", [90, 180, 270])
def test_a_clip_with_rotation_metadata_comes_out_upright(tmp_path, rotation_deg):
    clip = portrait_clip_stored_sideways(tmp_path / f"phone{rotation_deg}.mp4", rotation_deg, size="96x160")
    probe = probe_video(clip)
    assert (probe.width, probe.height, probe.rotation_deg) == (96, 160, rotation_deg)
    info, frames = open_stream(clip, DecodeConfig())
    frames = list(frames)
    assert (info.width, info.height) == (96, 160)
    expected = shown_by_ffmpeg(clip, 96, 160)
    assert len(frames) == len(expected) == 10
    for frame, shown in zip(frames, expected):
        assert frame.rgb.shape == (160, 96, 3) and frame.rgb.flags["C_CONTIGUOUS"]
        assert np.abs(frame.rgb.astype(int) - shown).mean() < 3.0
    # Downscaled frames are upright too, and the scale maps back to the shown size.
    _, small = open_stream(clip, DecodeConfig(max_side_px=80))
    first = next(iter(small))
    assert first.rgb.shape == (80, 48, 3) and first.scale == pytest.approx(2.0)


def run_isolated(code: str, *args: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter, so its peak memory is its own."""
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=60)


PEAK_MEMORY = """
import re, sys
from media.decode import DecodeConfig, open_stream
from media.probe import VideoError, probe_video
for name, attempt in (("probe", lambda: probe_video(sys.argv[1])),
                      ("decode", lambda: list(open_stream(sys.argv[1], DecodeConfig())[1]))):
    try:
        attempt()
        print(name, "ACCEPTED")
    except VideoError as e:
        print(name, "REFUSED", e)
# The peak of this process's own memory (getrusage's would count the parent's, from before the exec).
print("PEAK_MB", int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) // 1024)
"""


def test_frames_claimed_huge_are_refused_before_any_decode(tmp_path):
    """A 40 KB file whose header claims 16000x16000 frames: FFmpeg would allocate ~0.4 GB per frame (and
    decodes while it opens the file); the probe and the decoder refuse it with the size and the limit,
    in a process that stays small."""
    huge = claim_frame_size(tmp_path / "huge.mp4", 16000, 16000)
    assert huge.stat().st_size < 200_000
    done = run_isolated(PEAK_MEMORY, str(huge))
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    for name in ("probe", "decode"):
        assert lines[name].startswith("REFUSED"), lines
        assert "frames of 16000x16000 (256 MP) are larger than --max-frame-pixels 33177600" in lines[name]
    assert int(lines["PEAK_MB"]) < 250, lines  # interpreter, numpy and PyAV: ~100 MB


def test_the_pixel_limit_is_a_setting(tmp_path):
    clip = portrait_clip_stored_sideways(tmp_path / "phone.mp4", 90, size="96x160")
    with pytest.raises(VideoError, match=r"96x160|160x96"):
        probe_video(clip, max_frame_pixels=96 * 160 - 1)
    with pytest.raises(VideoError, match="--max-frame-pixels 15359"):
        open_stream(clip, DecodeConfig(max_frame_pixels=96 * 160 - 1))
    assert probe_video(clip, max_frame_pixels=96 * 160).width == 96
