"""Training windows: the store brought up to date, the tubes of a split, and a batch per step.

`prepare_store` makes `<root>/store` match the live manifest rows (reading only status tables and the
store's index when nothing changed), `select_tubes` picks a split's tubes with clear errors, and
`WindowSampler` reads the windows that `train.sampling` draws, from memory-mapped shards. `step_batches`
runs the sampler in DataLoader workers: item `step` is always drawn from the seed (seed, step).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import torch

from manifests import DatasetRoot
from manifests.joints import HMMR_25, N_LSP
from train.losses import Batch
from train.sampling import Candidates, SamplingRules, Seed, WindowDraws, draw_windows
from train.store import NO_FEATURES, READY, STALE_FEATURES, ShardArrays, read_index
from train.store_update import CROP_HALF_PX, DataError, due_videos, live_sources, update_store

__all__ = ["CROP_HALF_PX", "DataError", "SplitTubes", "WindowSampler", "prepare_store", "select_tubes",
           "step_batches", "store_dir_of"]
log = logging.getLogger(__name__)
STORE_DIR_NAME = "store"


def store_dir_of(root: DatasetRoot, store_dir: str | Path | None = None) -> Path:
    return Path(store_dir) if store_dir else root.path / STORE_DIR_NAME


def prepare_store(root: DatasetRoot, datasets: Iterable[str], store_dir: str | Path | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """The store's index rows that are live now, after loading what the manifests gained since the last
    run (new videos of `datasets`, re-tracked or re-featured ones); no work when nothing changed."""
    folder, datasets = store_dir_of(root, store_dir), tuple(datasets)
    index = read_index(folder)[0].to_pandas()
    kept, due = due_videos(index, live_sources(root), datasets)
    if due or len(kept) != len(index):
        report = update_store(root, folder, datasets, progress=progress)
        log.info("training store %s: %d videos read, %d tubes (%d frames) loaded into %d new shard(s), %d dropped",
                 folder, report.n_videos_read, report.n_tubes_loaded, report.n_frames_loaded,
                 report.n_shards_written, report.n_tubes_dropped)
        # Rows stay in view only while live: the manifests may have moved on while we waited for the lock.
        kept, _ = due_videos(read_index(folder)[0].to_pandas(), live_sources(root), datasets)
    return kept.assign(store_dir=str(folder))


@dataclass(frozen=True)
class SplitTubes:
    """The loaded tubes of one split: where each one's arrays lie in the store, one entry per tube."""

    store_dir: Path
    tube_id: np.ndarray
    dataset: np.ndarray
    n_frames: np.ndarray
    views: np.ndarray
    shard: np.ndarray
    row: np.ndarray
    frame_row: np.ndarray
    row_3d: np.ndarray
    has_3d: np.ndarray
    has_smpl: np.ndarray

    def __len__(self) -> int:
        return len(self.tube_id)

    @property
    def candidates(self) -> Candidates:
        return Candidates(self.dataset, self.n_frames, self.views)


def select_tubes(index: pd.DataFrame, root: DatasetRoot, datasets: Iterable[str], split: str,
                 min_frames: int) -> SplitTubes:
    """The tubes of `datasets` in `split`, at least `min_frames` long; refuses a dataset without tubes
    and tubes without (current) features, naming how many, one of them, and the command that makes them."""
    datasets = tuple(datasets)
    tubes = index[index["tube_id"] != ""]
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise DataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'}")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split) & (tubes["n_frames"] >= min_frames)]
    missing = tubes[tubes["state"].isin([NO_FEATURES, STALE_FEATURES])].sort_values("tube_id")
    if len(missing):
        n_stale = int((missing["state"] == STALE_FEATURES).sum())
        stale = f" ({n_stale} of them made before their video was tracked again)" if n_stale else ""
        raise DataError(f"{len(missing)} {split} tubes have no features yet{stale} (e.g. {missing['tube_id'].iloc[0]}); "
                        f"run `hmmr-train features --root {root.path}` first")
    tubes = tubes[tubes["state"] == READY].sort_values("tube_id")
    folder = Path(index["store_dir"].iloc[0]) if len(index) else root.path
    return SplitTubes(folder, tubes["tube_id"].to_numpy(object), tubes["dataset"].to_numpy(object),
                      *(tubes[c].to_numpy(np.int64) for c in ("n_frames", "views", "shard", "row", "frame_row", "row_3d")),
                      *(tubes[c].to_numpy(bool) for c in ("has_3d", "has_smpl")))


class WindowSampler:
    """Batches of windows from the store: draws by `train.sampling`, reads from the memory-mapped shards
    (each process maps them itself, so DataLoader workers and DDP ranks share the page cache)."""

    def __init__(self, tubes: SplitTubes, rules: SamplingRules) -> None:
        if not len(tubes):
            raise DataError("no sequences to sample windows from")
        self.tubes, self.rules = tubes, rules
        self.shards = ShardArrays(tubes.store_dir)
        self.with_3d = bool(tubes.has_3d.any() or tubes.has_smpl.any())

    def draw(self, batch_size: int, seed: Seed, rank: int = 0, world: int = 1) -> WindowDraws:
        """This rank's windows of the step whose seed is `seed` (every rank draws the same global batch)."""
        return draw_windows(self.tubes.candidates, self.rules, batch_size, seed, world).block(rank, batch_size)

    def read(self, draws: WindowDraws) -> Batch:
        tubes, length, n = self.tubes, self.rules.length, len(draws.tube)
        features = np.empty((n, length, self.shards(int(tubes.shard[draws.tube[0]]))["features"].shape[1]), np.float32)
        keypoints = np.empty((n, length, len(HMMR_25), 2), np.float32)
        visibility = np.empty((n, length, len(HMMR_25)), np.float32)
        joints_3d = np.zeros((n, length, N_LSP, 3), np.float32) if self.with_3d else None
        pose = np.zeros((n, length, 72), np.float32) if self.with_3d else None
        shape = np.zeros((n, length, 10), np.float32) if self.with_3d else None
        for i, (t, view, start) in enumerate(zip(draws.tube, draws.view, draws.start)):
            arrays = self.shards(int(tubes.shard[t]))
            row = tubes.row[t] + view * tubes.n_frames[t] + start
            features[i] = arrays["features"][row:row + length]
            keypoints[i] = arrays["keypoints"][row:row + length]
            frame = tubes.frame_row[t] + start
            visibility[i] = arrays["visibility"][frame:frame + length]
            if self.with_3d and tubes.row_3d[t] >= 0:
                frame = tubes.row_3d[t] + start
                joints_3d[i], pose[i] = arrays["joints_3d"][frame:frame + length], arrays["pose"][frame:frame + length]
                shape[i] = arrays["shape"][frame:frame + length]
        batch = Batch(features=torch.from_numpy(features), keypoints=torch.from_numpy(keypoints),
                      visibility=torch.from_numpy(visibility))
        if self.with_3d:
            batch.joints_3d, batch.pose, batch.shape = (torch.from_numpy(a) for a in (joints_3d, pose, shape))
            batch.has_3d = torch.from_numpy(tubes.has_3d[draws.tube].astype(np.float32))
            batch.has_smpl = torch.from_numpy(tubes.has_smpl[draws.tube].astype(np.float32))
        return batch

    def batch(self, batch_size: int, seed: Seed, rank: int = 0, world: int = 1) -> Batch:
        return self.read(self.draw(batch_size, seed, rank, world))


class StepBatches(torch.utils.data.Dataset):
    """Item `step` is this rank's batch of that training step, drawn from the seed (seed, step)."""

    def __init__(self, sampler: WindowSampler, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.sampler, self.batch_size, self.seed, self.rank, self.world = sampler, batch_size, seed, rank, world

    def __getitem__(self, step: int) -> Batch:
        return self.sampler.batch(self.batch_size, (self.seed, int(step)), self.rank, self.world)


def step_batches(sampler: WindowSampler, batch_size: int, seed: int, steps: range, rank: int = 0, world: int = 1,
                 workers: int = 2) -> torch.utils.data.DataLoader:
    """The batches of `steps`, in order, read ahead by `workers` processes (0 = in this process). The
    windows depend only on (seed, step, rank, world): a resumed run reads what an uninterrupted one would."""
    return torch.utils.data.DataLoader(StepBatches(sampler, batch_size, seed, rank, world), batch_size=None,
                                       sampler=steps, num_workers=workers, prefetch_factor=4 if workers else None)
