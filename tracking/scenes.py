"""Scenes with known identities to score trackers on: synthetic ones (crossings, groups, occlusions,
a shot cut), real pedestrian trajectories (the TUD sequences py-motmetrics ships), and the noise a real
detector adds (box jitter, missed detections, joint noise, missed joints).

A person here is a BODY_25 skeleton: a standing template scaled to a height, optionally mid-stride
(arms and legs swing with a gait phase), so that joints move between frames as a walker's do.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from manifests.joints import BODY_25
from tracking import calibrated

# A standing person's joints as offsets from the mid-hip, in units of body height (y grows downwards).
_TEMPLATE = {
    "nose": (0.0, -0.45), "neck": (0.0, -0.35), "right_shoulder": (-0.1, -0.33), "right_elbow": (-0.13, -0.18),
    "right_wrist": (-0.14, -0.03), "left_shoulder": (0.1, -0.33), "left_elbow": (0.13, -0.18),
    "left_wrist": (0.14, -0.03), "mid_hip": (0.0, 0.0), "right_hip": (-0.06, 0.0), "right_knee": (-0.07, 0.25),
    "right_ankle": (-0.07, 0.48), "left_hip": (0.06, 0.0), "left_knee": (0.07, 0.25), "left_ankle": (0.07, 0.48),
    "right_eye": (-0.02, -0.47), "left_eye": (0.02, -0.47), "right_ear": (-0.04, -0.46), "left_ear": (0.04, -0.46),
    "left_big_toe": (0.09, 0.52), "left_small_toe": (0.11, 0.52), "left_heel": (0.06, 0.5),
    "right_big_toe": (-0.09, 0.52), "right_small_toe": (-0.11, 0.52), "right_heel": (-0.06, 0.5),
}
TEMPLATE = np.array([_TEMPLATE[name] for name in BODY_25])
# Horizontal swing (in body heights) of each joint at the peak of a stride: legs and feet one way, the
# opposite arm with them; the other side mirrored.
_SWING_BY_NAME = {"left_knee": 0.08, "left_ankle": 0.16, "left_big_toe": 0.16, "left_small_toe": 0.16,
                  "left_heel": 0.16, "right_elbow": 0.04, "right_wrist": 0.08,
                  "right_knee": -0.08, "right_ankle": -0.16, "right_big_toe": -0.16, "right_small_toe": -0.16,
                  "right_heel": -0.16, "left_elbow": -0.04, "left_wrist": -0.08}
SWING = np.array([_SWING_BY_NAME.get(name, 0.0) for name in BODY_25])
STRIDE_HEIGHTS = 0.8  # a full gait cycle covers about 0.8 body heights of ground


def person(x: float, y: float, height: float, confidence: float = 0.9, phase: float | None = None) -> np.ndarray:
    """(25, 3) BODY_25 keypoints of a person with mid-hip at (x, y); `phase` (radians): mid-stride."""
    offsets = TEMPLATE.copy()
    if phase is not None:
        offsets[:, 0] += SWING * np.sin(phase)
    points = np.array([x, y]) + offsets * height
    return np.concatenate([points, np.full((25, 1), confidence)], axis=1)


@dataclass(frozen=True)
class Scene:
    """Detections with their true identity: frames (N,), keypoints (N, 25, 3), truth (N,) (-1 = false
    positive). `people`: every true person-frame (frame, identity), seen by the detector or not: what a
    tracker is scored against."""

    name: str
    frames: np.ndarray
    keypoints: np.ndarray
    truth: np.ndarray
    shot_starts: tuple[int, ...] = (0,)
    people: np.ndarray | None = None  # (M, 2) frame, identity; None: the true rows of the detections
    frame_size: tuple[int, int] | None = None  # (width, height) px of the camera's frame, when the scene has one

    def true_person_frames(self) -> np.ndarray:
        if self.people is not None:
            return self.people
        real = self.truth >= 0
        return np.stack([self.frames[real], self.truth[real]], axis=1)


def _scene(name: str, rows: list[tuple[int, np.ndarray, int]], **extra) -> Scene:
    frames = np.array([r[0] for r in rows], dtype=np.int64)
    keypoints = np.stack([r[1] for r in rows]).astype(np.float32)
    return Scene(name, frames, keypoints, np.array([r[2] for r in rows]), **extra)


def _walker(x: float, y: float, height: float, distance: float) -> np.ndarray:
    return person(x, y, height, phase=2 * np.pi * distance / (STRIDE_HEIGHTS * height))


def synthetic_scenes(seed: int = 0) -> list[Scene]:
    """Scenes of 100-200 frames with known identities: crossings, one leaving as another enters,
    occlusion gaps (3 to 15 frames), misses and false positives, keypoint noise, a group walking
    together, a shot cut, and street crowds (crowd_scene)."""
    rng = np.random.default_rng(seed)
    scenes = []

    # Two people walk towards each other and pass with a vertical offset.
    rows = []
    for f in range(120):
        rows.append((f, _walker(50 + 4 * f, 180, 120, 4 * f), 0))
        rows.append((f, _walker(590 - 4 * f, 230, 120, 4 * f), 1))
    scenes.append(_scene("crossing", rows))

    # One leaves on the right as another enters on the left, in the same frame range.
    rows = []
    for f in range(100):
        if f < 60:
            rows.append((f, _walker(500 + 3 * f, 200, 110, 3 * f), 0))
        if f >= 55:
            rows.append((f, _walker(40 + 3 * (f - 55), 200, 110, 3 * f), 1))
    scenes.append(_scene("leave_and_enter", rows))

    # Occlusion: a walker passes behind a pillar for 3, 8 and 15 frames while another stands still.
    rows = []
    for f in range(150):
        hidden = 30 <= f < 33 or 70 <= f < 78 or 110 <= f < 125
        if not hidden:
            rows.append((f, _walker(60 + 3 * f, 200, 100, 3 * f), 0))
        rows.append((f, person(560, 150 + 0.2 * f, 90), 1))
    scenes.append(_scene("occlusions_3_8_15", rows, people=np.array([(f, p) for f in range(150) for p in (0, 1)])))

    # Detector misses (10% of detections) and false positives (random bodies, truth -1).
    rows, people = [], []
    for f in range(150):
        for pid, (x0, vx) in enumerate(((80, 2.0), (300, -1.0), (450, 1.0))):
            people.append((f, pid))
            if rng.random() > 0.1:
                rows.append((f, _walker(x0 + vx * f, 120 + 80 * pid, 100, abs(vx) * f), pid))
        if rng.random() < 0.1:
            rows.append((f, person(rng.uniform(0, 640), rng.uniform(0, 360), rng.uniform(60, 140), 0.4), -1))
    scenes.append(_scene("misses_and_false_positives", rows, people=np.array(people)))

    # Keypoint noise: 3 people with 4 px jitter on every joint.
    rows = []
    for f in range(150):
        for pid in range(3):
            body = _walker(100 + 200 * pid + 0.5 * f, 200, 110, 0.5 * f)
            body[:, :2] += rng.normal(0, 4, (25, 2))
            rows.append((f, body, pid))
    scenes.append(_scene("keypoint_noise", rows))

    # A group of three walking side by side, half a body apart, crossing a single walker going the other way.
    rows = []
    for f in range(140):
        for pid in range(3):
            rows.append((f, _walker(40 + 3 * f + 45 * pid, 190 + 8 * pid, 110, 3 * f + 20 * pid), pid))
        rows.append((f, _walker(600 - 3 * f, 215, 115, 3 * f), 3))
    scenes.append(_scene("group_and_walker", rows))

    # A shot cut at frame 80: the same place, but a new shot: identities must not carry across.
    rows = []
    for f in range(160):
        rows.append((f, person(300 + 0.5 * f, 200, 120), 0 if f < 80 else 1))
    scenes.append(_scene("shot_cut", rows, shot_starts=(0, 80)))

    # Street crowds: pedestrians at different depths, at 10 and at 25 frames/s.
    scenes.append(crowd_scene("crowd_10fps", seed=seed, fps=10.0))
    scenes.append(crowd_scene("crowd_25fps", seed=seed + 1000, fps=25.0))
    return scenes


def crowd_scene(name: str, seed: int, n_frames: int = 200, fps: float = 10.0, n_people: int = 16,
                width: int = 768, height: int = 576) -> Scene:
    """Pedestrians on a ground plane seen from above and in front, as a street camera sees them: people
    lower in the frame are nearer and taller; they enter at the sides, walk at 1-1.8 m/s in random
    directions (mostly across), cross and pass behind each other; five are there from the start, the
    others come in during the scene. A person more than 60% hidden behind
    a nearer one is not detected, but still counts."""
    rng = np.random.default_rng(seed)
    horizon, metres_per_height = 0.15 * height, 1.75

    def body_height(feet_y: np.ndarray) -> np.ndarray:  # in px: proportional to the distance below the horizon
        return 0.45 * (feet_y - horizon)

    walkers = []
    for pid in range(n_people):
        enter = int(rng.integers(0, n_frames - 20)) if pid >= 5 else 0
        feet_y = rng.uniform(0.45 * height, 0.95 * height)
        direction = rng.choice([-1, 1])
        x = rng.uniform(0, width) if enter == 0 else (-40 if direction > 0 else width + 40)
        speed_m_s = rng.uniform(1.0, 1.8) * (0.2 if rng.random() < 0.15 else 1.0)  # a few dawdle
        angle = rng.normal(0, 0.35)
        walkers.append((pid, enter, x, feet_y, direction, speed_m_s, angle))
    rows, frames_of, boxes = [], [], []
    for pid, enter, x, feet_y, direction, speed_m_s, angle in walkers:
        walked = 0.0
        for f in range(enter, n_frames):
            h = body_height(np.array(feet_y))
            step = speed_m_s / fps / metres_per_height * h  # px this frame
            x += direction * step * np.cos(angle)
            feet_y = float(np.clip(feet_y + step * np.sin(angle) * 0.5, 0.3 * height, height))
            walked += step
            h = float(body_height(np.array(feet_y)))
            if not -0.2 * h < x < width + 0.2 * h:
                continue
            keypoints = _walker(x, feet_y - 0.52 * h, h, walked)
            rows.append((f, keypoints, pid))
            frames_of.append(f)
            boxes.append([x - 0.2 * h, feet_y - h, x + 0.2 * h, feet_y])
    frames = np.array(frames_of)
    seen = ~_hidden(frames, np.array(boxes), 0.6)
    # No frame_size: walkers are detected up to 0.2 heights beyond the frame's edges, their box centres
    # outside it, which no detector's joints would give.
    scene = _scene(name, [r for r, keep in zip(rows, seen) if keep])
    return replace(scene, people=np.array([(r[0], r[2]) for r in rows]))


MOT_FRAME_SIZES = {"TUD-Campus": (640, 480), "TUD-Stadtmitte": (640, 480)}  # MOT15's seqinfo (imWidth, imHeight)


def mot_sequences() -> dict[str, Path]:
    """The pedestrian sequences with ground-truth identities that py-motmetrics ships (MOT format
    gt.txt: frame, id, left, top, width, height, ...): TUD-Campus and TUD-Stadtmitte, real people
    walking, crossing and occluding each other, annotated by hand."""
    import motmetrics

    data = Path(motmetrics.__file__).parent / "data"
    return {name: data / name / "gt.txt" for name in ("TUD-Campus", "TUD-Stadtmitte")}


def mot_scene(name: str, gt_path: Path, max_covered: float = 0.6) -> Scene:
    """A scene of skeletons walking the annotated boxes of a MOT gt.txt: one per box, as tall as the box,
    mid-stride by the distance its identity has covered. A person whose box is more than `max_covered`
    hidden behind a nearer person's (whose box reaches lower in the frame) is not detected, but still
    counts as a person to track. Raises ValueError naming the file if it is not MOT format."""
    table = np.loadtxt(gt_path, delimiter=",", ndmin=2)
    if table.shape[1] < 6:
        raise ValueError(f"{gt_path}: expected MOT rows 'frame,id,left,top,width,height,...', got "
                         f"{table.shape[1]} columns")
    table = table[np.lexsort((table[:, 1], table[:, 0]))]
    frames, ids = table[:, 0].astype(np.int64) - 1, table[:, 1].astype(np.int64)
    left, top, width, height = table[:, 2:6].T
    centre_x, hip_y = left + width / 2, top + 0.48 * height
    keypoints = np.empty((len(table), 25, 3), dtype=np.float32)
    covered: dict[int, tuple[float, float]] = {}  # identity -> (last centre x, distance walked)
    for row in range(len(table)):
        last_x, walked = covered.get(int(ids[row]), (centre_x[row], 0.0))
        walked += abs(centre_x[row] - last_x)
        covered[int(ids[row])] = (centre_x[row], walked)
        keypoints[row] = _walker(centre_x[row], hip_y[row], height[row], walked)
    _, truth = np.unique(ids, return_inverse=True)
    boxes = np.stack([left, top, left + width, top + height], axis=1)
    seen = ~_hidden(frames, boxes, max_covered)
    return Scene(name, frames[seen], keypoints[seen], truth[seen].astype(np.int64),
                 people=np.stack([frames, truth], axis=1), frame_size=MOT_FRAME_SIZES.get(gt_path.parent.name))


def _hidden(frames: np.ndarray, boxes: np.ndarray, max_covered: float) -> np.ndarray:
    """(N,) True where more than `max_covered` of a box lies behind one box nearer the camera."""
    hidden = np.zeros(len(frames), dtype=bool)
    for frame in np.unique(frames):
        rows = np.flatnonzero(frames == frame)
        b = boxes[rows]
        width = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
        height = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
        covered = width * height / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[:, None]  # share of row i behind j
        nearer = b[None, :, 3] > b[:, None, 3]
        hidden[rows] = (np.where(nearer, covered, 0) > max_covered).any(axis=1)
    return hidden


@dataclass(frozen=True)
class Noise:
    """What a real detector does to people: box_jitter: the whole body shifted and scaled by this share
    of its size (one normal draw per detection and axis); miss_rate: detections dropped; joint_noise:
    each joint jittered by this multiple of the spread measured for it on real detections
    (tracking/calibrated.py SIGMAS: the spread of the difference of two sightings, so one sighting's
    jitter is SIGMAS / sqrt(2) per axis); joint_miss_rate: joints reported unseen."""

    box_jitter: float = 0.05
    miss_rate: float = 0.10
    joint_noise: float = 0.0
    joint_miss_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("box_jitter", "miss_rate", "joint_miss_rate"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"Noise.{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.joint_noise <= 10:
            raise ValueError(f"Noise.joint_noise must be in [0, 10] (times the measured spreads), got {self.joint_noise}")


def add_noise(scene: Scene, noise: Noise, seed: int = 0, spreads: np.ndarray | None = None) -> Scene:
    """The scene as a noisy detector would report it; `people` keeps every true person-frame. spreads:
    (25,) the joints' measured spreads (default: tracking/calibrated.py's)."""
    rng = np.random.default_rng(seed)
    keypoints = scene.keypoints.astype(np.float64)
    seen = keypoints[..., 2] > 0
    low = np.where(seen[..., None], keypoints[..., :2], np.inf).min(axis=1)
    high = np.where(seen[..., None], keypoints[..., :2], -np.inf).max(axis=1)
    size = np.where(np.isfinite(high - low), high - low, 0.0)  # (N, 2) box width, height
    centre = (low + high) / 2
    centre = np.where(np.isfinite(centre), centre, 0.0)
    shift = rng.normal(0, noise.box_jitter, (len(keypoints), 2)) * size
    scale = np.exp(rng.normal(0, noise.box_jitter, (len(keypoints), 1, 1)))
    points = (keypoints[..., :2] - centre[:, None]) * scale + centre[:, None] + shift[:, None]
    spreads = calibrated.SIGMAS if spreads is None else spreads
    joint_jitter = noise.joint_noise * np.asarray(spreads)[:, None] / np.sqrt(2)  # (25, 1), in body heights
    points += rng.normal(0, 1, points.shape) * joint_jitter * size[:, None, 1:2]
    confidence = keypoints[..., 2] * (rng.random(seen.shape) >= noise.joint_miss_rate)
    noisy = np.concatenate([points, confidence[..., None]], axis=2).astype(np.float32)
    kept = rng.random(len(keypoints)) >= noise.miss_rate
    return replace(scene, frames=scene.frames[kept], keypoints=noisy[kept], truth=scene.truth[kept],
                   people=scene.true_person_frames())
