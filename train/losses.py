"""HMMR's training objective as a dict of named losses (weights from the paper and official code)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from train.camera import optimal_camera, project
from train.model import Discriminators, Prediction
from train.params import camera_of, pose_of, shape_of


@dataclass(frozen=True)
class LossWeights:
    reprojection: float = 60.0  # HMR's e_loss_weight on 2D keypoints
    joints_3d: float = 60.0
    smpl_params: float = 60.0
    adversarial: float = 1.0
    constant_shape: float = 1.0
    hallucination: float = 1.0
    delta: float = 60.0  # 2D loss of the +-5 frame predictions


@dataclass
class Batch:
    """A batch of windows. features (B, T, F); keypoints (B, T, J, 2) in crop units [-1, 1];
    visibility (B, T, J) in [0, 1]; optional 3D ground truth: joints_3d (B, T, N_LSP, 3) in metres,
    pose (B, T, 72), shape (B, T, 10), with has_3d (B,) 0/1 for the joints and has_smpl (B,) 0/1 for pose
    and shape (a tube may have 3D joints without SMPL fits, as the released code's has_3d_joints)."""

    features: torch.Tensor
    keypoints: torch.Tensor
    visibility: torch.Tensor
    joints_3d: torch.Tensor | None = None
    pose: torch.Tensor | None = None
    shape: torch.Tensor | None = None
    has_3d: torch.Tensor | None = None
    has_smpl: torch.Tensor | None = None

    def to(self, device: torch.device) -> "Batch":
        return Batch(**{k: None if v is None else v.to(device) for k, v in vars(self).items()})


def _reprojection(joints: torch.Tensor, camera: torch.Tensor, keypoints: torch.Tensor,
                  visibility: torch.Tensor) -> torch.Tensor:
    error = (project(joints, camera) - keypoints).abs().sum(-1)
    return (error * visibility).sum() / visibility.sum().clamp_min(1.0)


class Criterion:
    """Calls the body model; returns {name: scalar} for the generator side, and the discriminator loss."""

    def __init__(self, body, weights: LossWeights, discriminators: Discriminators | None, delta_frames: int) -> None:
        self.body = body
        self.weights = weights
        self.discriminators = discriminators
        self.delta = delta_frames

    def _joints(self, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        lead = pose.shape[:-1]
        _, joints = self.body(pose.reshape(-1, pose.shape[-1]), shape.reshape(-1, shape.shape[-1]))
        return joints.reshape(*lead, *joints.shape[-2:])

    def _prediction_losses(self, prediction: Prediction, batch: Batch, prefix: str) -> dict[str, torch.Tensor]:
        theta = prediction.theta
        joints = self._joints(pose_of(theta), shape_of(theta))
        losses = {f"{prefix}reprojection": self.weights.reprojection * _reprojection(
            joints, camera_of(theta), batch.keypoints, batch.visibility)}
        d = self.delta
        if batch.keypoints.shape[1] > d:
            # t-5 from frames d.., t+5 from frames ..-d; the camera there is solved in closed form.
            for name, pose, source, target in (("past", prediction.past_pose, slice(d, None), slice(None, -d)),
                                               ("future", prediction.future_pose, slice(None, -d), slice(d, None))):
                delta_joints = self._joints(pose[:, source], shape_of(theta)[:, source])
                camera = optimal_camera(delta_joints, batch.keypoints[:, target], batch.visibility[:, target]).detach()
                losses[f"{prefix}delta_{name}"] = self.weights.delta * _reprojection(
                    delta_joints, camera, batch.keypoints[:, target], batch.visibility[:, target])
        if batch.has_3d is not None and batch.has_3d.any():
            mask = batch.has_3d.bool()
            predicted = joints[mask] - joints[mask].mean(-2, keepdim=True)
            target = batch.joints_3d[mask] - batch.joints_3d[mask].mean(-2, keepdim=True)
            losses[f"{prefix}joints_3d"] = self.weights.joints_3d * (predicted - target).pow(2).mean()
            losses[f"{prefix}smpl_params"] = self.weights.smpl_params * (
                (pose_of(theta)[mask] - batch.pose[mask]).pow(2).mean() + (shape_of(theta)[mask] - batch.shape[mask]).pow(2).mean())
        if self.discriminators is not None:
            scores = self.discriminators(pose_of(theta).reshape(-1, 72), shape_of(theta).reshape(-1, 10))
            losses[f"{prefix}adversarial"] = self.weights.adversarial * (scores - 1).pow(2).mean()
        return losses

    def __call__(self, outputs, batch: Batch) -> dict[str, torch.Tensor]:
        movie, hallucinated, movie_features, hallucinated_features = outputs
        losses = self._prediction_losses(movie, batch, prefix="")
        losses.update(self._prediction_losses(hallucinated, batch, prefix="hallucinated_"))
        shape = shape_of(movie.theta)
        losses["constant_shape"] = self.weights.constant_shape * (shape[:, 1:] - shape[:, :-1]).pow(2).mean()
        losses["hallucination"] = self.weights.hallucination * (hallucinated_features - movie_features.detach()).pow(2).mean()
        return losses

    def discriminator_loss(self, prediction: Prediction, real_pose: torch.Tensor, real_shape: torch.Tensor) -> torch.Tensor:
        """LSGAN: real mocap -> 1, predicted -> 0."""
        fake = self.discriminators(pose_of(prediction.theta).reshape(-1, 72).detach(),
                                   shape_of(prediction.theta).reshape(-1, 10).detach())
        real = self.discriminators(real_pose, real_shape)
        return (real - 1).pow(2).mean() + fake.pow(2).mean()
