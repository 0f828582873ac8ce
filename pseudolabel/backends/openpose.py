"""OpenPose through its Python API, `pyopenpose`, which users build with CMake (`-DBUILD_PYTHON=ON`).

Written against the documented flow of OpenPose's Python examples:
    op.WrapperPython(); wrapper.configure(params); wrapper.start()
    datum = op.Datum(); datum.cvInputData = <BGR uint8 image>
    wrapper.emplaceAndPop(op.VectorDatum([datum])); datum.poseKeypoints -> (people, 25, 3) or None
The BODY_25 model outputs our joint order directly (x_px, y_px, confidence in original pixels).
"""
from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from manifests.joints import N_BODY_25


class OpenPoseUnavailable(RuntimeError):
    """pyopenpose cannot be imported or the model folder is not a BODY_25 model folder."""


@dataclass(frozen=True)
class OpenPoseConfig:
    """model_folder: OpenPose's `models/` folder (holds pose/body_25/pose_iter_584000.caffemodel);
    python_path: folder holding the built pyopenpose module (build/python/openpose) when it is not on
    PYTHONPATH; net_resolution: network input, '-1x368' keeps the aspect ratio; number_people_max: -1 = all;
    gpu_number: GPUs per worker process (-1 = all visible); extra_params: more OpenPose flags by name."""

    model_folder: str = ""
    python_path: str | None = None
    net_resolution: str = "-1x368"
    number_people_max: int = -1
    gpu_number: int = 1
    extra_params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.model_folder:
            raise ValueError("the openpose backend needs --openpose-model-folder (OpenPose's models/ folder)")


def check_model_folder(folder: str) -> Path:
    path = Path(folder).expanduser()
    weights = path / "pose" / "body_25" / "pose_iter_584000.caffemodel"
    if not weights.is_file():
        raise OpenPoseUnavailable(
            f"--openpose-model-folder {path}: no BODY_25 weights at {weights}; run OpenPose's "
            f"models/getModels.sh (or download pose_iter_584000.caffemodel) into that folder")
    return path


def import_pyopenpose(python_path: str | None):
    """The pyopenpose module, from `python_path`, PYTHONPATH, or an installed `openpose` package."""
    if python_path:
        sys.path.insert(0, str(Path(python_path).expanduser()))
    for name in ("pyopenpose", "openpose.pyopenpose"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise OpenPoseUnavailable(
        "cannot import pyopenpose: build OpenPose with `cmake -DBUILD_PYTHON=ON ..` and pass "
        "--openpose-python-path <openpose>/build/python/openpose (or add it to PYTHONPATH)")


class OpenPoseBackend:
    """One OpenPose wrapper per worker process; frames go through one at a time (OpenPose batches on GPU
    internally and its Python API takes a vector of datums)."""

    name = "openpose"

    def __init__(self, config: OpenPoseConfig) -> None:
        model_folder = check_model_folder(config.model_folder)
        self.op = import_pyopenpose(config.python_path)
        params = {
            "model_folder": str(model_folder) + os.sep,
            "model_pose": "BODY_25",
            "net_resolution": config.net_resolution,
            "number_people_max": config.number_people_max,
            "num_gpu": config.gpu_number,
            "display": 0,
            "render_pose": 0,
        }
        params.update(dict(config.extra_params))
        self.wrapper = self.op.WrapperPython()
        self.wrapper.configure(params)
        self.wrapper.start()
        self.version = f"openpose-body25-{config.net_resolution}"

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """frames: (N, H, W, 3) uint8 RGB -> N arrays of (P, 25, 3)."""
        datums = []
        for rgb in frames:
            datum = self.op.Datum()
            datum.cvInputData = np.ascontiguousarray(rgb[..., ::-1])  # OpenPose takes OpenCV's BGR
            datums.append(datum)
        self.wrapper.emplaceAndPop(self.op.VectorDatum(datums))
        results = []
        for datum in datums:
            keypoints = datum.poseKeypoints
            if keypoints is None or np.ndim(keypoints) != 3 or len(keypoints) == 0:
                results.append(np.zeros((0, N_BODY_25, 3), np.float32))
                continue
            keypoints = np.asarray(keypoints, dtype=np.float32)
            if keypoints.shape[1:] != (N_BODY_25, 3):
                raise OpenPoseUnavailable(f"pyopenpose returned keypoints of shape {keypoints.shape}; "
                                          f"expected (people, 25, 3): is model_pose BODY_25?")
            results.append(keypoints)
        return results
