"""The image encoders the features stage can run, by name (the features table's `extractor`).

Each takes 224x224 RGB crops and gives one 2048-D vector per crop; they differ in architecture, in the
weights they load and in how pixels are scaled:
- `resnet50`: torchvision's ResNet-50 layout, ImageNet mean/std normalisation (train/resnet.py);
- `hmr`: HMR's pre-activation ResNet-v2-50 (TF-slim), pixels in [-1, 1]; its weights come from HMR's
  `hmr_noS5.ckpt-642561` through `hmmr-convert-checkpoint hmr`. The released HMMR model was trained on
  this encoder's features, so running or fine-tuning the released model needs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from torch import nn

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def imagenet_pixels(crops: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> float32, ImageNet mean/std normalised (torchvision's weights)."""
    return (crops.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def symmetric_pixels(crops: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) RGB -> float32 in [-1, 1], as HMR feeds its encoder."""
    return crops.astype(np.float32) * (2.0 / 255.0) - 1.0


def _load_resnet50(weights: Path | None) -> tuple[nn.Module, str]:
    from train.resnet import load_resnet50

    return load_resnet50(weights)


def _load_hmr(weights: Path | None) -> tuple[nn.Module, str]:
    from train.encoders.hmr import load_hmr_encoder

    return load_hmr_encoder(weights)


@dataclass(frozen=True)
class EncoderSpec:
    """name: the features table's `extractor`; load(weights or None) -> (model in eval mode, version);
    pixels: uint8 NHWC crops -> the float32 NHWC input the model expects."""

    name: str
    load: Callable[[Path | None], tuple[nn.Module, str]]
    pixels: Callable[[np.ndarray], np.ndarray]
    weights_help: str


ENCODERS: dict[str, EncoderSpec] = {
    "resnet50": EncoderSpec("resnet50", _load_resnet50, imagenet_pixels,
                            "a ResNet-50 state dict in torchvision's key layout (e.g. torchvision's ImageNet weights)"),
    "hmr": EncoderSpec("hmr", _load_hmr, symmetric_pixels,
                       "HMR's encoder converted by `hmmr-convert-checkpoint hmr hmr_noS5.ckpt-642561 --out FILE`"),
}


def encoder_spec(name: str) -> EncoderSpec:
    try:
        return ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}") from None
