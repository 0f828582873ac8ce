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


def sequence_weights(datasets: list[str], mix: MixConfig) -> np.ndarray:
    """Each sequence's draw probability within its pool: its dataset's weight split evenly among the
    dataset's sequences."""
    weights = dict(mix.dataset_weights)
    names, counts = np.unique(datasets, return_counts=True)
    per_dataset = dict(zip(names, counts))
    values = np.array([weights.get(d, 1.0) / per_dataset[d] for d in datasets], dtype=np.float64)
    return values / values.sum() if len(values) else values


def split_balanced_picks(rng: np.random.Generator, batch_size: int, datasets: list[str], has_3d: np.ndarray,
                         mix: MixConfig) -> np.ndarray:
    """Indices of the sequences a batch's `batch_size` windows come from (with replacement).

    has_3d (n,) bool per sequence. The 3D count is batch_size * share_3d, its fraction decided by a coin,
    so the share holds on average for any batch size. When either pool is empty, every window comes from
    the other (as the released code, which then splits the one pool in two).
    """
    has_3d = np.asarray(has_3d, dtype=bool)
    datasets = list(datasets)
    pools = [np.flatnonzero(~has_3d), np.flatnonzero(has_3d)]
    if not len(pools[0]) and not len(pools[1]):
        raise ValueError("no sequences to draw windows from")
    expected_3d = batch_size * mix.share_3d
    n_3d = int(math.floor(expected_3d)) + int(rng.random() < expected_3d - math.floor(expected_3d))
    if not len(pools[1]):
        n_3d = 0
    elif not len(pools[0]):
        n_3d = batch_size
    picks = []
    for pool, count in ((pools[1], n_3d), (pools[0], batch_size - n_3d)):
        if count:
            probabilities = sequence_weights([datasets[i] for i in pool], mix)
            picks.append(pool[rng.choice(len(pool), size=count, p=probabilities)])
    return np.concatenate(picks)
