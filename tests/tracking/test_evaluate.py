"""tracking/evaluate.py: the scores, and the tracker against the box-IoU baseline on noisy scenes."""
from __future__ import annotations

import numpy as np
import pytest

from tracking.evaluate import DETECTOR, baseline, fast_idf1, flaps, ours, score
from tracking.link import TrackerConfig
from tracking.scenes import Scene, add_noise, crowd_scene, mot_scene, mot_sequences, synthetic_scenes


def test_flaps_count_returns_to_an_earlier_id():
    scene = Scene("s", np.arange(6), np.zeros((6, 25, 3)), np.zeros(6, dtype=np.int64))
    assert flaps(scene, np.array([0, 0, 1, 1, 1, 1])) == 0  # a switch, not a flap
    assert flaps(scene, np.array([0, 1, 0, 0, 1, 1])) == 2
    assert flaps(scene, np.array([0, -1, 0, 0, 0, 0])) == 0  # untracked in between: no other id


def test_fast_idf1_is_py_motmetrics_idf1():
    scene = add_noise(crowd_scene("crowd", seed=1, n_frames=60), DETECTOR, seed=1)
    ids = baseline(scene)
    assert fast_idf1(scene, ids) == pytest.approx(score(scene, ids).idf1)


def test_on_real_trajectories_with_detector_noise_the_tracker_beats_the_iou_baseline():
    """TUD-Campus's annotated pedestrians, 5% box jitter and 10% missed detections (issue 24's goal: IDF1
    at least 0.85, fewer tracks per person than the baseline)."""
    scene = add_noise(mot_scene("TUD-Campus", mot_sequences()["TUD-Campus"], max_covered=1.0), DETECTOR, seed=0)
    ours_score, baseline_score = score(scene, ours()(scene)), score(scene, baseline(scene))
    print(ours_score, baseline_score, sep="\n")
    assert ours_score.idf1 >= 0.85 and ours_score.idf1 > baseline_score.idf1
    assert ours_score.tracks_per_person < baseline_score.tracks_per_person and ours_score.flaps == 0


def test_on_both_real_sequences_with_detector_noise_idf1_is_at_least_085_and_ids_flap_half_as_often_as_iou():
    """Issue 24's goal, on the pooled real scenes of the README's table: TUD-Campus and TUD-Stadtmitte (held
    out of the calibration), every person detected or people more than 60% hidden undetected, three noise
    draws each. It was 0.843 with 18 flaps, then 0.872 with 15, against the IoU tracker's 20 at the same
    30-frame gap; then 6 (the loose gate for tracks seen in the last frame, rivals missed for a frame or two);
    then 2 (a detection taken where two tracks are predicted at one place keeps no id); now none (a
    detection that another track's path through its frame fits better than its own track's keeps no id)."""
    scenes = [add_noise(mot_scene(name, path, max_covered=covered), DETECTOR, seed)
              for name, path in mot_sequences().items() for covered in (1.0, 0.6) for seed in range(3)]
    tracked = [(scene, ours()(scene), baseline(scene)) for scene in scenes]
    assert np.mean([fast_idf1(scene, ids) for scene, ids, _ in tracked]) >= 0.85
    ours_flaps = sum(flaps(scene, ids) for scene, ids, _ in tracked)
    assert ours_flaps == 0 and sum(flaps(scene, iou) for scene, _, iou in tracked) > 0


def test_on_the_clean_synthetic_scenes_no_id_flaps():
    """Issue 24: an id never alternates with another on the same person. On the crowd at 10 frames/s a
    walker came back into view, after 13 frames hidden, just where a passer-by hidden for 2 frames was
    predicted; the passer-by's track took them for a frame and the walker's own took them back (A, B, A).
    Now the walker's track, found again, takes that frame's detection back too (and, seen from both sides,
    that detection lies on the walker's path, so hindsight alone leaves it without an id)."""
    scenes = synthetic_scenes()
    assert sum(flaps(scene, ours()(scene)) for scene in scenes) == 0
    before = ours(TrackerConfig(hand_back_iou=1.0, hindsight_span=0))
    assert sum(flaps(scene, before(scene)) for scene in scenes) == 1  # what they mend
