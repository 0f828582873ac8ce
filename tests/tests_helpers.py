"""Helpers importable by test modules (conftest fixtures cannot be imported by name)."""
from __future__ import annotations


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def harvest_clips(client, root, names, tmp_path, runner=None):
    """Harvest committed clips of real people (tests/data/<name>.mp4) into `root` through the loopback site."""
    from pathlib import Path

    from harvest.loopback import Site, serve
    from harvest.queries import read_url_list
    from harvest.ytdlp import HarvestConfig
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


def write_synthetic_tubes(client, root, smpl_dir, tubes: dict[str, tuple[str, str]], n_frames: int = 40, seed: int = 0,
                          with_3d: frozenset[str] = frozenset()):
    """Tubes whose 2D keypoints are the test SMPL body's joints under smooth motion, and features that
    encode that motion, committed through the real runner as the tracking and features stages would.

    tubes: {tube name: (dataset, split)}; with_3d: names of tubes that also get a `targets` row, as an
    importer writes one (training-layout keypoints, the 14 LSP joints in metres, SMPL pose and betas).
    """
    import numpy as np
    import torch

    from manifests import FEATURES, TARGETS, TRACKS, TUBES
    from manifests.joints import BODY_25, HMMR_25, convert_joints
    from pipelines.runner import RunnerConfig, Stage, run_stage
    from train.body import BodyModel
    from train.camera import project
    from train.params import mean_theta, POSE

    body = BodyModel(smpl_dir)
    rng = np.random.default_rng(seed)
    projection = rng.normal(0, 1, (2048, 75)).astype(np.float32)
    rows, feature_rows, target_rows = [], [], []
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
        rows.append(dict(unit_id=video_id, tube_id=f"{video_id}-t0-0", dataset=dataset, split=split,
                         keypoints=keypoints, bbox=bbox))
        # Unit-scale features that carry the pose (as a pretrained backbone's would carry the image).
        features = (np.concatenate([pose, np.zeros((n_frames, 3))], axis=1).astype(np.float32) @ projection.T) / 10.0
        feature_rows.append(dict(unit_id=video_id, tube_id=f"{video_id}-t0-0", features=features, bbox=bbox))
        if name in with_3d:
            target_rows.append(dict(unit_id=video_id, tube_id=f"{video_id}-t0-0", body25=keypoints,
                                    keypoints=hmmr.reshape(n_frames, -1).astype(np.float32),
                                    joints_3d=joints[:, :14].numpy().reshape(n_frames, -1).astype(np.float32),
                                    pose=pose.astype(np.float32), shape=np.zeros(10, np.float32)))

    def tube_work(payload, context):
        n = len(payload["keypoints"])
        return {"tracks": {"video_id": [payload["unit_id"]] * n, "frame": list(range(n)), "person": [0] * n,
                           "track_id": [0] * n, "shot": [0] * n},
                "tubes": {"tube_id": [payload["tube_id"]], "video_id": [payload["unit_id"]],
                          "dataset": [payload["dataset"]], "split": [payload["split"]], "track_id": [0], "shot": [0],
                          "start_frame": [0], "end_frame": [n], "n_frames": [n], "fps": [25.0],
                          "keypoints": [payload["keypoints"]], "bbox": [payload["bbox"]],
                          "mean_confidence": [1.0], "mean_visible_joints": [float((payload["keypoints"].reshape(-1, 25, 3)[..., 2] > 0).sum(-1).mean())]}}

    def feature_work(payload, context):
        n = len(payload["features"])
        return {"features": {"tube_id": [payload["tube_id"]], "video_id": [payload["unit_id"]], "view": [0],
                             "n_frames": [n], "bbox": [payload["bbox"]], "flipped": [False],
                             "features": [payload["features"]],
                             "extractor": ["synthetic"], "extractor_version": ["1"], "tubes_flush": ["synthetic"]}}

    import pandas as pd

    quiet = RunnerConfig(progress=False)
    imported_ids = {row["unit_id"] for row in target_rows}
    tracked = pd.DataFrame([r for r in rows if r["unit_id"] not in imported_ids])
    featured = pd.DataFrame([r for r in feature_rows if r["unit_id"] not in imported_ids])
    if len(tracked):
        run_stage(client, root, Stage("tracking", "synthetic", (TRACKS, TUBES), tube_work), tracked, quiet)
        run_stage(client, root, Stage("features", "synthetic", (FEATURES,), feature_work), featured, quiet)
    if target_rows:
        # As an importer commits a tube: its tubes, features and targets rows in one unit of `import` (a
        # later flush of a unit by any producer of a table supersedes that unit's earlier rows of it).
        imported = pd.DataFrame(target_rows).merge(pd.DataFrame(rows).drop(columns=["keypoints"]), on=["unit_id", "tube_id"])
        imported = imported.merge(pd.DataFrame(feature_rows).drop(columns=["bbox"]), on=["unit_id", "tube_id"])

        def import_work(payload, context):
            tubes = tube_work({**payload, "keypoints": payload["body25"]}, context)["tubes"]
            features = feature_work(payload, context)["features"]
            return {"tubes": tubes, "features": features,
                    "targets": {"tube_id": [payload["tube_id"]], "video_id": [payload["unit_id"]],
                                "keypoints": [payload["keypoints"]], "joints_3d": [payload["joints_3d"]],
                                "pose": [payload["pose"]], "shape": [payload["shape"]], "source": ["synthetic"]}}

        run_stage(client, root, Stage("import", "synthetic", (TUBES, FEATURES, TARGETS), import_work), imported, quiet)
    return root
