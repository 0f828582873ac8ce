"""HMMR's temporal model on per-frame image features (Kanazawa et al., CVPR 2019), layer for layer as
the released code builds it (akanazawa/human_dynamics, src/models.py, src/ops.py, src/discriminators.py).

  phi_t   per-frame ResNet-50 features                               (B, T, F)
  Phi_t   temporal encoder: 3 residual blocks (GroupNorm, ReLU, conv k3, GroupNorm, ReLU, conv k3, add)
  theta_t IEF regressor f_3D on Phi_t: 3 iterations from a learned mean, 85-D (camera, pose, shape)
  pose_{t-5}, pose_{t+5}: delta regressors on Phi_t, starting from the current pose (separate weights)
  Phi^_t  hallucinator on phi_t alone (3 FC + skip): what a single frame says of its context
The same regressors run on Phi^_t, so one image gives past, present and future (hmmr-predict).

Our module -> the released TensorFlow variable scope (for a converted `hmmr_model.ckpt-1119816`; TF dense
kernels are (in, out), ours (out, in); TF convs (k, 1, in, out), ours (out, in, k)):
  encoder.project                   (none: identity when feature_dim == width, as in the paper)
  encoder.blocks[i].norm1           AZ_FC_block_preact_gn1block_{i}/{gamma,beta}
  encoder.blocks[i].conv1           AZ_FC_block2_conv1block_{i}/{weights,biases}
  encoder.blocks[i].norm2           AZ_FC_block_preact_gn2block_{i}/{gamma,beta}
  encoder.blocks[i].conv2           AZ_FC_block2_conv2block_{i}/{weights,biases}
  hallucinator.fc1, fc2, fc3        fc2_res/fc1, fc2_res/fc2, fc2_res/fc3 /{weights,biases}
  hallucinator.skip                 (none: identity when feature_dim == width)
  mean_theta (85,)                  mean_param (1, 85)
  regressor.fc1, fc2, fc3           single_view_ief/3D_module/fc1, fc2, fc3 /{weights,biases}
  past.fc1, fc2, fc3                single_view_ief_past5/3D_module/fc1, fc2, fc3
  future.fc1, fc2, fc3              single_view_ief_future5/3D_module/fc1, fc2, fc3
  PoseDiscriminator.conv1, conv2    D_pose/D_conv1, D_pose/D_conv2 (1x1 convs: (1, 1, 9, 32) kernels)
  PoseDiscriminator.per_joint[j]    D_pose/pose_out_j{j}
  PoseDiscriminator.fc1, fc2, out   D_pose/D_alljoints_fc1, D_alljoints_fc2, D_alljoints_out
The IEF input is [feature, estimate] in that order, as theirs; the delta regressors' estimate is the pose
(72) alone, their `use_optcam` form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from manifests.tables import FEATURE_DIM
from train.params import N_POSE, N_SMPL_JOINTS, N_THETA, POSE, camera_of, mean_theta, pose_of, shape_of

ROTATION_ENTRIES = 9  # a 3x3 rotation matrix, row-major


def variance_scaling_(weight: torch.Tensor, factor: float) -> torch.Tensor:
    """TF's variance_scaling_initializer(factor, mode='FAN_AVG', uniform=True), which the released code
    uses for the layers that must start near zero: uniform in +-sqrt(3 factor / mean(fan_in, fan_out))."""
    return nn.init.xavier_uniform_(weight, gain=math.sqrt(factor))


@dataclass(frozen=True)
class ModelConfig:
    """feature_dim: per-frame feature width (2048 for ResNet-50); width: temporal channels (paper: 2048);
    regressor_width: IEF hidden width (1024); iterations: IEF steps (3); delta_frames: +-5.
    detach_delta_start: stop the gradient of the current pose where the delta regressors start from it
    (released: no). norm_eps: GroupNorm's epsilon (TF's group_norm: 1e-6)."""

    feature_dim: int = FEATURE_DIM
    width: int = 2048
    groups: int = 32
    n_blocks: int = 3
    regressor_width: int = 1024
    iterations: int = 3
    dropout: float = 0.5
    delta_frames: int = 5
    detach_delta_start: bool = False
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.width % self.groups:
            raise ValueError(f"ModelConfig.width ({self.width}) must be divisible by groups ({self.groups})")
        if self.iterations < 1 or self.n_blocks < 1:
            raise ValueError("ModelConfig.iterations and n_blocks must be >= 1")
        if self.delta_frames < 1:
            raise ValueError(f"ModelConfig.delta_frames must be >= 1, got {self.delta_frames}")

    @property
    def receptive_field(self) -> int:
        return 1 + self.n_blocks * 2 * 2  # two kernel-3 convs per block add 2 frames each


class ResidualBlock1d(nn.Module):
    """GroupNorm, ReLU, conv, GroupNorm, ReLU, conv, plus the input (pre-activation, as theirs).
    The second conv starts near zero (factor 0.001), so each block starts close to the identity."""

    def __init__(self, width: int, groups: int, eps: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, width, eps=eps)
        self.conv1 = nn.Conv1d(width, width, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, width, eps=eps)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1)
        nn.init.xavier_uniform_(self.conv1.weight)
        variance_scaling_(self.conv2.weight, 0.001)
        nn.init.zeros_(self.conv1.bias)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.conv1(torch.relu(self.norm1(x)))
        return x + self.conv2(torch.relu(self.norm2(hidden)))


class TemporalEncoder(nn.Module):
    """(B, T, F) -> (B, T, width). Zero padding at the window's ends, as their 'SAME' convs."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.project = (nn.Identity() if config.feature_dim == config.width
                        else nn.Conv1d(config.feature_dim, config.width, 1))
        self.blocks = nn.Sequential(*[ResidualBlock1d(config.width, config.groups, config.norm_eps)
                                      for _ in range(config.n_blocks)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.project(features.transpose(1, 2))).transpose(1, 2)


def _dense(in_dim: int, out_dim: int) -> nn.Linear:
    """slim.fully_connected's initialisation: Xavier-uniform weights, zero biases."""
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Hallucinator(nn.Module):
    """phi_t (.., F) -> Phi^_t (.., width): fc1 + ReLU, fc2 + ReLU, fc3 (starting near zero, factor
    0.001), plus the input: the released `fc2_res`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.skip = nn.Identity() if config.feature_dim == config.width else nn.Linear(config.feature_dim, config.width)
        self.fc1 = _dense(config.feature_dim, config.width)
        self.fc2 = _dense(config.width, config.width)
        self.fc3 = _dense(config.width, config.width)
        variance_scaling_(self.fc3.weight, 0.001)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.skip(features) + self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(features)))))


class IterativeRegressor(nn.Module):
    """Iterative error feedback: estimate <- estimate + f([feature, estimate]), `iterations` times, with
    f = fc1 + ReLU + dropout, fc2 + ReLU + dropout, fc3 (starting near zero, factor 0.01), as HMR's.

    out_dim: size of the estimate (85 for theta, 72 for a pose); start: the initial estimate (N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, config: ModelConfig) -> None:
        super().__init__()
        self.iterations = config.iterations
        self.fc1 = _dense(in_dim + out_dim, config.regressor_width)
        self.fc2 = _dense(config.regressor_width, config.regressor_width)
        self.fc3 = _dense(config.regressor_width, out_dim)
        variance_scaling_(self.fc3.weight, 0.01)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, feature: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        estimate = start
        for _ in range(self.iterations):
            hidden = self.dropout(torch.relu(self.fc1(torch.cat([feature, estimate], dim=-1))))
            hidden = self.dropout(torch.relu(self.fc2(hidden)))
            estimate = estimate + self.fc3(hidden)
        return estimate


@dataclass
class Prediction:
    """One set of predictions for a window.

    theta: (B, T, 85) camera, pose, shape at each frame t (see train.params);
    past_pose / future_pose: (B, T, 72) axis-angle poses of frames t - delta / t + delta, predicted at t
    (their shape is theta's shape at t; their camera is solved against the keypoints, see losses).
    """

    theta: torch.Tensor
    past_pose: torch.Tensor
    future_pose: torch.Tensor

    @property
    def camera(self) -> torch.Tensor:
        return camera_of(self.theta)

    @property
    def pose(self) -> torch.Tensor:
        return pose_of(self.theta)

    @property
    def shape(self) -> torch.Tensor:
        return shape_of(self.theta)


@dataclass
class HMMROutput:
    """What HMMR.forward returns (as smplx returns SMPLOutput).

    movie: predictions from the temporal encoder's movie strip Phi (the whole window as context);
    hallucinated: predictions from the hallucinator's Phi^ (each frame alone);
    movie_strip: Phi (B, T, width); hallucinated_strip: Phi^ (B, T, width).
    """

    movie: Prediction
    hallucinated: Prediction
    movie_strip: torch.Tensor
    hallucinated_strip: torch.Tensor

    def float(self) -> "HMMROutput":
        """The same outputs in float32 (the body model and losses run in float32 after a bf16 forward)."""
        def cast(p: Prediction) -> Prediction:
            return Prediction(p.theta.float(), p.past_pose.float(), p.future_pose.float())
        return HMMROutput(cast(self.movie), cast(self.hallucinated), self.movie_strip.float(),
                          self.hallucinated_strip.float())


class HMMR(nn.Module):
    """mean_pose / mean_shape: HMR's mean parameters (`neutral_smpl_meanwjoints.h5`, see
    train.smpl_io.load_mean_params) that the learned mean starts from; zeros without them."""

    def __init__(self, config: ModelConfig = ModelConfig(), mean_pose=None, mean_shape=None) -> None:
        super().__init__()
        self.config = config
        self.encoder = TemporalEncoder(config)
        self.hallucinator = Hallucinator(config)
        self.mean_theta = nn.Parameter(mean_theta(mean_pose, mean_shape))  # learned, as their mean_param
        self.regressor = IterativeRegressor(config.width, N_THETA, config)
        self.past = IterativeRegressor(config.width, N_POSE, config)
        self.future = IterativeRegressor(config.width, N_POSE, config)

    def heads(self, strip: torch.Tensor) -> Prediction:
        """Present theta and the +-delta poses from a (.., T, width) strip (Phi or Phi^)."""
        flat = strip.reshape(-1, strip.shape[-1])
        theta = self.regressor(flat, self.mean_theta.expand(len(flat), -1))
        pose = theta[:, POSE]  # the delta regressors start from the current pose
        if self.config.detach_delta_start:
            pose = pose.detach()
        lead = strip.shape[:-1]
        return Prediction(theta=theta.reshape(*lead, N_THETA),
                          past_pose=self.past(flat, pose).reshape(*lead, N_POSE),
                          future_pose=self.future(flat, pose).reshape(*lead, N_POSE))

    def forward(self, features: torch.Tensor) -> HMMROutput:
        """features (B, T, F) -> HMMROutput."""
        movie_strip = self.encoder(features)
        hallucinated_strip = self.hallucinator(features)
        return HMMROutput(movie=self.heads(movie_strip), hallucinated=self.heads(hallucinated_strip),
                          movie_strip=movie_strip, hallucinated_strip=hallucinated_strip)

    def predict_single_frame(self, feature: torch.Tensor) -> Prediction:
        """One image's feature (B, F) -> present theta and past/future poses, through the hallucinator."""
        return self.heads(self.hallucinator(feature)[:, None])


class PoseDiscriminator(nn.Module):
    """The factorised adversarial pose prior (HMR's, pose only): a shared 1x1 embedding of each body
    joint's rotation, one output per joint (23) and one for the whole pose (1).

    forward(rotations (N, 23, 9): the body joints' rotation matrices, row-major, without the global
    orientation) -> (N, 24) real-ness scores (LSGAN: real -> 1, fake -> 0).
    """

    def __init__(self, hidden: int = 32, pose_width: int = 1024) -> None:
        super().__init__()
        n_body = N_SMPL_JOINTS - 1
        self.conv1 = _dense(ROTATION_ENTRIES, hidden)  # a 1x1 conv over joints is a dense layer per joint
        self.conv2 = _dense(hidden, hidden)
        self.per_joint = nn.ModuleList(_dense(hidden, 1) for _ in range(n_body))
        self.fc1 = _dense(hidden * n_body, pose_width)
        self.fc2 = _dense(pose_width, pose_width)
        self.out = _dense(pose_width, 1)

    def forward(self, rotations: torch.Tensor) -> torch.Tensor:
        embedded = torch.relu(self.conv2(torch.relu(self.conv1(rotations))))  # (N, 23, hidden)
        per_joint = torch.cat([head(embedded[:, j]) for j, head in enumerate(self.per_joint)], dim=1)
        whole = self.out(torch.relu(self.fc2(torch.relu(self.fc1(embedded.flatten(1))))))
        return torch.cat([per_joint, whole], dim=1)


def body_rotations(pose: torch.Tensor) -> torch.Tensor:
    """pose (..., 72) axis-angle -> (..., 24, 9) rotation matrices, row-major (Rodrigues, as smplx)."""
    from smplx.lbs import batch_rodrigues

    lead = pose.shape[:-1]
    return batch_rodrigues(pose.reshape(-1, 3)).reshape(*lead, N_SMPL_JOINTS, ROTATION_ENTRIES)

