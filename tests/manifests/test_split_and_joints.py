from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from manifests import split_of
from manifests.joints import BODY_25, COCO_17, HMMR_25, coco17_from_body25, convert_joints, joint_index


def test_split_is_stable_and_about_90_5_5():
    assert split_of("youtube-abc") == split_of("youtube-abc")
    counts = Counter(split_of(f"instagram-{i}") for i in range(20_000))
    assert 0.88 < counts["train"] / 20_000 < 0.92
    assert 0.04 < counts["val"] / 20_000 < 0.06
    assert 0.04 < counts["test"] / 20_000 < 0.06


def test_split_values_are_pinned():
    # If these change, every existing dataset's splits change and test videos leak into training.
    not_train = {v: split_of(v) for v in (f"youtube-{i}" for i in range(60)) if split_of(v) != "train"}
    assert not_train == {"youtube-21": "val", "youtube-27": "test", "youtube-32": "test", "youtube-41": "val",
                         "youtube-50": "val"}


def test_coco17_indices_are_the_ones_in_the_design():
    assert coco17_from_body25().tolist() == [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]


def test_body25_order_is_openpose_order():
    assert len(BODY_25) == 25
    assert BODY_25[8] == "mid_hip" and BODY_25[19] == "left_big_toe" and BODY_25[24] == "right_heel"


def test_convert_joints_moves_by_name_and_zeroes_missing_ones():
    keypoints = np.arange(25 * 3, dtype=np.float32).reshape(25, 3)
    hmmr = convert_joints(keypoints, BODY_25, HMMR_25)
    assert hmmr.shape == (25, 3)
    np.testing.assert_array_equal(hmmr[joint_index(HMMR_25, "left_wrist")], keypoints[BODY_25.index("left_wrist")])
    np.testing.assert_array_equal(hmmr[joint_index(HMMR_25, "head_top")], [0, 0, 0])
    back = convert_joints(hmmr, HMMR_25, BODY_25)
    assert back[BODY_25.index("mid_hip"), 2] == 0  # HMMR's set has no mid-hip
    np.testing.assert_array_equal(back[BODY_25.index("nose")], keypoints[0])
    coco = convert_joints(keypoints[None], BODY_25, COCO_17)
    np.testing.assert_array_equal(coco[0, :, 0], keypoints[coco17_from_body25(), 0])


def test_convert_joints_refuses_a_wrong_joint_count():
    with pytest.raises(ValueError, match="18 joints on axis -2 but the source order has 25"):
        convert_joints(np.zeros((18, 3)), BODY_25, COCO_17)
    with pytest.raises(KeyError, match="'tail' is not in this joint order"):
        joint_index(BODY_25, "tail")
