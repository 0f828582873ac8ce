"""HMMR's training objective as a dict of named, weighted losses: the released code's
(akanazawa/human_dynamics, src/trainer_sequence_fc.py and src/ops.py), each choice a named field.

For the present prediction, the -delta and +delta predictions, and the same three from the hallucinator:
  keypoints   mean |x - x^| over the coordinates of visible joints (visibility >= 0.1, binary, as theirs);
              the +-delta predictions are projected with the camera that fits them best (clipped scale)
  joints_3d   0.5 * mean squared error of the N_LSP joints, each skeleton moved to its pelvis, on windows
              with 3D joints
  smpl        0.5 * mean squared error of the 24 joint rotation matrices, plus that of the betas, on
              windows with SMPL parameters
then, once: adversarial (every predicted pose scored by the pose discriminator), shape_prior (L2 on every
predicted shape), constant_shape (0.5 * MSE of consecutive present betas), hallucination (MSE between the
hallucinator's strip and the temporal encoder's, the gradient flowing into both).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from manifests.joints import HMMR_25, N_LSP, joint_index
from train.camera import optimal_camera, project
from train.model import HMMROutput, PoseDiscriminator, Prediction, body_rotations
from train.params import N_POSE, N_SHAPE

PELVIS_JOINTS = (joint_index(HMMR_25, "left_hip"), joint_index(HMMR_25, "right_hip"))  # their align_by_pelvis


@dataclass(frozen=True)
class ObjectiveConfig:
    """Loss weights (the released `e_lw_*`, `d_lw_pose`; 3D and SMPL weights also apply to the +-delta
    and hallucinated predictions, as theirs) and the objective's choices, each default the released one.

    visibility_threshold: a keypoint counts (weight 1) when its visibility/confidence is at least this;
        None weighs each keypoint by its raw confidence instead.
    delta_camera_scale_range: clip of the +-delta frames' fitted camera scale; None = no clip.
    hallucination: train the hallucinator (its strip loss and the losses on its present prediction);
    hallucinated_deltas: also the losses on its +-delta predictions (their --do_hallucinate_preds).
    detach_hallucination_target: stop the gradient into the temporal encoder's strip in the
        hallucination loss (released: no; the encoder is pulled towards what one frame can say too).
    """

    keypoints: float = 60.0
    joints_3d: float = 60.0
    smpl: float = 60.0
    constant_shape: float = 1.0
    adversarial: float = 1.0
    shape_prior: float = 1.0
    discriminator: float = 1.0
    hallucination_weight: float = 1.0
    visibility_threshold: float | None = 0.1
    delta_camera_scale_range: tuple[float, float] | None = (0.7, 10.0)
    hallucination: bool = True
    hallucinated_deltas: bool = True
    detach_hallucination_target: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and value < 0:
                raise ValueError(f"ObjectiveConfig.{f.name} must be >= 0, got {value}")
        low_high = self.delta_camera_scale_range
        if low_high is not None and not 0 < low_high[0] <= low_high[1]:
            raise ValueError(f"ObjectiveConfig.delta_camera_scale_range must be 0 < low <= high, got {low_high}")


@dataclass
class Batch:
    """A batch of windows, every target in the frame of the features (a window whose features saw a
    mirrored crop has mirrored targets: see train.augment).

    features (B, T, F) float32; keypoints (B, T, 25, 2) HMMR_25 in crop units [-1, 1];
    visibility (B, T, 25) in [0, 1] (a binary flag or a detector's confidence);
    optional 3D ground truth: joints_3d (B, T, >= 14, 3) metres (the first N_LSP HMMR_25 joints are
    used), pose (B, T, 72) axis-angle, shape (B, T, 10) betas; has_3d (B,) or (B, T) 0/1: the window
    (or frame) has joints_3d; has_smpl likewise for pose and shape (None: the same as has_3d when pose
    is given). A NaN frame of joints_3d or pose counts as absent (3DPW's frames without a valid camera).
    """

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

    def smpl_flags(self) -> torch.Tensor | None:
        if self.has_smpl is not None:
            return self.has_smpl
        return self.has_3d if self.pose is not None else None


def frame_flags(flags: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: frames whose target is given, from per-window (B,) or per-frame (B, T) flags and the
    target (B, T, ...) itself (a NaN frame is not given)."""
    flags = flags.bool()
    if flags.dim() == 1:
        flags = flags[:, None].expand(target.shape[:2])
    return flags & torch.isfinite(target).flatten(2).all(-1)


def keypoint_loss(predicted: torch.Tensor, keypoints: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the coordinates of weighted joints: sum(w |x - x^|) / (2 * #(w > 0)), as
    TF's absolute_difference with per-joint weights (0 when nothing is visible)."""
    error = ((predicted - keypoints).abs() * weight[..., None]).sum()
    return error / (2 * (weight > 0).sum()).clamp_min(1)


def masked_mse(predicted: torch.Tensor, target: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """0.5 * mean squared error over the entries of the items where `present` (leading dims) is set, as
    the released compute_loss_mse; 0 when none is."""
    mask = present.bool()
    if not mask.any():
        return predicted.sum() * 0.0
    return 0.5 * (predicted[mask] - target[mask]).pow(2).mean()


def align_by_pelvis(joints: torch.Tensor) -> torch.Tensor:
    """(..., J, 3) -> the first N_LSP joints minus the midpoint of the hips."""
    lsp = joints[..., :N_LSP, :]
    pelvis = (lsp[..., PELVIS_JOINTS[0], :] + lsp[..., PELVIS_JOINTS[1], :]) / 2
    return lsp - pelvis[..., None, :]


@dataclass
class _Piece:
    """One prediction to score: frames `source` of a window's predictions against frames `target` of its
    ground truth (the same frames for the present, shifted by delta for past and future)."""

    name: str
    pose: torch.Tensor  # (B, T', 72)
    shape: torch.Tensor  # (B, T', 10)
    camera: torch.Tensor | None  # (B, T', 3), None = fit against the keypoints
    target: slice


class Criterion:
    """Calls the body model; returns {name: weighted scalar} for the model, and the discriminator's loss."""

    def __init__(self, body, config: ObjectiveConfig, discriminator: PoseDiscriminator | None, delta_frames: int) -> None:
        self.body = body
        self.config = config
        self.discriminator = discriminator
        self.delta = delta_frames

    def _pieces(self, prediction: Prediction, prefix: str, with_deltas: bool) -> list[_Piece]:
        present = _Piece(f"{prefix}present", prediction.pose, prediction.shape, prediction.camera, slice(None))
        if not with_deltas:
            return [present]
        d = self.delta
        # The pose of t-d is predicted at t: frames d.. of the window predict frames ..-d; t+d the reverse.
        return [present,
                _Piece(f"{prefix}past", prediction.past_pose[:, d:], prediction.shape[:, d:], None, slice(None, -d)),
                _Piece(f"{prefix}future", prediction.future_pose[:, :-d], prediction.shape[:, :-d], None, slice(d, None))]

    def _joints(self, pieces: list[_Piece]) -> list[torch.Tensor]:
        """Every piece's HMMR_25 joints (B, T', 25, 3) from one call of the body model."""
        poses = torch.cat([p.pose.reshape(-1, N_POSE) for p in pieces])
        shapes = torch.cat([p.shape.reshape(-1, N_SHAPE) for p in pieces])
        _, joints = self.body(poses, shapes)
        sizes = [p.pose.shape[0] * p.pose.shape[1] for p in pieces]
        return [j.reshape(*p.pose.shape[:2], *j.shape[-2:]) for p, j in zip(pieces, joints.split(sizes))]

    def _visibility_weight(self, visibility: torch.Tensor) -> torch.Tensor:
        threshold = self.config.visibility_threshold
        return visibility if threshold is None else (visibility >= threshold).to(visibility.dtype)

    def __call__(self, output: HMMROutput, batch: Batch) -> dict[str, torch.Tensor]:
        config = self.config
        with_deltas = batch.keypoints.shape[1] > self.delta
        pieces = self._pieces(output.movie, "", with_deltas)
        if config.hallucination:
            pieces += self._pieces(output.hallucinated, "hallucinated_", with_deltas and config.hallucinated_deltas)
        weight = self._visibility_weight(batch.visibility)
        with_3d = batch.has_3d is not None and batch.joints_3d is not None
        smpl_flags = batch.smpl_flags()
        with_smpl = smpl_flags is not None and batch.pose is not None and batch.shape is not None
        if with_3d:
            frames_3d, joints_3d = frame_flags(batch.has_3d, batch.joints_3d), torch.nan_to_num(batch.joints_3d)
        if with_smpl:
            frames_smpl = frame_flags(smpl_flags, batch.pose) & frame_flags(smpl_flags, batch.shape)
            pose, shape = torch.nan_to_num(batch.pose), torch.nan_to_num(batch.shape)
        losses: dict[str, torch.Tensor] = {}
        for piece, joints in zip(pieces, self._joints(pieces)):
            keypoints, visible = batch.keypoints[:, piece.target], weight[:, piece.target]
            camera = piece.camera
            if camera is None:
                camera = optimal_camera(joints, keypoints, (visible > 0).to(joints.dtype),
                                        config.delta_camera_scale_range).detach()
            losses[f"{piece.name}_keypoints"] = config.keypoints * keypoint_loss(project(joints, camera), keypoints, visible)
            if with_3d:
                losses[f"{piece.name}_joints_3d"] = config.joints_3d * masked_mse(
                    align_by_pelvis(joints), align_by_pelvis(joints_3d[:, piece.target]), frames_3d[:, piece.target])
            if with_smpl:
                present = frames_smpl[:, piece.target]
                losses[f"{piece.name}_smpl"] = config.smpl * (
                    masked_mse(body_rotations(piece.pose), body_rotations(pose[:, piece.target]), present)
                    + masked_mse(piece.shape, shape[:, piece.target], present))
        # The priors see every prediction over the whole window (their fakes include the +-delta poses
        # at every frame, whether or not that frame has a target); a delta pose shares its frame's shape.
        shapes = [output.movie.shape] * 3
        if config.hallucination:
            shapes += [output.hallucinated.shape] * (3 if config.hallucinated_deltas else 1)
        if self.discriminator is not None:
            scores = self.discriminator(self.fake_rotations(output))
            losses["adversarial"] = config.adversarial * (scores - 1).pow(2).sum(-1).mean()
        losses["shape_prior"] = config.shape_prior * torch.cat([s.reshape(-1, N_SHAPE) for s in shapes]).pow(2).mean()
        betas = output.movie.shape
        losses["constant_shape"] = config.constant_shape * 0.5 * (betas[:, 1:] - betas[:, :-1]).pow(2).mean()
        if config.hallucination:
            target = output.movie_strip.detach() if config.detach_hallucination_target else output.movie_strip
            losses["hallucination"] = config.hallucination_weight * (output.hallucinated_strip - target).pow(2).mean()
        return losses

    def fake_poses(self, output: HMMROutput) -> torch.Tensor:
        """(N, 72): every predicted pose the adversarial prior scores, flattened over batch and time."""
        poses = [output.movie.pose, output.movie.past_pose, output.movie.future_pose]
        if self.config.hallucination:
            poses.append(output.hallucinated.pose)
            if self.config.hallucinated_deltas:
                poses += [output.hallucinated.past_pose, output.hallucinated.future_pose]
        return torch.cat([p.reshape(-1, N_POSE) for p in poses])

    def fake_rotations(self, output: HMMROutput) -> torch.Tensor:
        """(N, 23, 9): the body joints' rotations of every predicted pose (the global one is not judged)."""
        return body_rotations(self.fake_poses(output))[:, 1:]

    def discriminator_loss(self, discriminator, real_pose: torch.Tensor, fake_rotations: torch.Tensor) -> torch.Tensor:
        """LSGAN, summed over the 24 outputs and averaged over poses: real mocap -> 1, predicted -> 0.
        real_pose (N, 72) axis-angle; fake_rotations (N, 23, 9), detached here. One forward pass for both
        (as theirs, and so DistributedDataParallel sees one)."""
        real = body_rotations(real_pose)[:, 1:]
        scores = discriminator(torch.cat([real, fake_rotations.detach()]))
        real_scores, fake_scores = scores[: len(real)], scores[len(real):]
        return self.config.discriminator * ((real_scores - 1).pow(2).sum(-1).mean() + fake_scores.pow(2).sum(-1).mean())
