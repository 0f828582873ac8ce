"""ResNet-50 in plain torch, with torchvision's parameter names, so torchvision checkpoints and HMR
weights converted to that layout load by key (torchvision itself has no CPU-only wheel here)."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet50(nn.Module):
    """forward(images (B, 3, 224, 224) float, ImageNet-normalised RGB) -> (B, 2048) average-pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=1):
            layers = [Bottleneck(channels, width, stride)]
            channels = width * Bottleneck.expansion
            layers += [Bottleneck(channels, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def load_resnet50(weights: Path | None) -> tuple[ResNet50, str]:
    """(model in eval mode, a version string). Loads a state dict by key; the classifier (fc.*) is ignored."""
    model = ResNet50()
    if weights is None:
        log.warning("NO FEATURE WEIGHTS GIVEN: ResNet-50 is randomly initialised, its features are meaningless "
                    "for training a real model. Pass --feature-weights (torchvision resnet50 or converted HMR weights).")
        return model.eval(), "resnet50-random-init"
    from train.checkpoint import load_state  # the one reader: weights_only, a refused file named

    state = load_state(Path(weights))
    state = state.get("state_dict", state)
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"{weights}: not a ResNet-50 state dict in torchvision layout; missing {missing[:5]} "
                         f"(+{max(0, len(missing) - 5)} more); unexpected {unexpected[:5]}")
    return model.eval(), f"resnet50-{Path(weights).stem}"
