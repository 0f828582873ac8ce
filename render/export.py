"""A person's sequence in files other tools open: an npz of named arrays, and a mesh per frame (OBJ) for
Blender, MeshLab and the rest. Every file is written whole or not at all.

npz keys (n frames, V vertices):
  frames      (n,) int64      video frame indices, at `fps`
  fps         ()   float64    the rate `frames` count at
  track_id    ()   int64
  pose        (n, 72) float32 SMPL pose, axis-angle radians, 24 joints (the first: global orientation)
  betas       (n, 10) float32 SMPL shape
  camera      (n, 3) float32  weak-perspective (s, tx, ty) in crop units: x_crop = s * (X + t)
  bbox        (n, 3) float32  the crop box (center_x_px, center_y_px, scale); original pixels are
                              x_px = center_px + x_crop * 112 / scale
  smoothed    ()   bool       whether a temporal filter was applied (render/smoothing.py)
  vertices    (n, V, 3) float32, faces (F, 3) int32, joints (n, 25, 3) float32: optional; SMPL's mesh and
              HMMR_25 joints in metres, in the camera's orientation (x right, y down, z away)
and any extra per-frame arrays the caller adds (hmmr-predict: keypoints, single-frame poses).

OBJ: one file per frame, `<stem>_<frame:06d>.obj`, in metres, Y up and the person facing +Z (the OBJ
convention Blender's importer expects), placed where the camera saw them (render/projection.py's camera
space, turned upright): import the folder with a stop-motion OBJ add-on, or each file as a shape key.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from manifests.atomic import atomic_write, write_text_atomic
from render.people import PersonSequence
from render.projection import camera_space

NPZ_KEYS = ("frames", "fps", "track_id", "pose", "betas", "camera", "bbox", "smoothed")


def person_arrays(person: PersonSequence, fps: float, smoothed: bool = False, faces: np.ndarray | None = None,
                  joints: np.ndarray | None = None, extra: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The npz's arrays (see the module's docstring); vertices go in when the person has them."""
    arrays = {"frames": person.frames.astype(np.int64), "fps": np.float64(fps), "track_id": np.int64(person.track_id),
              "pose": person.pose.astype(np.float32), "betas": person.shape.astype(np.float32),
              "camera": person.camera.astype(np.float32), "bbox": person.bbox.astype(np.float32),
              "smoothed": np.bool_(smoothed)}
    if person.vertices is not None:
        if faces is None:
            raise ValueError("an npz with vertices needs the faces too")
        arrays["vertices"], arrays["faces"] = person.vertices.astype(np.float32), faces.astype(np.int32)
    if joints is not None:
        arrays["joints"] = joints.astype(np.float32)
    for name, value in (extra or {}).items():
        if name in arrays:
            raise ValueError(f"extra array {name!r} would overwrite the npz's own key")
        arrays[name] = np.asarray(value)
    return arrays


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    with atomic_write(Path(path)) as sink:
        np.savez(sink, **arrays)
    return Path(path)


def obj_text(vertices: np.ndarray, faces: np.ndarray, comment: str = "") -> str:
    """A Wavefront OBJ of one mesh: (V, 3) vertices, (F, 3) zero-based faces (written one-based); faces
    whose corners repeat (padding) are left out."""
    buffer = io.StringIO()
    if comment:
        buffer.write(f"# {comment}\n")
    np.savetxt(buffer, vertices, fmt="v %.5f %.5f %.5f")
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    np.savetxt(buffer, faces[keep] + 1, fmt="f %d %d %d")
    return buffer.getvalue()


def upright(points: np.ndarray) -> np.ndarray:
    """Camera space (x right, y down, z away) -> OBJ's (x right, y up, z towards the viewer): half a turn about x."""
    return points * np.array([1.0, -1.0, -1.0], dtype=points.dtype)


def write_obj_sequence(folder: Path, person: PersonSequence, faces: np.ndarray, image_size: tuple[int, int],
                       focal_px: float | None = None, stem: str | None = None) -> list[Path]:
    """One OBJ per frame of `person` (vertices filled) into `folder`; returns the paths in frame order."""
    if person.vertices is None:
        raise ValueError(f"track {person.track_id}: vertices are not computed (render.people.with_vertices)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = stem or f"track{person.track_id}"
    focal = focal_px or float(max(image_size))
    points = upright(camera_space(person.vertices, person.camera, person.bbox, image_size, focal))
    paths = []
    for frame, frame_points in zip(person.frames, points):
        path = folder / f"{stem}_{int(frame):06d}.obj"
        write_text_atomic(path, obj_text(frame_points, faces, comment=f"hmmr track {person.track_id}, video frame "
                                                                      f"{int(frame)}, metres, Y up"))
        paths.append(path)
    return paths
