"""cut_tubes: HMMR's rules at their boundaries, and smooth, well-scaled crop boxes."""
from __future__ import annotations

import numpy as np
import pytest

from manifests.joints import BODY_25
from tracking.evaluate import person
from tracking.tubes import TubeConfig, cut_tubes, tube_yield


def track_of(n_frames: int, visible: int | list[int] = 25, start: int = 0, jitter: float = 0.0):
    """One track; `visible` joints per frame have confidence 0.9, the rest 0."""
    rng = np.random.default_rng(0)
    counts = [visible] * n_frames if isinstance(visible, int) else visible
    keypoints = []
    for f, count in enumerate(counts):
        body = person(200 + f, 200, 100)
        body[:, :2] += rng.normal(0, jitter, (25, 2))
        body[count:, 2] = 0.0
        keypoints.append(body)
    frames = np.arange(start, start + len(counts))
    return frames, np.stack(keypoints).astype(np.float32), np.zeros(len(counts), dtype=np.int64)


@pytest.mark.parametrize("n_frames, n_tubes", [(39, 0), (40, 1)])
def test_tubes_shorter_than_40_frames_are_dropped(n_frames, n_tubes):
    tubes, dropped = cut_tubes(*track_of(n_frames))
    assert len(tubes) == n_tubes
    assert dropped.get("too_short", 0) == 1 - n_tubes


@pytest.mark.parametrize("visible, n_tubes", [(6, 0), (7, 1)])
def test_a_tube_starts_only_with_more_than_6_visible_joints(visible, n_tubes):
    tubes, dropped = cut_tubes(*track_of(60, visible))
    assert len(tubes) == n_tubes
    if not n_tubes:
        assert dropped["never_visible"] == 1


@pytest.mark.parametrize("low, cut", [(4, True), (5, False)])
def test_a_tube_is_cut_where_4_or_fewer_joints_are_visible(low, cut):
    counts = [25] * 50 + [low] * 10 + [25] * 50
    tubes, _ = cut_tubes(*track_of(110, counts))
    if cut:
        assert [(t.start_frame, t.end_frame) for t in tubes] == [(0, 50), (60, 110)]
    else:
        assert [(t.start_frame, t.end_frame) for t in tubes] == [(0, 110)]


def test_long_tubes_are_split_at_500_frames():
    tubes, dropped = cut_tubes(*track_of(1030))
    assert [t.n_frames for t in tubes] == [500, 500]
    assert dropped["too_short"] == 1  # the last 30 frames


def test_face_and_shoulders_tracks_are_dropped():
    frames, keypoints, ids = track_of(80)
    body = [BODY_25.index(n) for n in BODY_25 if n not in ("nose", "neck", "right_eye", "left_eye", "right_ear",
                                                             "left_ear", "right_shoulder", "left_shoulder")]
    keypoints[:, body, 2] = 0.0
    tubes, dropped = cut_tubes(frames, keypoints, ids)
    assert tubes == [] and dropped["face_and_shoulders"] == 1


def test_boxes_are_smooth_and_scaled_to_150_px():
    frames, keypoints, ids = track_of(100, jitter=3.0)
    tubes, _ = cut_tubes(frames, keypoints, ids)
    bbox = tubes[0].bbox
    sides = keypoints[0, :, :2].max(0) - keypoints[0, :, :2].min(0)
    assert np.allclose(bbox[:, 2] * np.linalg.norm(sides), 150, rtol=0.05)  # the box's diagonal, as theirs
    longest = cut_tubes(frames, keypoints, ids, TubeConfig(box_extent="longest_side"))[0][0].bbox
    assert np.allclose(longest[:, 2] * sides.max(), 150, rtol=0.05)
    raw_centre_x = np.array([(k[:, 0].min() + k[:, 0].max()) / 2 for k in keypoints])
    assert np.abs(np.diff(bbox[:, 0], 2)).mean() < 0.2 * np.abs(np.diff(raw_centre_x, 2)).mean()  # less jitter
    true_centre_x = 200 + np.arange(100)  # the template is symmetric about its mid-hip
    assert np.abs(bbox[:, 0] - true_centre_x).max() < np.abs(raw_centre_x - true_centre_x).max()
    assert np.abs(bbox[:, 0] - true_centre_x).mean() < 1.5


def test_missed_frames_inside_a_tube_are_kept_unseen():
    frames, keypoints, ids = track_of(60)
    keep = (frames < 20) | (frames >= 22)
    tubes, _ = cut_tubes(frames[keep], keypoints[keep], ids[keep])
    assert len(tubes) == 1 and tubes[0].n_frames == 60
    assert (tubes[0].keypoints[20:22, :, 2] == 0).all()
    assert np.isfinite(tubes[0].bbox).all()


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="median_window must be odd"):
        TubeConfig(median_window=4)


def test_untracked_detections_make_no_tube():
    """-1 marks weak detections that continued no track (tracking/link.py): never a tube of their own."""
    frames, keypoints, ids = track_of(60)
    tubes, _ = cut_tubes(frames, keypoints, ids - 1)
    assert tubes == []


def test_tube_yield_counts_seen_tube_frames_over_detections():
    frames, keypoints, ids = track_of(60)
    frames, keypoints, ids = frames[frames != 30], keypoints[frames != 30], ids[frames != 30]
    tubes, _ = cut_tubes(np.append(frames, 5), np.concatenate([keypoints, keypoints[:1]]), np.append(ids, 7))
    # 59 detections of the walker in its 60-frame tube (frame 30 missed) and one stray of a dropped track.
    assert tube_yield([t.keypoints for t in tubes], 60) == pytest.approx(59 / 60)


@pytest.mark.parametrize("missed, bridge_frames, pieces", [(3, 5, 1), (5, 5, 1), (6, 5, 2), (3, 0, 2), (2, 0, 1)])
def test_a_detector_miss_of_up_to_bridge_frames_does_not_cut_a_tube(missed, bridge_frames, pieces):
    """A track the detector missed for `missed` frames in a row: up to bridge_frames (5) the tube goes on
    through the miss (its frames unseen); bridge_frames=0 is the released code's rule, where the median
    over 5 frames bridges 2 missed frames and a third cuts the tube."""
    frames, keypoints, ids = track_of(100)
    keep = (frames < 50) | (frames >= 50 + missed)
    tubes, _ = cut_tubes(frames[keep], keypoints[keep], ids[keep], TubeConfig(bridge_frames=bridge_frames))
    assert len(tubes) == pieces
    if pieces == 1:
        assert tubes[0].n_frames == 100 and (tubes[0].keypoints[50:50 + missed, :, 2] == 0).all()
