"""Which sequences a batch's windows come from: the released code's split-balanced batches
(`split_balanced`: half of every batch from 3D datasets, half from 2D ones) and per-dataset weights.

A pure rule for the window sampler: given each sequence's dataset and whether it has 3D supervision, draw
a batch's sequence indices from a seeded generator, so a step's batch depends on the step alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHARE_3D_KEY = "3d"


@dataclass(frozen=True)
class MixConfig:
    """share_3d: the expected share of each batch's windows drawn from sequences with 3D supervision
    (released: 0.5); dataset_weights: relative weight of each dataset within its half (default 1 each;
    a dataset's weight is split among its sequences, so a big dataset does not crowd out a small one)."""

    share_3d: float = 0.5
    dataset_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.share_3d <= 1:
            raise ValueError(f"the 3D share of a batch must be in [0, 1], got {self.share_3d}")


def parse_mix(text: str) -> MixConfig:
    """'3d=0.5,insta=2,vlog=1' -> MixConfig(0.5, (('insta', 2.0), ('vlog', 1.0))); a bare number is the 3D share."""
    share, weights = MixConfig().share_3d, []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, has_value, value_text = item.partition("=")
        try:
            value = float(value_text if has_value else name)
        except ValueError:
            if not has_value:
                weights.append((name, 1.0))
                continue
            raise ValueError(f"--mix: {item!r}: {value_text!r} is not a number") from None
        if not has_value or name == SHARE_3D_KEY:
            share = value
        elif not math.isfinite(value) or value <= 0:
            raise ValueError(f"--mix weight for {name!r} must be a positive number, got {value_text!r}")
        else:
            weights.append((name, value))
    return MixConfig(share, tuple(weights))


def sequence_weights(datasets, mix: MixConfig) -> np.ndarray:
    """Each sequence's draw probability within its pool: its dataset's weight split evenly among the
    dataset's sequences."""
    datasets = np.asarray(datasets, dtype=object)
    if not len(datasets):
        return np.zeros(0)
    weights = dict(mix.dataset_weights)
    names, inverse, counts = np.unique(datasets, return_inverse=True, return_counts=True)
    per_name = np.array([weights.get(name, 1.0) for name in names], dtype=np.float64) / counts
    values = per_name[inverse.reshape(-1)]
    return values / values.sum()


@dataclass(frozen=True)
class BalancedPools:
    """The two pools of split-balanced batches (sequence indices without / with 3D supervision) and each
    one's draw probabilities: worked out once per set of sequences, not per batch (np.unique over a
    large index costs more than the draw)."""

    pool_2d: np.ndarray
    p_2d: np.ndarray
    pool_3d: np.ndarray
    p_3d: np.ndarray


def balanced_pools(datasets, has_3d: np.ndarray, mix: MixConfig) -> BalancedPools:
    datasets, has_3d = np.asarray(datasets, dtype=object), np.asarray(has_3d, dtype=bool)
    pool_2d, pool_3d = np.flatnonzero(~has_3d), np.flatnonzero(has_3d)
    return BalancedPools(pool_2d, sequence_weights(datasets[pool_2d], mix), pool_3d,
                         sequence_weights(datasets[pool_3d], mix))


def draw_balanced(rng: np.random.Generator, batch_size: int, pools: BalancedPools, share_3d: float) -> np.ndarray:
    """`split_balanced_picks` from pools made once (the same draws for the same generator state)."""
    if not len(pools.pool_2d) and not len(pools.pool_3d):
        raise ValueError("no sequences to draw windows from")
    expected_3d = batch_size * share_3d
    n_3d = int(math.floor(expected_3d)) + int(rng.random() < expected_3d - math.floor(expected_3d))
    if not len(pools.pool_3d):
        n_3d = 0
    elif not len(pools.pool_2d):
        n_3d = batch_size
    picks = []
    for pool, probabilities, count in ((pools.pool_3d, pools.p_3d, n_3d), (pools.pool_2d, pools.p_2d, batch_size - n_3d)):
        if count:
            picks.append(pool[rng.choice(len(pool), size=count, p=probabilities)])
    return np.concatenate(picks)


def split_balanced_picks(rng: np.random.Generator, batch_size: int, datasets, has_3d: np.ndarray,
                         mix: MixConfig) -> np.ndarray:
    """Indices of the sequences a batch's `batch_size` windows come from (with replacement).

    has_3d (n,) bool per sequence. The 3D count is batch_size * share_3d, its fraction decided by a coin,
    so the share holds on average for any batch size. When either pool is empty, every window comes from
    the other (as the released code, which then splits the one pool in two).
    """
    return draw_balanced(rng, batch_size, balanced_pools(datasets, has_3d, mix), mix.share_3d)
