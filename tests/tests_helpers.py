"""Helpers importable by test modules (conftest fixtures cannot be imported by name)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from manifests.status import UnitPayload


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def harvest_config(base: str, **overrides):
    """A harvest config for the loopback site at `base`: tag pages under /tags/<tag>/, quick retries."""
    from harvest.config import HarvestConfig

    return HarvestConfig(source_template=base + "/tags/{tag}/", **{"retries": 1, "socket_timeout_s": 2.0, **overrides})


BLAZEPOSE_256 = (("tile_px", 256),)  # the embedded pose model's settings in the tests that pose real clips


def copy_root(source, destination):
    """A dataset root of one's own, as `source` is now (a root is one folder: its manifests and media)."""
    import shutil

    from manifests import DatasetRoot

    shutil.copytree(source.path, destination)
    return DatasetRoot(destination)


def harvest_clips(client, root, names, tmp_path, runner=None):
    """Harvest committed clips of real people (tests/data/<name>.mp4) into `root` through the loopback site."""
    from pathlib import Path

    from testing.loopback import Site, serve
    from harvest.queries import read_url_list
    from harvest.config import HarvestConfig
    from pipelines.harvest import harvest
    from pipelines.runner import RunnerConfig

    data = Path(__file__).resolve().parent / "data"
    site = Site(media={f"{n}.mp4": data / f"{n}.mp4" for n in names})
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text("".join(f"{base}/media/{n}.mp4\n" for n in names))
        stats = harvest(client, root, read_url_list(listing), HarvestConfig(source_template=base + "/{tag}"),
                        runner or RunnerConfig(progress=False))
    assert stats[-1].n_ok == len(names), stats[-1].summary()
    return root


@dataclass(frozen=True)
class SyntheticTube(UnitPayload):
    """A tube to commit as the tracking stage would (unit_id: its video), with the rows it gets; a tube
    with 3D (joints_3d not None) is committed as an importer commits one, with its `targets` row."""

    tube_id: str
    dataset: str
    split: str
    keypoints: Any  # (n, 75) float32 BODY_25
    bbox: Any  # (n, 3) float32
    features: Any  # (n, 2048) float32
    training_keypoints: Any = None  # (n, 75) float32 HMMR_25 pixels + visibility 0/1
    joints_3d: Any = None  # (n, 42) float32: the 14 LSP joints, metres
    pose: Any = None  # (n, 72) float32


def write_synthetic_tubes(client, root, smpl_dir, tubes: dict[str, tuple[str, str]], n_frames: int = 40, seed: int = 0,
                          with_3d: frozenset[str] = frozenset()):
    """Tubes whose 2D keypoints are the test SMPL body's joints under smooth motion, and features that
    encode that motion, committed through the real runner as the tracking and features stages would.

    tubes: {tube name: (dataset, split)}; with_3d: names of tubes committed instead as an importer commits
    one, with a `targets` row (training-layout keypoints, the 14 LSP joints in metres, SMPL pose and betas).
    """
    import numpy as np
    import torch

    from manifests import FEATURES, TARGETS, TRACKS, TUBES, UnitResult, live_flushes
    from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
    from manifests.rows import FeatureRows, TargetRows, TrackRows, TubeRows
    from pipelines.dask_scheduler import DaskScheduler
    from pipelines.runner import RunnerConfig, run_stage
    from pipelines.stage import Stage
    from train.body import BodyModel
    from train.camera import project
    from train.params import mean_theta, POSE

    body = BodyModel(smpl_dir)
    rng = np.random.default_rng(seed)
    projection = rng.normal(0, 1, (2048, 75)).astype(np.float32)
    units = []
    for k, (name, (dataset, split)) in enumerate(tubes.items()):
        t = np.arange(n_frames)[:, None]
        pose = np.tile(mean_theta()[POSE].numpy(), (n_frames, 1))
        pose[:, 3:] += 0.3 * np.sin(0.2 * t + rng.uniform(0, 6, 69)) * (rng.random(69) < 0.3)
        with torch.no_grad():
            _, joints = body(torch.tensor(pose, dtype=torch.float32), torch.zeros(n_frames, 10))
            crop = project(joints, torch.tensor([0.9, 0.0, 0.0])).numpy()  # crop units
        pixels = crop * 112 + 112
        hmmr = np.concatenate([pixels, np.ones((*pixels.shape[:2], 1))], axis=-1)
        keypoints = convert_joints(hmmr, HMMR_25, BODY_25).reshape(n_frames, 75).astype(np.float32)
        bbox = np.tile([112.0, 112.0, 1.0], (n_frames, 1)).astype(np.float32)
        video_id = f"synthetic-{name}"
        # Unit-scale features that carry the pose (as a pretrained backbone's would carry the image).
        features = (np.concatenate([pose, np.zeros((n_frames, 3))], axis=1).astype(np.float32) @ projection.T) / 10.0
        extra = {}
        if name in with_3d:
            extra = dict(training_keypoints=hmmr.reshape(n_frames, -1).astype(np.float32),
                         joints_3d=joints[:, :N_LSP].numpy().reshape(n_frames, -1).astype(np.float32),
                         pose=pose.astype(np.float32))
        units.append(SyntheticTube(unit_id=video_id, tube_id=f"{video_id}-t0-0", dataset=dataset, split=split,
                                   keypoints=keypoints, bbox=bbox, features=features, **extra))

    def tube_rows(payload):
        n = len(payload.keypoints)
        visible = float((payload.keypoints.reshape(n, len(BODY_25), 3)[..., 2] > 0).sum(-1).mean())
        return TubeRows(tube_id=[payload.tube_id], video_id=[payload.unit_id], dataset=[payload.dataset],
                        split=[payload.split], track_id=[0], shot=[0], start_frame=[0], end_frame=[n], n_frames=[n],
                        fps=[25.0], keypoints=[payload.keypoints], bbox=[payload.bbox], mean_confidence=[1.0],
                        mean_visible_joints=[visible])

    def feature_rows(payload, tubes_flush):
        return FeatureRows(tube_id=[payload.tube_id], video_id=[payload.unit_id], view=[0],
                           n_frames=[len(payload.features)], bbox=[payload.bbox], flipped=[False],
                           features=[payload.features], extractor=["synthetic"], extractor_version=["1"],
                           tubes_flush=[tubes_flush])

    def tube_work(payload, context):
        n = len(payload.keypoints)
        return UnitResult(rows=(TrackRows(video_id=[payload.unit_id] * n, frame=list(range(n)), person=[0] * n,
                                          track_id=[0] * n, shot=[0] * n), tube_rows(payload)))

    def feature_work(payload, context):
        return UnitResult(rows=(feature_rows(payload, tracked_flushes[payload.unit_id]),))

    def import_work(payload, context):
        # As an importer commits a tube: its tubes, features and targets rows in one unit of `import` (a
        # later flush of a unit by any producer of a table supersedes that unit's earlier rows of it).
        targets = TargetRows(tube_id=[payload.tube_id], video_id=[payload.unit_id],
                             keypoints=[payload.training_keypoints], joints_3d=[payload.joints_3d], pose=[payload.pose],
                             shape=[np.zeros(10, np.float32)], source=["synthetic"])
        return UnitResult(rows=(tube_rows(payload), feature_rows(payload, ""), targets))

    cluster, quiet = DaskScheduler(client), RunnerConfig(progress=False)
    tracked = [u for u in units if u.joints_3d is None]
    imported = [u for u in units if u.joints_3d is not None]
    if tracked:
        run_stage(cluster, root, Stage("tracking", "synthetic", (TRACKS, TUBES), tube_work), tracked, quiet)
        tracked_flushes = live_flushes(root, "tracking")  # the features record the tracking commit they came from
        run_stage(cluster, root, Stage("features", "synthetic", (FEATURES,), feature_work), tracked, quiet)
    if imported:
        run_stage(cluster, root, Stage("import", "synthetic", (TUBES, FEATURES, TARGETS), import_work), imported, quiet)
    return root
