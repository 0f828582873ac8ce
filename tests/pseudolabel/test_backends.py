"""The embedded BlazePose backend on real pedestrians, and the OpenPose adapter against a stand-in."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from pseudolabel.backends import BackendSpec
from pseudolabel.backends.openpose import OpenPoseUnavailable, check_model_folder
from media.decode import DecodeConfig, open_stream

DATA = Path(__file__).resolve().parents[1] / "data"
STANDIN = Path(__file__).resolve().parent / "standin"


def frames_of(path, every=1):
    _, frames = open_stream(path, DecodeConfig())
    return {f.index: f.rgb for f in frames if f.index % every == 0}


@pytest.fixture(scope="module")
def blazepose():
    return BackendSpec("blazepose", (("tile_px", 256),)).build()


def test_blazepose_finds_the_pedestrians_in_body25_pixels(blazepose):
    frames = frames_of(DATA / "angle_zoom.mp4", every=20)
    found = blazepose.detect(np.stack(list(frames.values())))
    counts = [len(people) for people in found]
    print(f"people found at 0, 2, 4, 6 s: {counts} (6 visible at 0 s)")
    # Frame 0 shows 6 people; BlazePose's face-based detector misses people seen from behind, so at
    # least half must be found, and never more than are there (no duplicates of one person).
    assert 3 <= counts[0] <= 6
    assert all(1 <= c <= 7 for c in counts)
    for people in found:
        assert people.shape[1:] == (25, 3) and people.dtype == np.float32
        seen = people[..., 2] > 0.3
        xs, ys = people[..., 0][seen], people[..., 1][seen]
        assert xs.min() >= -10 and xs.max() <= 778 and ys.min() >= -10 and ys.max() <= 586  # original pixels
        for person in people:
            visible = person[person[:, 2] > 0.3]
            height = visible[:, 1].max() - visible[:, 1].min()
            assert 60 < height < 300  # people here are 120-200 px tall
    # Small toes are not in BlazePose: confidence 0 by contract.
    assert all((p[:, 20, 2] == 0).all() and (p[:, 23, 2] == 0).all() for p in found if len(p))


def test_blazepose_reports_missing_weights_clearly(monkeypatch):
    from pseudolabel.backends import blazepose as module

    monkeypatch.setattr(module, "MODEL_PACKAGE", "no-such-package-xyz")
    with pytest.raises(module.ModelFilesMissing, match="pip install --no-deps"):
        module.model_path(module.DETECTOR_FILE)


@pytest.fixture
def openpose_models(tmp_path):
    weights = tmp_path / "models" / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"stand-in")
    return tmp_path / "models"


def test_openpose_adapter_returns_what_pyopenpose_returns(openpose_models):
    backend = BackendSpec("openpose", (("model_folder", str(openpose_models)),
                                       ("python_path", str(STANDIN)))).build()
    import pyopenpose as standin

    configured = standin.CONFIGURED[-1]
    assert configured["model_pose"] == "BODY_25" and configured["model_folder"].startswith(str(openpose_models))
    frames = frames_of(DATA / "people_b.mp4", every=10)
    batch = np.stack(list(frames.values()))
    found = backend.detect(batch)
    for rgb, people in zip(batch, found):
        expected = standin.expected_keypoints(np.ascontiguousarray(rgb[..., ::-1]))
        if expected is None:
            assert people.shape == (0, 25, 3)
        else:
            np.testing.assert_array_equal(people, expected)
    assert sum(len(p) for p in found) > 0
    sys.modules.pop("pyopenpose", None)


def test_openpose_needs_its_model_folder(tmp_path):
    with pytest.raises(OpenPoseUnavailable, match="no BODY_25 weights at .*pose_iter_584000.caffemodel"):
        check_model_folder(str(tmp_path))
    with pytest.raises(ValueError, match="unknown pose backend 'alphapose'"):
        BackendSpec("alphapose")
