"""The trainer's configuration (one frozen dataclass tree) and its round trip through plain types.

Checkpoints and config.json store `dataclasses.asdict(config)`: dicts, lists/tuples, strings, numbers,
booleans and None only, so a checkpoint loads with `torch.load(weights_only=True)`. `config_from_plain`
is the one decoder: it rebuilds nested dataclasses and tuples from their type hints and refuses unknown
keys by name.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from manifests.errors import ConfigError
from train.losses import ObjectiveConfig
from train.mixing import MixConfig
from train.model import ModelConfig

LEARNING_RATE_SCHEDULES = ("constant", "cosine")
# The released model's training length: hmmr_model.ckpt-1119816 counts global_step, which both of its
# optimisers advance (each `minimize` in src/trainer_sequence_fc.py is given it): 559,908 steps at batch 8.
RELEASED_GLOBAL_STEP = 1_119_816
DEFAULT_STEPS = 560_000
DEFAULT_WINDOW = 20  # the released T: frames per training window, and per evaluation window


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; each default is the released code's where it has one.

    mocap: npz with `poses` (N, 72) and `betas` (N, 10) of real SMPL fits, the adversarial prior's "real"
        poses (required while objective.adversarial > 0).
    mean_params: HMR's neutral_smpl_meanwjoints.h5 (None: look beside the SMPL file; zeros if absent).
    learning_rate: the model's Adam step (released: 1e-5, constant); learning_rate_schedule "cosine" decays
        it to min_learning_rate_ratio of itself at the last step.
    weight_decay: 0, as the released training in effect: its e_wd/d_wd flags (1e-4) reach only the frozen
        ResNet's arg scope and a discriminator regulariser that no loss it minimises includes.
    augment: draw windows from every view the features stage made (jittered, mirrored), not only view 0.
    mixed_precision: bf16 autocast of the network's forward on a GPU (the body model and the losses stay
        float32); the released code trains in float32.
    snapshot: train on this frozen dataset version (manifests.snapshot); None: the live tubes.
    loader_workers: processes reading windows ahead of the step (0 = read in the training process).
    store_dir: the training store (None: <root>/store).
    """

    root: str
    smpl_model_dir: str
    out_dir: str
    datasets: tuple[str, ...] = ("insta", "vlog")
    mix: MixConfig = field(default_factory=MixConfig)
    mocap: str | None = None
    mean_params: str | None = None
    snapshot: str | None = None
    steps: int = DEFAULT_STEPS
    batch_size: int = 8
    window: int = DEFAULT_WINDOW
    augment: bool = True
    loader_workers: int = 2
    store_dir: str | None = None
    learning_rate: float = 1e-5
    learning_rate_schedule: str = "constant"
    min_learning_rate_ratio: float = 0.1
    discriminator_learning_rate: float = 1e-4
    weight_decay: float = 0.0
    mixed_precision: bool = False
    checkpoint_every: int = 5000
    log_every: int = 10
    val_every: int = 5000
    val_batches: int = 4
    seed: int = 0
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)

    def __post_init__(self) -> None:
        if self.window <= self.model.delta_frames:
            raise ValueError(f"TrainConfig.window ({self.window}) must exceed the delta of {self.model.delta_frames} frames")
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "val_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
            raise ValueError(f"TrainConfig.learning_rate_schedule must be one of {LEARNING_RATE_SCHEDULES}, "
                             f"got {self.learning_rate_schedule!r}")
        if self.loader_workers < 0:
            raise ValueError(f"TrainConfig.loader_workers must be >= 0, got {self.loader_workers}")
        for name in ("learning_rate", "discriminator_learning_rate", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")


# What a resumed run must share with the checkpoint it continues: the model and the data it sees.
RESUME_MUST_MATCH = ("model", "datasets", "mix", "window", "batch_size", "augment", "seed")


def config_to_plain(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _decode(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value, where) if len(options) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {type(value).__name__}")
        arguments = typing.get_args(hint)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_decode(arguments[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(arguments, value)))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _decode_dataclass(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, found {type(value).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown {cls.__name__} fields {unknown} (written by another hmmr version?); "
                          f"this version knows {sorted(known)}")
    return cls(**{k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()})


def config_from_plain(plain: dict[str, Any], where: str = "config") -> TrainConfig:
    """The TrainConfig stored as plain types (config.json, a checkpoint's `config`)."""
    return _decode_dataclass(TrainConfig, plain, where)


def model_config_from_plain(plain: dict[str, Any], where: str = "config.model") -> ModelConfig:
    """A ModelConfig stored as plain types (a converted release records only this)."""
    return _decode_dataclass(ModelConfig, plain, where)


def config_differences(saved: TrainConfig, new: TrainConfig, names: tuple[str, ...] = RESUME_MUST_MATCH) -> list[str]:
    """'field: saved -> new' for each named field (nested fields by dotted name) that differs."""
    differences = []
    for name in names:
        old_value, new_value = getattr(saved, name), getattr(new, name)
        if dataclasses.is_dataclass(old_value):
            for f in dataclasses.fields(old_value):
                a, b = getattr(old_value, f.name), getattr(new_value, f.name)
                if a != b:
                    differences.append(f"{name}.{f.name}: {a!r} -> {b!r}")
        elif old_value != new_value:
            differences.append(f"{name}: {old_value!r} -> {new_value!r}")
    return differences
