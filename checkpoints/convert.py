"""TensorFlow variables -> a torch state dict, through one table of (variable name, parameter name,
layout change) rows per model. A converted file holds plain tensors and plain types only, so that
`torch.load(weights_only=True)` opens it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from checkpoints.errors import CheckpointError
from checkpoints.tf_checkpoint import TFCheckpoint
from manifests.atomic import write_atomic


def as_is(value: np.ndarray) -> np.ndarray:
    return value


def conv2d_kernel(value: np.ndarray) -> np.ndarray:
    """TensorFlow's (height, width, in, out) -> torch's (out, in, height, width)."""
    return value.transpose(3, 2, 0, 1)


def conv1d_kernel(value: np.ndarray) -> np.ndarray:
    """A temporal conv written as a 2D conv over (time, 1): (k, 1, in, out) -> torch Conv1d's (out, in, k)."""
    if value.ndim != 4 or value.shape[1] != 1:
        raise ValueError(f"expected a (k, 1, in, out) kernel, got shape {value.shape}")
    return value[:, 0].transpose(2, 1, 0)


def dense_kernel(value: np.ndarray) -> np.ndarray:
    """slim.fully_connected's (in, out) -> torch Linear's (out, in)."""
    return value.T


def row_vector(value: np.ndarray) -> np.ndarray:
    """A (1, n) variable (e.g. HMR's `mean_param`) -> (n,)."""
    if value.ndim != 2 or value.shape[0] != 1:
        raise ValueError(f"expected a (1, n) variable, got shape {value.shape}")
    return value[0]


@dataclass(frozen=True)
class WeightRow:
    """One row of a conversion table: TensorFlow variable -> torch parameter or buffer."""

    variable: str
    parameter: str
    layout: Callable[[np.ndarray], np.ndarray] = as_is


# Bookkeeping that a torch BatchNorm keeps and no checkpoint holds.
UNMAPPED_SUFFIXES = ("num_batches_tracked",)


def convert_weights(checkpoint: TFCheckpoint, table: Sequence[WeightRow], target: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of `target` filled from `checkpoint` through `table`: every row's variable must
    exist with the parameter's shape once re-laid out, and every parameter or buffer of `target` must be
    covered (BatchNorm's counter excepted). All problems are reported at once."""
    expected = target.state_dict()
    state: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for row in table:
        if row.variable not in checkpoint:
            problems.append(f"missing variable {row.variable!r} (for {row.parameter})")
            continue
        if row.parameter not in expected:
            problems.append(f"the model has no parameter {row.parameter!r} (for {row.variable})")
            continue
        try:
            value = np.ascontiguousarray(row.layout(checkpoint.read(row.variable)))
        except ValueError as e:
            problems.append(f"{row.variable}: {e}")
            continue
        want = tuple(expected[row.parameter].shape)
        if value.shape != want:
            problems.append(f"{row.variable}: shape {value.shape} after re-layout, {row.parameter} has {want}")
            continue
        state[row.parameter] = torch.from_numpy(value).to(expected[row.parameter].dtype)
    targeted = {row.parameter for row in table}  # a row that failed above is reported there already
    for name, tensor in expected.items():
        if name not in state and name.endswith(UNMAPPED_SUFFIXES):
            state[name] = tensor.clone()
        elif name not in targeted:
            problems.append(f"no variable maps to parameter {name!r}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CheckpointError(f"{checkpoint.prefix}: does not convert to {type(target).__name__} "
                              f"({len(problems)} problems):\n  {shown}{more}")
    return state


OPTIMIZER_SLOTS = ("Adam", "Momentum", "RMSProp", "ExponentialMovingAverage")


def unused_variables(checkpoint: TFCheckpoint, table: Sequence[WeightRow], scope: str,
                     ignore: Sequence[str] = ()) -> list[str]:
    """Variables under `scope` that no row reads, optimizer slots and the `ignore` sub-scopes aside: a
    model layer the table forgot."""
    mapped = {row.variable for row in table}
    skipped = tuple(scope + part for part in ignore)
    return [name for name in checkpoint.names() if name.startswith(scope) and name not in mapped
            and not name.startswith(skipped) and not name.rsplit("/", 1)[-1].startswith(OPTIMIZER_SLOTS)]


def save_weights(payload: dict[str, Any], out: Path) -> Path:
    """Write a converted file atomically (a crash leaves the old file or none, never a torn one)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, lambda sink: torch.save(payload, sink))
