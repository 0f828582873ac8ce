"""The exact schema of every table in DESIGN.md, defined once.

Column names are constants below; code elsewhere refers to `tables.VIDEOS`, `tables.DETECTIONS`, ...
and never spells a schema of its own.
"""
from __future__ import annotations

import pyarrow as pa

from manifests.joints import HMMR_25, KEYPOINT_WIDTH, N_LSP
from manifests.spec import TableSpec, fixed_list

FEATURE_DIM = 2048  # ResNet-50 average-pooled features
BBOX_WIDTH = 3  # (center_x_px, center_y_px, scale)
CROP_PX = 224  # the side of a tube's square crop, which a bbox's scale refers to
N_SMPL_POSE = 24 * 3  # SMPL pose: 24 joint rotations, axis-angle
N_SMPL_SHAPE = 10  # SMPL betas

TIMESTAMP = pa.timestamp("us", tz="UTC")
# The stage that commits rows converted from published datasets (the authors' tracks and tfrecords,
# Penn Action, 3DPW, Human3.6M) into the tables our own stages fill, for units (videos) of its own.
IMPORT_STAGE = "import"
IMPORTERS = (IMPORT_STAGE,)
# The stage that takes a video down (pipelines.remove): it commits zero rows for the video in every table
# keyed by video (and the entries of the queries that listed it), so its rows stop being live exactly as
# superseded rows do, and one `tombstones` row that keeps it out of every later run.
REMOVE_STAGE = "remove"
REMOVERS = (REMOVE_STAGE,)
KEYPOINTS = fixed_list(pa.float32(), KEYPOINT_WIDTH)
BBOX = fixed_list(pa.float32(), BBOX_WIDTH)
FEATURE = fixed_list(pa.float16(), FEATURE_DIM)
TRAINING_KEYPOINTS = fixed_list(pa.float32(), len(HMMR_25) * 3)
JOINTS_3D = fixed_list(pa.float32(), N_LSP * 3)
SMPL_POSE = fixed_list(pa.float32(), N_SMPL_POSE)
SMPL_SHAPE = fixed_list(pa.float32(), N_SMPL_SHAPE)


def _required(name: str, data_type: pa.DataType) -> pa.Field:
    return pa.field(name, data_type, nullable=False)


def _optional(name: str, data_type: pa.DataType) -> pa.Field:
    return pa.field(name, data_type, nullable=True)


ENTRIES = TableSpec(
    name="entries",
    schema=pa.schema([
        _required("query_id", pa.string()),
        _required("query", pa.string()),
        _required("dataset", pa.string()),
        _required("position", pa.int32()),
        _required("video_id", pa.string()),
        _required("url", pa.string()),
        _optional("webpage_url", pa.string()),
        _required("extractor", pa.string()),
        _optional("title", pa.string()),
        _required("enumerated_at", TIMESTAMP),
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
        _required("video_id", pa.string()),
        _required("dataset", pa.string()),
        _required("query", pa.string()),
        _required("url", pa.string()),
        _optional("webpage_url", pa.string()),
        _required("media_path", pa.string()),
        _required("sha256", pa.string()),
        _required("n_bytes", pa.int64()),
        _required("duration_s", pa.float64()),
        _required("fps", pa.float64()),
        _required("width", pa.int32()),
        _required("height", pa.int32()),
        _required("codec", pa.string()),
        _optional("uploader", pa.string()),
        _optional("upload_date", pa.string()),
        _optional("license", pa.string()),
        _optional("title", pa.string()),
        _required("harvested_at", TIMESTAMP),
        _required("split", pa.string()),
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
        _required("video_id", pa.string()),
        _required("shot", pa.int32()),
        _required("start_frame", pa.int64()),
        _required("end_frame", pa.int64()),
        _required("fps", pa.float64()),
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
        _required("video_id", pa.string()),
        _required("frame", pa.int64()),
        _required("person", pa.int32()),
        _required("keypoints", KEYPOINTS),
        _required("backend", pa.string()),
        _required("backend_version", pa.string()),
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
        _required("video_id", pa.string()),
        _required("frame", pa.int64()),
        _required("person", pa.int32()),
        _required("track_id", pa.int64()),
        _required("shot", pa.int32()),
    ]),
    key=("video_id", "frame", "person"),
    unit_column="video_id",
    producer="tracking",
    importers=IMPORTERS + REMOVERS,
    units={"track_id": "unique within a video; a track never crosses a shot cut; -1: a detection no track kept "
                       "(a weak one that continued none, or a track seen fewer than 3 times)"},
)

TUBES = TableSpec(
    name="tubes",
    schema=pa.schema([
        _required("tube_id", pa.string()),
        _required("video_id", pa.string()),
        _required("dataset", pa.string()),
        _required("split", pa.string()),
        _required("track_id", pa.int64()),
        _required("shot", pa.int32()),
        _required("start_frame", pa.int64()),
        _required("end_frame", pa.int64()),
        _required("n_frames", pa.int32()),
        _required("fps", pa.float64()),
        _required("keypoints", pa.list_(KEYPOINTS)),
        _required("bbox", pa.list_(BBOX)),
        _required("mean_confidence", pa.float32()),
        _required("mean_visible_joints", pa.float32()),
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
        _required("tube_id", pa.string()),
        _required("video_id", pa.string()),
        _required("view", pa.int32()),
        _required("n_frames", pa.int32()),
        _required("bbox", pa.list_(BBOX)),
        _optional("flipped", pa.bool_()),
        _required("features", pa.list_(FEATURE)),
        _required("extractor", pa.string()),
        _required("extractor_version", pa.string()),
        _required("tubes_flush", pa.string()),
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
        _required("tube_id", pa.string()),
        _required("video_id", pa.string()),
        _required("keypoints", pa.list_(TRAINING_KEYPOINTS)),
        _optional("joints_3d", pa.list_(JOINTS_3D)),
        _optional("pose", pa.list_(SMPL_POSE)),
        _optional("shape", SMPL_SHAPE),
        _required("source", pa.string()),
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
        _required("video_id", pa.string()),
        _required("source_id", pa.string()),
        _required("list_name", pa.string()),
        _required("dataset", pa.string()),
        _required("url", pa.string()),
        _optional("split", pa.string()),
        _optional("start_frame", pa.int64()),
        _optional("end_frame", pa.int64()),
        _optional("metadata", pa.string()),
        _required("recorded_at", TIMESTAMP),
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
        _required("video_id", pa.string()),
        _required("url", pa.string()),
        _optional("webpage_url", pa.string()),
        _required("reason", pa.string()),
        _required("selector", pa.string()),
        _required("removed_at", TIMESTAMP),
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

STATUS_OK, STATUS_FAILED, STATUS_SKIPPED = "ok", "failed", "skipped"
UNIT_ID = "unit_id"  # the status column naming a unit (a payload's `UnitPayload.unit_id`)
STATUS_FOLDER = "_status"  # manifests/_status/<stage>/ holds each stage's status parts
STATUS_VALUES = (STATUS_OK, STATUS_FAILED, STATUS_SKIPPED)


def status_spec(stage: str) -> TableSpec:
    """The status table of one stage: one row per finished unit attempt (`_status/<stage>/`)."""
    return TableSpec(
        name=f"{STATUS_FOLDER}/{stage}",
        schema=pa.schema([
            _required(UNIT_ID, pa.string()),
            _required("stage", pa.string()),
            _required("version", pa.string()),
            _required("status", pa.string()),
            _optional("reason", pa.string()),
            _optional("message", pa.string()),
            _required("run_id", pa.string()),
            _required("flush_id", pa.string()),
            _required("finished_at", TIMESTAMP),
            _required("duration_s", pa.float64()),
        ]),
        key=(UNIT_ID, "flush_id"),
        unit_column=UNIT_ID,
        producer=stage,
        units={
            "status": "ok | failed | skipped",
            "reason": "failed: the error type; skipped: why (duplicate, too short, ...)",
            "flush_id": "the flush whose data parts this row commits",
            "duration_s": "seconds the unit took on its worker",
        },
    )


DATA_TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (ENTRIES, VIDEOS, SHOTS, DETECTIONS, TRACKS, TUBES, FEATURES, TARGETS, SOURCES,
                                 TOMBSTONES)
}
