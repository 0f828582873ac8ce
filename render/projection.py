"""From a tube's crop camera to the original video's pixels, and a depth that orders people.

The model's camera is weak-perspective in crop units (train/camera.py): x_crop = s * (X + t), with
x_crop in [-1, 1] across the 224-pixel crop. The tube's box (center_x_px, center_y_px, scale) defines
that crop (train/features.py): a crop pixel is 1/scale image pixels, the crop centred on the box centre,
and crop units are (crop pixel / 112) - 1 (train/data.py). So an image pixel is
    x_px = center_px + x_crop * 112 / scale = center_px + k * (X + t),   k = s * 112 / scale,
k being the person's size in image pixels per metre. Weak perspective has no depth; the perspective
camera it approximates puts the person at depth f / k for a focal length f in image pixels, so a person
drawn larger is nearer whatever f is. f only sets how far apart people stand in the side view (and how
much one person's own depth can interleave with another's): `focal_px`, by default the frame's longer side
(a 53-degree field of view, a phone's).
"""
from __future__ import annotations

import numpy as np

from train.data import CROP_HALF_PX


def pixels_per_metre(camera: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """(..., 3) cameras and (..., 3) boxes -> (...,) image pixels per metre at the person."""
    return camera[..., 0] * CROP_HALF_PX / bbox[..., 2]


def image_points(points: np.ndarray, camera: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """points (..., V, 3) metres, camera (..., 3), bbox (..., 3) -> (..., V, 2) original image pixels."""
    k = pixels_per_metre(camera, bbox)[..., None, None]
    return bbox[..., None, :2] + k * (points[..., :2] + camera[..., None, 1:])


def person_depth(camera: np.ndarray, bbox: np.ndarray, focal_px: float) -> np.ndarray:
    """(...,) metres from the camera to the person's root under the perspective camera of focal `focal_px`."""
    return focal_px / np.maximum(pixels_per_metre(camera, bbox), 1e-6)


def camera_space(points: np.ndarray, camera: np.ndarray, bbox: np.ndarray, image_size: tuple[int, int],
                 focal_px: float) -> np.ndarray:
    """points (..., V, 3) -> (..., V, 3) metres in the camera's frame (x right, y down, z away, the camera at
    the origin looking at the image centre): where weak perspective puts them, at their person's depth."""
    width, height = image_size
    k = pixels_per_metre(camera, bbox)[..., None, None]
    pixels = image_points(points, camera, bbox)
    xy = (pixels - np.array([width / 2, height / 2])) / k
    z = person_depth(camera, bbox, focal_px)[..., None, None] + points[..., 2:3]
    return np.concatenate([xy, z], axis=-1)
