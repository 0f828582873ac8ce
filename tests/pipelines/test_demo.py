"""`make demo` end to end: harvest + pseudolabel twice through the real CLIs; round two does only new videos."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from manifests import DETECTIONS, FEATURES, SHOTS, TRACKS, TUBES, VIDEOS, DatasetRoot, read_table

pytestmark = pytest.mark.slow


def test_demo_grows_the_dataset_incrementally(tmp_path):
    root = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "demo.run", "--root", str(root)], capture_output=True,
                            cwd=Path(__file__).resolve().parents[2],
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    dataset = DatasetRoot(root)
    assert sorted(read_table(dataset, VIDEOS)["video_id"]) == [
        "generic-angle_zoom", "generic-people_a", "generic-people_b", "generic-people_c"]
    tubes = read_table(dataset, TUBES)
    assert len(tubes) >= 2
    # Every table has rows for every video that reached it, and the tables agree with each other.
    shots, detections = read_table(dataset, SHOTS), read_table(dataset, DETECTIONS)
    tracks, features = read_table(dataset, TRACKS), read_table(dataset, FEATURES)
    assert set(shots["video_id"]) == set(detections["video_id"]) == set(read_table(dataset, VIDEOS)["video_id"])
    assert (shots.groupby("video_id")["end_frame"].max() == 80).all()  # 8 s at 10 fps each
    assert len(tracks) == len(detections) > 100
    assert sorted(features.loc[features["view"] == 0, "tube_id"]) == sorted(tubes["tube_id"])
    assert (features.groupby("tube_id")["view"].nunique() == 2).all()  # the demo makes one jittered view
    assert (features["n_frames"].to_numpy() == tubes.set_index("tube_id").loc[features["tube_id"], "n_frames"].to_numpy()).all()

    runs = [json.loads(p.read_text()) for p in sorted(dataset.runs_dir.glob("*/stats.json"))]
    by_stage = {}
    for stats in runs:
        by_stage.setdefault(stats["stage"], []).append(stats)
    for stage in ("harvest", "pose", "tracking"):
        first, second = by_stage[stage]
        assert (first["n_ok"], second["n_ok"], second["n_already_done"]) == (2, 2, 2), stage
    first, second = by_stage["features"]  # a unit is a video with tubes
    assert second["n_already_done"] == first["n_ok"] and first["n_ok"] + second["n_ok"] == tubes["video_id"].nunique()
    assert (root / "runs" / "demo-train" / "checkpoint.pt").is_file()
    assert "tubes" in result.stdout and "round 2" in result.stdout and "SMPL-FORMAT TEST MODEL" in result.stdout
