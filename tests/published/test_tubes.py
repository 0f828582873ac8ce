"""An annotated person -> tube and targets rows: the span of visible frames, crop boxes as our tubes'."""
from __future__ import annotations

import numpy as np
import pytest

from manifests import TARGETS, TUBES, to_table
from manifests.joints import N_LSP
from published.tubes import AnnotatedPerson, in_layouts, person_rows
from published.penn_action import PENN_ACTION_13
from tracking.tubes import TubeConfig, smooth_boxes


def penn_person(n: int, hidden_before: int, hidden_after: int) -> AnnotatedPerson:
    keypoints = np.zeros((n, 13, 3), np.float32)
    keypoints[..., 0] = 50 + np.arange(n)[:, None]
    keypoints[..., 1] = np.linspace(10, 90, 13)[None]
    keypoints[hidden_before:n - hidden_after, :, 2] = 1
    training, body25 = in_layouts(keypoints, PENN_ACTION_13)
    return AnnotatedPerson(track_id=3, training_keypoints=training, body25_keypoints=body25, source="test",
                           joints_3d=np.zeros((n, N_LSP, 3), np.float32))


def test_a_tube_spans_the_frames_with_a_visible_joint_and_stops_at_the_video_end():
    person = penn_person(30, hidden_before=4, hidden_after=3)
    tube, target = person_rows("penn-0001", "penn", "test", 30.0, person, n_video_frames=30)
    assert (tube["tube_id"], tube["start_frame"], tube["end_frame"], tube["n_frames"]) == ("penn-0001-t3-4", 4, 27, 23)
    assert np.array_equal(tube["bbox"], smooth_boxes(person.training_keypoints[4:27], TubeConfig()))
    # The person is 80 px tall (head top to ankles): the box scales that to 150 px of the 224 crop.
    assert np.allclose(tube["bbox"][:, 2], 150 / 80, rtol=1e-3) and np.allclose(tube["bbox"][:, 1], 50)
    assert target["keypoints"].shape == (23, 75) and target["joints_3d"].shape == (23, 42)
    short, _ = person_rows("penn-0001", "penn", "test", 30.0, person, n_video_frames=10)
    assert (short["start_frame"], short["end_frame"]) == (4, 10)
    assert person_rows("penn-0001", "penn", "test", 30.0, penn_person(5, 5, 0), n_video_frames=5) is None
    # The rows are what the tables accept.
    assert to_table(TUBES, {k: [v] for k, v in tube.items()}).num_rows == 1
    assert to_table(TARGETS, {k: [v] for k, v in target.items()}).num_rows == 1


def test_arrays_of_the_wrong_shape_are_refused_naming_the_source():
    person = penn_person(6, 0, 0)
    with pytest.raises(ValueError, match=r"clip 7: joints_3d has shape \(6, 13, 3\), expected \(6, 14, 3\)"):
        AnnotatedPerson(track_id=0, training_keypoints=person.training_keypoints, body25_keypoints=person.body25_keypoints,
                        source="clip 7", joints_3d=np.zeros((6, 13, 3)))
