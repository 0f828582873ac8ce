"""The column types, dimensions and stage names that the table schemas share (manifests.tables).

The Arrow type of a keypoint, box or feature column is defined here once, beside the sizes it is made of, so a
schema and the code that fills it agree on the width.
"""
from __future__ import annotations

import pyarrow as pa

from manifests.joints import HMMR_25, KEYPOINT_WIDTH, N_LSP
from manifests.spec import fixed_list

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


def required(name: str, data_type: pa.DataType) -> pa.Field:
    return pa.field(name, data_type, nullable=False)


def optional(name: str, data_type: pa.DataType) -> pa.Field:
    return pa.field(name, data_type, nullable=True)
