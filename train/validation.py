"""A quick look at the val split while training, with the paper's metric definitions (train/eval_metrics.py).
`hmmr-train eval` (train/evaluate.py) is the paper's whole protocol on whole tubes."""
from __future__ import annotations

import numpy as np
import torch

from manifests.joints import N_LSP
from train.body import BodyModel
from train.camera import project
from train.config import TrainConfig
from train.data import WindowSampler
from train.eval_metrics import CROP_PX, acceleration, joint_errors, keypoint_errors
from train.losses import Batch, frame_flags
from train.model import HMMR
from train.params import N_POSE, N_SHAPE, camera_of, pose_of, shape_of

MM = 1000.0  # metres -> millimetres


@torch.no_grad()
def evaluate(model: HMMR, body: BodyModel, sampler: WindowSampler, config: TrainConfig, device: torch.device,
             seed: int = 12345) -> dict[str, float]:
    """A quick look at the val split while training, with the paper's metric definitions
    (train/eval_metrics.py) on a few windows: PCK@0.05 after the released scale/translation fit, the
    predicted joints' acceleration, and MPJPE / PA-MPJPE where windows have 3D. `hmmr-train eval` is
    the paper's protocol on whole tubes."""
    model.eval()
    pcks, accelerations, mpjpes, pa_mpjpes = [], [], [], []
    for i in range(config.val_batches):
        batch: Batch = sampler.batch(config.batch_size, seed=seed + i).to(device)
        theta = model(batch.features).movie.theta
        _, joints = body(pose_of(theta).reshape(-1, N_POSE), shape_of(theta).reshape(-1, N_SHAPE))
        joints = joints.reshape(*theta.shape[:2], *joints.shape[-2:])
        pixels = (project(joints, camera_of(theta)) + 1.0) * 0.5 * CROP_PX
        truth = torch.cat([(batch.keypoints + 1.0) * 0.5 * CROP_PX, (batch.visibility >= 0.1)[..., None].float()], -1)
        pixels, truth, joints = (t.double().cpu().numpy() for t in (pixels, truth, joints))
        pcks.append(keypoint_errors(truth.reshape(-1, *truth.shape[2:]), pixels.reshape(-1, *pixels.shape[2:])).pck)
        accelerations += [acceleration(j[:, :N_LSP]) for j in joints]
        if batch.joints_3d is not None and batch.has_3d is not None:
            frames = frame_flags(batch.has_3d, batch.joints_3d).cpu().numpy()
            if frames.any():
                errors = joint_errors(batch.joints_3d.double().cpu().numpy()[frames], joints[frames][:, :N_LSP])
                mpjpes.append(errors[0])
                pa_mpjpes.append(errors[1])
    metrics = {"val_pck_0.05": float(np.nanmean(np.concatenate(pcks))),
               "val_acceleration_mm_per_frame2": MM * float(np.mean(np.concatenate(accelerations)))}
    if mpjpes:
        metrics.update(val_mpjpe_mm=MM * float(np.mean(np.concatenate(mpjpes))),
                       val_pa_mpjpe_mm=MM * float(np.mean(np.concatenate(pa_mpjpes))))
    return metrics
