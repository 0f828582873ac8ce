"""Training windows: the store brought up to date, the tubes of a split, and a batch per step.

`prepare_store` makes `<root>/store` match the live manifest rows (reading only status tables and the
store's index when nothing changed), `select_tubes` picks a split's tubes with clear errors, and
`WindowSampler` reads the windows that `train.sampling` draws (split-balanced, `train.mixing`), from
memory-mapped shards, and mirrors the targets of windows from mirrored views (`train.augment`). `step_batches`
runs the sampler in DataLoader workers: item `step` is always drawn from the seed (seed, step).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from manifests import DatasetRoot
from manifests.snapshot import Snapshot
from train.augment import mirror_windows
from train.losses import Batch
from train.sampling import Candidates, SamplingRules, Seed, WindowDraws, draw_windows
from train.store import NO_FEATURES, NOT_LOADED, READY, SHARD_ARRAYS, STALE_FEATURES, ShardArrays, read_index
from train.store_update import CROP_HALF_PX, DataError, due_videos, live_sources, snapshot_sources, update_store

__all__ = ["CROP_HALF_PX", "DataError", "SplitTubes", "StoreIndex", "WindowSampler", "prepare_store", "select_tubes",
           "step_batches", "store_dir_of", "window_loader"]
log = logging.getLogger(__name__)
STORE_DIR_NAME = "store"
ARRAYS_2D = ("features", "keypoints", "visibility")
ARRAYS_3D = (*ARRAYS_2D, "joints_3d", "pose", "shape")


def store_dir_of(root: DatasetRoot, store_dir: str | Path | None = None) -> Path:
    return Path(store_dir) if store_dir else root.path / STORE_DIR_NAME


@dataclass(frozen=True)
class StoreIndex:
    """The store's index rows that are live (one per tube, see `train.store.INDEX_SCHEMA`), and its folder."""

    store_dir: Path
    rows: pd.DataFrame


def prepare_store(root: DatasetRoot, datasets: Iterable[str], store_dir: str | Path | None = None,
                  progress: bool = True, snapshot: Snapshot | None = None) -> StoreIndex:
    """The store's index rows that are live now, after loading what the manifests gained since the last
    run (new videos of `datasets`, re-tracked or re-featured ones); no work when nothing changed.
    snapshot: the rows it froze instead of the live ones, in a store of its own (STORE/snapshots/NAME)."""
    folder, datasets = store_dir_of(root, store_dir), tuple(datasets)
    if snapshot is not None:
        folder = folder / "snapshots" / snapshot.name
    sources = (lambda: live_sources(root)) if snapshot is None else (lambda: snapshot_sources(root, snapshot))
    index = read_index(folder)[0].to_pandas()
    kept, due = due_videos(index, sources(), datasets)
    if due or len(kept) != len(index):
        report = update_store(root, folder, datasets, progress=progress, snapshot=snapshot)
        log.info("training store %s: %d videos read, %d tubes (%d frames) loaded into %d new shard(s), %d dropped",
                 folder, report.n_videos_read, report.n_tubes_loaded, report.n_frames_loaded,
                 report.n_shards_written, report.n_tubes_dropped)
        # Rows stay in view only while live: the manifests may have moved on while we waited for the lock.
        kept, _ = due_videos(read_index(folder)[0].to_pandas(), sources(), datasets)
    return StoreIndex(folder, kept)


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

    @functools.cached_property
    def candidates(self) -> Candidates:
        return Candidates(self.dataset, self.n_frames, self.views, self.has_3d | self.has_smpl)


def select_tubes(index: StoreIndex, root: DatasetRoot, datasets: Iterable[str], split: str,
                 min_frames: int) -> SplitTubes:
    """The tubes of `datasets` in `split`, at least `min_frames` long; refuses a dataset without tubes
    and tubes without (current) features, naming how many, one of them, and the command that makes them."""
    datasets = tuple(datasets)
    tubes = index.rows[index.rows["tube_id"] != ""]
    available = sorted(tubes["dataset"].unique())
    unknown = [d for d in datasets if d not in available]
    if unknown:
        raise DataError(f"no tubes for datasets {unknown} in {root.path}; datasets with tubes: {available or 'none'}")
    tubes = tubes[tubes["dataset"].isin(datasets) & (tubes["split"] == split) & (tubes["n_frames"] >= min_frames)]
    if (tubes["state"] == NOT_LOADED).any():
        raise ValueError(f"the training store {index.store_dir} was prepared without datasets "
                         f"{sorted(tubes.loc[tubes['state'] == NOT_LOADED, 'dataset'].unique())}: pass them to prepare_store")
    missing = tubes[tubes["state"].isin([NO_FEATURES, STALE_FEATURES])].sort_values("tube_id")
    if len(missing):
        n_stale = int((missing["state"] == STALE_FEATURES).sum())
        stale = f" ({n_stale} of them made before their video was tracked again)" if n_stale else ""
        raise DataError(f"{len(missing)} {split} tubes have no features yet{stale} (e.g. {missing['tube_id'].iloc[0]}); "
                        f"run `hmmr-train features --root {root.path}` first")
    tubes = tubes[tubes["state"] == READY].sort_values("tube_id")
    return SplitTubes(index.store_dir, tubes["tube_id"].to_numpy(object), tubes["dataset"].to_numpy(object),
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

    def read(self, draws: WindowDraws, features_dtype: torch.dtype = torch.float32) -> Batch:
        """The windows of `draws` as a Batch. One gather per array and shard: per-window slices, and numpy's
        float16 conversion, cost 5-10x more CPU than this."""
        tubes, length = self.tubes, self.rules.length
        frames = np.arange(length)
        shard = tubes.shard[draws.tube]
        rows = (tubes.row[draws.tube] + draws.view * tubes.n_frames[draws.tube] + draws.start)[:, None] + frames
        frame_rows = (tubes.frame_row[draws.tube] + draws.start)[:, None] + frames
        rows_3d = (tubes.row_3d[draws.tube] + draws.start)[:, None] + frames
        with_3d = tubes.row_3d[draws.tube] >= 0
        arrays = {name: np.zeros((len(shard), length, *SHARD_ARRAYS[name][1]), SHARD_ARRAYS[name][0])
                  for name in (ARRAYS_3D if self.with_3d else ARRAYS_2D)}
        flipped = np.zeros(len(shard), bool)
        for number in np.unique(shard):
            pick = shard == number
            source = self.shards(int(number))
            flipped[pick] = source["flipped"][rows[pick, 0]]
            for name, at in (("features", rows), ("keypoints", rows), ("visibility", frame_rows)):
                arrays[name][pick] = source[name][at[pick]]
            if self.with_3d and (pick & with_3d).any():
                for name in ("joints_3d", "pose", "shape"):
                    arrays[name][pick & with_3d] = source[name][rows_3d[pick & with_3d]]
        # torch converts float16 to float32 about 5x faster than numpy does
        batch = Batch(**{name: torch.from_numpy(array) for name, array in arrays.items()})
        batch.features = batch.features.to(features_dtype)
        if self.with_3d:
            batch.has_3d = torch.from_numpy(tubes.has_3d[draws.tube].astype(np.float32))
            batch.has_smpl = torch.from_numpy(tubes.has_smpl[draws.tube].astype(np.float32))
        # The store keeps targets as annotated; a window whose features saw mirrored crops gets mirrored ones.
        return mirror_windows(batch, flipped)

    def batch(self, batch_size: int, seed: Seed, rank: int = 0, world: int = 1) -> Batch:
        return self.read(self.draw(batch_size, seed, rank, world))


class StepBatches(torch.utils.data.Dataset):
    """Item `step` is this rank's batch of that training step, drawn from the seed (seed, step).
    features_dtype: float16 when they go to a GPU, which casts them for free (half the bytes through the
    worker queue and the bus); float32 for a CPU step, so the workers do the cast, not the trainer."""

    def __init__(self, sampler: WindowSampler, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 features_dtype: torch.dtype = torch.float32) -> None:
        self.sampler, self.batch_size, self.seed, self.rank, self.world = sampler, batch_size, seed, rank, world
        self.features_dtype = features_dtype

    def __getitem__(self, step: int) -> Batch:
        draws = self.sampler.draw(self.batch_size, (self.seed, int(step)), self.rank, self.world)
        return self.sampler.read(draws, self.features_dtype)


class DeviceBatches:
    """A loader's batches moved to `device`, features made float32 there."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, torch.device(device)

    def __iter__(self) -> Iterator[Batch]:
        return self._moved(iter(self.loader))  # the loader's workers start now, not at the first next()

    def _moved(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        for batch in batches:
            batch = batch.to(self.device)
            batch.features = batch.features.float()
            yield batch


def window_loader(sampler: WindowSampler, batch_size: int, seed: int, steps: range, rank: int = 0, world: int = 1,
                  workers: int = 2, features_dtype: torch.dtype = torch.float32) -> torch.utils.data.DataLoader:
    """The batches of `steps` in order, on the CPU, read ahead by `workers` processes (0 = in this one).
    The windows depend only on (seed, step, rank, world): a resumed run reads what an uninterrupted one would."""
    # A generator of its own: the loader draws a worker seed when iterated, which must not move the global
    # RNG (dropout's), or a resumed run would diverge from an uninterrupted one. The windows use no torch RNG.
    return torch.utils.data.DataLoader(StepBatches(sampler, batch_size, seed, rank, world, features_dtype),
                                       batch_size=None, sampler=steps, num_workers=workers,
                                       prefetch_factor=4 if workers else None, generator=torch.Generator().manual_seed(seed))


def step_batches(sampler: WindowSampler, batch_size: int, seed: int, steps: range, rank: int = 0, world: int = 1,
                 workers: int = 2, device: torch.device | str = "cpu") -> DeviceBatches:
    """`window_loader`'s batches on `device`: features travel as float16 to a GPU and become float32 there."""
    device = torch.device(device)
    features_dtype = torch.float16 if device.type == "cuda" else torch.float32
    return DeviceBatches(window_loader(sampler, batch_size, seed, steps, rank, world, workers, features_dtype), device)
