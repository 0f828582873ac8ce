"""link_tracks: properties (hypothesis) and scored synthetic scenes (CLEAR-MOT, IDF1)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tracking.evaluate import person, score, synthetic_scenes
from tracking.link import TrackerConfig, link_tracks


def same_up_to_relabelling(a: np.ndarray, b: np.ndarray) -> bool:
    mapping = {}
    for x, y in zip(a.tolist(), b.tolist()):
        if mapping.setdefault(x, y) != y:
            return False
    return len(set(mapping.values())) == len(mapping)


people_positions = st.lists(st.tuples(st.floats(40, 600), st.floats(60, 300)), min_size=1, max_size=5)


def random_scene(starts, n_frames, seed):
    rng = np.random.default_rng(seed)
    frames, keypoints = [], []
    for f in range(n_frames):
        for x, y in starts:
            frames.append(f)
            keypoints.append(person(x + f, y, 100 + rng.uniform(-1, 1)))
    return np.array(frames), np.stack(keypoints)


@settings(max_examples=40, deadline=None)
@given(starts=people_positions, n_frames=st.integers(2, 30), seed=st.integers(0, 10_000))
def test_shuffling_detections_within_a_frame_gives_the_same_tracks(starts, n_frames, seed):
    frames, keypoints = random_scene(starts, n_frames, seed)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(frames)), frames))  # shuffle inside each frame only
    base = link_tracks(frames, keypoints)
    shuffled = link_tracks(frames[order], keypoints[order])
    assert same_up_to_relabelling(base[order], shuffled)


@settings(max_examples=40, deadline=None)
@given(starts=people_positions, n_frames=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_track_ids_are_unique_within_a_frame(starts, n_frames, seed):
    frames, keypoints = random_scene(starts, n_frames, seed)
    ids = link_tracks(frames, keypoints)
    for f in np.unique(frames):
        assert len(set(ids[frames == f])) == (frames == f).sum()


@settings(max_examples=30, deadline=None)
@given(x=st.floats(50, 300), y=st.floats(80, 250), vx=st.floats(-4, 4), vy=st.floats(-2, 2), n=st.integers(2, 120))
def test_one_smoothly_moving_person_keeps_one_id(x, y, vx, vy, n):
    frames = np.arange(n)
    keypoints = np.stack([person(x + vx * f, y + vy * f, 100) for f in frames])
    assert set(link_tracks(frames, keypoints).tolist()) == {0}


@settings(max_examples=30, deadline=None)
@given(gap=st.integers(0, 12), max_gap=st.integers(0, 8))
def test_a_gap_longer_than_max_gap_splits_the_track(gap, max_gap):
    frames = np.array([f for f in range(40) if not 10 <= f < 10 + gap])
    keypoints = np.stack([person(100 + f, 200, 100) for f in frames])
    ids = link_tracks(frames, keypoints, config=TrackerConfig(max_gap=max_gap))
    assert len(set(ids.tolist())) == (1 if gap <= max_gap else 2)


def test_the_gate_refuses_a_far_away_match():
    # One person leaves at frame 9; another appears far away at frame 10: never the same track.
    frames = np.arange(20)
    keypoints = np.stack([person(100, 200, 100) if f < 10 else person(550, 200, 100) for f in frames])
    ids = link_tracks(frames, keypoints)
    assert ids[9] != ids[10]
    ungated = link_tracks(frames, keypoints, config=TrackerConfig(max_cost=1.0))
    assert ungated[9] == ungated[10]  # what Detect-and-Track's ungated matching did


def test_a_shot_cut_ends_every_track():
    frames = np.arange(20)
    keypoints = np.stack([person(100 + f, 200, 100) for f in frames])
    ids = link_tracks(frames, keypoints, shot_starts=[0, 10])
    assert ids[9] != ids[10] and len(set(ids[:10])) == 1 and len(set(ids[10:])) == 1


@pytest.mark.parametrize("scene", synthetic_scenes(), ids=lambda s: s.name)
def test_synthetic_scenes_have_no_identity_switches(scene):
    ids = link_tracks(scene.frames, scene.keypoints, scene.shot_starts)
    metrics = score(scene, ids)
    print(f"{scene.name}: IDF1 {metrics['idf1']:.3f}, MOTA {metrics['mota']:.3f}, switches {metrics['id_switches']}, "
          f"misses {metrics['misses']}, false positives {metrics['false_positives']}")
    assert metrics["id_switches"] == 0
    assert metrics["idf1"] > (0.85 if scene.name == "misses_and_false_positives" else 0.97)


@settings(max_examples=60, deadline=None)
@given(n_people=st.lists(st.integers(0, 6), min_size=2, max_size=6), seed=st.integers(0, 10_000),
       spread=st.floats(5, 400))
def test_the_solve_free_matches_equal_a_gated_hungarian_solve(n_people, seed, spread):
    """Wherever frames are marked clean, the row-minimum matches are an optimal gated assignment: as
    many pairs under the gate as the Hungarian solve finds, at the same total cost."""
    from scipy.optimize import linear_sum_assignment

    from tracking.link import _consecutive
    from tracking.similarity import boxes_of

    rng = np.random.default_rng(seed)
    poses = np.stack([person(*rng.uniform(50, 50 + spread, 2), rng.uniform(60, 140))
                      for _ in range(sum(n_people))]) if sum(n_people) else np.zeros((0, 25, 3))
    counts = np.array(n_people)
    if counts.sum() == 0:
        return
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    config = TrackerConfig()
    result = _consecutive(poses, boxes_of(poses, config.min_confidence), starts, starts + counts, config)
    for k, cost in enumerate(result.costs):
        if not result.clean[k]:
            continue
        match = result.match[k, :cost.shape[0]]
        hit = match >= 0
        gated = cost > config.max_cost
        rows, cols = linear_sum_assignment(np.where(gated, 1e6, cost))
        keep = ~gated[rows, cols]
        assert hit.sum() == keep.sum()
        assert cost[np.flatnonzero(hit), match[hit]].sum() == pytest.approx(cost[rows[keep], cols[keep]].sum())
