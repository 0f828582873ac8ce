"""The import stage's work for one tube of the authors' tfrecords: a stand-in video and its table rows.

The tfrecords hold no video, only each frame's crop as a JPEG. Those crops, muxed unchanged as an MJPEG
video (media/<video_id>.avi), stand in for the frames: the tube's keypoints are in the crops' pixels and
its box is the whole crop (centre, scale 1), so our features stage, the viewer and the trainer see exactly
the authors' crops, and crop units computed from them are the file's own. `image/phis` become view 0 of
`features` under a named extractor (float16, as all features here); training-layout keypoints
(crop units) become crop pixels; 3D joints and SMPL go to `targets`. What has no column of ours (frame
paths, centres, scale factors, crop corners, cams, time points) is kept beside the video in
media/<video_id>.json, so an export writes it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from authors.example import decode_example
from authors.hmmr_records import LAYOUT_TRAIN, HmmrRecordError, HmmrTube, hmmr_tube_of
from authors.tfrecord import read_record_at
from manifests import tube_id_of
from manifests.atomic import write_json_atomic
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from manifests.rows import FeatureRows, Rows, TargetRows, TubeRows, VideoRows
from manifests.status import UnitPayload, UnitResult
from media.fingerprint import file_sha256
from media.jpeg_stream import JPEG_STREAM_SUFFIX, write_jpeg_video

TFRECORD_IMPORT_VERSION = "tfrecords/1"
DEFAULT_EXTRACTOR = "hmr_noS5.ckpt-642561"  # the encoder the released tfrecords' phis came from
PROVENANCE_SUFFIX = ".json"


@dataclass(frozen=True)
class TfrecordImportConfig:
    """fps: the frame rate recorded for the crops (the tfrecords store none); extractor: the name under
    which `image/phis` enter `features`."""

    fps: float = 30.0
    extractor: str = DEFAULT_EXTRACTOR

    def __post_init__(self) -> None:
        if not 0 < self.fps <= 240:
            raise ValueError(f"TfrecordImportConfig.fps must be in (0, 240], got {self.fps}")
        if not self.extractor:
            raise ValueError("TfrecordImportConfig.extractor must name the features' extractor")


def pixels_of(tube: HmmrTube, width: int, height: int) -> np.ndarray:
    """(N, 25, 3) keypoints in the crops' pixels; unseen joints of a training-layout tube stay (0, 0, 0)."""
    keypoints = tube.keypoints.astype(np.float32).copy()
    if tube.layout == LAYOUT_TRAIN:
        seen = keypoints[..., 2] > 0
        half = np.array([width / 2, height / 2], np.float32)
        keypoints[..., :2] = np.where(seen[..., None], (keypoints[..., :2] + 1) * half, 0)
    return keypoints


def provenance_of(tube: HmmrTube, source: str) -> dict[str, Any]:
    return {"source": source, "layout": tube.layout, "filenames": tube.filenames,
            "image_hw": tube.image_hw.tolist(), "centers": tube.centers.tolist(),
            "scale_factors": tube.scale_factors.tolist(), "crop_pts": tube.crop_pts.tolist(),
            "cams": tube.cams.tolist(), "time_pts": None if tube.time_pts is None else tube.time_pts.tolist()}


@dataclass(frozen=True)
class TfrecordPayload(UnitPayload):
    """One record of a tfrecord file to import as a stand-in video (unit_id: that video's id): the file,
    the record's byte offset and index in it, the file as `targets.source` names it, dataset and split."""

    path: str
    offset: int
    index: int
    source: str
    dataset: str
    split: str


def tfrecord_unit(payload: TfrecordPayload, context: Any, root: str, config: TfrecordImportConfig) -> UnitResult:
    video_id = payload.unit_id
    where = f"{payload.source}#{payload.index}"
    tube = hmmr_tube_of(decode_example(read_record_at(Path(payload.path), payload.offset, payload.index)), where)
    if tube.jpegs is None:
        raise HmmrRecordError(f"{where}: no image/encoded: the tube has no crops to stand in for its frames")
    media = Path(root) / "media" / f"{video_id}{JPEG_STREAM_SUFFIX}"
    media.parent.mkdir(parents=True, exist_ok=True)
    width, height = write_jpeg_video(media, tube.jpegs, config.fps)
    write_json_atomic(media.with_suffix(PROVENANCE_SUFFIX), provenance_of(tube, where))
    n = tube.n_frames
    keypoints = pixels_of(tube, width, height)
    body25 = convert_joints(keypoints, HMMR_25, BODY_25)
    seen = body25[..., 2] > 0
    box = np.tile(np.array([width / 2, height / 2, 1.0], np.float32), (n, 1))
    tube_id = tube_id_of(video_id, 0, 0)
    rows: list[Rows] = [
        VideoRows(video_id=[video_id], dataset=[payload.dataset], query=[Path(payload.path).name],
                  url=[f"tfrecord:{where}"], webpage_url=[None], media_path=[str(media.relative_to(Path(root)))],
                  sha256=[file_sha256(media)], n_bytes=[media.stat().st_size], duration_s=[n / config.fps],
                  fps=[config.fps], width=[width], height=[height], codec=["mjpeg"], uploader=[None],
                  upload_date=[None], license=[None], title=[None], harvested_at=[datetime.now(timezone.utc)],
                  split=[payload.split]),
        TubeRows(tube_id=[tube_id], video_id=[video_id], dataset=[payload.dataset], split=[payload.split],
                 track_id=[0], shot=[0], start_frame=[0], end_frame=[n], n_frames=[n], fps=[config.fps],
                 keypoints=[body25.reshape(n, -1)], bbox=[box],
                 mean_confidence=[float(body25[..., 2][seen].mean()) if seen.any() else 0.0],
                 mean_visible_joints=[float(seen.sum(-1).mean())]),
        TargetRows(tube_id=[tube_id], video_id=[video_id], keypoints=[keypoints.reshape(n, -1)],
                   joints_3d=[None if tube.joints_3d is None else tube.joints_3d.reshape(n, N_LSP * 3)],
                   pose=[tube.poses], shape=[tube.shape], source=[f"tfrecord:{where}"]),
    ]
    if tube.phis is not None:
        rows.append(FeatureRows(tube_id=[tube_id], video_id=[video_id], view=[0], n_frames=[n], bbox=[box],
                                flipped=[False],  # a copy's keypoints are already those of its (mirrored) crops
                                features=[tube.phis.astype(np.float16)], extractor=[config.extractor],
                                extractor_version=[TFRECORD_IMPORT_VERSION], tubes_flush=[TFRECORD_IMPORT_VERSION]))
    return UnitResult(rows=tuple(rows),
                      counters={"frames": float(n), "tubes_3d": float(tube.joints_3d is not None)})
