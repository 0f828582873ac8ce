"""The one reader and writer of model checkpoints.

A training checkpoint is a dict of plain types and tensors: the config as `dataclasses.asdict` (strings,
numbers, tuples, None), the step, the model's and optimisers' state dicts, and the RNG state. It is
written atomically (manifests.atomic) and read with `torch.load(weights_only=True)`, so a checkpoint runs
no code: a file that needs anything else is refused, naming the file and the globals it asks for.
`load_model` also reads the released model as `hmmr-convert-checkpoint hmmr` writes it (format
RELEASED_FORMAT: the model's config and weights only), so prediction and evaluation take either.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from manifests.atomic import write_atomic
from manifests.errors import InputError
from train.config import TrainConfig, config_from_plain, config_to_plain, model_config_from_plain
from train.model import HMMR, ModelConfig

FORMAT = "hmmr.train_checkpoint"
FORMAT_VERSION = 1  # bump when the layout below changes
RELEASED_FORMAT = "hmmr.released_hmmr"  # checkpoints/hmmr.py's converted release


class CheckpointError(InputError, ValueError):
    """A file that is not a checkpoint this version of hmmr wrote (or that would run code)."""


@dataclass
class Checkpoint:
    """What a checkpoint holds. model / optimizer / discriminator / d_optimizer: state dicts (the
    discriminator's are None when the run had no adversarial prior); torch_rng: torch's CPU RNG state;
    data: the data the run read (manifests.snapshot.DataState as a dict; None in older checkpoints)."""

    step: int
    config: TrainConfig
    model: dict[str, Any]
    optimizer: dict[str, Any] | None = None
    discriminator: dict[str, Any] | None = None
    d_optimizer: dict[str, Any] | None = None
    torch_rng: torch.Tensor | None = None
    data: dict[str, Any] | None = None


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> Path:
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "step": checkpoint.step, "config": config_to_plain(checkpoint.config),
        "model": checkpoint.model, "optimizer": checkpoint.optimizer, "discriminator": checkpoint.discriminator,
        "d_optimizer": checkpoint.d_optimizer, "torch_rng": checkpoint.torch_rng, "data": checkpoint.data,
    }
    return write_atomic(Path(path), lambda sink: torch.save(payload, sink))


def _refused_globals(path: Path) -> list[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # the listing is only for the message; the refusal stands without it
        return []


def load_state(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw dict of a checkpoint (or any torch file of tensors and plain types), loaded without
    running code from it."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as e:
        names = _refused_globals(path)
        raise CheckpointError(
            f"{path}: refused: it asks for Python globals {names or '(see below)'} that a checkpoint never "
            f"contains, so loading it could run code; nothing from it was run. Use a checkpoint written by "
            f"hmmr-train ({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict, found {type(state).__name__}")
    return state


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    state = load_state(path, map_location)
    missing = [k for k in ("step", "config", "model") if k not in state]
    if state.get("format") not in (None, FORMAT):
        raise CheckpointError(f"{path}: a {state['format']!r} file, not an hmmr-train checkpoint")
    if missing:
        raise CheckpointError(f"{path}: not an hmmr-train checkpoint: no {missing}; it has {sorted(state)}")
    try:
        config = config_from_plain(state["config"], where=f"{path}: config")
    except (TypeError, ValueError) as e:
        raise CheckpointError(str(e)) from e
    return Checkpoint(step=int(state["step"]), config=config, model=state["model"], optimizer=state.get("optimizer"),
                      discriminator=state.get("discriminator"), d_optimizer=state.get("d_optimizer"),
                      torch_rng=state.get("torch_rng"), data=state.get("data"))


@dataclass
class LoadedModel:
    """A model ready to predict: in eval mode, on the CPU. trained: the run's config (None for the
    converted release, which records only its architecture); source: the file."""

    model: HMMR
    trained: TrainConfig | None
    source: Path


def load_model(path: Path) -> LoadedModel:
    """The HMMR of a training checkpoint or of a converted release, in eval mode."""
    path = Path(path)
    state = load_state(path)
    if state.get("format") == RELEASED_FORMAT:
        if "model" not in state or not isinstance(state.get("config"), dict) or "model" not in state["config"]:
            raise CheckpointError(f"{path}: a converted release without 'model' weights or config.model")
        try:
            config: ModelConfig = model_config_from_plain(state["config"]["model"], where=f"{path}: config.model")
        except (TypeError, ValueError) as e:
            raise CheckpointError(str(e)) from e
        trained, weights = None, state["model"]
    else:
        checkpoint = load_checkpoint(path)
        config, trained, weights = checkpoint.config.model, checkpoint.config, checkpoint.model
    model = HMMR(config)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes: {e}") from e
    return LoadedModel(model=model.eval(), trained=trained, source=path)
