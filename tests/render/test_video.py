"""A rendered mp4 decodes with the right frame count and size; a still is the same frame; a failed render
leaves no file."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from media.decode import DecodeConfig, open_stream
from render.overlay import OverlayConfig
from render.people import person_from_theta, with_vertices
from render.video import VideoRenderConfig, people_span, render_still, render_video, write_png
from tests_helpers import ffmpeg_exe
from train.params import mean_theta


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
                    "-t", "2", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def people(body):
    """Two people: one in frames 5..14, one in frames 8..19."""
    made = []
    for track_id, start, n, x in ((0, 5, 10, 110.0), (1, 8, 12, 220.0)):
        theta = mean_theta().repeat(n, 1)
        made.append(with_vertices(body, person_from_theta(track_id, start, np.tile([x, 120.0, 1.2], (n, 1)), theta)))
    return made


def decoded(path):
    info, frames = open_stream(path, DecodeConfig())
    return info, [f.rgb for f in frames]


def test_a_whole_video_and_a_span_with_a_side_view(clip, people, faces, renderer, tmp_path):
    out = tmp_path / "whole.mp4"
    assert render_video(clip, 10.0, people, faces, out, progress=False, renderer=renderer) == 20
    info, frames = decoded(out)
    assert (len(frames), info.width, info.height) == (20, 320, 240) and info.fps == pytest.approx(10.0)
    _, source = decoded(clip)
    changed = [np.abs(a.astype(int) - b).mean() for a, b in zip(frames, source)]
    assert max(changed[:5]) < 3 < min(changed[5:20])  # nobody before frame 5; someone from 5 on

    span = tmp_path / "span.mp4"
    config = VideoRenderConfig(overlay=OverlayConfig(side_view=True), frames=people_span(people), max_side_px=160)
    assert render_video(clip, 10.0, people, faces, span, config, progress=False, renderer=renderer) == 15
    info, frames = decoded(span)
    assert (len(frames), info.width, info.height) == (15, 320, 120)  # 160x120 frames, the side view beside

    still = render_still(clip, 10.0, people, faces, 9, VideoRenderConfig(max_side_px=None), renderer=renderer)
    png = write_png(tmp_path / "still.png", still)
    with Image.open(png) as image:
        assert image.size == (320, 240)
    _, whole = decoded(out)
    # The mp4's frame 9, up to compression (more of it at the torch renderer's hard edges), and no other.
    differences = [np.abs(frame.astype(int) - still).mean() for frame in whole]
    assert int(np.argmin(differences)) == 9 and differences[9] < 4


def test_asking_for_frames_past_the_end_fails_and_leaves_no_file(clip, people, faces, renderer, tmp_path):
    out = tmp_path / "late.mp4"
    with pytest.raises(ValueError, match="the video ends after frame 19"):
        render_video(clip, 10.0, people, faces, out, VideoRenderConfig(frames=(15, 30)), progress=False,
                     renderer=renderer)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no frame 25"):
        render_still(clip, 10.0, people, faces, 25, renderer=renderer)
