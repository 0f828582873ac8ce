"""Tiny published datasets in their exact public formats, written by the tests.

Penn Action: labels/<seq>.mat by scipy.io.savemat with the release's keys; frames/<seq>/%06d.jpg.
3DPW: sequenceFiles/<split>/<seq>.pkl as Python 2 wrote them (protocol 2, str keys and array bytes as
Python 2 `str`, numpy 1's module path), so reading needs encoding='latin1'; imageFiles/<seq>/image_%05d.jpg.
Human3.6M: MyPoseFeatures/D2_Positions and D3_Positions_mono .cdf written with cdflib ('Pose': 1 x N x 64
/ 96, CDF_FLOAT), Videos/<Action>.<camera>.mp4 made by ffmpeg at 50 fps.
Every frame's red channel is its index times 8, so a test can tell which frame a decoder returned.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np


def frame_image(index: int, width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = (index * 8) % 256
    image[..., 1] = 60
    return image


def write_jpegs(folder: Path, names: list[str], width: int = 96, height: int = 64) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        Image.fromarray(frame_image(index, width, height)).save(folder / name, "JPEG", quality=95)


def frame_index_of(rgb: np.ndarray) -> int:
    """The index a fixture frame encodes in its red channel."""
    return int(round(float(rgb[..., 0].mean()) / 8))


def walking_keypoints(n_frames: int, n_joints: int, seed: int, width: float = 96, height: float = 64) -> np.ndarray:
    """(n, J, 2) pixel positions that drift smoothly inside the frame."""
    rng = np.random.default_rng(seed)
    base = rng.uniform([0.3 * width, 0.2 * height], [0.7 * width, 0.8 * height], (n_joints, 2))
    drift = np.arange(n_frames)[:, None, None] * np.array([0.2, 0.1]) + np.sin(np.arange(n_frames) / 5.0)[:, None, None]
    return base[None] + drift


# ---------------------------------------------------------------- Penn Action


def write_penn_clip(source: Path, name: str, n_frames: int, is_train: bool, seed: int = 0) -> np.ndarray:
    """One clip; returns its (n, 13, 3) labels (x, y, visibility)."""
    from scipy.io import savemat

    xy = walking_keypoints(n_frames, 13, seed)
    visibility = np.ones((n_frames, 13))
    visibility[::7, 5] = 0  # the right wrist is hidden every 7th frame
    (source / "labels").mkdir(parents=True, exist_ok=True)
    savemat(source / "labels" / f"{name}.mat", {
        "action": "tennis_serve", "pose": "front", "x": xy[..., 0], "y": xy[..., 1], "visibility": visibility,
        "train": np.array([[1 if is_train else -1]]), "bbox": np.tile([10.0, 5.0, 80.0, 60.0], (n_frames, 1)),
        "dimensions": np.array([[64, 96, n_frames]]), "nframes": np.array([[n_frames]]),
    })
    write_jpegs(source / "frames" / name, [f"{i:06d}.jpg" for i in range(1, n_frames + 1)])
    return np.concatenate([xy, visibility[..., None]], axis=-1)


# ---------------------------------------------------------------- Python 2 pickles (3DPW)


class Py2Str(bytes):
    """What Python 2 pickled as `str`: bytes written with the (SHORT_)BINSTRING opcode."""


def _py2_str(data: bytes) -> bytes:
    return (b"U" + bytes([len(data)]) if len(data) < 256 else b"T" + struct.pack("<i", len(data))) + data


def _py2_value(value) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"\x88" if value else b"\x89"
    if isinstance(value, int):
        return b"J" + struct.pack("<i", value)
    if isinstance(value, float):
        return b"G" + struct.pack(">d", value)
    if isinstance(value, (str, Py2Str, bytes)):
        return _py2_str(value.encode("latin1") if isinstance(value, str) else bytes(value))
    if isinstance(value, tuple):
        return b"(" + b"".join(_py2_value(v) for v in value) + b"t"
    if isinstance(value, list):
        return b"](" + b"".join(_py2_value(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"}(" + b"".join(_py2_value(k) + _py2_value(v) for k, v in value.items()) + b"u"
    if isinstance(value, np.dtype):
        order = "|" if value.itemsize == 1 or value.byteorder == "|" else "<"
        return (b"cnumpy\ndtype\n" + _py2_value((value.str[1:], 0, 1)) + b"R"
                + _py2_value((3, order, None, None, None, -1, -1, 0)) + b"b")
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        state = (1, tuple(array.shape), array.dtype, False, Py2Str(array.tobytes()))
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"(cnumpy\nndarray\n" + _py2_value((0,)) + _py2_value("b")
                + b"tR" + _py2_value(state) + b"b")
    raise TypeError(f"no Python 2 pickle form for {type(value).__name__}")


def write_py2_pickle(path: Path, value) -> None:
    """`value` pickled as Python 2's cPickle.dump(value, f, 2) wrote it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x80\x02" + _py2_value(value) + b".")


def write_3dpw_sequence(source: Path, split_folder: str, name: str, n_frames: int, genders: list[str],
                        seed: int = 0) -> dict:
    """One sequence with the release's keys, shapes and dtypes; returns what was written (str keys)."""
    rng = np.random.default_rng(seed)
    n_people = len(genders)
    angle = np.linspace(0, 0.5, n_frames)
    cam_poses = np.tile(np.eye(4), (n_frames, 1, 1))
    cam_poses[:, 0, 0] = cam_poses[:, 2, 2] = np.cos(angle)  # the camera turns about its y axis
    cam_poses[:, 0, 2], cam_poses[:, 2, 0] = np.sin(angle), -np.sin(angle)
    cam_poses[:, :3, 3] = [0.1, -0.2, 4.0]
    poses2d = []
    for p in range(n_people):
        xy = walking_keypoints(n_frames, 18, seed + p)
        score = rng.uniform(0.3, 1.0, (n_frames, 18))
        score[:, 14:] = 0.05  # eyes and ears below the 0.1 threshold
        poses2d.append(np.concatenate([xy, score[..., None]], axis=-1).transpose(0, 2, 1).copy())  # N x 3 x 18
    data = {
        "sequence": name,
        "betas": [rng.normal(0, 1, 10) for _ in range(n_people)],
        "poses": [rng.normal(0, 0.2, (n_frames, 72)) for _ in range(n_people)],
        "trans": [np.column_stack([np.linspace(0, 1, n_frames), np.zeros(n_frames), np.full(n_frames, 0.5 * p)])
                  for p in range(n_people)],
        "poses_60Hz": [rng.normal(0, 0.2, (2 * n_frames, 72)) for _ in range(n_people)],
        "trans_60Hz": [np.zeros((2 * n_frames, 3)) for _ in range(n_people)],
        "betas_clothed": [rng.normal(0, 1, 10) for _ in range(n_people)],
        "v_template_clothed": [np.zeros((6890, 3)) for _ in range(n_people)],
        "genders": genders,
        "texture_maps": [np.zeros((16, 16, 3), np.uint8) for _ in range(n_people)],
        "poses2d": poses2d,
        "jointPositions": [rng.normal(0, 1, (n_frames, 72)) for _ in range(n_people)],
        "img_frame_ids": np.arange(n_frames, dtype=np.int64),
        "cam_poses": cam_poses,
        "campose_valid": [np.arange(n_frames) % 9 != 4 for _ in range(n_people)],  # a few invalid camera poses
        "cam_intrinsics": np.array([[1961.0, 0, 540.0], [0, 1969.0, 960.0], [0, 0, 1]]),
    }
    write_py2_pickle(source / "sequenceFiles" / split_folder / f"{name}.pkl", data)
    write_jpegs(source / "imageFiles" / name, [f"image_{i:05d}.jpg" for i in range(n_frames)])
    return data


# ---------------------------------------------------------------- Human3.6M


def write_cdf_pose(path: Path, poses: np.ndarray) -> None:
    """A pose file as the release has it: one 'Pose' variable of 1 x N x (32 * dims), CDF_FLOAT."""
    from cdflib import cdfwrite

    path.parent.mkdir(parents=True, exist_ok=True)
    data = poses.reshape(1, len(poses), -1).astype(np.float32)
    writer = cdfwrite.CDF(str(path), cdf_spec={"Majority": "Row_major"}, delete=True)
    writer.write_var({"Variable": "Pose", "Data_Type": cdfwrite.CDF.CDF_FLOAT, "Num_Elements": 1, "Rec_Vary": True,
                      "Var_Type": "zVariable", "Dim_Sizes": list(data.shape[1:])}, var_data=data)
    writer.close()


def write_h36m_sequence(source: Path, subject: str, action: str, camera: str, n_frames: int, seed: int = 0) -> dict:
    """2D and 3D poses (mm) of one (subject, action, camera) and its 50 fps video of n_frames (+2) frames."""
    import subprocess

    from tests_helpers import ffmpeg_exe

    rng = np.random.default_rng(seed)
    pose_2d = walking_keypoints(n_frames, 32, seed, width=100, height=100)
    pose_3d = rng.normal(0, 300, (32, 3))[None] + np.arange(n_frames)[:, None, None] * [1.0, 0.0, 2.0] + [0, 0, 4000]
    folder = source / subject / "MyPoseFeatures"
    write_cdf_pose(folder / "D2_Positions" / f"{action}.{camera}.cdf", pose_2d)
    write_cdf_pose(folder / "D3_Positions_mono" / f"{action}.{camera}.cdf", pose_3d)
    video = source / subject / "Videos" / f"{action}.{camera}.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=100x100:rate=50",
                    "-frames:v", str(n_frames + 2), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(video)], check=True)
    return {"pose_2d": pose_2d, "pose_3d": pose_3d}


def jpeg_bytes(index: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame_image(index, 96, 64)).save(buffer, "JPEG")
    return buffer.getvalue()
