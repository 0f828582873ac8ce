"""Every table round-trips through a real Parquet part; bad frames are refused with a precise message."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

import manifests
from manifests import DatasetRoot, SchemaError, to_table, write_part
from manifests.joints import KEYPOINT_WIDTH
from manifests.store import read_arrow
from manifests.tables import DATA_TABLES, status_spec


def example_frame(name: str, n: int = 3) -> pd.DataFrame:
    """Rows of a table as a stage would produce them (video ids v0, v1, ...)."""
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(n)]
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    keypoints = [rng.random(KEYPOINT_WIDTH, dtype=np.float32) for _ in range(n)]
    frames = {
        "entries": dict(query_id=["insta:#dance"] * n, query=["#dance"] * n, dataset=["insta"] * n,
                        position=list(range(n)), video_id=ids, url=[f"http://x/{i}.mp4" for i in ids],
                        webpage_url=["http://x/tags/dance/"] * n, extractor=["Generic"] * n, title=[None] * n,
                        enumerated_at=[now] * n),
        "videos": dict(video_id=ids, dataset=["insta"] * n, query=["#dance"] * n, url=[f"http://x/{i}" for i in ids],
                       webpage_url=[None] * n, media_path=[f"media/{i}.mp4" for i in ids], sha256=["ab" * 32] * n,
                       n_bytes=[1000] * n, duration_s=[2.5] * n, fps=[25.0] * n, width=[640] * n, height=[360] * n,
                       codec=["h264"] * n, uploader=["someone"] * n, upload_date=["20260101"] * n, license=[None] * n,
                       title=["a title"] * n, harvested_at=[now] * n, split=[manifests.split_of(i) for i in ids]),
        "shots": dict(video_id=ids, shot=[0] * n, start_frame=[0] * n, end_frame=[50] * n, fps=[25.0] * n),
        "detections": dict(video_id=["v0"] * n, frame=list(range(n)), person=[0] * n, keypoints=keypoints,
                           backend=["test"] * n, backend_version=["1"] * n),
        "tracks": dict(video_id=["v0"] * n, frame=list(range(n)), person=[0] * n, track_id=[7] * n, shot=[0] * n),
        "tubes": dict(tube_id=[f"{i}-t0-0" for i in ids], video_id=ids, dataset=["insta"] * n, split=["train"] * n,
                      track_id=[0] * n, shot=[0] * n, start_frame=[0] * n, end_frame=[40] * n, n_frames=[40] * n,
                      fps=[25.0] * n, keypoints=[rng.random((40, KEYPOINT_WIDTH)) for _ in range(n)],
                      bbox=[rng.random((40, 3)) for _ in range(n)], mean_confidence=[0.5] * n,
                      mean_visible_joints=[20.0] * n),
        "features": dict(tube_id=[f"{i}-t0-0" for i in ids], video_id=ids, view=[0] * n, n_frames=[2] * n,
                         bbox=[rng.random((2, 3)) for _ in range(n)], flipped=[False] * n,
                         features=[rng.random((2, 2048)) for _ in range(n)],
                         extractor=["resnet50"] * n, extractor_version=["1"] * n, tubes_flush=["f1"] * n),
        # One tube with 3D joints and SMPL (a Human3.6M-like import), the others 2D only (Penn Action-like).
        "targets": dict(tube_id=[f"{i}-t0-0" for i in ids], video_id=ids,
                        keypoints=[rng.random((4, 75)) for _ in range(n)],
                        joints_3d=[rng.random((4, 42)) if i == 0 else None for i in range(n)],
                        pose=[rng.random((4, 72)) if i == 0 else None for i in range(n)],
                        shape=[rng.random(10) if i == 0 else None for i in range(n)],
                        source=["test"] * n),
        # A VLOG clip with its segment, an InstaVariety post with its official split, a plain listed URL.
        "sources": dict(video_id=ids, source_id=["0_0_I_v_LdhYI_Pq00I_021_", "golf/4529_n", "x"], list_name=["l"] * n,
                        dataset=["vlog", "insta", "vlog"], url=[f"http://x/{i}" for i in ids],
                        split=[None, "test", None], start_frame=[120, None, None], end_frame=[480, None, None],
                        metadata=[None, '{"shortcode": "B1"}', None], recorded_at=[now] * n),
        # A harvested video taken down, one never harvested (no URL known), one found by a tag page.
        "tombstones": dict(video_id=ids, url=["http://x/v0.mp4", "", "http://x/v2.mp4"],
                           webpage_url=[None, None, "http://x/tags/dance/"], reason=["creator's request"] * n,
                           selector=["id:v0", "id:v1", "query:#dance"], removed_at=[now] * n),
    }
    return pd.DataFrame(frames[name])


def commit(root: DatasetRoot, spec, table, flush_id: str, units) -> None:
    """Write a data part and the status rows that commit it, as the runner does."""
    write_part(root, spec, table, flush_id)
    n = len(units)
    status = to_table(status_spec(spec.producer), dict(
        unit_id=list(units), stage=[spec.producer] * n, version=["1"] * n, status=["ok"] * n, reason=[None] * n,
        message=[None] * n, run_id=["r"] * n, flush_id=[flush_id] * n,
        finished_at=[datetime.now(timezone.utc)] * n, duration_s=[0.1] * n))
    write_part(root, status_spec(spec.producer), status, flush_id)


@pytest.mark.parametrize("name", sorted(DATA_TABLES))
def test_every_table_round_trips_through_parquet(root, name):
    spec = DATA_TABLES[name]
    frame = example_frame(name)
    table = to_table(spec, frame)
    commit(root, spec, table, "r1-000001", frame[spec.unit_column].unique())
    back = read_arrow(root, spec)
    assert back.schema == spec.schema
    assert back.num_rows == len(frame)
    assert back.equals(table)
    # Readable as-is by plain pandas/pyarrow, as DESIGN.md promises.
    plain = pd.read_parquet(root.table_dir(spec))
    assert len(plain) == len(frame)


def test_keypoints_from_a_matrix_keep_their_values(root):
    spec = manifests.DETECTIONS
    keypoints = np.arange(2 * 25 * 3, dtype=np.float32).reshape(2, 25, 3)
    table = to_table(spec, dict(video_id=["v", "v"], frame=[0, 1], person=[0, 0], keypoints=keypoints,
                                backend=["b", "b"], backend_version=["1", "1"]))
    stored = np.stack(table["keypoints"].to_numpy(zero_copy_only=False))
    np.testing.assert_array_equal(stored.reshape(2, 25, 3), keypoints)


def test_missing_column_is_named():
    frame = example_frame("shots").drop(columns=["end_frame"])
    with pytest.raises(SchemaError, match=r"table 'shots'.*missing columns \['end_frame'\]"):
        to_table(manifests.SHOTS, frame)


def test_unknown_column_is_named():
    frame = example_frame("shots").assign(colour="red")
    with pytest.raises(SchemaError, match=r"unknown columns \['colour'\]"):
        to_table(manifests.SHOTS, frame)


def test_wrong_dtype_names_column_and_expected_type():
    frame = example_frame("shots")
    frame["start_frame"] = ["zero", "one", "two"]
    with pytest.raises(SchemaError, match=r"column 'start_frame': expected int64, found .*'zero'"):
        to_table(manifests.SHOTS, frame, source="shots of clip.mp4")


def test_fractional_frame_index_is_not_silently_truncated():
    frame = example_frame("shots")
    frame["end_frame"] = [50.5, 50.0, 50.0]
    with pytest.raises(SchemaError, match="column 'end_frame'"):
        to_table(manifests.SHOTS, frame)


def test_null_key_names_the_row():
    frame = example_frame("videos")
    frame.loc[1, "video_id"] = None
    with pytest.raises(SchemaError, match=r"column 'video_id': null at row 1"):
        to_table(manifests.VIDEOS, frame)


def test_duplicate_key_names_the_key_and_rows():
    frame = example_frame("tracks")
    frame.loc[2, "frame"] = 1
    with pytest.raises(SchemaError, match=r"duplicate key \{'video_id': 'v0', 'frame': 1, 'person': 0\} at rows \[1, 2\]"):
        to_table(manifests.TRACKS, frame)


def test_a_key_unique_only_as_a_whole_is_unique():
    # No column of (video_id, frame, person) is unique by itself here, yet every row's key is distinct.
    frame = pd.DataFrame({**{c: example_frame("tracks")[c].iloc[[0] * 4].to_list() for c in manifests.TRACKS.columns},
                          "video_id": ["a", "a", "b", "b"], "frame": [0, 1, 0, 1], "person": [0, 0, 0, 0]})
    assert to_table(manifests.TRACKS, frame).num_rows == 4
    frame.loc[3, "video_id"] = "a"
    with pytest.raises(SchemaError, match=r"duplicate key \{'video_id': 'a', 'frame': 1, 'person': 0\} at rows \[1, 3\]"):
        to_table(manifests.TRACKS, frame)


def test_wrong_keypoint_length_names_the_row():
    frame = example_frame("detections")
    frame.at[2, "keypoints"] = np.zeros(54, dtype=np.float32)  # an 18-joint COCO array, not BODY_25
    with pytest.raises(SchemaError, match=r"column 'keypoints': row 2 holds 54 values, expected 75"):
        to_table(manifests.DETECTIONS, frame)


def test_wrong_keypoint_matrix_shape_is_refused():
    with pytest.raises(SchemaError, match=r"each row must hold 75 values, found shape \(2, 18, 3\)"):
        to_table(manifests.DETECTIONS, dict(video_id=["v", "v"], frame=[0, 1], person=[0, 0],
                                             keypoints=np.zeros((2, 18, 3)), backend=["b"] * 2,
                                             backend_version=["1"] * 2))


def test_a_part_with_another_schema_is_refused_on_read(root):
    spec = manifests.SHOTS
    commit(root, spec, to_table(spec, example_frame("shots")), "r1-000001", ["v0", "v1", "v2"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = root.table_dir(spec) / "part-r0-000001.parquet"
    pq.write_table(pa.table({"video_id": ["x"], "shot": [0.5]}), bad)
    status = to_table(status_spec("pose"), dict(
        unit_id=["x"], stage=["pose"], version=["1"], status=["ok"], reason=[None], message=[None], run_id=["r0"],
        flush_id=["r0-000001"], finished_at=[datetime.now(timezone.utc)], duration_s=[0.0]))
    write_part(root, status_spec("pose"), status, "r0-000001")
    with pytest.raises(SchemaError, match=r"part .*part-r0-000001.parquet does not match.*column 'shot' is double"):
        read_arrow(root, spec)


@pytest.mark.parametrize("name", sorted(DATA_TABLES))
def test_a_unit_with_no_rows_gives_an_empty_table(name):
    """A video with no tubes (or no detections) is a normal outcome, not a schema error."""
    spec = DATA_TABLES[name]
    table = to_table(spec, {column: [] for column in spec.columns})
    assert table.num_rows == 0 and table.schema == spec.schema


def test_a_unit_with_no_rows_given_as_empty_arrays_gives_an_empty_table():
    """A pose unit where nobody was found hands (0, 75) keypoints; that used to fail the unit."""
    spec = DATA_TABLES["detections"]
    table = to_table(spec, {"video_id": [], "frame": np.zeros(0, np.int64), "person": np.zeros(0, np.int32),
                            "keypoints": np.zeros((0, KEYPOINT_WIDTH), np.float32), "backend": [], "backend_version": []})
    assert table.num_rows == 0 and table.schema == spec.schema
