"""hmmr-pseudolabel's pose + tracking stages on a real clip: tracks and tubes tables, incremental."""
from __future__ import annotations

import numpy as np
import pytest

from manifests import DETECTIONS, TRACKS, TUBES, read_table
from pipelines.pseudolabel import pseudolabel
from pipelines.runner import RunnerConfig
from pseudolabel.backends import BackendSpec
from pseudolabel.work import PoseStageConfig
from tests_helpers import harvest_clips

pytestmark = pytest.mark.slow
RUNNER = RunnerConfig(progress=False)


def test_pose_then_tracking_makes_tubes_and_a_rerun_does_nothing(client, root, tmp_path):
    harvest_clips(client, root, ["angle_zoom"], tmp_path)
    pose = PoseStageConfig(backend=BackendSpec("blazepose", (("tile_px", 256),)))
    pose_stats, tracking_stats = pseudolabel(client, root, pose, RUNNER)
    assert pose_stats.n_ok == 1 and tracking_stats.n_ok == 1

    detections = read_table(root, DETECTIONS)
    tracks = read_table(root, TRACKS)
    assert len(tracks) == len(detections)
    assert not tracks[tracks["track_id"] >= 0].duplicated(["frame", "track_id"]).any()  # ids unique within a frame
    tubes = read_table(root, TUBES)
    print(f"{len(detections)} detections, {tracks['track_id'].nunique()} tracks, {len(tubes)} tubes "
          f"of {tubes['n_frames'].tolist()} frames; stats {tracking_stats.counters}")
    assert len(tubes) >= 1
    tube = tubes.iloc[0]
    assert tube["n_frames"] >= 40 and tube["end_frame"] - tube["start_frame"] == tube["n_frames"]
    assert len(tube["keypoints"]) == tube["n_frames"] and len(tube["keypoints"][0]) == 75
    bbox = np.stack(tube["bbox"])
    assert bbox.shape == (tube["n_frames"], 3) and (bbox[:, 2] > 0.5).all()  # people 120-200 px -> scale ~1
    assert tube["tube_id"] == f"generic-angle_zoom-t{tube['track_id']}-{tube['start_frame']}"
    assert tube["dataset"] == "vlog" and tube["fps"] == 10.0
    assert tracking_stats.counters["tubes"] == len(tubes)

    again = pseudolabel(client, root, pose, RUNNER)
    assert [s.n_due for s in again] == [0, 0]
