"""The features stage on real tubes: 224x224 crops through ResNet-50 into the features table, incrementally."""
from __future__ import annotations

import numpy as np
import pytest

from manifests import FEATURES, TUBES, read_table
from pipelines.features import extract_features
from pipelines.pseudolabel import pseudolabel
from pipelines.runner import RunnerConfig
from pseudolabel.backends import BackendSpec
from pseudolabel.work import PoseStageConfig
from train.features import FeatureConfig, crop
from tests_helpers import harvest_clips

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


def test_features_for_every_tube_then_nothing_to_do(client, root, tmp_path):
    harvest_clips(client, root, ["angle_zoom"], tmp_path)
    pseudolabel(client, root, PoseStageConfig(backend=BackendSpec("blazepose", (("tile_px", 256),))), RUNNER)
    tubes = read_table(root, TUBES, columns=["tube_id", "n_frames"])
    assert len(tubes) >= 1
    stats = extract_features(client, root, FeatureConfig(batch_frames=16), RUNNER)
    assert stats.n_ok == len(tubes), stats.failures
    features = read_table(root, FEATURES).merge(tubes, on="tube_id", suffixes=("", "_tube"))
    for row in features.itertuples():
        matrix = np.stack(row.features)
        assert matrix.shape == (row.n_frames_tube, 2048) and matrix.dtype == np.float16
        assert np.isfinite(matrix.astype(np.float32)).all() and matrix.astype(np.float32).std() > 0
    assert (features["extractor_version"] == "resnet50-random-init").all()
    again = extract_features(client, root, FeatureConfig(batch_frames=16), RUNNER)
    assert again.n_due == 0
