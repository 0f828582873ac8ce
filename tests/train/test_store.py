"""The training store: windows equal the manifests', growth appends, superseded tubes vanish, a killed
update resumes to the same store, and batches depend only on the step (workers, resume, DDP ranks)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from manifests import FEATURES, TARGETS, TUBES, DatasetRoot, read_table
from manifests.joints import BODY_25, HMMR_25, N_LSP, convert_joints
from store_helpers import (SyntheticVideo, commit_features, commit_import, commit_skip, commit_tracking)
from train.data import DataError, WindowSampler, prepare_store, select_tubes, step_batches, store_dir_of
from train.sampling import SamplingRules, WindowDraws, draw_windows
from train.store import READY, read_index, shard_dir
from train.store_update import update_store

ALL = ("insta", "h36m", "penn")


def videos(prefix: str, n: int, frames=(50, 64), dataset="insta", split="train") -> list[SyntheticVideo]:
    return [SyntheticVideo(f"{prefix}{i}", dataset, split, frames) for i in range(n)]


def featured_root(root: DatasetRoot, tracked: list[SyntheticVideo], views: int = 2) -> DatasetRoot:
    commit_tracking(root, tracked)
    commit_features(root, tracked, views)
    return root


def expected_window(root: DatasetRoot, tube_id: str, view: int, start: int, length: int) -> dict[str, np.ndarray]:
    """A window built straight from the manifests, independently of the store's code."""
    tube = read_table(root, TUBES).set_index("tube_id").loc[tube_id]
    features = read_table(root, FEATURES).set_index(["tube_id", "view"]).loc[(tube_id, view)]
    targets = read_table(root, TARGETS).set_index("tube_id")
    frames = slice(start, start + length)
    if tube_id in targets.index:
        pixels = np.stack(targets.loc[tube_id, "keypoints"]).reshape(-1, 25, 3)
    else:
        pixels = convert_joints(np.stack(tube["keypoints"]).reshape(-1, 25, 3), BODY_25, HMMR_25)
    box = np.stack(features["bbox"]).astype(np.float64)
    crop = (pixels[..., :2] - box[:, None, :2]) * box[:, None, 2:] / 112.0
    window = {"features": np.stack(features["features"])[frames].astype(np.float32),
              "keypoints": crop[frames], "visibility": pixels[frames, :, 2]}
    if tube_id in targets.index and targets.loc[tube_id, "joints_3d"] is not None:
        window["joints_3d"] = np.stack(targets.loc[tube_id, "joints_3d"]).reshape(-1, N_LSP, 3)[frames]
        window["pose"] = np.stack(targets.loc[tube_id, "pose"])[frames]
        window["shape"] = np.tile(targets.loc[tube_id, "shape"], (length, 1))
    return window


def test_windows_from_the_store_equal_windows_built_from_the_manifests(root):
    featured_root(root, videos("v", 2))
    commit_import(root, videos("h", 1, frames=(45,), dataset="h36m"), views=2)
    commit_import(root, videos("p", 1, frames=(41,), dataset="penn"), views=2, with_3d=False, with_smpl=False)
    tubes = select_tubes(prepare_store(root, ALL), root, ALL, "train", 12)
    assert sorted(tubes.tube_id) == ["h0-t0-0", "p0-t0-0", "v0-t0-0", "v0-t1-0", "v1-t0-0", "v1-t1-0"]
    sampler = WindowSampler(tubes, SamplingRules(12, augment=True))
    draws = WindowDraws(np.arange(len(tubes)), np.array([1, 0, 1, 0, 1, 1]), np.array([33, 0, 5, 52, 38, 7]))
    batch = sampler.read(draws)
    for i, (t, view, start) in enumerate(zip(draws.tube, draws.view, draws.start)):
        expected = expected_window(root, tubes.tube_id[t], int(view), int(start), 12)
        assert np.array_equal(batch.features[i].numpy(), expected["features"])
        np.testing.assert_allclose(batch.keypoints[i].numpy(), expected["keypoints"], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(batch.visibility[i].numpy(), expected["visibility"].astype(np.float32))
        has_3d = tubes.tube_id[t] == "h0-t0-0"
        assert batch.has_3d[i] == batch.has_smpl[i] == float(has_3d)
        if has_3d:
            for name in ("joints_3d", "pose", "shape"):
                np.testing.assert_array_equal(getattr(batch, name)[i].numpy(), expected[name].astype(np.float32))
        else:
            assert not batch.pose[i].any() and not batch.joints_3d[i].any()


def _files(store_dir: Path, shard: int) -> dict[str, tuple[int, int, str]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(shard_dir(store_dir, shard).iterdir())}


def test_a_second_featured_batch_appends_a_shard_and_an_unchanged_root_reads_no_data(root, monkeypatch):
    featured_root(root, videos("a", 3))
    store_dir = store_dir_of(root)
    prepare_store(root, ["insta"])
    first = _files(store_dir, 0)
    featured_root(root, videos("b", 2))
    index = prepare_store(root, ["insta"]).rows
    assert _files(store_dir, 0) == first  # neither rewritten nor replaced
    assert sorted(index.loc[index["shard"] == 1, "video_id"].unique()) == ["b0", "b1"]
    assert read_index(store_dir)[1] == 2 and (index["state"] == READY).sum() == 10

    def no_data_reads(*args, **kwargs):
        raise AssertionError("an unchanged root must be opened from status tables and the index alone")

    monkeypatch.setattr("train.store_update.read_part", no_data_reads)
    before = (store_dir / "index.parquet").stat().st_mtime_ns
    assert prepare_store(root, ["insta"]).rows.equals(index)
    assert (store_dir / "index.parquet").stat().st_mtime_ns == before


def test_retracked_refeatured_and_taken_down_tubes_leave_the_index(root):
    tracked = videos("v", 3)
    featured_root(root, tracked)
    prepare_store(root, ["insta"])
    retracked = SyntheticVideo("v0", "insta", "train", (70,))  # one longer tube instead of two
    commit_tracking(root, [retracked])
    with pytest.raises(DataError, match=r"^1 train tubes have no features yet \(1 of them made before their video "
                                        r"was tracked again\) \(e.g. v0-t0-0\); run `hmmr-train features --root "):
        select_tubes(prepare_store(root, ["insta"]), root, ["insta"], "train", 12)
    commit_features(root, [retracked], views=2)
    commit_features(root, [tracked[1]], views=2, version=1)  # features made again (another extractor)
    commit_skip(root, "tracking", ["v2"])  # a takedown: v2's rows stop being live
    index = prepare_store(root, ["insta"])
    ready = index.rows[index.rows["state"] == READY].set_index("tube_id")
    assert sorted(ready.index) == ["v0-t0-0", "v1-t0-0", "v1-t1-0"]
    assert ready.loc["v0-t0-0", "n_frames"] == 70 and set(ready["shard"]) == {1}
    tubes = select_tubes(index, root, ["insta"], "train", 12)
    batch = WindowSampler(tubes, SamplingRules(12)).read(WindowDraws(np.array([0, 1]), np.array([0, 0]), np.array([58, 3])))
    for i, tube_id in enumerate(tubes.tube_id[:2]):
        start = (58, 3)[i]
        assert np.array_equal(batch.features[i].numpy(), expected_window(root, tube_id, 0, start, 12)["features"])


def test_a_dataset_without_features_is_refused_with_the_command_that_makes_them(root):
    commit_tracking(root, videos("v", 2, dataset="vlog"))
    featured_root(root, videos("w", 1))
    with pytest.raises(ValueError, match="prepared without datasets \\['vlog'\\]"):
        select_tubes(prepare_store(root, ["insta"]), root, ["vlog"], "train", 12)
    index = prepare_store(root, ["insta", "vlog"])  # vlog's tubes, not loaded for insta alone, are read now
    with pytest.raises(DataError, match=r"^4 train tubes have no features yet \(e.g. v0-t0-0\); run `hmmr-train features"):
        select_tubes(index, root, ["vlog"], "train", 12)
    with pytest.raises(DataError, match=r"no tubes for datasets \['kinetics'\] .* datasets with tubes: \['insta', 'vlog'\]"):
        select_tubes(index, root, ["kinetics"], "train", 12)
    assert len(select_tubes(index, root, ["insta"], "train", 12)) == 2


KILLED_UPDATE = """
import sys
from manifests import DatasetRoot
from train.store_update import update_store
update_store(DatasetRoot(sys.argv[1]), sys.argv[2], ["insta"], shard_bytes=1, progress=False)
"""


def test_sigkill_during_an_update_then_a_rerun_gives_the_store_of_an_uninterrupted_run(root, tmp_path):
    featured_root(root, videos("v", 4))
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    update_store(root, whole, ["insta"], shard_bytes=1, progress=False)  # one shard per video
    environment = {**os.environ, "HMMR_CRASH_AT": "store-shard:2", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", KILLED_UPDATE, str(root.path), str(killed)], env=environment,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-2000:]
    assert read_index(killed)[1] == 1 and shard_dir(killed, 1).is_dir()  # killed after shard 2 was written
    update_store(root, killed, ["insta"], shard_bytes=1, progress=False)
    assert read_index(killed)[0].equals(read_index(whole)[0]) and read_index(killed)[1] == read_index(whole)[1] == 4
    for shard in range(4):
        assert [f[2] for f in _files(killed, shard).values()] == [f[2] for f in _files(whole, shard).values()]


def test_batches_depend_on_the_step_alone_with_any_number_of_workers(root):
    featured_root(root, videos("v", 3))
    sampler = WindowSampler(select_tubes(prepare_store(root, ["insta"]), root, ["insta"], "train", 12),
                            SamplingRules(12, augment=True))
    inline = list(step_batches(sampler, 4, seed=7, steps=range(0, 6), workers=0))
    resumed = list(step_batches(sampler, 4, seed=7, steps=range(3, 6), workers=2))
    for a, b in zip(inline[3:], resumed):
        assert all(np.array_equal(getattr(a, k).numpy(), getattr(b, k).numpy()) for k in ("features", "keypoints"))
    assert not np.array_equal(inline[3].features.numpy(), inline[4].features.numpy())


def test_each_batch_is_split_balanced_weighs_datasets_by_the_mix_and_repeats_no_window():
    from train.mixing import MixConfig
    from train.sampling import Candidates

    names = np.array(["insta"] * 5 + ["vlog"] + ["h36m"] * 2, object)
    candidates = Candidates(names, np.full(8, 40), np.full(8, 3), names == "h36m")
    rules = SamplingRules(20, mix=MixConfig(0.5, (("insta", 3.0), ("vlog", 1.0))), augment=True)
    n_vlog = 0
    for step in range(50):
        draws = draw_windows(candidates, rules, 8, (0, step), world=2)
        for rank in range(2):
            datasets = candidates.dataset[draws.block(rank, 8).tube]
            assert (datasets == "h36m").sum() == 4  # 8 x 0.5 from 3D tubes, exactly, in every rank's batch
            n_vlog += int((datasets == "vlog").sum())
        assert len(np.unique(draws.keys(), axis=0)) == 16
        assert (draws.start <= 20).all() and (draws.view < 3).all()
    assert 60 <= n_vlog <= 140  # a quarter of the 400 2D windows (insta=3, vlog=1), about 9 either side


GLOO_RANK = """
import json, sys
import numpy as np
import torch.distributed as dist
from manifests import DatasetRoot
from train.data import WindowSampler, prepare_store, select_tubes, step_batches
from train.sampling import SamplingRules
dist.init_process_group("gloo")
root = DatasetRoot(sys.argv[1])
sampler = WindowSampler(select_tubes(prepare_store(root, ["insta"]), root, ["insta"], "train", 12), SamplingRules(12, augment=True))
rank, world = dist.get_rank(), dist.get_world_size()
keys = [sampler.draw(3, (5, step), rank, world).keys().tolist() for step in range(4)]
firsts = [b.features[:, 0, :4].tolist() for b in step_batches(sampler, 3, 5, range(4), rank, world, workers=0)]
gathered = [None] * world
dist.all_gather_object(gathered, {"keys": keys, "firsts": firsts})
if rank == 0:
    json.dump(gathered, open(sys.argv[2], "w"))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_gloo_ranks_read_disjoint_blocks_of_one_global_batch(root, tmp_path):
    """Each rank (torchrun, gloo) reads its own block of the step's global draw, from the one shared store."""
    import json

    featured_root(root, videos("v", 3))
    prepare_store(root, ["insta"])  # built once; each rank then opens it from its index
    script, out = tmp_path / "rank.py", tmp_path / "gathered.json"
    script.write_text(GLOO_RANK)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
               str(script), str(root.path), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads(out.read_text())
    sampler = WindowSampler(select_tubes(prepare_store(root, ["insta"]), root, ["insta"], "train", 12),
                            SamplingRules(12, augment=True))
    for step in range(4):
        blocks = [set(map(tuple, rank["keys"][step])) for rank in ranks]
        assert len(blocks[0]) == len(blocks[1]) == 3 and not blocks[0] & blocks[1]
        single = draw_windows(sampler.tubes.candidates, sampler.rules, 3, (5, step), world=2)
        assert [sorted(b) for b in blocks] == [sorted(map(tuple, single.block(r, 3).keys().tolist())) for r in range(2)]
        for rank in range(2):  # what each rank read is the windows of its own block
            read = sampler.read(single.block(rank, 3)).features[:, 0, :4].tolist()
            assert ranks[rank]["firsts"][step] == read
