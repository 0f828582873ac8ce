"""The training loop, top to bottom: data, model, optimiser, steps, checkpoints, validation.

Runs on one device, or under `torchrun --nproc_per_node N` (DistributedDataParallel: each rank draws
its own windows, rank 0 writes). Resuming from a checkpoint restores model, optimisers, RNG state and
step, and windows are drawn from a seed derived from the step, so the resumed losses are the ones an
uninterrupted run would have had.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from manifests import FEATURES, TUBES, DatasetRoot
from manifests.atomic import write_atomic
from manifests.snapshot import data_state, load_snapshot
from train.body import BodyModel
from train.camera import project
from train.data import DataError, WindowSampler, prepare_store, select_tubes, step_batches
from train.losses import Batch, Criterion, LossWeights
from train.metrics import acceleration, pck
from train.model import HMMR, Discriminators, ModelConfig
from train.params import camera_of, pose_of, shape_of
from train.sampling import SamplingRules

log = logging.getLogger(__name__)


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or infinite; raised before the optimiser step, with every loss named."""


@dataclass(frozen=True)
class TrainConfig:
    root: str
    smpl_model_dir: str
    out_dir: str
    datasets: tuple[str, ...] = ("insta", "vlog")
    mix: tuple[tuple[str, float], ...] = ()  # (dataset, weight): share of windows per dataset
    mocap: str | None = None  # npz with poses (N, 72) and betas (N, 10) for the adversarial prior
    snapshot: str | None = None  # train on this frozen dataset version (manifests.snapshot); None: the live tubes
    steps: int = 1000
    batch_size: int = 8
    window: int = 20
    augment: bool = True  # train on the jittered views of each tube (scale/shift), not only its own boxes
    loader_workers: int = 2  # processes reading windows ahead of the step (0 = read in the training process)
    store_dir: str | None = None  # the training store [default: <root>/store]
    learning_rate: float = 1e-4
    min_learning_rate_ratio: float = 0.1  # cosine decay from learning_rate to this share of it at the last step
    discriminator_learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    checkpoint_every: int = 500
    log_every: int = 10
    val_every: int = 500
    val_batches: int = 4
    seed: int = 0
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    weights: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if self.window <= self.model.delta_frames:
            raise ValueError(f"TrainConfig.window ({self.window}) must exceed the delta of {self.model.delta_frames} frames")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "val_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.loader_workers < 0:
            raise ValueError(f"TrainConfig.loader_workers must be >= 0, got {self.loader_workers}")


def describe_data(data: dict) -> str:
    """A run's data record (manifests.snapshot.DataState as a dict) in words."""
    where = f"snapshot {data['snapshot']!r}" if data.get("snapshot") else "the live tables"
    return f"{where} (fingerprint {data.get('fingerprint')})"


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _save_atomic(path: Path, payload: dict) -> None:
    write_atomic(path, lambda sink: torch.save(payload, sink))


def cosine_learning_rate(step: int, config: TrainConfig) -> float:
    """The learning rate at `step`: a cosine from learning_rate down to min_learning_rate_ratio of it."""
    progress = min(1.0, step / max(1, config.steps - 1))
    floor = config.learning_rate * config.min_learning_rate_ratio
    return floor + 0.5 * (config.learning_rate - floor) * (1 + math.cos(math.pi * progress))


def _summary_writer(out_dir: Path):
    """TensorBoard event files in out_dir (tensorboard --logdir OUT); tensorboardX writes them without
    TensorFlow or the tensorboard server package."""
    from tensorboardX import SummaryWriter

    return SummaryWriter(logdir=str(out_dir))


def _add_scalars(board, prefix: str, values: dict, step: int) -> None:
    for name, value in values.items():
        if name != "step":
            board.add_scalar(f"{prefix}/{name}", value, step)
    board.flush()


def _check_finite(losses: dict[str, torch.Tensor], step: int) -> None:
    if not all(torch.isfinite(v).all() for v in losses.values()):
        named = {k: float(v.detach()) for k, v in losses.items()}
        raise NonFiniteLoss(f"non-finite loss at step {step}: {named}")


def mixed_precision(device: torch.device):
    """bf16 autocast on a GPU; plain float32 on a CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def generator_step(model, criterion: Criterion, optimizer: torch.optim.Optimizer, batch: Batch, step: int,
                   device: torch.device):
    """One optimiser step of the model: forward and the named losses under mixed precision, a check that
    every loss is finite before anything is updated, backward, step. Returns (outputs, losses, total)."""
    with mixed_precision(device):
        outputs = model(batch.features)
        losses = criterion(outputs, batch)
    _check_finite(losses, step)
    total = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return outputs, losses, total


def _load_mocap(path: str | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path:
        log.warning("no --mocap file: the adversarial pose prior is OFF; poses are only constrained by 2D keypoints")
        return None
    data = np.load(path)
    for key, width in (("poses", 72), ("betas", 10)):
        if key not in data or data[key].ndim != 2 or data[key].shape[1] < width:
            raise ValueError(f"{path}: needs '{key}' of shape (N, >= {width}); it has {list(data.keys())}")
    return torch.from_numpy(data["poses"][:, :72]).float(), torch.from_numpy(data["betas"][:, :10]).float()


def train(config: TrainConfig, resume: bool = False, stop_after_steps: int | None = None) -> dict[str, float]:
    """Train; returns the last step's losses. Writes checkpoint.pt, config.json and scalars.jsonl to out_dir.

    stop_after_steps: leave after this many steps of this run (a job's time limit), with a checkpoint;
    `resume=True` later continues the same schedule.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = _device(config.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + rank)

    # Data: the train split of the chosen datasets, from the training store (first brought up to date
    # with the manifests, or with the snapshot's rows); validation on their val split when it has windows.
    # Every run records the data it read (a snapshot, or the live tables' fingerprint); --resume refuses other data.
    root = DatasetRoot(Path(config.root))
    snapshot = load_snapshot(root, config.snapshot) if config.snapshot else None
    data = asdict(data_state(root, (TUBES, FEATURES), snapshot))
    store = prepare_store(root, config.datasets, config.store_dir, progress=rank == 0, snapshot=snapshot)
    sampler = WindowSampler(select_tubes(store, root, config.datasets, "train", config.window),
                            SamplingRules(config.window, config.mix, augment=config.augment))
    val_tubes = select_tubes(store, root, config.datasets, "val", config.window)
    val_sampler = WindowSampler(val_tubes, SamplingRules(config.window)) if len(val_tubes) else None

    # Model, body model, prior and optimisers.
    model = HMMR(config.model).to(device)
    body = BodyModel(Path(config.smpl_model_dir)).to(device)
    mocap = _load_mocap(config.mocap)
    discriminators = Discriminators().to(device) if mocap is not None else None
    criterion = Criterion(body, config.weights, discriminators, config.model.delta_frames)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    d_optimizer = (torch.optim.AdamW(discriminators.parameters(), lr=config.discriminator_learning_rate,
                                     weight_decay=config.weight_decay) if discriminators is not None else None)
    step = 0
    checkpoint_path = out_dir / "checkpoint.pt"
    if resume:
        if not checkpoint_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint_path}")
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state.get("data", data) != data:
            raise DataError(f"--resume: {checkpoint_path} trained on {describe_data(state['data'])}, but the root "
                            f"now holds {describe_data(data)}; resume on the same data (train with --snapshot to "
                            "freeze it) or start a new --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if discriminators is not None and state.get("discriminators"):
            discriminators.load_state_dict(state["discriminators"])
            d_optimizer.load_state_dict(state["d_optimizer"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        log.info("resumed from %s at step %d", checkpoint_path, step)
    trained = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    if rank == 0:
        (out_dir / "config.json").write_text(json.dumps({**asdict(config), "data": data}, indent=2, default=str) + "\n")

    losses: dict[str, torch.Tensor] = {}
    scalars = open(out_dir / "scalars.jsonl", "a") if rank == 0 else None
    board = _summary_writer(out_dir) if rank == 0 else None
    last_step = config.steps if stop_after_steps is None else min(config.steps, step + stop_after_steps)
    batches = iter(step_batches(sampler, config.batch_size, config.seed, range(step, last_step), rank, world,
                                config.loader_workers, device))
    while step < last_step:
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = cosine_learning_rate(step, config)
        batch = next(batches)
        outputs, losses, total = generator_step(trained, criterion, optimizer, batch, step, device)
        if discriminators is not None:
            picks = torch.from_numpy(np.random.default_rng(config.seed + step).integers(0, len(mocap[0]), batch.features.shape[0] * config.window))
            d_loss = criterion.discriminator_loss(outputs[0], mocap[0][picks].to(device), mocap[1][picks].to(device))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            losses["discriminator"] = d_loss.detach()
        step += 1
        if rank == 0 and (step % config.log_every == 0 or step == config.steps):
            record = {"step": step, "total": float(total.detach()), **{k: float(v.detach()) for k, v in losses.items()}}
            scalars.write(json.dumps(record) + "\n")
            scalars.flush()
            _add_scalars(board, "train", record, step)
            log.info("step %d: total %.4f", step, record["total"])
        if rank == 0 and val_sampler is not None and (step % config.val_every == 0 or step == config.steps):
            metrics = evaluate(model, body, val_sampler, config, device)
            scalars.write(json.dumps({"step": step, **metrics}) + "\n")
            _add_scalars(board, "val", metrics, step)
        if rank == 0 and (step % config.checkpoint_every == 0 or step == last_step):
            _save_atomic(checkpoint_path, {
                "step": step, "config": asdict(config), "data": data, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "discriminators": discriminators.state_dict() if discriminators is not None else None,
                "d_optimizer": d_optimizer.state_dict() if d_optimizer is not None else None,
                "torch_rng": torch.get_rng_state(),
            })
    if scalars:
        scalars.close()
    if board is not None:
        board.close()
    if distributed:
        dist.destroy_process_group()
    return {k: float(v.detach()) for k, v in losses.items()}


@torch.no_grad()
def evaluate(model: HMMR, body: BodyModel, sampler: WindowSampler, config: TrainConfig, device: torch.device,
             seed: int = 12345) -> dict[str, float]:
    """PCK@0.05 of the projected joints against the 2D keypoints, and the predicted joints' acceleration."""
    model.eval()
    pcks, accelerations = [], []
    for i in range(config.val_batches):
        batch: Batch = sampler.batch(config.batch_size, seed=seed + i).to(device)
        prediction = model(batch.features)[0]
        theta = prediction.theta
        _, joints = body(pose_of(theta).reshape(-1, 72), shape_of(theta).reshape(-1, 10))
        joints = joints.reshape(*theta.shape[:2], *joints.shape[-2:])
        pcks.append(float(pck(project(joints, camera_of(theta)), batch.keypoints, batch.visibility)))
        accelerations.append(float(torch.stack([acceleration(j) for j in joints]).mean()))
    return {"val_pck_0.05": float(np.mean(pcks)), "val_acceleration_m_per_frame2": float(np.mean(accelerations))}


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    """'insta=2,vlog=1' -> (('insta', 2.0), ('vlog', 1.0))."""
    pairs = []
    for item in filter(None, text.split(",")):
        name, _, weight = item.partition("=")
        value = float(weight) if weight else 1.0
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"--mix weight for {name!r} must be a positive number, got {weight!r}")
        pairs.append((name, value))
    return tuple(pairs)
