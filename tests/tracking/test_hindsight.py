"""tracking/hindsight.py: a tracked detection judged against every track's path through its frame."""
from __future__ import annotations

import numpy as np

from tracking.hindsight import doubtful


def walker_box(x: float) -> np.ndarray:
    return np.array([x, 100.0, x + 40.0, 200.0])


def two_walkers(missing: dict[int, set[int]], labels: dict[tuple[int, int], int] | None = None,
                n_frames: int = 12, speeds=(2.0, 2.0), starts=(100.0, 125.0)):
    """Walkers 0 and 1 side by side (their boxes overlap), each tracked under their own id, but person p
    is missed in frames missing[p], and labels[(frame, person)] overrides the id of a detection."""
    frames, boxes, ids = [], [], []
    for f in range(n_frames):
        for p in (0, 1):
            if f not in missing.get(p, set()):
                frames.append(f)
                boxes.append(walker_box(starts[p] + speeds[p] * f))
                ids.append((labels or {}).get((f, p), p))
    return np.array(frames), np.stack(boxes), np.array(ids)


def test_a_track_that_took_its_neighbour_while_its_own_person_was_missed_shows_no_id_there():
    """Person 0 is missed in frame 5, and track 0 takes person 1's detection (ids 1, 0, 1 on person 1):
    between the frames before and after, that detection lies on track 1's path, not on track 0's."""
    frames, boxes, ids = two_walkers({0: {5}}, {(5, 1): 0})
    doubt = doubtful(frames, boxes, ids, span=16)
    assert np.flatnonzero(doubt).tolist() == [np.flatnonzero(frames == 5)[0]]
    assert not doubtful(frames, boxes, ids, span=1).any()  # track 1's sightings around it are 2 frames apart


def test_a_two_frame_steal_shows_no_id_in_either_frame():
    frames, boxes, ids = two_walkers({0: {5, 6}}, {(5, 1): 0, (6, 1): 0})
    assert set(frames[doubtful(frames, boxes, ids, span=16)].tolist()) == {5, 6}


def test_walkers_who_cross_on_their_own_paths_keep_every_id():
    """Two walkers crossing in opposite directions, each missed for a few frames while they overlap:
    every detection lies on its own track's path."""
    frames, boxes, ids = two_walkers({0: {6, 7}, 1: {8}}, n_frames=20, speeds=(3.0, -3.0), starts=(100.0, 160.0))
    assert not doubtful(frames, boxes, ids, span=16).any()


def test_a_tracks_last_detection_on_a_neighbours_path_shows_no_id():
    """Person 0 is missed from frame 5 on, and track 0's last detection is person 1's in frame 5: track 0's
    path extrapolated from its two sightings before leads past it, track 1's path runs through it."""
    frames, boxes, ids = two_walkers({0: set(range(5, 12))}, {(5, 1): 0})
    last_of_track_0 = np.flatnonzero(ids == 0)[-1]
    assert frames[last_of_track_0] == 5
    assert np.flatnonzero(doubtful(frames, boxes, ids, span=16)).tolist() == [last_of_track_0]


def test_a_tracks_first_detection_is_never_doubtful():
    """Track 0 starts on person 1 in frame 5 (person 0 is missed there): it has no path of its own yet."""
    frames, boxes, ids = two_walkers({0: set(range(6))}, {(5, 1): 0})
    first_of_track_0 = np.flatnonzero(ids == 0)[0]
    assert frames[first_of_track_0] == 5 and (ids[frames == 5] == 0).all()
    assert not doubtful(frames, boxes, ids, span=16).any()


def test_untracked_detections_and_a_single_track_are_left_alone():
    frames = np.arange(6)
    boxes = np.stack([walker_box(100 + 2 * f) for f in frames])
    assert not doubtful(frames, boxes, np.zeros(6, dtype=np.int64), span=16).any()
    assert not doubtful(frames, boxes, np.full(6, -1), span=16).any()
