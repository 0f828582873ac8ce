"""The training loop, top to bottom: data, model, optimisers, steps, checkpoints, validation.

Runs on one device, or under `torchrun --nproc_per_node N` (DistributedDataParallel: all ranks draw one
global batch from the training store and each reads its own block, rank 0 writes). Resuming from a
checkpoint restores model, optimisers, RNG state and step, and each step's windows are drawn from the
seed (seed, step), so the resumed losses are the ones an uninterrupted run would have had. Every run
records the data it read (a snapshot, or the live tables' fingerprint); --resume refuses other data.
Whatever the run opened (the process group, TensorBoard's writer, scalars.jsonl) is closed on every way
out, a non-finite loss included.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from manifests import DatasetRoot
from manifests.atomic import write_json_atomic
from manifests.errors import InputError
from manifests.snapshot import data_state, load_snapshot
from train.body import BodyModel, find_mean_params
from train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from train.config import TrainConfig, config_differences, config_to_plain
from train.data import DataError, WindowSampler, prepare_store, select_tubes, step_batches
from train.losses import Batch, Criterion
from train.model import HMMR, PoseDiscriminator
from train.params import N_POSE, N_SHAPE
from train.sampling import SamplingRules
from train.smpl_io import load_mean_params
from train.store_update import SOURCE_TABLES
from train.validation import evaluate

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "train", "evaluate", "generator_step", "NonFiniteLoss", "ResumeMismatch"]


class NonFiniteLoss(FloatingPointError):
    """A loss became NaN or infinite; raised before the optimiser step, with every loss named."""


class ResumeMismatch(InputError, ValueError):
    """--resume with a model or data configuration other than the checkpoint's."""


def describe_data(data: dict) -> str:
    """A run's data record (manifests.snapshot.DataState as a dict) in words."""
    where = f"snapshot {data['snapshot']!r}" if data.get("snapshot") else "the live tables"
    return f"{where} (fingerprint {data.get('fingerprint')})"


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """The model's learning rate at `step`: constant (released), or a cosine down to min_learning_rate_ratio."""
    if config.learning_rate_schedule == "constant":
        return config.learning_rate
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


def mixed_precision(device: torch.device, enabled: bool = True):
    """bf16 autocast on a GPU when enabled; plain float32 otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast(device.type, enabled=False)


def generator_step(model, criterion: Criterion, optimizer: torch.optim.Optimizer, batch: Batch, step: int,
                   device: torch.device, bf16: bool = False):
    """One optimiser step of the model: the forward (bf16 autocast on a GPU if `bf16`), the body model and
    the named losses in float32, a check that every loss is finite before anything is updated, backward,
    step. Returns (outputs, losses, total)."""
    with mixed_precision(device, bf16):
        outputs = model(batch.features)
    outputs = outputs.float()
    losses = criterion(outputs, batch)
    _check_finite(losses, step)
    total = sum(losses.values())
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return outputs, losses, total


def load_mocap(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Real SMPL poses (N, 72) and betas (N, 10) from an npz with `poses` and `betas`."""
    data = np.load(path)
    for key, width in (("poses", N_POSE), ("betas", N_SHAPE)):
        if key not in data or data[key].ndim != 2 or data[key].shape[1] < width:
            raise ValueError(f"{path}: needs '{key}' of shape (N, >= {width}); it has {list(data.keys())}")
    return torch.from_numpy(data["poses"][:, :N_POSE]).float(), torch.from_numpy(data["betas"][:, :N_SHAPE]).float()


def build_model(config: TrainConfig) -> HMMR:
    """HMMR with its learned mean starting at HMR's mean parameters when the h5 is there (said in the log)."""
    path = Path(config.mean_params) if config.mean_params else find_mean_params(Path(config.smpl_model_dir))
    if path is None:
        log.warning("no neutral_smpl_meanwjoints.h5 beside the SMPL model (or --mean-params): the regressor "
                    "starts from the zero pose and shape instead of HMR's mean")
        return HMMR(config.model)
    pose, shape = load_mean_params(path)
    log.info("mean pose and shape from %s", path)
    return HMMR(config.model, mean_pose=pose, mean_shape=shape)


def _resume(path: Path, config: TrainConfig, device: torch.device, data: dict | None = None) -> Checkpoint:
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    checkpoint = load_checkpoint(path, map_location=device)
    differences = config_differences(checkpoint.config, config)
    if differences:
        raise ResumeMismatch(f"--resume: {path} was trained with another model or data configuration: "
                             + "; ".join(differences) + ". Resume with the same settings, or train into a new --out")
    if data is not None and (checkpoint.data or data) != data:
        raise DataError(f"--resume: {path} trained on {describe_data(checkpoint.data)}, but the root "
                        f"now holds {describe_data(data)}; resume on the same data (train with --snapshot to "
                        "freeze it) or start a new --out")
    return checkpoint


def train(config: TrainConfig, resume: bool = False, stop_after_steps: int | None = None) -> dict[str, float]:
    """Train; returns the last step's losses. Writes checkpoint.pt, config.json and scalars.jsonl to out_dir.

    stop_after_steps: leave after this many steps of this run (a job's time limit), with a checkpoint;
    `resume=True` later continues the same schedule.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        return _train(config, resume, stop_after_steps, distributed)
    finally:
        if distributed:
            dist.destroy_process_group()


def _train(config: TrainConfig, resume: bool, stop_after_steps: int | None, distributed: bool) -> dict[str, float]:
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = _device(config.device)
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + rank)
    if config.objective.adversarial > 0 and not config.mocap:
        raise ValueError("the adversarial pose prior (the paper's, weight 1) needs real poses: give --mocap FILE.npz "
                         "(poses (N, 72), betas (N, 10), e.g. MoSh'd CMU), or --no-adversarial to train without it")

    # Data: the train split of the chosen datasets, from the training store (first brought up to date
    # with the manifests, or with the snapshot's rows); validation on their val split when it has windows.
    root = DatasetRoot(Path(config.root))
    snapshot = load_snapshot(root, config.snapshot) if config.snapshot else None
    data = asdict(data_state(root, SOURCE_TABLES, snapshot))
    store = prepare_store(root, config.datasets, config.store_dir, progress=rank == 0, snapshot=snapshot)
    sampler = WindowSampler(select_tubes(store, root, config.datasets, "train", config.window),
                            SamplingRules(config.window, config.mix, augment=config.augment))
    val_tubes = select_tubes(store, root, config.datasets, "val", config.window)
    val_sampler = WindowSampler(val_tubes, SamplingRules(config.window)) if len(val_tubes) else None
    checkpoint_path = out_dir / "checkpoint.pt"
    state = _resume(checkpoint_path, config, device, data) if resume else None
    step = state.step if state is not None else 0
    last_step = config.steps if stop_after_steps is None else min(config.steps, step + stop_after_steps)
    # The loader's workers start now and read the first batches while the model is built (seconds of
    # parameter init and of torch's first optimiser). They draw from (seed, step) and a generator of their
    # own, never from the global RNG the model's init and dropout use.
    batches = iter(step_batches(sampler, config.batch_size, config.seed, range(step, last_step), rank, world,
                                config.loader_workers, device))

    # Model, body model, prior and optimisers (Adam, as the released code).
    model = build_model(config).to(device)
    body = BodyModel(Path(config.smpl_model_dir)).to(device)
    mocap = load_mocap(config.mocap) if config.objective.adversarial > 0 else None
    discriminator = PoseDiscriminator().to(device) if mocap is not None else None
    criterion = Criterion(body, config.objective, discriminator, config.model.delta_frames)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    d_optimizer = (torch.optim.Adam(discriminator.parameters(), lr=config.discriminator_learning_rate,
                                    weight_decay=config.weight_decay) if discriminator is not None else None)
    if state is not None:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        if discriminator is not None and state.discriminator is not None:
            discriminator.load_state_dict(state.discriminator)
            d_optimizer.load_state_dict(state.d_optimizer)
        torch.set_rng_state(state.torch_rng)
        log.info("resumed from %s at step %d", checkpoint_path, step)
    # Every parameter gets a gradient each step unless the hallucinator sits out.
    unused = not config.objective.hallucination
    trained = (torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=unused)
               if distributed else model)
    d_trained = (torch.nn.parallel.DistributedDataParallel(discriminator)
                 if distributed and discriminator is not None else discriminator)
    if rank == 0:
        write_json_atomic(out_dir / "config.json", {**config_to_plain(config), "data": data})

    losses: dict[str, torch.Tensor] = {}
    with contextlib.ExitStack() as opened:
        scalars = opened.enter_context(open(out_dir / "scalars.jsonl", "a")) if rank == 0 else None
        board = opened.enter_context(contextlib.closing(_summary_writer(out_dir))) if rank == 0 else None
        while step < last_step:
            model.train()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            batch = next(batches)
            outputs, losses, total = generator_step(trained, criterion, optimizer, batch, step, device,
                                                    config.mixed_precision)
            if d_trained is not None:
                fakes = criterion.fake_rotations(outputs).detach()
                picks = torch.from_numpy(np.random.default_rng(config.seed + step * world + rank)
                                         .integers(0, len(mocap[0]), len(fakes)))
                d_loss = criterion.discriminator_loss(d_trained, mocap[0][picks].to(device), fakes)
                _check_finite({"discriminator": d_loss}, step)
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
                save_checkpoint(checkpoint_path, Checkpoint(
                    step=step, config=config, model=model.state_dict(), optimizer=optimizer.state_dict(),
                    discriminator=discriminator.state_dict() if discriminator is not None else None,
                    d_optimizer=d_optimizer.state_dict() if d_optimizer is not None else None,
                    torch_rng=torch.get_rng_state(), data=data))
    return {k: float(v.detach()) for k, v in losses.items()}
