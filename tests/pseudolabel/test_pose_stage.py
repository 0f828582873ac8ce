"""The pose stage through the real runner: harvested clips of people -> shots + detections tables."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests import DETECTIONS, SHOTS, latest_status, read_table
from pipelines.dask_scheduler import DaskScheduler
from pipelines.pseudolabel import pose_payloads, pose_stage
from pipelines.runner import RunnerConfig, run_stage
from pseudolabel.backends import BackendSpec
from media.decode import DecodeConfig
from pseudolabel.work import PoseStageConfig
from tests_helpers import harvest_clips

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[1] / "data"
STANDIN = Path(__file__).resolve().parent / "standin"
RUNNER = RunnerConfig(flush_every_units=2, progress=False)
NAMES = ("people_a", "people_b", "angle_zoom", "people_c")


@pytest.fixture
def harvested(client, root, tmp_path):
    """A root whose videos table holds four real clips of people."""
    return harvest_clips(client, root, NAMES, tmp_path, RUNNER)


def test_pose_stage_on_real_clips_with_broken_files_and_an_incremental_rerun(client, harvested):
    root = harvested
    # The disk goes bad after harvest: one file is cut in half, one overwritten with garbage.
    cut = root.path / "media" / "generic-people_c.mp4"
    cut.write_bytes(cut.read_bytes()[:30_000])
    (root.path / "media" / "generic-people_b.mp4").write_bytes(b"\x00" * 5000)

    config = PoseStageConfig(backend=BackendSpec("blazepose", (("tile_px", 256),)), decode=DecodeConfig(fps=2.5))
    stats = run_stage(DaskScheduler(client), root, pose_stage(config), pose_payloads(root), RUNNER)
    assert (stats.n_ok, stats.n_failed) == (2, 2)
    status = latest_status(root, "pose")
    assert status.loc["generic-people_b", "reason"] == "VideoError"
    assert "not a readable media file" in status.loc["generic-people_b", "message"]
    assert status.loc["generic-people_c", "status"] == "failed"
    assert stats.counters["frames"] == 2 * 20  # 8 s at 2.5 fps, for each of the 2 good clips

    shots = read_table(root, SHOTS).set_index("video_id")
    assert shots.loc["generic-people_a", "end_frame"] == 20 and shots.loc["generic-people_a", "fps"] == 2.5
    detections = read_table(root, DETECTIONS)
    assert set(detections["video_id"]) == {"generic-people_a", "generic-angle_zoom"}
    per_frame = detections.groupby(["video_id", "frame"]).size()
    assert per_frame.max() <= 8 and per_frame.mean() >= 1.5
    keypoints = np.stack(detections["keypoints"].to_numpy()).reshape(-1, 25, 3)
    assert keypoints[..., 0].max() <= 778 and keypoints[..., 1].max() <= 586
    assert (detections["backend"] == "blazepose").all()
    assert not detections.duplicated(["video_id", "frame", "person"]).any()

    again = run_stage(DaskScheduler(client), root, pose_stage(config), pose_payloads(root), RUNNER)
    assert (again.n_due, again.n_already_done, again.n_failed_not_retried) == (0, 2, 2)


def test_openpose_adapter_rows_through_the_stage(client, harvested, tmp_path):
    import sys

    sys.path.insert(0, str(STANDIN))
    try:
        import pyopenpose as standin
    finally:
        sys.path.remove(str(STANDIN))
    weights = tmp_path / "models" / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    backend = BackendSpec("openpose", (("model_folder", str(tmp_path / "models")), ("python_path", str(STANDIN))))
    config = PoseStageConfig(backend=backend, decode=DecodeConfig(fps=1.0))
    units = [unit for unit in pose_payloads(harvested) if unit.unit_id == "generic-people_a"]
    stats = run_stage(DaskScheduler(client), harvested, pose_stage(config), units, RUNNER)
    assert stats.n_ok == 1, stats.failures

    detections = read_table(harvested, DETECTIONS)
    from media.decode import open_stream

    _, frames = open_stream(DATA / "people_a.mp4", DecodeConfig(fps=1.0))
    expected_rows = []
    for frame in frames:
        people = standin.expected_keypoints(np.ascontiguousarray(frame.rgb[..., ::-1]))
        for person, keypoints in enumerate([] if people is None else people):
            expected_rows.append((frame.index, person, keypoints.ravel()))
    assert len(detections) == len(expected_rows) > 0
    for (frame, person, keypoints), (_, row) in zip(expected_rows, detections.sort_values(["frame", "person"]).iterrows()):
        assert (row["frame"], row["person"]) == (frame, person)
        np.testing.assert_array_equal(row["keypoints"], keypoints)
    assert (detections["backend"] == "openpose").all()
    assert (detections["backend_version"] == "openpose-body25--1x368").all()
