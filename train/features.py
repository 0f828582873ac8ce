"""The features stage's per-video work: 224x224 crops of every tube frame, in every view, through
ResNet-50 into 2048 float16 per frame, with the video decoded once."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from manifests import TUBES
from manifests.rows import FeatureRows
from manifests.status import UnitPayload, UnitResult
from manifests.store import read_part
from manifests.tables import FEATURE_DIM
from media.decode import DecodeConfig, open_stream
from train.encoders import ENCODERS, encoder_spec

CROP_PX = 224


@dataclass(frozen=True)
class JitterConfig:
    """The released code's augmentation for precomputed features (src/util/tube_augmentation.py, as
    insta_variety_to_tfrecords.py runs it once per stored copy): features come from a frozen backbone and
    are computed once, so augmentation happens here, as `views` extra copies of every tube. In each copy
    every frame's crop is shifted by up to `shift_px` (in crop pixels) and scaled by 2^U(-scale_log2,
    scale_log2), drawn afresh per frame (`per_frame`; off: one draw for the whole tube, which never
    shakes), and the whole copy is mirrored with probability `flip_probability`. View 0 is the tube's own
    crops. The training sampler picks a view per window."""

    views: int = 2
    scale_log2: float = 0.3
    shift_px: float = 20.0
    per_frame: bool = True
    flip_probability: float = 0.5

    def __post_init__(self) -> None:
        if self.views < 0:
            raise ValueError(f"JitterConfig.views must be >= 0, got {self.views}")
        if self.scale_log2 < 0:
            raise ValueError(f"JitterConfig.scale_log2 must be >= 0, got {self.scale_log2}")
        if self.shift_px < 0:
            raise ValueError(f"JitterConfig.shift_px must be >= 0, got {self.shift_px}")
        if not 0 <= self.flip_probability <= 1:
            raise ValueError(f"JitterConfig.flip_probability must be in [0, 1], got {self.flip_probability}")


@dataclass(frozen=True)
class FeatureConfig:
    """encoder: a name in train.encoders.ENCODERS (`resnet50`: torchvision's layout; `hmr`: HMR's
    ResNet-v2-50, as the released HMMR model was trained on); weights: that encoder's weights file
    (None = random init, with a loud warning); batch_frames: crops per forward pass; device: 'auto' =
    CUDA when the worker has it; jitter: the augmented views computed besides each tube's own boxes."""

    weights: str | None = None
    batch_frames: int = 64
    device: str = "auto"
    jitter: JitterConfig = field(default_factory=JitterConfig)
    encoder: str = "resnet50"

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"FeatureConfig.encoder must be one of {sorted(ENCODERS)}, got {self.encoder!r}")

    def version(self) -> str:
        jitter = self.jitter
        # Version 3: per-frame jitter and mirrored copies change every augmented view's features.
        encoder = "" if self.encoder == "resnet50" else f"{self.encoder}:"
        return (f"3/{encoder}{Path(self.weights).name if self.weights else 'random-init'}/views=1+{jitter.views}"
                f",scale_log2={jitter.scale_log2},shift={jitter.shift_px},per_frame={jitter.per_frame}"
                f",flip={jitter.flip_probability}")


def jittered_boxes(bbox: np.ndarray, tube_id: str, view: int, jitter: JitterConfig) -> tuple[np.ndarray, bool]:
    """(n, 3) crop boxes of `view` of a tube and whether its crops are mirrored: view 0 is the tube's own;
    others shifted (crop pixels) and scaled per frame (or once, see JitterConfig), drawn from the tube id
    and view so re-runs agree."""
    if view == 0:
        return bbox.astype(np.float32), False
    seed = int.from_bytes(hashlib.sha256(f"{tube_id}/{view}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    draws = len(bbox) if jitter.per_frame else 1
    factor = 2.0 ** rng.uniform(-jitter.scale_log2, jitter.scale_log2, size=(draws, 1))
    shift_crop_px = rng.uniform(-jitter.shift_px, jitter.shift_px, size=(draws, 2))
    flipped = bool(rng.random() < jitter.flip_probability)
    out = bbox.astype(np.float64).copy()
    out[:, :2] += shift_crop_px / out[:, 2:3]  # crop pixels -> image pixels at each frame's scale
    out[:, 2:3] *= factor
    return out.astype(np.float32), flipped


class FeatureExtractor:
    """Built once per worker (the stage's context)."""

    def __init__(self, config: FeatureConfig) -> None:
        self.device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if config.device == "auto" else config.device))
        spec = encoder_spec(config.encoder)
        model, self.version = spec.load(Path(config.weights) if config.weights else None)
        self.name, self.pixels = spec.name, spec.pixels
        self.model = model.to(self.device)
        self.batch_frames = config.batch_frames
        with torch.no_grad():
            width = self.model(torch.zeros(1, 3, 64, 64, device=self.device)).shape[-1]
        if width != FEATURE_DIM:
            raise ValueError(f"{config.weights}: the {spec.name} encoder gives {width}-D features; the features "
                             f"table holds {FEATURE_DIM}-D ones (a full-width network is needed)")

    @torch.no_grad()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """crops (N, 224, 224, 3) uint8 RGB -> (N, 2048) float16."""
        out = []
        for start in range(0, len(crops), self.batch_frames):
            batch = self.pixels(crops[start:start + self.batch_frames])
            tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).to(self.device)
            out.append(self.model(tensor).float().cpu().numpy())
        return np.concatenate(out).astype(np.float16) if out else np.zeros((0, FEATURE_DIM), np.float16)


def crop(rgb: np.ndarray, centre_x: float, centre_y: float, scale: float) -> np.ndarray:
    """The 224x224 crop where the image is scaled by `scale` and centred on (centre_x, centre_y)."""
    side = CROP_PX / scale
    box = (centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2)
    # EXTENT sampling fills what lies outside the frame with black, as HMR's crops pad.
    return np.asarray(Image.fromarray(rgb).transform((CROP_PX, CROP_PX), Image.Transform.EXTENT, data=box,
                                                     resample=Image.Resampling.BILINEAR))


@dataclass(frozen=True)
class TubeBoxes:
    """The crop boxes of one tube in every view: boxes (views, n, 3), starting at `start_frame`;
    flipped (views,) bool: that view's crops are mirrored left-right (None: none is)."""

    start_frame: int
    boxes: np.ndarray
    flipped: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return self.boxes.shape[1]


def video_features(media_path: str, fps: float, tubes: list[TubeBoxes], extract: FeatureExtractor) -> list[np.ndarray]:
    """(views, n, 2048) float16 per tube: every tube's crops, in every view, from one decode of the video
    (decoded at the rate its frame indices refer to), sent to the backbone in full batches."""
    out = [np.zeros((*tube.boxes.shape[:2], FEATURE_DIM), np.float16) for tube in tubes]
    filled = [np.zeros(tube.boxes.shape[:2], bool) for tube in tubes]
    pending: list[np.ndarray] = []
    slots: list[tuple[int, int, int]] = []  # (tube, view, frame in tube) of each pending crop

    def run_pending() -> None:
        for (t, v, i), vector in zip(slots, extract(np.stack(pending))):
            out[t][v, i], filled[t][v, i] = vector, True
        pending.clear(), slots.clear()

    end_frame = max((tube.start_frame + tube.n_frames for tube in tubes), default=0)
    _, frames = open_stream(Path(media_path), DecodeConfig(fps=fps))
    for frame in frames:
        if frame.index >= end_frame:
            break
        for t, tube in enumerate(tubes):
            i = frame.index - tube.start_frame
            if 0 <= i < tube.n_frames:
                for v, (cx, cy, scale) in enumerate(tube.boxes[:, i]):
                    image = crop(frame.rgb, cx, cy, scale)
                    pending.append(image[:, ::-1] if tube.flipped is not None and tube.flipped[v] else image)
                    slots.append((t, v, i))
        if len(pending) >= extract.batch_frames:
            run_pending()
    if pending:
        run_pending()
    for tube, done in zip(tubes, filled):
        if not done.all():
            missing = tube.start_frame + np.flatnonzero(~done.all(axis=0))
            raise ValueError(f"{Path(media_path).name}: a tube needs frames {tube.start_frame}.."
                             f"{tube.start_frame + tube.n_frames - 1}; frames {missing[0]}..{missing[-1]} "
                             f"were not decoded")
    return out


@dataclass(frozen=True)
class FeaturesPayload(UnitPayload):
    """One tracked video (unit_id: its video id): its file, and the tracking commit holding its live tubes
    (`tubes_part`, the part file; `tubes_flush`, its flush id, recorded with the features)."""

    media_path: str
    tubes_part: str
    tubes_flush: str


def features_unit(payload: FeaturesPayload, context: FeatureExtractor, config: FeatureConfig) -> UnitResult:
    """The runner's entry point for one video: the features of all its tubes, in every view."""
    video_id = payload.unit_id
    tubes = read_part(TUBES, Path(payload.tubes_part), [video_id], ["tube_id", "start_frame", "fps", "bbox"])
    tubes = tubes.to_pandas()
    boxes = []
    for row in tubes.itertuples():
        views = [jittered_boxes(np.stack(row.bbox), row.tube_id, view, config.jitter)
                 for view in range(1 + config.jitter.views)]
        boxes.append(TubeBoxes(int(row.start_frame), np.stack([b for b, _ in views]), np.array([f for _, f in views])))
    fps = float(tubes["fps"].iloc[0]) if len(tubes) else 0.0
    features = video_features(payload.media_path, fps, boxes, context) if len(tubes) else []
    # One row per (tube, view), tubes in their part's order, views in order.
    cells = [(tube_id, view, tube, vectors)
             for tube_id, tube, views in zip(tubes["tube_id"], boxes, features) for view, vectors in enumerate(views)]
    n = len(cells)
    rows = FeatureRows(tube_id=[tube_id for tube_id, _, _, _ in cells], video_id=[video_id] * n,
                       view=[view for _, view, _, _ in cells], n_frames=[tube.n_frames for _, _, tube, _ in cells],
                       bbox=[tube.boxes[view] for _, view, tube, _ in cells],
                       flipped=[bool(tube.flipped[view]) for _, view, tube, _ in cells],
                       features=[vectors for _, _, _, vectors in cells], extractor=[context.name] * n,
                       extractor_version=[context.version] * n, tubes_flush=[payload.tubes_flush] * n)
    return UnitResult(rows=(rows,),
                      counters={"tubes": float(len(boxes)), "crops": float(sum(b.boxes.shape[0] * b.n_frames for b in boxes))})
