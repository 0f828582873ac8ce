"""The exact schema of every table in DESIGN.md, defined once; code elsewhere never spells its own.

Column types and sizes come from `manifests.columns` and the status table from `manifests.status_table`;
both are re-exported, so every schema name is imported from here.
"""
from __future__ import annotations

import pyarrow as pa

from manifests.columns import (  # noqa: F401 - re-exported: the schemas' vocabulary
    BBOX, BBOX_WIDTH, CROP_PX, FEATURE, FEATURE_DIM, IMPORT_STAGE, IMPORTERS, JOINTS_3D, KEYPOINTS, N_SMPL_POSE,
    N_SMPL_SHAPE, REMOVE_STAGE, REMOVERS, SMPL_POSE, SMPL_SHAPE, TIMESTAMP, TRAINING_KEYPOINTS, optional, required,
)
from manifests.joints import KEYPOINT_WIDTH
from manifests.spec import TableSpec
from manifests.status_table import (  # noqa: F401 - re-exported
    STATUS_FAILED, STATUS_FOLDER, STATUS_OK, STATUS_SKIPPED, STATUS_VALUES, UNIT_ID, status_spec)

ENTRIES = TableSpec(
    name="entries",
    schema=pa.schema([
        required("query_id", pa.string()),
        required("query", pa.string()),
        required("dataset", pa.string()),
        required("position", pa.int32()),
        required("video_id", pa.string()),
        required("url", pa.string()),
        optional("webpage_url", pa.string()),
        required("extractor", pa.string()),
        optional("title", pa.string()),
        required("enumerated_at", TIMESTAMP),
    ]),
    key=("query_id", "video_id"),
    unit_column="query_id",
    producer="enumerate",
    importers=REMOVERS,
    units={
        "query_id": "<dataset>:#<tag> or <dataset>:<url>: one tag page or listed URL",
        "position": "order on the page (0 = first)",
        "url": "what the download stage hands to yt-dlp",
    },
)

VIDEOS = TableSpec(
    name="videos",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("dataset", pa.string()),
        required("query", pa.string()),
        required("url", pa.string()),
        optional("webpage_url", pa.string()),
        required("media_path", pa.string()),
        required("sha256", pa.string()),
        required("n_bytes", pa.int64()),
        required("duration_s", pa.float64()),
        required("fps", pa.float64()),
        required("width", pa.int32()),
        required("height", pa.int32()),
        required("codec", pa.string()),
        optional("uploader", pa.string()),
        optional("upload_date", pa.string()),
        optional("license", pa.string()),
        optional("title", pa.string()),
        required("harvested_at", TIMESTAMP),
        required("split", pa.string()),
    ]),
    key=("video_id",),
    unit_column="video_id",
    producer="harvest",
    importers=IMPORTERS + REMOVERS,
    units={
        "video_id": "<extractor>-<id> from yt-dlp, sanitised to [A-Za-z0-9_-]",
        "media_path": "path of the download relative to the dataset root",
        "n_bytes": "bytes", "duration_s": "seconds", "fps": "frames per second of the file",
        "width": "pixels", "height": "pixels", "upload_date": "YYYYMMDD as the site gives it",
        "title": "display only; never used in a path", "split": "train | val | test (manifests.split)",
    },
)

SHOTS = TableSpec(
    name="shots",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("shot", pa.int32()),
        required("start_frame", pa.int64()),
        required("end_frame", pa.int64()),
        required("fps", pa.float64()),
    ]),
    key=("video_id", "shot"),
    unit_column="video_id",
    producer="pose",
    importers=IMPORTERS + REMOVERS,
    units={
        "start_frame": "first frame of the shot, at the decoded frame rate",
        "end_frame": "one past the last frame (exclusive)",
        "fps": "decoded frame rate the frame indices refer to (after --fps resampling)",
    },
)

DETECTIONS = TableSpec(
    name="detections",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("frame", pa.int64()),
        required("person", pa.int32()),
        required("keypoints", KEYPOINTS),
        required("backend", pa.string()),
        required("backend_version", pa.string()),
    ]),
    key=("video_id", "frame", "person"),
    unit_column="video_id",
    producer="pose",
    importers=IMPORTERS + REMOVERS,
    units={
        "frame": "index at the decoded frame rate (after --fps resampling)",
        "person": "index of the detection within its frame",
        "keypoints": f"BODY_25 x (x_px, y_px, confidence) flattened to {KEYPOINT_WIDTH} float32, original-frame pixels; "
                     "confidence 0 = not found",
    },
)

TRACKS = TableSpec(
    name="tracks",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("frame", pa.int64()),
        required("person", pa.int32()),
        required("track_id", pa.int64()),
        required("shot", pa.int32()),
    ]),
    key=("video_id", "frame", "person"),
    unit_column="video_id",
    producer="tracking",
    importers=IMPORTERS + REMOVERS,
    units={"track_id": "unique within a video; a track never crosses a shot cut; -1: a detection no track kept "
                       "(a weak one that continued none, one two tracks fitted alike or another track's path "
                       "fitted better, or a track seen fewer than 3 times)"},
)

TUBES = TableSpec(
    name="tubes",
    schema=pa.schema([
        required("tube_id", pa.string()),
        required("video_id", pa.string()),
        required("dataset", pa.string()),
        required("split", pa.string()),
        required("track_id", pa.int64()),
        required("shot", pa.int32()),
        required("start_frame", pa.int64()),
        required("end_frame", pa.int64()),
        required("n_frames", pa.int32()),
        required("fps", pa.float64()),
        required("keypoints", pa.list_(KEYPOINTS)),
        required("bbox", pa.list_(BBOX)),
        required("mean_confidence", pa.float32()),
        required("mean_visible_joints", pa.float32()),
    ]),
    key=("tube_id",),
    unit_column="video_id",
    producer="tracking",
    importers=IMPORTERS + REMOVERS,
    units={
        "tube_id": "<video_id>-t<track_id>-<start_frame>",
        "end_frame": "exclusive",
        "keypoints": f"per frame: BODY_25 x (x_px, y_px, confidence), {KEYPOINT_WIDTH} float32",
        "bbox": f"per frame: (center_x_px, center_y_px, scale); scale * person height ~ 150 px in a {CROP_PX} crop",
        "mean_confidence": "mean confidence of visible joints", "mean_visible_joints": "per frame",
    },
)

def tube_id_of(video_id: str, track_id: int, start_frame: int) -> str:
    """A tube's id, as the `tubes` table names it: <video_id>-t<track_id>-<start_frame>."""
    return f"{video_id}-t{track_id}-{start_frame}"


def video_id_of_tube(tube_id: str) -> str:
    """The video a tube id belongs to (the id ends in -t<track_id>-<start_frame>, both plain numbers)."""
    return tube_id.rsplit("-t", 1)[0]


FEATURES = TableSpec(
    name="features",
    schema=pa.schema([
        required("tube_id", pa.string()),
        required("video_id", pa.string()),
        required("view", pa.int32()),
        required("n_frames", pa.int32()),
        required("bbox", pa.list_(BBOX)),
        optional("flipped", pa.bool_()),
        required("features", pa.list_(FEATURE)),
        required("extractor", pa.string()),
        required("extractor_version", pa.string()),
        required("tubes_flush", pa.string()),
    ]),
    key=("tube_id", "view"),
    # One unit is a video: its frames are decoded once for all of its tubes and views.
    unit_column="video_id",
    producer="features",
    importers=IMPORTERS + REMOVERS,
    units={
        "view": "0: the tube's own crop boxes; 1, 2, ...: augmented copies (a random scale and shift per frame, "
                "or one per tube; see train.features.JitterConfig)",
        "flipped": "the view's crops were mirrored left-right before the backbone: its targets must be mirrored "
                   "too (train.augment); null = not mirrored",
        "bbox": "per frame: the crop box these features saw, (center_x_px, center_y_px, scale)",
        "features": "per frame: 2048 float16, ResNet-50 average-pooled",
        "tubes_flush": "the tracking commit the tube came from; a re-tracked video is featured again",
    },
)

# Supervision that the pipeline's own 2D tubes do not have, for tubes imported from published datasets:
# 2D keypoints in the training layout (which holds joints BODY_25 lacks, e.g. head_top), and 3D joints
# and SMPL parameters where the dataset has them. A tube with a `targets` row trains on these keypoints;
# one without trains on its `tubes` keypoints converted from BODY_25.
TARGETS = TableSpec(
    name="targets",
    schema=pa.schema([
        required("tube_id", pa.string()),
        required("video_id", pa.string()),
        required("keypoints", pa.list_(TRAINING_KEYPOINTS)),
        optional("joints_3d", pa.list_(JOINTS_3D)),
        optional("pose", pa.list_(SMPL_POSE)),
        optional("shape", SMPL_SHAPE),
        required("source", pa.string()),
    ]),
    key=("tube_id",),
    unit_column="video_id",
    producer=IMPORT_STAGE,
    importers=REMOVERS,
    units={
        "keypoints": "per frame: HMMR_25 x (x_px, y_px, visibility 0/1) in the original frame's pixels",
        "joints_3d": "per frame: the first N_LSP joints of HMMR_25 x (x, y, z) in metres, camera axes; null = no 3D; "
                     "a NaN frame = no 3D for that frame (3DPW where its camera pose is not valid)",
        "pose": "per frame: SMPL pose, 24 x axis-angle (radians), global orientation first; null = no SMPL",
        "shape": f"SMPL betas ({N_SMPL_SHAPE}) for the whole tube; null = no SMPL",
        "source": "the published format and file the tube came from",
    },
)

# What a published list says about a video: how its authors named it, the official split, the segment of it
# that is their clip. Recorded once, before the download, by the stage `sources`; a split recorded here
# overrides the hash split (manifests.split) of that video, and never changes afterwards.
SOURCES_STAGE = "sources"
SOURCES = TableSpec(
    name="sources",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("source_id", pa.string()),
        required("list_name", pa.string()),
        required("dataset", pa.string()),
        required("url", pa.string()),
        optional("split", pa.string()),
        optional("start_frame", pa.int64()),
        optional("end_frame", pa.int64()),
        optional("metadata", pa.string()),
        required("recorded_at", TIMESTAMP),
    ]),
    key=("video_id", "source_id"),
    unit_column="video_id",
    producer=SOURCES_STAGE,
    importers=REMOVERS,
    units={
        "video_id": "our id of the video (as the harvest names it)",
        "source_id": "the authors' name: 'download_tag/video_name' (InstaVariety), the clip id (VLOG)",
        "list_name": "the file that named it (InstaVariety.json, vlog_ids.txt, ...)",
        "split": "the official split (train | val | test) from a split list; null = the hash split",
        "start_frame": "first frame of the authors' clip, at the video's own frame rate; null = whole video",
        "end_frame": "one past the clip's last frame (exclusive); null = to the end",
        "metadata": "the list's record of the video, verbatim JSON (an InstaVariety post)",
    },
)

# A video taken down (a creator's request, a wrong licence): one row per video, committed by the stage
# `remove` in the same flush that ends its rows everywhere else. Later runs of every stage skip its id and
# its URLs (status `skipped`, reason `removed`), so a harvest never fetches it again.
REMOVED_REASON = "removed"
TOMBSTONES = TableSpec(
    name="tombstones",
    schema=pa.schema([
        required("video_id", pa.string()),
        required("url", pa.string()),
        optional("webpage_url", pa.string()),
        required("reason", pa.string()),
        required("selector", pa.string()),
        required("removed_at", TIMESTAMP),
    ]),
    key=("video_id",),
    unit_column="video_id",
    producer=REMOVE_STAGE,
    units={
        "url": "the media URL the video was harvested from ('' when it was never harvested)",
        "reason": "why it was taken down, as the maintainer gave it",
        "selector": "what selected it: id:<video_id>, uploader:<name>, query:<query>",
    },
)

DATA_TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (ENTRIES, VIDEOS, SHOTS, DETECTIONS, TRACKS, TUBES, FEATURES, TARGETS, SOURCES,
                                 TOMBSTONES)
}
