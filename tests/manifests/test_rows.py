"""Typed row records: their fields are their table's columns, and their values are checked like any frame."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pytest

from manifests import SHOTS, SchemaError
from manifests.rows import DetectionRows, Rows, ShotRows, check_rows_type


def test_a_record_whose_fields_drift_from_its_table_is_refused():
    @dataclass(frozen=True, eq=False)
    class MisspeltShotRows(Rows):
        SPEC = SHOTS
        video_id: Sequence[str]
        shot: Sequence[int]
        start_frame: Sequence[int]
        end_frames: Sequence[int]  # the table's column is end_frame
        fps: Sequence[float]

    with pytest.raises(TypeError, match=r"MisspeltShotRows has fields .*'end_frames'.* table 'shots' has columns"):
        check_rows_type(MisspeltShotRows)
    check_rows_type(ShotRows)


def test_rows_become_a_table_of_their_spec_and_bad_values_name_the_unit_and_column():
    keypoints = np.arange(2 * 25 * 3, dtype=np.float32).reshape(2, 25, 3)
    rows = DetectionRows(video_id=["v", "v"], frame=np.array([0, 1]), person=[0, 0], keypoints=keypoints,
                         backend=["b"] * 2, backend_version=["1"] * 2)
    table = rows.to_table(source="unit 'v'")
    assert table.schema == rows.SPEC.schema and rows.n_rows == 2
    assert table["keypoints"][1].as_py() == keypoints[1].ravel().tolist()
    bad = ShotRows(video_id=["v"], shot=[0], start_frame=[0], end_frame=["ten"], fps=[25.0])
    with pytest.raises(SchemaError, match=r"table 'shots' \(unit 'v'\), column 'end_frame'"):
        bad.to_table(source="unit 'v'")
