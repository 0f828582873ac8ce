"""Predictions turned into people to draw and export: for tubes of a dataset root (the report's
"Predictions" section, `hmmr-predict <tube_id> --render`) and for tubes found in a video file.

The model's output meets the renderer in one place: `person_of`, from `predict_tube`'s arrays."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from manifests import FEATURES, TUBES, VIDEOS, DatasetRoot, read_table, video_id_of_tube
from render.people import PersonSequence

RANDOM_FEATURES_LABEL = "RANDOM-INIT FEATURES: not a real prediction"


@dataclass(frozen=True)
class PredictedTube:
    """One tube's predictions, ready to draw: the person, and the per-frame arrays that go into its npz
    besides the person's own (keypoints, single-frame poses)."""

    tube_id: str
    person: PersonSequence
    extra: dict[str, np.ndarray]


@dataclass(frozen=True)
class TubeVideo:
    """Where a root's tube is seen: its video file and the frame rate its frame indices count at."""

    media_path: Path | None  # None: the video is not in the root's videos table (a tube imported without it)
    fps: float
    random_features: bool  # its features came from a randomly initialised ResNet-50


def person_of(track_id: int, start_frame: int, bbox: np.ndarray, arrays: dict[str, np.ndarray]) -> PersonSequence:
    """`train.predict.predict_tube`'s camera/pose/shape arrays -> a PersonSequence starting at `start_frame`."""
    n = len(arrays["pose"])
    return PersonSequence(track_id=int(track_id), frames=np.arange(start_frame, start_frame + n, dtype=np.int64),
                          bbox=np.asarray(bbox, np.float32), camera=np.asarray(arrays["camera"], np.float32),
                          pose=np.asarray(arrays["pose"], np.float32), shape=np.asarray(arrays["shape"], np.float32))


def predicted(tube_id: str, track_id: int, start_frame: int, bbox: np.ndarray, arrays: dict[str, np.ndarray],
              keypoints: np.ndarray | None = None) -> PredictedTube:
    extra = {k: v for k, v in arrays.items() if k not in ("camera", "pose", "shape")}
    if keypoints is not None:
        extra["keypoints"] = np.asarray(keypoints, np.float32).reshape(len(bbox), 25, 3)
    return PredictedTube(tube_id, person_of(track_id, start_frame, bbox, arrays), extra)


def predict_root_tube(root: DatasetRoot, model, tube_id: str) -> tuple[PredictedTube, TubeVideo]:
    """A tube of a dataset root through the model, with where to find its frames."""
    from train.predict import predict_tube

    video_id = video_id_of_tube(tube_id)
    tubes = read_table(root, TUBES, units=[video_id])
    tubes = tubes[tubes["tube_id"] == tube_id]
    if tubes.empty:
        raise KeyError(f"no tube {tube_id!r} in {root.path}")
    tube = tubes.iloc[0]
    features = read_table(root, FEATURES, columns=["tube_id", "view", "features", "extractor_version"], units=[video_id])
    features = features[(features["tube_id"] == tube_id) & (features["view"] == 0)]
    if features.empty:
        raise KeyError(f"no features for tube {tube_id!r} in {root.path}; run `hmmr-train features` first")
    arrays = predict_tube(model, np.stack(features.iloc[0]["features"]).astype(np.float32))
    videos = read_table(root, VIDEOS, columns=["video_id", "media_path"], units=[video_id])
    video = TubeVideo(media_path=None if videos.empty else root.path / videos.iloc[0]["media_path"],
                      fps=float(tube["fps"]), random_features="random-init" in str(features.iloc[0]["extractor_version"]))
    return (predicted(tube_id, int(tube["track_id"]), int(tube["start_frame"]), np.stack(tube["bbox"]), arrays,
                      np.stack(tube["keypoints"])), video)


def prediction_stills(root: DatasetRoot, tubes: pd.DataFrame, checkpoint: Path, smpl_model_dir: Path, out: Path,
                      n_samples: int = 4, label: str = "") -> list[tuple[str, str]]:
    """(caption, png name) of the middle frame of the longest tube of each of `n_samples` videos that have
    features, with the model's mesh drawn (and a side view): the report's "Predictions" section."""
    from render.backend import open_renderer
    from render.overlay import OverlayConfig
    from render.people import with_vertices
    from render.video import VideoRenderConfig, render_still, write_png
    from train.body import BodyModel
    from train.checkpoint import load_model

    featured = set(read_table(root, FEATURES, columns=["tube_id"])["tube_id"])
    chosen = tubes[tubes["tube_id"].isin(featured)].sort_values("n_frames", ascending=False)
    chosen = chosen.drop_duplicates("video_id").head(n_samples)
    if chosen.empty:
        return []
    model, body = load_model(Path(checkpoint)).model, BodyModel(Path(smpl_model_dir))
    faces = body.smpl.faces.astype(np.int32)
    stills = []
    with open_renderer() as renderer:
        for tube in chosen.itertuples():
            one, video = predict_root_tube(root, model, tube.tube_id)
            if video.media_path is None:
                continue
            frame = int(tube.start_frame + tube.n_frames // 2)
            lines = [line for line in (label, RANDOM_FEATURES_LABEL if video.random_features else "") if line]
            config = VideoRenderConfig(overlay=OverlayConfig(side_view=True, label=" | ".join(lines)), max_side_px=640)
            rgb = render_still(video.media_path, video.fps, [with_vertices(body, one.person)], faces, frame, config,
                               renderer=renderer)
            name = f"prediction_{len(stills)}.png"
            write_png(out / name, rgb)
            stills.append((f"{tube.video_id}, frame {frame}: tube {tube.tube_id} (track {tube.track_id}), "
                           f"{Path(checkpoint).name}", name))
    return stills
