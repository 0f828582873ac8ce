"""Import wiring: each published sequence is a unit of the `import` stage, committed by the real runner.

A unit writes its media file under media/ and returns its `videos`, `tubes` and `targets` rows; the
runner commits them like any stage's, so an import is incremental (a re-run does only new sequences)
and crash-safe, and `hmmr-train features` then makes their features like ours.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from distributed import Client

from manifests import TARGETS, TUBES, VIDEOS, ConfigError, DatasetRoot
from manifests.split import SPLITS
from manifests.tables import IMPORT_STAGE
from manifests.status import UnitPayload
from pipelines.dask_scheduler import DaskScheduler
from pipelines.runner import RunnerConfig, RunStats, holding_root, run_stage
from pipelines.stage import Stage
from published.h36m import TEST_CAMERAS, H36MPayload, h36m_unit, list_h36m_sequences
from published.media import video_id_of
from published.penn_action import DEFAULT_FPS, PennPayload, list_penn_sequences, penn_unit
from published.threedpw import GenderedBodies, ThreeDPWPayload, list_3dpw_sequences, threedpw_unit

# Bump a converter's version when what it writes changes: its sequences are then imported again.
VERSIONS = {"penn": "1", "3dpw": "1", "h36m": "1"}


@dataclass(frozen=True)
class ImportConfig:
    """source: the dataset's folder as its release unpacks; dataset: the name its tubes get (what
    `--datasets` selects); splits: which of train/val/test to import; fps: Penn Action's frame rate;
    smpl_model_dir: 3DPW's SMPL models (male and female) for its 3D joints; test_cameras: Human3.6M
    cameras of the test split."""

    kind: str
    source: str
    dataset: str
    splits: tuple[str, ...] = SPLITS
    fps: float = DEFAULT_FPS
    smpl_model_dir: str | None = None
    test_cameras: tuple[str, ...] = TEST_CAMERAS

    def __post_init__(self) -> None:
        if self.kind not in VERSIONS:
            raise ValueError(f"ImportConfig.kind must be one of {sorted(VERSIONS)}, got {self.kind!r}")
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown or not self.splits:
            raise ValueError(f"ImportConfig.splits must be some of {list(SPLITS)}, got {list(self.splits)}")
        if not 0 < self.fps <= 240:
            raise ValueError(f"ImportConfig.fps must be in (0, 240], got {self.fps}")


def import_stage(config: ImportConfig, root: DatasetRoot) -> Stage:
    work: dict[str, Callable[..., Any]] = {
        "penn": partial(penn_unit, root=str(root.path), fps=config.fps),
        "3dpw": partial(threedpw_unit, root=str(root.path)),
        "h36m": partial(h36m_unit, root=str(root.path)),
    }
    context = partial(GenderedBodies, config.smpl_model_dir) if config.kind == "3dpw" else None
    with_smpl = "+smpl" if config.kind == "3dpw" and config.smpl_model_dir else ""
    return Stage(name=IMPORT_STAGE, version=f"{config.kind}-{VERSIONS[config.kind]}{with_smpl}",
                 outputs=(VIDEOS, TUBES, TARGETS), work=work[config.kind], make_context=context, config=config)


def import_payloads(config: ImportConfig) -> list[UnitPayload]:
    """One unit per published sequence of the wanted splits: its video id and the files it reads."""
    dataset = config.dataset
    if config.kind == "penn":
        payloads: list[UnitPayload] = [
            PennPayload(unit_id=video_id_of(dataset, s.name), dataset=dataset, split=s.split, name=s.name,
                        label_path=str(s.label_path), frames_dir=str(s.frames_dir))
            for s in list_penn_sequences(config.source) if s.split in config.splits]
    elif config.kind == "3dpw":
        payloads = [ThreeDPWPayload(unit_id=video_id_of(dataset, s.name), dataset=dataset, split=s.split, name=s.name,
                                    pkl_path=str(s.pkl_path), images_dir=str(s.images_dir))
                    for s in list_3dpw_sequences(config.source, config.splits)]
    else:
        payloads = [H36MPayload(unit_id=s.video_id(dataset), dataset=dataset, split=s.split, pose_2d=str(s.pose_2d),
                                pose_3d=str(s.pose_3d), video=str(s.video))
                    for s in list_h36m_sequences(config.source, config.splits, config.test_cameras)]
    if not payloads:
        raise ConfigError(f"{config.source}: no {config.kind} sequences of splits {list(config.splits)} found")
    return payloads


def import_dataset(client: Client, root: DatasetRoot, config: ImportConfig, runner: RunnerConfig) -> RunStats:
    """Import every sequence of `config` not imported yet at this converter version."""
    with holding_root(root, f"hmmr-import {config.kind}", runner):
        return run_stage(DaskScheduler(client), root, import_stage(config, root), import_payloads(config), runner)
