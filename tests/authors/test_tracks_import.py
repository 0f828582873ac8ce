"""The authors' OpenPose tracks imported as detections/tracks of a harvested video, then cut into tubes
by the tracking stage without re-linking, and never re-detected by the pose stage."""
from __future__ import annotations

import json

import numpy as np
import pytest

from authors.sources import SourceItem
from authors.tracks import TracksError, body25_name, read_video_tracks
from manifests import DETECTIONS, TRACKS, TUBES, VIDEOS, read_table
from manifests.joints import BODY_25
from pipelines.authors_import import import_tracks
from pipelines.pseudolabel import pseudolabel
from pipelines.runner import RunnerConfig
from pipelines.sources import record_sources
from pseudolabel.backends import BackendSpec
from pseudolabel.work import PoseStageConfig
from tests_helpers import harvest_clips

RUNNER = RunnerConfig(progress=False)
# The authors' spelling of OpenPose's joints, as their JSON files key them (their 'Hip' is the mid hip).
AUTHORS_NAMES = ["Nose", "Neck", "R Shoulder", "R Elbow", "R Wrist", "L Shoulder", "L Elbow", "L Wrist", "Hip",
                 "R Hip", "R Knee", "R Ankle", "L Hip", "L Knee", "L Ankle", "R Eye", "L Eye", "R Ear", "L Ear",
                 "L Big Toe", "L Small Toe", "L Heel", "R Big Toe", "R Small Toe", "R Heel"]


def write_track(folder, frames, x0, json_track_id, rng):
    """One track folder: a JSON per frame with every joint by name, a person standing at x0."""
    folder.mkdir(parents=True)
    for frame in frames:
        record = {"frame": int(frame), "imloc": f"{frame + 1:06d}.jpg", "track_id": json_track_id,
                  "bbox": {"xmin": x0 - 40.0, "ymin": 100.0, "xmax": x0 + 40.0, "ymax": 400.0}}
        for j, name in enumerate(AUTHORS_NAMES):
            record[name] = {"x": x0 + 3.0 * np.sin(j) + frame * 0.5, "y": 100.0 + 12 * j + rng.normal(0, 0.5),
                            "logits": 0.05 if name == "L Small Toe" else 0.8, "probability": None}
        record["Head"] = {"x": 0.0, "y": 0.0, "logits": 0.0, "probability": None}
        (folder / f"{frame + 1:06d}.json").write_text(json.dumps(record))


def test_joint_names_map_to_body25_by_name():
    assert [body25_name(n) for n in AUTHORS_NAMES] == list(BODY_25)
    assert body25_name("Head") is None and body25_name("RBigToe") == "right_big_toe"
    with pytest.raises(TracksError, match="'R Tail' is not an OpenPose BODY_25 joint"):
        body25_name("R Tail")


@pytest.mark.slow
def test_imported_tracks_become_tubes_without_relinking_and_are_never_posed(client, root, tmp_path):
    harvest_clips(client, root, ["people_a"], tmp_path)
    video_id = "generic-people_a"
    record_sources(root, [SourceItem(video_id, "golf/45291523_n", "InstaVariety.json", "vlog",
                                             "http://x/people_a.mp4")], RUNNER)
    rng = np.random.default_rng(0)
    tracks_root = tmp_path / "InstaVariety_tracks"
    # Two people, both with the JSON track_id 0 (not unique: their folders are the ids), the second one
    # with a gap the tube keeps; and a folder of a video nobody harvested.
    write_track(tracks_root / "golf" / "45291523_n" / "3", range(0, 60), 200.0, 0, rng)
    write_track(tracks_root / "golf" / "45291523_n" / "7", [f for f in range(10, 75) if f != 30], 500.0, 0, rng)
    write_track(tracks_root / "golf" / "not_harvested_n" / "0", range(5), 300.0, 0, rng)
    stats, plan = import_tracks(client, root, tracks_root, RUNNER)
    assert (stats.n_ok, stats.n_failed) == (1, 0), stats.failures
    assert plan.unknown == ["golf/not_harvested_n"]

    assert list(read_table(root, VIDEOS)["video_id"]) == [video_id]  # the harvested row, still live
    detections = read_table(root, DETECTIONS)
    assert len(detections) == 60 + 64 and set(detections["backend"]) == {"openpose-authors"}
    first = np.stack(detections.sort_values(["frame", "person"])["keypoints"].iloc[0]).reshape(25, 3)
    assert first[BODY_25.index("mid_hip"), 2] == pytest.approx(0.8)  # their 'Hip'
    assert first[BODY_25.index("left_small_toe"), 2] == pytest.approx(0.05)  # OpenPose's score as confidence
    tracks = read_table(root, TRACKS)
    assert sorted(tracks["track_id"].unique()) == [3, 7]

    pose_stats, tracking_stats = pseudolabel(client, root, PoseStageConfig(backend=BackendSpec("blazepose", ())),
                                             RUNNER)
    assert pose_stats.n_input == 0  # the import owns the video: no re-detection
    assert tracking_stats.n_ok == 1, tracking_stats.failures
    tubes = read_table(root, TUBES).sort_values("track_id")
    assert list(tubes["track_id"]) == [3, 7]  # their ids, not a re-linking's
    assert list(tubes["start_frame"]) == [0, 10] and list(tubes["n_frames"]) == [60, 65]
    gap = np.stack(tubes["keypoints"].iloc[1]).reshape(65, 25, 3)[30 - 10]
    assert (gap[:, 2] == 0).all()  # the frame the track missed, kept with confidence 0
    assert set(read_table(root, TRACKS)["track_id"]) == {3, 7}  # the tracking commit keeps them too
    again = pseudolabel(client, root, PoseStageConfig(backend=BackendSpec("blazepose", ())), RUNNER)
    assert [s.n_due for s in again] == [0, 0]


def test_a_frame_twice_in_one_track_names_the_folder(tmp_path):
    folder = tmp_path / "v" / "0"
    write_track(folder, [0, 1], 100.0, 0, np.random.default_rng(0))
    (folder / "000003.json").write_text((folder / "000002.json").read_text())
    with pytest.raises(TracksError, match=r"v/0: frame 1 appears in more than one JSON file"):
        read_video_tracks(tmp_path / "v")
