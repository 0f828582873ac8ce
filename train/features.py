"""The features stage's per-tube work: 224x224 crops of each tube frame -> ResNet-50 -> 2048 float16."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from manifests.tables import FEATURE_DIM
from pseudolabel.decode import DecodeConfig, open_stream
from train.resnet import load_resnet50

CROP_PX = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class FeatureConfig:
    """weights: a torchvision-layout ResNet-50 state dict (None = random init, with a loud warning);
    batch_frames: crops per forward pass; device: 'auto' = CUDA when the worker has it."""

    weights: str | None = None
    batch_frames: int = 64
    device: str = "auto"

    def version(self) -> str:
        return f"1/{Path(self.weights).name if self.weights else 'random-init'}"


class FeatureExtractor:
    """Built once per worker (the stage's context)."""

    def __init__(self, config: FeatureConfig) -> None:
        self.device = torch.device("cuda" if config.device == "auto" and torch.cuda.is_available() else
                                   ("cpu" if config.device == "auto" else config.device))
        model, self.version = load_resnet50(Path(config.weights) if config.weights else None)
        self.model = model.to(self.device)
        self.batch_frames = config.batch_frames

    @torch.no_grad()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        """crops (N, 224, 224, 3) uint8 RGB -> (N, 2048) float16."""
        out = []
        for start in range(0, len(crops), self.batch_frames):
            batch = (crops[start:start + self.batch_frames].astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
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


def tube_crops(media_path: str, fps: float, start_frame: int, bbox: np.ndarray) -> np.ndarray:
    """(n, 224, 224, 3) crops of the tube's frames, decoded at the rate its frame indices refer to."""
    _, frames = open_stream(Path(media_path), DecodeConfig(fps=fps))
    crops = []
    end_frame = start_frame + len(bbox)
    for frame in frames:
        if frame.index >= end_frame:
            break
        if frame.index >= start_frame:
            cx, cy, scale = bbox[frame.index - start_frame]
            crops.append(crop(frame.rgb, cx, cy, scale))
    if len(crops) != len(bbox):
        raise ValueError(f"{Path(media_path).name}: tube needs frames {start_frame}..{end_frame - 1}, decoded "
                         f"{len(crops)} of them")
    return np.stack(crops)


def features_unit(payload: Mapping[str, Any], context: FeatureExtractor) -> dict[str, dict[str, list]]:
    bbox = np.stack(payload["bbox"])
    features = context(tube_crops(payload["media_path"], payload["fps"], int(payload["start_frame"]), bbox))
    return {"features": {"tube_id": [payload["unit_id"]], "video_id": [payload["video_id"]],
                         "n_frames": [len(features)], "features": [features], "extractor": ["resnet50"],
                         "extractor_version": [context.version]}}
