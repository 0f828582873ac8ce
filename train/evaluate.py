"""The paper's evaluation protocol (the authors' src/evaluation/eval.py and tester.py) on whole tubes.

Prediction, as the released Tester: the temporal model sees sliding windows of the training length T,
each sequence padded with `margin` = (receptive field - 1) / 2 empty frames (zero features; theirs were
blank images) at both ends, and only the middle T - 2 margin frames of each window are kept, so every
frame is predicted with its full context. Predictions compared with the truth:
  movie           the present, from the temporal encoder (the movie strip)
  hallucinated    the present, from one frame through the hallucinator
  past_5 / future_5      the hallucinator's pose 5 frames before / after, made at frame t, against the
                  truth at t - 5 / t + 5, projected with frame t's camera (the released `const` mode)
  past_5_const / future_5_const   the constant baseline: frame t's own present against t -+ 5
Metrics (`train/eval_metrics.py`) are averaged per video, then over videos; 3D ones only for datasets
with 3D truth, on frames with more than 6 of the 14 LSP joints visible in 2D.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from manifests.joints import N_LSP
from train.eval_data import EvalSequence
from train.eval_metrics import (CROP_PX, MIN_VISIBLE, acceleration, acceleration_error, joint_errors, keypoint_errors,
                                mean_of_sequence_means)

log = logging.getLogger(__name__)

KINDS = ("movie", "hallucinated", "past_5", "past_5_const", "future_5", "future_5_const")
METRICS = ("accel", "accel_error", "kp", "kp_pa", "pck", "mpjpe", "pa_mpjpe")
MM = 1000.0  # metres -> millimetres for the 3D metrics


@dataclass(frozen=True)
class Outputs:
    """Per frame of a sequence: theta (n, 85) of the present, and the poses (n, 72) 5 frames before / after."""

    theta: np.ndarray
    past_pose: np.ndarray
    future_pose: np.ndarray


def run_model(model, windows: torch.Tensor):
    """(movie-strip prediction, hallucinated prediction) for windows (B, T, F)."""
    output = model(windows)
    return output.movie, output.hallucinated


def window_layout(n_frames: int, window: int, margin: int) -> tuple[int, int]:
    """(number of windows, frames kept per window) for a sequence: windows start every `window - 2 margin`
    frames of the margin-padded sequence, and each keeps its middle `window - 2 margin` frames."""
    kept = window - 2 * margin
    if kept < 1:
        raise ValueError(f"windows of {window} frames cannot keep a middle past a margin of {margin} on each side")
    return max(1, math.ceil(n_frames / kept)), kept


@torch.no_grad()
def predict_sequence(model, features: np.ndarray, window: int, margin: int, device: torch.device,
                     batch_windows: int = 32) -> tuple[Outputs, Outputs]:
    """(movie, hallucinated) outputs for every frame of features (n, F)."""
    n = len(features)
    count, kept = window_layout(n, window, margin)
    padded = np.zeros((margin + count * kept + margin, features.shape[1]), np.float32)
    padded[margin:margin + n] = features
    starts = np.arange(count) * kept
    parts: dict[str, list[np.ndarray]] = {}
    for first in range(0, count, batch_windows):
        chunk = np.stack([padded[s:s + window] for s in starts[first:first + batch_windows]])
        movie, hallucinated = run_model(model, torch.from_numpy(chunk).to(device))
        for prefix, prediction in (("movie", movie), ("hallucinated", hallucinated)):
            for name in ("theta", "past_pose", "future_pose"):
                middle = getattr(prediction, name)[:, margin:margin + kept].float().cpu().numpy()
                parts.setdefault(f"{prefix}.{name}", []).append(middle.reshape(-1, middle.shape[-1]))
    joined = {k: np.concatenate(v)[:n] for k, v in parts.items()}
    return tuple(Outputs(*(joined[f"{prefix}.{name}"] for name in ("theta", "past_pose", "future_pose")))
                 for prefix in ("movie", "hallucinated"))


@dataclass(frozen=True)
class Posed:
    """A prediction turned into joints: joints (n, 25, 3) metres (no camera translation) and their
    projection keypoints (n, 25, 2) in pixels of the 224 crop."""

    joints: np.ndarray
    keypoints: np.ndarray


@torch.no_grad()
def pose_joints(body, pose: np.ndarray, shape: np.ndarray, camera: np.ndarray, device: torch.device,
                batch: int = 1024) -> Posed:
    """Joints of SMPL (pose (n, 72), shape (n, 10)) and their weak-perspective projection by camera (n, 3)."""
    from train.camera import project

    joints, keypoints = [], []
    for start in range(0, len(pose), batch):
        part = slice(start, start + batch)
        _, j = body(torch.from_numpy(pose[part]).float().to(device), torch.from_numpy(shape[part]).float().to(device))
        crop = project(j, torch.from_numpy(camera[part]).float().to(device))
        joints.append(j.double().cpu().numpy())
        keypoints.append(((crop.double().cpu().numpy() + 1.0) * 0.5 * CROP_PX))
    return Posed(np.concatenate(joints), np.concatenate(keypoints))


def sequence_metrics(truth_2d: np.ndarray, truth_3d: np.ndarray | None, posed: Posed) -> dict[str, np.ndarray]:
    """Per-frame values of every metric for one prediction against its (aligned in time) truth.
    truth_2d (m, 25, 3) crop pixels + visibility; truth_3d (m, 14, 3) metres or None; posed of m frames."""
    errors = keypoint_errors(truth_2d, posed.keypoints)
    joints = posed.joints[:, :N_LSP]
    values = {"accel": acceleration(joints) * MM, "kp": errors.kp, "kp_pa": errors.kp_pa, "pck": errors.pck}
    if truth_3d is not None:
        valid = (truth_2d[:, :N_LSP, 2].sum(-1) > MIN_VISIBLE) & np.isfinite(truth_3d).all((1, 2))
        mpjpe, pa_mpjpe = joint_errors(truth_3d[valid], joints[valid]) if valid.any() else (np.zeros(0), np.zeros(0))
        values.update(mpjpe=mpjpe * MM, pa_mpjpe=pa_mpjpe * MM,
                      accel_error=acceleration_error(np.nan_to_num(truth_3d), joints, valid) * MM)
    return values


def evaluate_sequence(model, body, sequence: EvalSequence, window: int, margin: int, delta: int,
                      device: torch.device) -> dict[str, dict[str, np.ndarray]]:
    """{kind: {metric: per-frame values}} for one tube."""
    from train.params import camera_of, pose_of, shape_of

    movie, hallucinated = predict_sequence(model, sequence.features.astype(np.float32), window, margin, device)
    truth_2d, truth_3d = sequence.keypoints_in_crop(), sequence.joints_3d
    present = {name: pose_joints(body, pose_of(out.theta), shape_of(out.theta), camera_of(out.theta), device)
               for name, out in (("movie", movie), ("hallucinated", hallucinated))}
    hal_shape, hal_camera = shape_of(hallucinated.theta), camera_of(hallucinated.theta)
    past = pose_joints(body, hallucinated.past_pose, hal_shape, hal_camera, device)
    future = pose_joints(body, hallucinated.future_pose, hal_shape, hal_camera, device)

    def shifted(posed: Posed, frames: slice) -> Posed:
        return Posed(posed.joints[frames], posed.keypoints[frames])

    def truth(frames: slice) -> tuple[np.ndarray, np.ndarray | None]:
        return truth_2d[frames], None if truth_3d is None else truth_3d[frames]

    later, earlier = slice(delta, None), slice(None, -delta)  # frames t >= delta; frames t < n - delta
    pairs = {"movie": (truth(slice(None)), present["movie"]),
             "hallucinated": (truth(slice(None)), present["hallucinated"])}
    if sequence.n_frames > delta:
        pairs.update({
            "past_5": (truth(earlier), shifted(past, later)),
            "past_5_const": (truth(earlier), shifted(present["hallucinated"], later)),
            "future_5": (truth(later), shifted(future, earlier)),
            "future_5_const": (truth(later), shifted(present["hallucinated"], earlier)),
        })
    return {kind: sequence_metrics(*truth_pair, posed) for kind, (truth_pair, posed) in pairs.items()}


def summarise(per_tube: list[tuple[EvalSequence, dict[str, dict[str, np.ndarray]]]]) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {kind: {metric: value}}}: each video's frames pooled over its tubes, averaged, then the
    mean over videos (the released eval's mean of per-sequence means)."""
    pooled: dict[tuple[str, str, str], dict[str, list[np.ndarray]]] = {}
    for sequence, kinds in per_tube:
        for kind, metrics in kinds.items():
            for metric, values in metrics.items():
                pooled.setdefault((sequence.dataset, kind, metric), {}).setdefault(sequence.video_id, []).append(values)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for (dataset, kind, metric), by_video in sorted(pooled.items()):
        value = mean_of_sequence_means([np.concatenate(v) for v in by_video.values()])
        results.setdefault(dataset, {}).setdefault(kind, {})[metric] = value
    for dataset, sequences in _counts(per_tube).items():
        results[dataset]["counts"] = sequences
    return results


def _counts(per_tube) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, float]] = {}
    for sequence, _ in per_tube:
        entry = counts.setdefault(sequence.dataset, {"videos": set(), "tubes": 0.0, "frames": 0.0})
        entry["videos"].add(sequence.video_id)
        entry["tubes"] += 1
        entry["frames"] += sequence.n_frames
    return {d: {"videos": float(len(c["videos"])), "tubes": c["tubes"], "frames": c["frames"]} for d, c in counts.items()}


def format_table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """The paper-style table: a row per dataset and prediction; '-' where a metric does not apply."""
    header = f"{'dataset':>10} {'prediction':>15}" + "".join(f"{m:>12}" for m in METRICS)
    lines = [header, "-" * len(header)]
    for dataset, kinds in sorted(results.items()):
        for kind in KINDS:
            if kind not in kinds:
                continue
            cells = [kinds[kind].get(m, float("nan")) for m in METRICS]
            lines.append(f"{dataset:>10} {kind:>15}" + "".join(f"{'-':>12}" if not np.isfinite(v) else f"{v:>12.4f}"
                                                              for v in cells))
    lines.append("units: accel, accel_error mm/frame^2; kp, kp_pa px of the 224 crop; pck share within 11.2 px; "
                 "mpjpe, pa_mpjpe mm (14 LSP joints, pelvis-aligned)")
    return "\n".join(lines)


def default_results_path(checkpoint: Path, split: str, datasets: tuple[str, ...]) -> Path:
    return Path(checkpoint).with_name(f"eval_{split}_{'-'.join(datasets)}.json")


@dataclass(frozen=True)
class EvalConfig:
    """checkpoint: a `hmmr-train` checkpoint.pt; datasets: () = the ones it trained on; smpl_model_dir:
    None = the one it trained with; out: the JSON results (None = next to the checkpoint)."""

    root: str
    checkpoint: str
    datasets: tuple[str, ...] = ()
    split: str = "test"
    smpl_model_dir: str | None = None
    device: str = "auto"
    out: str | None = None

    def __post_init__(self) -> None:
        if self.split not in ("train", "val", "test"):
            raise ValueError(f"EvalConfig.split must be train, val or test, got {self.split!r}")


def evaluate_checkpoint(config: EvalConfig) -> tuple[dict, Path]:
    """Evaluate a checkpoint on `config.datasets`' `config.split`; returns (results, where the JSON went)."""
    from tqdm import tqdm

    from manifests import DatasetRoot
    from manifests.atomic import write_json_atomic
    from train.body import BodyModel
    from train.checkpoint import load_model
    from train.config import DEFAULT_WINDOW
    from train.eval_data import iter_eval_sequences

    device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if config.device == "auto" else config.device))
    loaded = load_model(Path(config.checkpoint))
    model, trained = loaded.model.to(device), loaded.trained
    if trained is None and not (config.datasets and config.smpl_model_dir):
        raise ValueError(f"{config.checkpoint}: the converted release records no datasets or SMPL folder: "
                         f"give --datasets and --smpl-model-dir")
    datasets = config.datasets or trained.datasets
    smpl_model_dir = config.smpl_model_dir or trained.smpl_model_dir
    body = BodyModel(Path(smpl_model_dir)).to(device).eval()
    # The release trained and was evaluated on windows of 20 frames (its T), our default too.
    window, delta = (trained.window if trained else DEFAULT_WINDOW), model.config.delta_frames
    margin = (model.config.receptive_field - 1) // 2
    if window - 2 * margin < 1:
        # Trained on windows shorter than the receptive field: keep each window's middle frame, with
        # as much context as the window has.
        log.warning("the checkpoint's windows (%d frames) are shorter than its receptive field (%d): each frame is "
                    "predicted with %d frames of context on each side, not %d", window, model.config.receptive_field,
                    (window - 1) // 2, margin)
        margin = (window - 1) // 2
    log.info("evaluating %s on the %s tubes of %s (windows of %d, margin %d)", config.checkpoint, config.split,
             list(datasets), window, margin)
    # Each tube's features are dropped once its per-frame metrics are made: only those are kept.
    per_tube = [(_without_arrays(sequence), evaluate_sequence(model, body, sequence, window, margin, delta, device))
                for sequence in tqdm(iter_eval_sequences(DatasetRoot(Path(config.root)), datasets, config.split),
                                     desc="eval", unit="tube")]
    results = summarise(per_tube)
    out = Path(config.out) if config.out else default_results_path(Path(config.checkpoint), config.split, datasets)
    write_json_atomic(out, {"checkpoint": str(config.checkpoint), "split": config.split, "datasets": list(datasets),
                            "units": {"accel": "mm/frame^2", "accel_error": "mm/frame^2", "kp": "px (224 crop)",
                                      "kp_pa": "px (224 crop)", "pck": "share within 0.05 x 224 px",
                                      "mpjpe": "mm", "pa_mpjpe": "mm"},
                            "results": _jsonable(results)})
    return results, out


def _without_arrays(sequence: EvalSequence) -> EvalSequence:
    """The sequence's identity and length only (what `summarise` needs), its arrays released."""
    from dataclasses import replace

    return replace(sequence, features=np.zeros((sequence.n_frames, 0), np.float16), bbox=sequence.bbox[:0],
                   keypoints=sequence.keypoints[:0], joints_3d=None)


def _jsonable(results: dict) -> dict:
    """NaN (a metric that does not apply) as null, which JSON has."""
    if isinstance(results, dict):
        return {k: _jsonable(v) for k, v in results.items()}
    return None if isinstance(results, float) and not math.isfinite(results) else results
