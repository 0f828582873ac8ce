"""Which windows a batch holds: the sampler's rules, one place for training, validation and the bench.

Pure numpy on arrays of candidate tubes; reading the windows is `train.data`'s job. Every draw comes
from one seed, so the windows of a step depend on the step alone (not on loader workers, not on what
was drawn before), and under DDP all ranks draw the same global batch and each reads only its block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from train.mixing import BalancedPools, MixConfig, balanced_pools, draw_balanced

Seed = int | Sequence[int]
REDRAW_ROUNDS = 8  # attempts to replace a window that repeats one already in the global batch


@dataclass(frozen=True)
class SamplingRules:
    """length: frames per window. mix: the released code's split-balanced batches (`train.mixing`: each
    batch's share of windows from tubes with 3D supervision, and dataset weights within each half).
    augment: each window comes from a random view of its tube (the jittered, perhaps mirrored crops of
    the features stage); otherwise view 0."""

    length: int
    mix: MixConfig = MixConfig()
    augment: bool = False

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"SamplingRules.length must be >= 1, got {self.length}")


@dataclass(frozen=True)
class Candidates:
    """The tubes windows may come from: dataset (str), n_frames and views (ints), and supervised_3d (bool:
    3D joints or SMPL, the 3D half of split-balanced batches), one entry per tube."""

    dataset: np.ndarray
    n_frames: np.ndarray
    views: np.ndarray
    supervised_3d: np.ndarray
    _pools: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def pools(self, mix: MixConfig) -> BalancedPools:
        """The split-balanced pools under `mix`, worked out on first use (a sampler keeps one Candidates)."""
        if mix not in self._pools:
            self._pools[mix] = balanced_pools(self.dataset, self.supervised_3d, mix)
        return self._pools[mix]


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


def _place(candidates: Candidates, rules: SamplingRules, tube: np.ndarray, rng: np.random.Generator):
    """A view and a first frame for each drawn tube."""
    last_start = candidates.n_frames[tube] - rules.length
    start = np.floor(rng.random(len(tube)) * (last_start + 1)).astype(np.int64)
    view = (np.floor(rng.random(len(tube)) * candidates.views[tube]).astype(np.int64) if rules.augment
            else np.zeros(len(tube), np.int64))
    return view, start


def draw_windows(candidates: Candidates, rules: SamplingRules, batch_size: int, seed: Seed, world: int = 1) -> WindowDraws:
    """The global batch of a step: `world` blocks of `batch_size` windows (rank r reads block r), each
    block split-balanced by `rules.mix` (`train.mixing.split_balanced_picks`). No window appears twice in
    the global batch while the tubes hold enough distinct windows (a repeat is drawn again, up to
    REDRAW_ROUNDS times)."""
    if np.any(candidates.n_frames < rules.length):
        raise ValueError(f"every candidate tube must have at least {rules.length} frames")
    rng = np.random.default_rng(seed)
    pools = candidates.pools(rules.mix)
    tubes = []
    for _ in range(world):
        block = draw_balanced(rng, batch_size, pools, rules.mix.share_3d)
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
