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

from manifests.errors import ConfigError, InputError
from manifests.joints import N_BODY_25

# The parameters OpenPose's wrapper takes: the names of its command-line flags (include/openpose/flags.hpp,
# v1.5 to v1.7; a few were renamed between them, both names are here).
OPENPOSE_PARAMS = frozenset("""
logging_level disable_multi_thread profile_speed camera camera_resolution video image_dir flir_camera
flir_camera_index ip_camera frame_first frame_step frame_last frame_flip frame_rotate frames_repeat
process_real_time camera_parameter_path frame_undistort model_folder prototxt_path caffemodel_path
output_resolution num_gpu num_gpu_start keypoint_scale number_people_max maximize_positives fps_max body
body_disable model_pose net_resolution net_resolution_dynamic scale_number scale_gap heatmaps_add_parts
heatmaps_add_bkg heatmaps_add_PAFs heatmaps_scale part_candidates upsampling_ratio face face_detector
face_net_resolution hand hand_detector hand_net_resolution hand_scale_number hand_scale_range hand_tracking 3d
3d_min_views 3d_views identification tracking ik_threads part_to_show disable_blending render_threshold
render_pose alpha_pose alpha_heatmap face_render_threshold face_render face_alpha_pose face_alpha_heatmap
hand_render_threshold hand_render hand_alpha_pose hand_alpha_heatmap fullscreen no_gui_verbose display
cli_verbose write_images write_images_format write_video write_video_fps write_video_with_audio write_video_3d
write_video_adam write_json write_coco_json write_coco_json_variants write_coco_json_variant write_coco_foot_json
write_heatmaps write_heatmaps_format write_keypoint write_keypoint_format write_bvh udp_host udp_port
""".split())
# Parameters this adapter sets itself: from its own options, or fixed because the detections table needs
# BODY_25 keypoints and nothing drawn or shown.
OWN_PARAMS = {"model_folder": "set it with --openpose-model-folder", "net_resolution": "set it with --net-resolution",
              "number_people_max": "the backend option number_people_max", "num_gpu": "the backend option gpu_number",
              "model_pose": "always BODY_25", "display": "always 0", "render_pose": "always 0"}


class OpenPoseUnavailable(InputError, RuntimeError):
    """pyopenpose cannot be imported or the model folder is not a BODY_25 model folder."""


@dataclass(frozen=True)
class OpenPoseConfig:
    """model_folder: OpenPose's `models/` folder (holds pose/body_25/pose_iter_584000.caffemodel);
    python_path: folder holding the built pyopenpose module (build/python/openpose) when it is not on
    PYTHONPATH; net_resolution: network input, '-1x368' keeps the aspect ratio; number_people_max: -1 = all;
    gpu_number: GPUs per worker process (-1 = all visible); extra_params: more OpenPose parameters by name
    (its command-line flags without the dashes, e.g. ("scale_number", "4"), ("scale_gap", "0.25")), values as
    strings."""

    model_folder: str = ""
    python_path: str | None = None
    net_resolution: str = "-1x368"
    number_people_max: int = -1
    gpu_number: int = 1
    extra_params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.model_folder:
            raise ConfigError("the openpose backend needs --openpose-model-folder (OpenPose's models/ folder)")
        names = [name for name, _ in self.extra_params]
        unknown = sorted(set(names) - OPENPOSE_PARAMS)
        if unknown:
            raise ConfigError(f"unknown OpenPose parameter(s) {unknown}; valid parameters: {sorted(OPENPOSE_PARAMS)}")
        own = sorted(set(names) & set(OWN_PARAMS))
        if own:
            raise ConfigError(f"OpenPose parameter(s) {own} are set by hmmr itself ("
                              + "; ".join(f"{name}: {OWN_PARAMS[name]}" for name in own) + ")")


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
                                          f"expected (people, {N_BODY_25}, 3): is model_pose BODY_25?")
            results.append(keypoints)
        return results
