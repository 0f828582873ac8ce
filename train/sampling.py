"""Which windows a batch holds: the sampler's rules, one place for training, validation and the bench.

Pure numpy on arrays of candidate tubes; reading the windows is `train.data`'s job. Every draw comes
from one seed, so the windows of a step depend on the step alone (not on loader workers, not on what
was drawn before), and under DDP all ranks draw the same global batch and each reads only its block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

Seed = int | Sequence[int]
REDRAW_ROUNDS = 8  # attempts to replace a window that repeats one already in the global batch


@dataclass(frozen=True)
class SamplingRules:
    """length: frames per window. mix: (dataset, weight) pairs: each batch holds about weight / sum of
    weights of its windows from that dataset (exactly floor or ceil of it, see `dataset_counts`);
    datasets not named weigh 1; within a dataset every tube is equally likely. augment: each window
    comes from a random view of its tube (the jittered crops of the features stage); otherwise view 0."""

    length: int
    mix: tuple[tuple[str, float], ...] = ()
    augment: bool = False

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"SamplingRules.length must be >= 1, got {self.length}")
        for name, weight in self.mix:
            if not (math.isfinite(weight) and weight > 0):
                raise ValueError(f"SamplingRules.mix: the weight of {name!r} must be a positive number, got {weight}")

    def weight(self, dataset: str) -> float:
        return dict(self.mix).get(dataset, 1.0)


@dataclass(frozen=True)
class Candidates:
    """The tubes windows may come from: dataset (str), n_frames and views (ints), one entry per tube."""

    dataset: np.ndarray
    n_frames: np.ndarray
    views: np.ndarray


@dataclass(frozen=True)
class WindowDraws:
    """Windows as (tube index into the candidates, view, first frame), one entry per window."""

    tube: np.ndarray
    view: np.ndarray
    start: np.ndarray

    def block(self, rank: int, size: int) -> "WindowDraws":
        part = slice(rank * size, (rank + 1) * size)
        return WindowDraws(self.tube[part], self.view[part], self.start[part])

    def keys(self) -> np.ndarray:
        return np.stack([self.tube, self.view, self.start], axis=1)


def dataset_counts(shares: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Split n windows between datasets with these shares (summing to 1): systematic rounding gives each
    dataset floor or ceil of n * share, n in all, and n * share on average."""
    edges = np.floor(np.concatenate([[0.0], np.cumsum(shares) * n]) + rng.random())
    counts = np.diff(edges).astype(np.int64)
    counts[-1] += n - counts.sum()  # cumulative float error can leave the last edge one off
    return counts


def _place(candidates: Candidates, rules: SamplingRules, tube: np.ndarray, rng: np.random.Generator):
    """A view and a first frame for each drawn tube."""
    last_start = candidates.n_frames[tube] - rules.length
    start = np.floor(rng.random(len(tube)) * (last_start + 1)).astype(np.int64)
    view = (np.floor(rng.random(len(tube)) * candidates.views[tube]).astype(np.int64) if rules.augment
            else np.zeros(len(tube), np.int64))
    return view, start


def draw_windows(candidates: Candidates, rules: SamplingRules, batch_size: int, seed: Seed, world: int = 1) -> WindowDraws:
    """The global batch of a step: `world` blocks of `batch_size` windows (rank r reads block r), each
    block split between datasets by `rules.mix`. No window appears twice in the global batch while the
    tubes hold enough distinct windows (a repeat is drawn again, up to REDRAW_ROUNDS times)."""
    if np.any(candidates.n_frames < rules.length):
        raise ValueError(f"every candidate tube must have at least {rules.length} frames")
    rng = np.random.default_rng(seed)
    names = np.unique(candidates.dataset)
    members = [np.flatnonzero(candidates.dataset == name) for name in names]
    weights = np.array([rules.weight(str(name)) for name in names])
    shares = weights / weights.sum()
    tubes = []
    for _ in range(world):
        counts = dataset_counts(shares, batch_size, rng)
        block = np.concatenate([group[rng.integers(0, len(group), count)] for group, count in zip(members, counts)])
        tubes.append(block[rng.permutation(len(block))])
    tube = np.concatenate(tubes)
    view, start = _place(candidates, rules, tube, rng)
    for _ in range(REDRAW_ROUNDS):
        _, first = np.unique(np.stack([tube, view, start], axis=1), axis=0, return_index=True)
        repeats = np.setdiff1d(np.arange(len(tube)), first)
        if not len(repeats):
            break
        view[repeats], start[repeats] = _place(candidates, rules, tube[repeats], rng)
    return WindowDraws(tube, view, start)
