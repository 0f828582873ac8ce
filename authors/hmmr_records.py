"""One tube as the HMMR authors' tfrecords hold it, read from and written to a tf.train.Example.

Their writer (src/datasets/common.py, convert_to_example_temporal) stores, for a tube of N frames:
    meta/N                 int64  N
    image/filenames        bytes  N frame paths (of the original extracted frames)
    image/heightwidths     int64  (N, 2) height, width of each stored image (the crop)
    image/centers          int64  (N, 2) box centre (x, y)
    image/scale_factors    float  (N, 2) or (N,) resize factor per frame
    image/crop_pts         int64  (N, 2) top-left corner (x, y) of the crop
    image/xys              float  (N, 2, 14): x of the 14 LSP joints, then y (not (N, 14, 2))
    image/visibilities     int64  (N, 14) 0/1
    image/face_pts         float  (N, 3, 5): x, y, visibility rows of nose, eyes, ears
    image/toe_pts          float  (N, 3, 6): same for big toes, small toes, ankles
    image/encoded          bytes  N JPEG images (the crops)
    image/phis             float  (N, 2048) features of HMR's encoder, when precomputed
    image/cams             float  (N, 3) or empty
    mosh/poses             float  (N, 72) SMPL pose; -1 when meta/has_3d is 0
    mosh/shape             float  (10,) SMPL betas; -1 when meta/has_3d is 0
    mosh/gt3ds             float  (N, 14, 3) 3D joints; 0 when meta/has_3d_joints is 0
    meta/has_3d, meta/has_3d_joints  int64 flags
    meta/time_pts          int64  (2,) first and end frame of the track (test files only)
doc/datasets.md spells two keys `image/toes_pts` and `image/phi`; the code writes `image/toe_pts` and
`image/phis`. We write the code's names and read both.

Two layouts share these keys. Training files (written with precomputed features,
video_in_the_wild_to_tfrecords.py) hold augmented 224x224 crops and keypoints already normalised to the
crop, x_crop_px / 112 - 1 in [-1, 1], with unseen joints at (0, 0, 0); test files
(make_test_tfrecords.py) hold keypoints in crop pixels and a `meta/time_pts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from authors.example import FeatureValue
from manifests.joints import FACE_5, HMMR_25, LSP_14, TOES_6
from manifests.tables import FEATURE_DIM
from manifests.errors import InputError

LAYOUT_TRAIN = "train"  # keypoints in crop units [-1, 1] (the released training tfrecords)
LAYOUT_TEST = "test"  # keypoints in crop pixels, with meta/time_pts
KEY_ALIASES = {"image/toes_pts": "image/toe_pts", "image/phi": "image/phis"}  # doc spelling -> code spelling
N_SMPL_POSE, N_SMPL_SHAPE = 72, 10


class HmmrRecordError(InputError, ValueError):
    """An Example that does not hold an HMMR tube."""


@dataclass(frozen=True)
class HmmrTube:
    """One tube of N frames, arrays as the authors' reader reshapes them.

    keypoints: (N, 25, 3) float32 in HMMR_25 order, (x, y, visibility 0/1); x, y in crop units [-1, 1]
        (layout train) or crop pixels (layout test).
    jpegs: N encoded crops, or None. phis: (N, 2048) float32 or None.
    joints_3d: (N, 14, 3) metres or None (has_3d_joints 0); poses: (N, 72), shape: (10,) or None (has_3d 0).
    filenames, image_hw (N, 2), centers (N, 2), scale_factors (N, k), crop_pts (N, 2), cams (N, 3) or
        (0, 3), time_pts (2,) or None: the crop's provenance, kept so a re-export writes them back.
    """

    keypoints: np.ndarray
    jpegs: list[bytes] | None
    phis: np.ndarray | None
    joints_3d: np.ndarray | None
    poses: np.ndarray | None
    shape: np.ndarray | None
    filenames: list[str]
    image_hw: np.ndarray
    centers: np.ndarray
    scale_factors: np.ndarray
    crop_pts: np.ndarray
    cams: np.ndarray
    time_pts: np.ndarray | None

    @property
    def n_frames(self) -> int:
        return len(self.keypoints)

    @property
    def layout(self) -> str:
        return LAYOUT_TEST if self.time_pts is not None else LAYOUT_TRAIN


def _canonical(features: Mapping[str, FeatureValue]) -> dict[str, FeatureValue]:
    out = dict(features)
    for alias, name in KEY_ALIASES.items():
        if alias in out and name not in out:
            out[name] = out.pop(alias)
    return out


def _array(features: Mapping[str, FeatureValue], key: str, shape: tuple[int, ...], where: str,
           required: bool = True) -> np.ndarray | None:
    value = features.get(key)
    if value is None or (isinstance(value, np.ndarray) and value.size == 0 and not required):
        if required:
            raise HmmrRecordError(f"{where}: no {key!r}; an HMMR tfrecord has {sorted(features)} here")
        return None
    array = np.asarray(value)
    if array.size != int(np.prod(shape)):
        raise HmmrRecordError(f"{where}: {key!r} has {array.size} values; expected {' x '.join(map(str, shape))} "
                              f"= {int(np.prod(shape))} for this tube")
    return array.reshape(shape)


def _bytes_list(features: Mapping[str, FeatureValue], key: str, n: int, where: str) -> list[bytes] | None:
    value = features.get(key)
    if value is None or (isinstance(value, np.ndarray) and value.size == 0):
        return None
    if not isinstance(value, list) or len(value) != n:
        raise HmmrRecordError(f"{where}: {key!r} should be {n} byte strings; found {type(value).__name__} "
                              f"of {len(value)}")
    return value


def _ints(features: Mapping[str, FeatureValue], key: str) -> np.ndarray:
    value = features.get(key)
    return np.zeros(0, np.int64) if value is None or isinstance(value, list) else np.asarray(value, np.int64)


def _floats(features: Mapping[str, FeatureValue], key: str) -> np.ndarray:
    value = features.get(key)
    return np.zeros(0, np.float32) if value is None or isinstance(value, list) else np.asarray(value, np.float32)


def _flag(features: Mapping[str, FeatureValue], key: str) -> bool:
    value = _ints(features, key)
    return bool(value.size and value[0])


def hmmr_tube_of(features: Mapping[str, FeatureValue], where: str) -> HmmrTube:
    """Decode one Example's features; `where` (file#record) names the tube in errors."""
    features = _canonical(features)
    n_value = _array(features, "meta/N", (1,), where)
    n = int(n_value[0])
    if n < 1:
        raise HmmrRecordError(f"{where}: meta/N is {n}; a tube has at least one frame")
    xys = _array(features, "image/xys", (n, 2, len(LSP_14)), where)
    visibility = _array(features, "image/visibilities", (n, len(LSP_14)), where)
    face = _array(features, "image/face_pts", (n, 3, len(FACE_5)), where, required=False)
    toes = _array(features, "image/toe_pts", (n, 3, len(TOES_6)), where, required=False)
    keypoints = np.zeros((n, len(HMMR_25), 3), np.float32)
    keypoints[:, :len(LSP_14), :2] = xys.transpose(0, 2, 1)
    keypoints[:, :len(LSP_14), 2] = visibility
    if face is not None:
        keypoints[:, len(LSP_14):len(LSP_14) + len(FACE_5)] = face.transpose(0, 2, 1)
    if toes is not None:
        keypoints[:, len(LSP_14) + len(FACE_5):] = toes.transpose(0, 2, 1)
    has_3d = _flag(features, "meta/has_3d")
    has_joints = _flag(features, "meta/has_3d_joints")
    # The training writer stores every path of the track, which can be more than N frames.
    filenames = [bytes(name).decode("utf-8", "replace") for name in features.get("image/filenames") or []]
    scale_factors = _floats(features, "image/scale_factors")
    cams = _floats(features, "image/cams")
    time_pts = _ints(features, "meta/time_pts")
    return HmmrTube(
        keypoints=keypoints,
        jpegs=_bytes_list(features, "image/encoded", n, where),
        phis=_array(features, "image/phis", (n, FEATURE_DIM), where, required=False),
        joints_3d=_array(features, "mosh/gt3ds", (n, len(LSP_14), 3), where) if has_joints else None,
        poses=_array(features, "mosh/poses", (n, N_SMPL_POSE), where) if has_3d else None,
        shape=_array(features, "mosh/shape", (N_SMPL_SHAPE,), where) if has_3d else None,
        filenames=filenames,
        image_hw=_ints(features, "image/heightwidths").reshape(-1, 2),
        centers=_ints(features, "image/centers").reshape(-1, 2),
        scale_factors=scale_factors.reshape(n, -1) if scale_factors.size % n == 0 else scale_factors[None],
        crop_pts=_ints(features, "image/crop_pts").reshape(-1, 2),
        cams=cams.reshape(-1, 3) if cams.size % 3 == 0 else cams[None],
        time_pts=time_pts if time_pts.size else None,
    )


def example_features_of(tube: HmmrTube) -> dict[str, FeatureValue]:
    """The Example features of a tube, with the released writer's keys, layouts and dtypes."""
    n = tube.n_frames
    lsp, face_end = len(LSP_14), len(LSP_14) + len(FACE_5)
    keypoints = np.asarray(tube.keypoints, np.float32)
    features: dict[str, FeatureValue] = {
        "meta/N": np.array([n], np.int64),
        "meta/has_3d": np.array([int(tube.poses is not None)], np.int64),
        "meta/has_3d_joints": np.array([int(tube.joints_3d is not None)], np.int64),
        "image/filenames": [name.encode("utf-8") for name in tube.filenames],
        "image/heightwidths": np.asarray(tube.image_hw, np.int64).ravel(),
        "image/centers": np.asarray(tube.centers, np.int64).ravel(),
        "image/scale_factors": np.asarray(tube.scale_factors, np.float32).ravel(),
        "image/crop_pts": np.asarray(tube.crop_pts, np.int64).ravel(),
        "image/cams": np.asarray(tube.cams, np.float32).ravel(),
        "image/xys": keypoints[:, :lsp, :2].transpose(0, 2, 1).ravel(),
        "image/visibilities": keypoints[:, :lsp, 2].astype(np.int64).ravel(),
        "image/face_pts": keypoints[:, lsp:face_end].transpose(0, 2, 1).ravel(),
        "image/toe_pts": keypoints[:, face_end:].transpose(0, 2, 1).ravel(),
        # The released writer's placeholders when a tube has no 3D: -1 pose and shape, zero joints.
        "mosh/poses": (np.asarray(tube.poses, np.float32) if tube.poses is not None
                       else -np.ones((n, N_SMPL_POSE), np.float32)).ravel(),
        "mosh/shape": (np.asarray(tube.shape, np.float32) if tube.shape is not None
                       else -np.ones(N_SMPL_SHAPE, np.float32)).ravel(),
        "mosh/gt3ds": (np.asarray(tube.joints_3d, np.float32) if tube.joints_3d is not None
                       else np.zeros((n, len(LSP_14), 3), np.float32)).ravel(),
    }
    if tube.jpegs is not None:
        features["image/encoded"] = list(tube.jpegs)
    if tube.phis is not None:
        features["image/phis"] = np.asarray(tube.phis, np.float32).ravel()
    if tube.time_pts is not None:
        features["meta/time_pts"] = np.asarray(tube.time_pts, np.int64).ravel()
    return features
