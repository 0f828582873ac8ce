"""The features stage on real tubes: 224x224 crops through ResNet-50 into the features table, incrementally."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from manifests import FEATURES, TUBES, live_flushes, read_table
from pipelines.features import extract_features
from pipelines.runner import RunnerConfig
from pipelines.tracking import track
from pseudolabel.backends import BackendSpec
from pseudolabel.work import PoseStageConfig
from tracking.link import TrackerConfig
from tracking.work import TrackingConfig
from train.features import FeatureConfig, JitterConfig, crop, jittered_boxes
from tests_helpers import BLAZEPOSE_256, copy_root

pytestmark = pytest.mark.slow
RUNNER = RunnerConfig(progress=False)


def test_crop_puts_the_box_centre_in_the_middle_at_the_box_scale():
    image = np.zeros((400, 600, 3), np.uint8)
    image[190:210, 290:310] = 255  # a 20 px white square centred at (300, 200)
    out = crop(image, 300.0, 200.0, 2.0)  # scale 2: the square becomes 40 px
    assert out.shape == (224, 224, 3)
    white = np.argwhere(out[..., 0] > 128)
    assert abs(white[:, 0].mean() - 111.5) < 1.5 and abs(white[:, 1].mean() - 111.5) < 1.5
    assert 36 <= white[:, 0].max() - white[:, 0].min() + 1 <= 44


def test_jittered_views_draw_a_scale_and_shift_per_frame_as_the_released_code():
    bbox = np.stack([np.linspace(100, 200, 50), np.linspace(80, 90, 50), np.linspace(1.0, 2.0, 50)], axis=1)
    jitter = JitterConfig(views=3, scale_log2=0.3, shift_px=20.0)
    own, flipped = jittered_boxes(bbox, "v-t0-0", 0, jitter)
    assert np.array_equal(own, bbox.astype(np.float32)) and not flipped
    views = [jittered_boxes(bbox, "v-t0-0", view, jitter)[0] for view in (1, 2, 3)]
    assert np.array_equal(views[0], jittered_boxes(bbox, "v-t0-0", 1, jitter)[0])  # the same on every run
    for view in views:
        factor = view[:, 2] / bbox[:, 2]
        assert np.all((factor >= 2 ** -0.3 - 1e-6) & (factor <= 2 ** 0.3 + 1e-6)) and factor.std() > 0.05
        shift_crop_px = (view[:, :2] - bbox[:, :2]) * bbox[:, 2:3]  # back into pixels of the crop
        assert np.abs(shift_crop_px).max() <= 20.0 + 1e-3 and shift_crop_px.std(0).min() > 5
    per_tube = [jittered_boxes(bbox, "v-t0-0", view, JitterConfig(views=3, per_frame=False))[0] for view in (1, 2)]
    for view in per_tube:
        factor = view[:, 2] / bbox[:, 2]
        assert np.allclose(factor, factor[0], rtol=1e-5)


def test_half_of_the_jittered_views_are_mirrored():
    bbox = np.tile([100.0, 80.0, 1.0], (10, 1))
    flips = [jittered_boxes(bbox, f"v-t{i}-0", 1, JitterConfig())[1] for i in range(400)]
    assert 0.42 < np.mean(flips) < 0.58
    assert not any(jittered_boxes(bbox, f"v-t{i}-0", 1, JitterConfig(flip_probability=0.0))[1] for i in range(50))


def test_features_for_every_tube_and_view_then_nothing_to_do_then_again_after_retracking(client, posed_angle_zoom,
                                                                                         tmp_path):
    root = copy_root(posed_angle_zoom, tmp_path / "dataset")
    pose = PoseStageConfig(backend=BackendSpec("blazepose", BLAZEPOSE_256))
    tubes = read_table(root, TUBES, columns=["tube_id", "n_frames", "bbox"])
    assert len(tubes) >= 1
    config = FeatureConfig(batch_frames=16, jitter=JitterConfig(views=1))
    stats = extract_features(client, root, config, RUNNER)
    assert stats.n_ok == 1, stats.failures  # one video: decoded once for all of its tubes
    assert stats.counters["crops"] == 2 * tubes["n_frames"].sum()
    features = read_table(root, FEATURES).merge(tubes, on="tube_id", suffixes=("", "_tube"))
    assert sorted(features.groupby("tube_id")["view"].apply(sorted).tolist()) == [[0, 1]] * len(tubes)
    for row in features.itertuples():
        matrix = np.stack(row.features)
        assert matrix.shape == (row.n_frames_tube, 2048) and matrix.dtype == np.float16
        assert np.isfinite(matrix.astype(np.float32)).all() and matrix.astype(np.float32).std() > 0
        own = np.stack(row.bbox_tube)
        expected, flipped = jittered_boxes(own, row.tube_id, row.view, config.jitter)
        assert np.allclose(np.stack(row.bbox), expected) and row.flipped == flipped
    for _, views in features.sort_values("view").groupby("tube_id"):
        own, jittered = (np.stack(f).astype(np.float32) for f in views["features"])
        assert not np.allclose(own, jittered)  # another crop, other features
    assert (features["extractor_version"] == "resnet50-random-init").all()

    again = extract_features(client, root, config, RUNNER)
    assert again.n_due == 0

    # Tracking the video again (another tracker setting) commits new tubes: their features are redone.
    track(client, root, RUNNER, pose_version=pose.version(), config=TrackingConfig(tracker=TrackerConfig(max_gap=4)))
    redone = extract_features(client, root, config, RUNNER)
    assert (redone.n_due, redone.n_ok) == (1, 1)
    assert set(read_table(root, FEATURES)["tubes_flush"]) == set(live_flushes(root, "tracking"))


def test_a_tube_past_the_end_of_its_video_fails_with_the_frames_it_lacks(tmp_path):
    from train.features import FeatureExtractor, TubeBoxes, video_features

    clip = Path(__file__).parents[1] / "data" / "people_a.mp4"
    extractor = FeatureExtractor(FeatureConfig(batch_frames=8))
    boxes = np.tile(np.array([[[300.0, 200.0, 1.0]]], np.float32), (1, 12, 1))
    with pytest.raises(ValueError, match=r"people_a.mp4: a tube needs frames 75..86; frames 80..86 were not decoded"):
        video_features(str(clip), 10.0, [TubeBoxes(75, boxes)], extractor)


def test_a_flipped_view_sees_the_mirrored_crop(tmp_path):
    from media.decode import DecodeConfig, open_stream
    from train.features import FeatureExtractor, TubeBoxes, video_features

    clip = Path(__file__).parents[1] / "data" / "people_a.mp4"
    extractor = FeatureExtractor(FeatureConfig(batch_frames=8))
    boxes = np.tile(np.array([[[300.0, 200.0, 1.0]]], np.float32), (2, 4, 1))  # the same boxes, twice
    own, mirrored = video_features(str(clip), 10.0, [TubeBoxes(0, boxes, np.array([False, True]))], extractor)[0]
    _, frames = open_stream(clip, DecodeConfig(fps=10.0))
    first = crop(next(iter(frames)).rgb, 300.0, 200.0, 1.0)
    expected = extractor(np.stack([first, first[:, ::-1]]))
    own, mirrored, expected = own[0].astype(np.float32), mirrored[0].astype(np.float32), expected.astype(np.float32)
    np.testing.assert_allclose(own, expected[0], rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(mirrored, expected[1], rtol=1e-3, atol=1e-6)
    assert not np.allclose(own, mirrored, rtol=1e-3, atol=1e-6)
