"""Streaming decode and hard-cut detection on real footage of people."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from media.decode import DecodeConfig, open_stream
from media.probe import VideoError, probe_video
from pseudolabel.shots import CutDetector, ShotConfig

DATA = Path(__file__).resolve().parents[1] / "data"


def decode_all(path, **config):
    info, frames = open_stream(path, DecodeConfig(**config))
    return info, [f for f in frames]


def test_decode_gives_every_frame_at_the_native_rate():
    info, frames = decode_all(DATA / "people_a.mp4")
    assert (info.fps, info.width, info.height) == (10.0, 768, 576)
    assert [f.index for f in frames] == list(range(80))
    assert frames[0].rgb.shape == (576, 768, 3) and frames[0].rgb.dtype == np.uint8


@pytest.mark.parametrize("fps, expected", [(5.0, 40), (25.0, 200)])
def test_resampling_by_time(fps, expected):
    info, frames = decode_all(DATA / "people_a.mp4", fps=fps)
    assert info.fps == fps
    assert abs(len(frames) - expected) <= 2
    assert frames[-1].time_s == pytest.approx((len(frames) - 1) / fps)


def test_downscale_keeps_the_scale_to_map_back():
    _, frames = decode_all(DATA / "people_a.mp4", max_side_px=384)
    assert frames[0].rgb.shape == (288, 384, 3)
    assert frames[0].scale == pytest.approx(2.0)


def test_unusable_files_raise_with_the_reason(tmp_path, clips):
    with pytest.raises(VideoError, match="not a readable media file"):
        decode_all(clips["corrupt"])
    with pytest.raises(VideoError, match="no video stream"):
        decode_all(clips["audio_only"])
    with pytest.raises(VideoError):
        decode_all(clips["truncated"])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError):
        decode_all(empty)


def test_a_variable_frame_rate_file_gives_evenly_spaced_frames(tmp_path):
    from tests_helpers import ffmpeg_exe  # noqa: F401 - see conftest

    vfr = tmp_path / "vfr.mp4"
    # 2 s at 25 fps then 2 s at 5 fps, with real timestamps (-fps_mode vfr keeps them uneven).
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                    "-t", "4", "-vf", "select='lt(t,2)+not(mod(n,5))'", "-fps_mode", "vfr", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(vfr)], check=True)
    info, frames = decode_all(vfr, fps=10.0)
    times = [f.time_s for f in frames]
    assert abs(len(frames) - 40) <= 2
    assert np.allclose(np.diff(times), 0.1)


def concatenate(parts: list[Path], out: Path) -> None:
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    from tests_helpers import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)


def detect_cuts(path: Path) -> list[int]:
    _, frames = open_stream(path, DecodeConfig())
    detector = CutDetector(ShotConfig())
    for frame in frames:
        detector.add(frame.index, frame.rgb)
    return detector.cuts


def test_hard_cuts_in_an_edited_video_of_real_clips(tmp_path):
    parts = [DATA / n for n in ("people_a.mp4", "angle_zoom.mp4", "people_c.mp4", "angle_mirror.mp4", "people_d.mp4")]
    edited = tmp_path / "edited.mp4"
    concatenate(parts, edited)
    truth = [80, 160, 240, 320]
    found = detect_cuts(edited)
    hits = [c for c in found if any(abs(c - t) <= 1 for t in truth)]
    precision = len(hits) / len(found) if found else 0.0
    recall = len({t for t in truth if any(abs(c - t) <= 1 for c in found)}) / len(truth)
    print(f"shot cuts: found {found}, truth {truth}: precision {precision:.2f}, recall {recall:.2f}")
    assert recall == 1.0 and precision == 1.0


def test_people_walking_in_one_shot_is_no_cut():
    assert detect_cuts(DATA / "people_b.mp4") == []


def test_probe_reads_the_real_clip():
    probe = probe_video(DATA / "people_a.mp4")
    assert (probe.width, probe.height, probe.codec, probe.n_frames) == (768, 576, "h264", 80)
    assert probe.duration_s == pytest.approx(8.0, abs=0.15)


def test_probe_catches_a_download_cut_short_even_with_its_index_up_front(tmp_path):
    """A faststart mp4 keeps its index at the start: it opens fine but its last frames are missing."""
    whole = (DATA / "people_a.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    for kept in (0.6, 0.97):  # 0.97: only its last few frames are missing
        cut.write_bytes(whole[: int(len(whole) * kept)])
        with pytest.raises(VideoError, match=r"truncated: no video packets in its last 0.5 s of 8.0 s"):
            probe_video(cut)


def test_a_millisecond_timebase_at_30_fps_gives_every_frame_once(tmp_path):
    """Matroska/WebM store times in whole milliseconds: frame 2 of a 30 fps clip says 0.067 s, just after its
    tick (0.0667 s). Before: frame 1 was shown at tick 2 too, and frame 2 was dropped (a third of frames)."""
    import av

    path = tmp_path / "ms.mkv"
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"qscale": "2"}
        for index in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 + 7 * index, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as check:
        assert check.streams.video[0].time_base.denominator == 1000  # the case this test is about
    levels = [float(frame.rgb.mean()) for frame in decode_all(path)[1]]
    assert len(levels) == 30
    assert np.all(np.diff(levels) > 3), np.round(levels)  # every frame once, in order: none held over a tick
