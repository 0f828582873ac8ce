"""tracking/pairs.py, what tracking/calibrate.py measures the tracker's constants from."""
from __future__ import annotations

import numpy as np

from tracking.pairs import collect_pairs, costs, joint_spreads
from tracking.scenes import Noise, Scene, add_noise, person


def test_joint_spreads_recover_the_jitter_put_into_the_joints():
    """Three people gliding (no gait: joints move only with the body), each joint jittered by a known
    spread: the measured spreads are those."""
    truth = np.linspace(0.01, 0.05, 25)
    frames = np.repeat(np.arange(80), 3)
    keypoints = np.stack([person(100 + 200 * p + 2 * f, 200, 120) for f in range(80) for p in range(3)])
    scene = add_noise(Scene("gliders", frames, keypoints, np.tile(np.arange(3), 80)),
                      Noise(box_jitter=0.0, miss_rate=0.0, joint_noise=1.0), seed=0, spreads=truth)
    pairs = collect_pairs(scene)
    assert np.allclose(joint_spreads(pairs), truth, rtol=0.25)
    cost = costs(pairs, truth, np.ones(25), 0.5)  # same-person pairs are cheap, the others are not
    assert np.quantile(cost[pairs.same], 0.99) < np.quantile(cost[~pairs.same], 0.01)


def test_the_deferral_margin_is_the_one_with_fewest_flaps_near_the_best_idf1():
    """The calibration scenes' measurements (README): 0.2 has the fewest flaps within 0.001 IDF1 of the best;
    a margin with fewer flaps but further below the best IDF1 is not taken."""
    from tracking.calibrate import fewest_flaps

    measured = {0.0: (0.9099, 23), 0.1: (0.9096, 16), 0.15: (0.9094, 17), 0.2: (0.9092, 10), 0.25: (0.9078, 14)}
    assert fewest_flaps(measured) == 0.2
    assert fewest_flaps({**measured, 0.3: (0.9070, 2)}) == 0.2
    assert fewest_flaps({0.0: (0.9, 3), 0.1: (0.9005, 3)}) == 0.1  # a tie in flaps: the higher IDF1
