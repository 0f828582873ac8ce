"""A VLOG clip's segment, recorded from VLOG's metadata, is the only part of its video that is posed,
and its ends are shot cuts (no tube leaves the clip)."""
from __future__ import annotations

from pathlib import Path

import pytest

from authors.sources import SourceItem
from manifests import DETECTIONS, SHOTS, read_table
from media.decode import DecodeConfig
from pipelines.pseudolabel import pseudolabel
from pipelines.runner import RunnerConfig
from pipelines.sources import record_sources
from pseudolabel.backends import BackendSpec
from pseudolabel.shots import restrict_shots, segment_frames
from pseudolabel.work import PoseStageConfig
from tests_helpers import harvest_clips

RUNNER = RunnerConfig(progress=False)
STANDIN = Path(__file__).resolve().parents[1] / "pseudolabel" / "standin"  # pyopenpose's API, instant answers


def test_segments_become_frame_ranges_and_cut_shots():
    assert segment_frames([(2.0, 4.0)], 5.0) == [(10, 20)]
    assert segment_frames([(0.5, 0.55)], 5.0) == []  # no frame's time falls inside
    assert restrict_shots([(0, 12), (12, 40)], [(10, 20), (30, 35)]) == [(10, 12), (12, 20), (30, 35)]


@pytest.mark.slow
def test_only_the_clip_is_posed_and_a_segment_given_later_redoes_the_video(client, root, tmp_path):
    harvest_clips(client, root, ["people_a"], tmp_path)  # 8 s at 10 fps
    video_id = "generic-people_a"
    weights = tmp_path / "models" / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    backend = BackendSpec("openpose", (("model_folder", str(tmp_path / "models")), ("python_path", str(STANDIN))))
    pose = PoseStageConfig(backend=backend, decode=DecodeConfig(fps=2.5))
    record_sources(root, [SourceItem(video_id, "0_0_I_v_LdhYI_Pq00I_021_", "vlog_ids.txt", "vlog", "u")],
                   RUNNER)  # a clip without a segment: the whole video
    pose_stats, _ = pseudolabel(client, root, pose, RUNNER)
    assert pose_stats.n_ok == 1 and read_table(root, DETECTIONS)["frame"].max() >= 15

    # VLOG's metadata arrives: the clip is frames 20..59 (inclusive 20..59 -> 2 s to 6 s at 10 fps).
    record_sources(root, [SourceItem(video_id, "0_0_I_v_LdhYI_Pq00I_021_", "vlog_ids.txt", "vlog", "u",
                                             start_frame=20, end_frame=60)], RUNNER)
    pose_stats, _ = pseudolabel(client, root, pose, RUNNER)
    assert pose_stats.n_ok == 1  # posed again, only the segment
    frames = read_table(root, DETECTIONS)["frame"]
    assert len(frames) and frames.min() >= 5 and frames.max() < 15  # 2 s..6 s at 2.5 fps: frames 5..14
    shots = read_table(root, SHOTS)
    assert shots["start_frame"].min() == 5 and shots["end_frame"].max() == 15
    assert [s.n_due for s in pseudolabel(client, root, pose, RUNNER)] == [0, 0]
