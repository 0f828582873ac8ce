"""The commit protocol: readers see whole committed units only, and re-done units replace their old rows."""
from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.compute as pc
import pytest
from hypothesis import given, settings, strategies as st

import manifests
from manifests import DatasetRoot, to_table, write_part
from manifests.store import list_parts, live_flushes, open_dataset, read_arrow, remove_orphan_parts
from manifests.tables import status_spec

SHOTS = manifests.SHOTS


def shots_of(video_ids, end_frame=50):
    n = len(video_ids)
    return to_table(SHOTS, dict(video_id=list(video_ids), shot=[0] * n, start_frame=[0] * n,
                                end_frame=[end_frame] * n, fps=[25.0] * n))


def write_status(root, flush_id, units, status="ok", version="1"):
    n = len(units)
    table = to_table(status_spec("pose"), dict(
        unit_id=list(units), stage=["pose"] * n, version=[version] * n, status=[status] * n,
        reason=[None if status == "ok" else "why"] * n, message=[None] * n, run_id=[flush_id[:2]] * n,
        flush_id=[flush_id] * n, finished_at=[datetime.now(timezone.utc)] * n, duration_s=[0.0] * n))
    write_part(root, status_spec("pose"), table, flush_id)


def test_a_data_part_without_status_is_invisible_and_removed_by_the_next_run(root):
    write_part(root, SHOTS, shots_of(["a", "b"]), "r1-000001")
    write_status(root, "r1-000001", ["a", "b"])
    write_part(root, SHOTS, shots_of(["c"]), "r1-000002")  # crash before its status part
    assert sorted(read_arrow(root, SHOTS)["video_id"].to_pylist()) == ["a", "b"]
    assert open_dataset(root, SHOTS).count_rows() == 2
    removed = remove_orphan_parts(root, "pose", [SHOTS])
    assert [p.name for p in removed] == ["part-r1-000002.parquet"]
    assert [p.name for p in list_parts(root, SHOTS)] == ["part-r1-000001.parquet"]


def test_a_redone_unit_replaces_its_old_rows(root):
    write_part(root, SHOTS, shots_of(["a", "b"], end_frame=50), "r1-000001")
    write_status(root, "r1-000001", ["a", "b"])
    write_part(root, SHOTS, shots_of(["b"], end_frame=99), "r2-000001")  # version 2 of unit b
    write_status(root, "r2-000001", ["b"], version="2")
    table = read_arrow(root, SHOTS).to_pandas().set_index("video_id")
    assert table.loc["a", "end_frame"] == 50
    assert table.loc["b", "end_frame"] == 99
    assert len(table) == 2
    assert open_dataset(root, SHOTS).to_table().num_rows == 2


def test_a_later_failure_keeps_the_good_rows_and_a_later_skip_hides_them(root):
    write_part(root, SHOTS, shots_of(["a", "b"]), "r1-000001")
    write_status(root, "r1-000001", ["a", "b"])
    write_status(root, "r2-000001", ["a"], status="failed", version="2")
    write_status(root, "r2-000002", ["b"], status="skipped", version="2")
    assert read_arrow(root, SHOTS)["video_id"].to_pylist() == ["a"]
    assert live_flushes(root, "pose").to_dict() == {"a": "r1-000001"}


def test_read_a_few_units_and_columns(root):
    write_part(root, SHOTS, shots_of(["a", "b", "c"]), "r1-000001")
    write_status(root, "r1-000001", ["a", "b", "c"])
    table = read_arrow(root, SHOTS, columns=["end_frame"], units=["c", "a"])
    assert table.column_names == ["end_frame"]
    assert table.num_rows == 2
    with pytest.raises(manifests.ManifestError, match=r"no columns \['colour'\]"):
        read_arrow(root, SHOTS, columns=["colour"])


def test_an_empty_table_reads_as_empty_with_its_schema(root):
    assert read_arrow(root, SHOTS).schema == SHOTS.schema
    assert read_arrow(root, SHOTS).num_rows == 0


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_an_interrupted_write_leaves_the_old_part_or_the_new_one_never_a_torn_one(tmp_path_factory, cut):
    """Simulate a crash at any byte of a part write: the temporary file is cut short, never renamed."""
    root = DatasetRoot(tmp_path_factory.mktemp("torn"))
    write_part(root, SHOTS, shots_of(["a"]), "r1-000001")
    write_status(root, "r1-000001", ["a"])
    # What a writer killed mid-write leaves: a prefix of a real part under the temporary name.
    full = root.table_dir(SHOTS) / "part-r1-000001.parquet"
    torn = root.table_dir(SHOTS) / ".tmp-part-r2-000001.parquet"
    torn.write_bytes(full.read_bytes()[:cut])
    assert read_arrow(root, SHOTS)["video_id"].to_pylist() == ["a"]
    assert pc.sum(read_arrow(root, SHOTS)["end_frame"]).as_py() == 50
    remove_orphan_parts(root, "pose", [SHOTS])
    assert not torn.exists()


def test_read_part_gives_one_units_rows_from_one_file(root):
    write_part(root, SHOTS, shots_of(["a", "b", "c"]), "r1-000001")
    write_status(root, "r1-000001", ["a", "b", "c"])
    from manifests.store import part_path, read_part

    path = part_path(root, SHOTS, live_flushes(root, "pose")["b"])
    table = read_part(SHOTS, path, ["b"], ["video_id", "end_frame"])
    assert table.to_pylist() == [{"video_id": "b", "end_frame": 50}]


def write_stage_status(root, stage, flush_id, units, status="ok"):
    n = len(units)
    table = to_table(status_spec(stage), dict(
        unit_id=list(units), stage=[stage] * n, version=["1"] * n, status=[status] * n,
        reason=[None if status == "ok" else "why"] * n, message=[None] * n, run_id=[flush_id[:2]] * n,
        flush_id=[flush_id] * n, finished_at=[datetime.now(timezone.utc)] * n, duration_s=[0.0] * n))
    write_part(root, status_spec(stage), table, flush_id)


def test_an_importer_commits_units_of_its_own_and_the_latest_attempt_of_any_writer_wins(root):
    assert SHOTS.producers == ("pose", "import", "remove")
    write_part(root, SHOTS, shots_of(["ours"], end_frame=10), "r1-000001")
    write_stage_status(root, "pose", "r1-000001", ["ours"])
    write_part(root, SHOTS, shots_of(["theirs", "both"], end_frame=20), "r2-000001")
    write_stage_status(root, "import", "r2-000001", ["theirs", "both"])
    write_part(root, SHOTS, shots_of(["both"], end_frame=30), "r3-000001")  # our stage redoes one later
    write_stage_status(root, "pose", "r3-000001", ["both"])
    # The pose stage's next run must not take the importer's committed part for an orphan.
    assert remove_orphan_parts(root, "pose", [SHOTS]) == []
    table = read_arrow(root, SHOTS).to_pandas().set_index("video_id")["end_frame"].to_dict()
    assert table == {"ours": 10, "theirs": 20, "both": 30}
    write_stage_status(root, "import", "r4-000001", ["theirs"], status="skipped")  # e.g. removed later
    assert sorted(read_arrow(root, SHOTS)["video_id"].to_pylist()) == ["both", "ours"]
