"""HMR's image encoder in torch: the pre-activation ResNet-v2-50 of TF-slim (`resnet_v2_50`), whose
weights HMR's `hmr_noS5.ckpt-642561` holds and from which the HMMR authors computed every `image/phis`.

What makes it v2, and what differs from torchvision's ResNet-50 (all checked against TensorFlow's own
outputs by tests/checkpoints):
- each unit starts with BatchNorm + ReLU of its input (`preact`); the unit's last 1x1 conv has a bias
  and no norm; projection shortcuts (1x1 conv with a bias) read the pre-activated input, identity
  shortcuts the raw input; after the last block, BatchNorm + ReLU (`postnorm`), then the spatial mean;
- the stride is on the 3x3 conv of a block's LAST unit (blocks 1-3; block 4 keeps the stride 1), and
  an identity shortcut with a stride is a 1x1 subsample;
- the stem is a 7x7/2 conv with a bias and no norm, then a 3x3/2 max pool with TensorFlow's 'SAME'
  padding, which pads only at the end for even sizes (torch's padding=1 pads both sides: other windows);
- strided convs are padded as TF-slim's `conv2d_same` does (explicit, symmetric for odd kernels);
- BatchNorm epsilon 1e-5 (`resnet_arg_scope`; TensorFlow 1.x's fused kernel raised it to 1.001e-5,
  a difference far below float32 resolution for the variances a trained network has).
Inputs are RGB in [-1, 1] (HMR's `2 * (x / 255 - 0.5)`), NCHW here.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

BN_EPSILON = 1e-5
WEIGHTS_FORMAT = "hmmr.hmr_encoder"  # the `format` of the files `hmmr-convert-checkpoint hmr` writes
WEIGHTS_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ResNetV2Config:
    """The widths and depths of a TF-slim ResNet v2 (defaults: resnet_v2_50). A block's units have a
    bottleneck of `base_depths[i]` channels and output 4 times that; the last unit has `strides[i]`."""

    root_channels: int = 64
    base_depths: tuple[int, ...] = (64, 128, 256, 512)
    units: tuple[int, ...] = (3, 4, 6, 3)
    strides: tuple[int, ...] = (2, 2, 2, 1)

    def __post_init__(self) -> None:
        if not len(self.base_depths) == len(self.units) == len(self.strides) >= 1:
            raise ValueError(f"ResNetV2Config: base_depths, units and strides need one entry per block, got "
                             f"{self.base_depths}, {self.units}, {self.strides}")
        if min(self.units) < 1 or min(self.base_depths) < 1 or min(self.strides) < 1 or self.root_channels < 1:
            raise ValueError(f"ResNetV2Config: every width, unit count and stride must be >= 1: {self}")

    @property
    def out_channels(self) -> int:
        return 4 * self.base_depths[-1]

    def to_dict(self) -> dict[str, object]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> ResNetV2Config:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME': output ceil(size / stride), the padding split with the odd pixel at the end."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def max_pool_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """max_pool2d with TensorFlow's 'SAME' padding (padded cells never win: they are -inf)."""
    top, bottom = _same_padding(x.shape[-2], kernel, stride)
    left, right = _same_padding(x.shape[-1], kernel, stride)
    return F.max_pool2d(F.pad(x, (left, right, top, bottom), value=float("-inf")), kernel, stride)


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPSILON)


class BottleneckV2(nn.Module):
    """One `bottleneck_v2` unit; module names follow its TF-slim variable scopes."""

    def __init__(self, in_channels: int, base_depth: int, stride: int) -> None:
        super().__init__()
        depth = 4 * base_depth
        self.stride = stride
        self.preact = _norm(in_channels)
        # A projection when the width changes; otherwise a subsample of the raw input.
        self.shortcut = nn.Conv2d(in_channels, depth, 1, stride=stride) if depth != in_channels else None
        self.conv1 = nn.Conv2d(in_channels, base_depth, 1, bias=False)
        self.conv1_bn = _norm(base_depth)
        # 3x3 with stride 1 ('SAME') or stride 2 (conv2d_same): one pixel each side in both cases.
        self.conv2 = nn.Conv2d(base_depth, base_depth, 3, stride=stride, padding=1, bias=False)
        self.conv2_bn = _norm(base_depth)
        self.conv3 = nn.Conv2d(base_depth, depth, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preact = F.relu(self.preact(x))
        shortcut = self.shortcut(preact) if self.shortcut is not None else x[:, :, ::self.stride, ::self.stride]
        residual = F.relu(self.conv1_bn(self.conv1(preact)))
        residual = F.relu(self.conv2_bn(self.conv2(residual)))
        return shortcut + self.conv3(residual)


class ResNetV2(nn.Module):
    """forward(images (B, 3, H, W) float32 RGB in [-1, 1]) -> (B, 4 * base_depths[-1]) features: the
    spatial mean of `postnorm` (2048-D for resnet_v2_50), as HMR's `Encoder_resnet` returns."""

    def __init__(self, config: ResNetV2Config = ResNetV2Config()) -> None:
        super().__init__()
        self.config = config
        # Root conv: 7x7 stride 2 through conv2d_same (3 pixels each side), with a bias and no norm.
        self.conv1 = nn.Conv2d(3, config.root_channels, 7, stride=2, padding=3)
        blocks, channels = [], config.root_channels
        for base_depth, n_units, stride in zip(config.base_depths, config.units, config.strides):
            units = []
            for unit in range(n_units):
                units.append(BottleneckV2(channels, base_depth, stride if unit == n_units - 1 else 1))
                channels = 4 * base_depth
            blocks.append(nn.ModuleList(units))
        self.blocks = nn.ModuleList(blocks)
        self.postnorm = _norm(channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = max_pool_same(self.conv1(images), 3, 2)
        for block in self.blocks:
            for unit in block:
                x = unit(x)
        return F.relu(self.postnorm(x)).mean(dim=(2, 3))


def load_hmr_encoder(weights: Path | None) -> tuple[ResNetV2, str]:
    """(model in eval mode, a version string) from a file `hmmr-convert-checkpoint hmr` wrote; None gives
    a randomly initialised resnet_v2_50, said loudly (a smoke test only)."""
    if weights is None:
        log.warning("NO FEATURE WEIGHTS GIVEN: HMR's ResNet-v2-50 is randomly initialised, its features are "
                    "meaningless for training a real model. Convert hmr_noS5.ckpt-642561 with "
                    "`hmmr-convert-checkpoint hmr` and pass the result as --feature-weights.")
        return ResNetV2().eval(), "hmr-random-init"
    from train.checkpoint import load_state  # the one reader: weights_only, a refused file named

    saved = load_state(Path(weights))
    if saved.get("format") != WEIGHTS_FORMAT:
        raise ValueError(f"{weights}: not an HMR encoder file (expected format {WEIGHTS_FORMAT!r}, as "
                         f"`hmmr-convert-checkpoint hmr CHECKPOINT --out FILE` writes); a torchvision ResNet-50 "
                         f"state dict goes with --encoder resnet50")
    if saved.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise ValueError(f"{weights}: HMR encoder file version {saved.get('format_version')}, this code reads "
                         f"version {WEIGHTS_FORMAT_VERSION}: convert the checkpoint again")
    model = ResNetV2(ResNetV2Config.from_dict(saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval(), f"hmr-{Path(weights).stem}"
