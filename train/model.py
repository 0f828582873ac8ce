"""HMMR's temporal model on per-frame image features (Kanazawa et al., CVPR 2019).

  phi_t   per-frame ResNet-50 features                               (B, T, F)
  Phi_t   temporal encoder: 3 residual blocks of two 1D convs (kernel 3, GroupNorm 32), receptive field 13
  theta_t IEF regressor f_3D on Phi_t: 3 iterations from a learned mean, 85-D (camera, pose, shape)
  pose_{t-5}, pose_{t+5}: delta predictors on Phi_t, starting from the current pose (separate weights)
  Phi^_t  hallucinator on phi_t alone (2 FC + skip): what a single frame says of its context
The same regressors run on Phi^_t, so that one image gives past, present and future (hmmr-predict).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from manifests.tables import FEATURE_DIM
from train.params import N_POSE, N_THETA, POSE, mean_theta


@dataclass(frozen=True)
class ModelConfig:
    """feature_dim: per-frame feature width (2048 for ResNet-50); width: temporal channels (paper: 2048);
    regressor_width: IEF hidden width (1024); iterations: IEF steps (3); delta_frames: +-5."""

    feature_dim: int = FEATURE_DIM
    width: int = 2048
    groups: int = 32
    n_blocks: int = 3
    regressor_width: int = 1024
    iterations: int = 3
    dropout: float = 0.5
    delta_frames: int = 5

    def __post_init__(self) -> None:
        if self.width % self.groups:
            raise ValueError(f"ModelConfig.width ({self.width}) must be divisible by groups ({self.groups})")
        if self.iterations < 1 or self.n_blocks < 1:
            raise ValueError("ModelConfig.iterations and n_blocks must be >= 1")

    @property
    def receptive_field(self) -> int:
        return 1 + self.n_blocks * 2 * 2  # two kernel-3 convs per block add 2 frames each


class ResidualBlock1d(nn.Module):
    def __init__(self, width: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(groups, width), nn.ReLU(), nn.Conv1d(width, width, 3, padding=1),
            nn.GroupNorm(groups, width), nn.ReLU(), nn.Conv1d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TemporalEncoder(nn.Module):
    """(B, T, F) -> (B, T, width). Zero padding at the window's ends, as the paper's 1D convs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.project = (nn.Identity() if config.feature_dim == config.width
                        else nn.Conv1d(config.feature_dim, config.width, 1))
        self.blocks = nn.Sequential(*[ResidualBlock1d(config.width, config.groups) for _ in range(config.n_blocks)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.project(features.transpose(1, 2))).transpose(1, 2)


class Hallucinator(nn.Module):
    """phi_t (.., F) -> Phi^_t (.., width): 2 FC layers plus a skip connection."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.skip = nn.Identity() if config.feature_dim == config.width else nn.Linear(config.feature_dim, config.width)
        self.body = nn.Sequential(nn.Linear(config.feature_dim, config.width), nn.ReLU(),
                                  nn.Linear(config.width, config.width))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.skip(features) + self.body(features)


class IterativeRegressor(nn.Module):
    """Iterative error feedback: estimate <- estimate + f([feature, estimate]), `iterations` times.

    out_dim: size of the estimate (85 for theta, 72 for a pose); start: the initial estimate (B, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, config: ModelConfig) -> None:
        super().__init__()
        self.iterations = config.iterations
        self.body = nn.Sequential(
            nn.Linear(in_dim + out_dim, config.regressor_width), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.regressor_width, config.regressor_width), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.regressor_width, out_dim),
        )
        nn.init.xavier_uniform_(self.body[-1].weight, gain=0.01)  # small first steps, as HMR
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, feature: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        estimate = start
        for _ in range(self.iterations):
            estimate = estimate + self.body(torch.cat([feature, estimate], dim=-1))
        return estimate


@dataclass
class Prediction:
    """Model outputs for a window. theta: (B, T, 85); past_pose/future_pose: (B, T, 72) for t-5 / t+5."""

    theta: torch.Tensor
    past_pose: torch.Tensor
    future_pose: torch.Tensor


class HMMR(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = TemporalEncoder(config)
        self.hallucinator = Hallucinator(config)
        self.mean_theta = nn.Parameter(mean_theta())  # the learned mean the regressor starts from
        self.regressor = IterativeRegressor(config.width, N_THETA, config)
        self.past = IterativeRegressor(config.width, N_POSE, config)
        self.future = IterativeRegressor(config.width, N_POSE, config)

    def _heads(self, movie: torch.Tensor) -> Prediction:
        flat = movie.reshape(-1, movie.shape[-1])
        theta = self.regressor(flat, self.mean_theta.expand(len(flat), -1))
        pose = theta[:, POSE].detach()  # the delta predictors start from the current pose
        shape = movie.shape[:-1]
        return Prediction(theta=theta.reshape(*shape, N_THETA),
                          past_pose=self.past(flat, pose).reshape(*shape, N_POSE),
                          future_pose=self.future(flat, pose).reshape(*shape, N_POSE))

    def forward(self, features: torch.Tensor) -> tuple[Prediction, Prediction, torch.Tensor, torch.Tensor]:
        """features (B, T, F) -> (prediction from Phi, prediction from hallucinated Phi^, Phi, Phi^)."""
        movie = self.encoder(features)
        hallucinated = self.hallucinator(features)
        return self._heads(movie), self._heads(hallucinated), movie, hallucinated

    def predict_single_frame(self, feature: torch.Tensor) -> Prediction:
        """One image's feature (B, F) -> present theta and past/future poses, through the hallucinator."""
        return self._heads(self.hallucinator(feature)[:, None])


class Discriminators(nn.Module):
    """Factorised adversarial prior: one output per joint rotation (23), one for the whole pose, one for shape.

    forward(pose (N, 72) axis-angle, shape (N, 10)) -> (N, 25) real-ness scores.
    """

    def __init__(self, hidden: int = 32, pose_width: int = 1024) -> None:
        super().__init__()
        self.joint_embed = nn.Sequential(nn.Conv1d(9, hidden, 1), nn.ReLU(), nn.Conv1d(hidden, hidden, 1), nn.ReLU())
        self.per_joint = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(23))
        self.whole_pose = nn.Sequential(nn.Linear(hidden * 23, pose_width), nn.ReLU(), nn.Linear(pose_width, pose_width),
                                        nn.ReLU(), nn.Linear(pose_width, 1))
        self.shape = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1))

    def forward(self, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        from smplx.lbs import batch_rodrigues

        rotations = batch_rodrigues(pose.reshape(-1, 3)).reshape(len(pose), 24, 9)[:, 1:]  # body joints only
        embedded = self.joint_embed(rotations.transpose(1, 2)).transpose(1, 2)  # (N, 23, hidden)
        per_joint = torch.cat([head(embedded[:, j]) for j, head in enumerate(self.per_joint)], dim=1)
        return torch.cat([per_joint, self.whole_pose(embedded.flatten(1)), self.shape(shape)], dim=1)
