"""Our tubes in the authors' training tfrecord layout, so their trainer (precomputed features) reads them.

Per tube and view: the view's 224x224 crops as JPEG (`image/encoded`), keypoints in HMMR_25 normalised to
the crop, (x_px - centre_x) * scale / 112 as `train.data` computes them, unseen joints (0, 0, 0) and
visibility binary at OpenPose's 0.1 (the authors' threshold); features as `image/phis`; SMPL and 3D
joints from `targets` where present. A tube imported from the authors' tfrecords is written back as it
came: its crops byte for byte, its layout and the fields kept beside its stand-in video.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from authors.example import encode_example
from authors.hmmr_records import LAYOUT_TEST, HmmrTube, example_features_of
from authors.tfrecord import write_records
from authors.tfrecord_import import PROVENANCE_SUFFIX
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from media.decode import DecodeConfig, open_stream
from media.jpeg_stream import read_jpeg_packets

CROP_PX = 224
VISIBLE_AT = 0.1  # OpenPose score at which the authors count a joint visible
JPEG_QUALITY = 95  # TensorFlow's encode_jpeg default, which the authors' writer used


@dataclass(frozen=True)
class ExportTube:
    """One view of one tube, as the manifests hold it.

    keypoints: (n, 25, 3) HMMR_25 (x_px, y_px, visibility or confidence) in the video's pixels.
    boxes: (n, 3) the view's crop boxes (centre_x_px, centre_y_px, scale). features: (n, 2048) or None.
    joints_3d: (n, 14, 3) or None; poses: (n, 72) or None; shape: (10,) or None.
    """

    tube_id: str
    media_path: Path
    fps: float
    start_frame: int
    keypoints: np.ndarray
    boxes: np.ndarray
    features: np.ndarray | None
    joints_3d: np.ndarray | None = None
    poses: np.ndarray | None = None
    shape: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return len(self.keypoints)


def hmmr_keypoints(body25_or_hmmr: np.ndarray, is_hmmr: bool) -> np.ndarray:
    """(n, 25, 3) HMMR_25 with binary visibility, from a tube's BODY_25 keypoints or a target's HMMR_25."""
    keypoints = np.asarray(body25_or_hmmr, np.float32)
    if not is_hmmr:
        keypoints = convert_joints(keypoints, BODY_25, HMMR_25)
    out = keypoints.copy()
    out[..., 2] = keypoints[..., 2] >= VISIBLE_AT
    return out


def normalised(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """HMMR_25 pixels -> crop units of each frame's box; unseen joints all zero, as the authors store them."""
    seen = keypoints[..., 2] > 0
    units = (keypoints[..., :2] - boxes[:, None, :2]) * boxes[:, None, 2:3] / (CROP_PX / 2)
    out = np.zeros_like(keypoints, dtype=np.float32)
    out[..., :2] = np.where(seen[..., None], units, 0)
    out[..., 2] = seen
    return out


def _provenance(tube: ExportTube) -> dict | None:
    """The fields kept beside a stand-in video by the tfrecord import, when this view is its own crop."""
    path = Path(tube.media_path).with_suffix(PROVENANCE_SUFFIX)
    if not path.is_file():
        return None
    identity = np.allclose(tube.boxes[:, 2], 1.0) and np.allclose(tube.boxes[:, :2], CROP_PX / 2)
    return json.loads(path.read_text()) if identity else None


def crop_jpegs(tube: ExportTube) -> list[bytes]:
    """The view's 224x224 crops as JPEG: decoded from the video and cropped as the features stage does."""
    from train.features import crop  # the one crop geometry of the features stage

    jpegs: list[bytes] = []
    _, frames = open_stream(Path(tube.media_path), DecodeConfig(fps=tube.fps))
    for frame in frames:
        i = frame.index - tube.start_frame
        if i >= tube.n_frames:
            break
        if i >= 0:
            sink = io.BytesIO()
            Image.fromarray(crop(frame.rgb, *tube.boxes[i])).save(sink, format="JPEG", quality=JPEG_QUALITY)
            jpegs.append(sink.getvalue())
    if len(jpegs) != tube.n_frames:
        raise ValueError(f"{tube.media_path}: tube {tube.tube_id} needs frames {tube.start_frame}.."
                         f"{tube.start_frame + tube.n_frames - 1}; the video has {tube.start_frame + len(jpegs)}")
    return jpegs


def hmmr_tube_for(tube: ExportTube) -> HmmrTube:
    """The tfrecord record of one view of a tube."""
    n = tube.n_frames
    kept = _provenance(tube)
    if kept is not None:  # an imported tube, written back as it came
        jpegs = read_jpeg_packets(Path(tube.media_path))[tube.start_frame:tube.start_frame + n]
        keypoints = tube.keypoints if kept["layout"] == LAYOUT_TEST else normalised(tube.keypoints, tube.boxes)
        return HmmrTube(
            keypoints=keypoints, jpegs=jpegs, phis=tube.features, joints_3d=tube.joints_3d, poses=tube.poses,
            shape=tube.shape, filenames=kept["filenames"], image_hw=np.array(kept["image_hw"], np.int64).reshape(-1, 2),
            centers=np.array(kept["centers"], np.int64).reshape(-1, 2),
            scale_factors=np.array(kept["scale_factors"], np.float32).reshape(n, -1) if kept["scale_factors"]
            else np.zeros((n, 0), np.float32),
            crop_pts=np.array(kept["crop_pts"], np.int64).reshape(-1, 2),
            cams=np.array(kept["cams"], np.float32).reshape(-1, 3),
            time_pts=None if kept["time_pts"] is None else np.array(kept["time_pts"], np.int64))
    centers = tube.boxes[:, :2]
    scales = tube.boxes[:, 2]
    return HmmrTube(
        keypoints=normalised(tube.keypoints, tube.boxes), jpegs=crop_jpegs(tube), phis=tube.features,
        joints_3d=tube.joints_3d, poses=tube.poses, shape=tube.shape,
        # What the authors' fields mean here: the box centre and the top-left corner of the crop in the
        # video's pixels, the crop's scale twice (y, x), and frame names `<media>#<frame>`.
        filenames=[f"{Path(tube.media_path).name}#{tube.start_frame + i}" for i in range(n)],
        image_hw=np.full((n, 2), CROP_PX, np.int64), centers=np.round(centers).astype(np.int64),
        scale_factors=np.stack([scales, scales], axis=1).astype(np.float32),
        crop_pts=np.round(centers - (CROP_PX / 2) / scales[:, None]).astype(np.int64),
        cams=np.zeros((n, 3), np.float32), time_pts=None)


def write_shard(path: Path, tubes: list[ExportTube]) -> Path:
    """One tfrecord file of these tubes, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_records(path, (encode_example(example_features_of(hmmr_tube_for(tube))) for tube in tubes))


def joints_3d_of(flat: np.ndarray | None, n: int) -> np.ndarray | None:
    return None if flat is None else np.asarray(flat, np.float32).reshape(n, N_LSP, 3)
