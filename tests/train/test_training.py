"""The training loop on synthetic tubes: it learns, resumes exactly, and refuses unknown datasets."""
from __future__ import annotations

import json

import pytest

from manifests import DatasetRoot
from train.body import write_test_smpl
from train.data import DataError
from train.loop import TrainConfig, train
from train.losses import ObjectiveConfig
from train.model import ModelConfig
from tests_helpers import write_synthetic_tubes

pytestmark = pytest.mark.slow
SMALL = ModelConfig(width=128, groups=8, regressor_width=128, dropout=0.0)
NO_PRIOR = ObjectiveConfig(adversarial=0.0, discriminator=0.0)  # no mocap here (its own test below)


@pytest.fixture(scope="module")
def synthetic_root(client, tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    smpl_dir = folder / "smpl"
    write_test_smpl(smpl_dir / "SMPL_NEUTRAL.pkl")
    root = DatasetRoot(folder / "root")
    tubes = {"t0": ("insta", "train"), "t1": ("insta", "train"), "t2": ("vlog", "train"), "v0": ("insta", "val"),
             "h0": ("h36m", "train"), "h1": ("h36m", "train")}
    write_synthetic_tubes(client, root, smpl_dir, tubes, with_3d=frozenset({"h0", "h1"}))
    return root, smpl_dir


def config_for(root, smpl_dir, out_dir, **overrides) -> TrainConfig:
    settings = dict(root=str(root.path), smpl_model_dir=str(smpl_dir), out_dir=str(out_dir), datasets=("insta",),
                    batch_size=2, window=12, learning_rate=1e-3, learning_rate_schedule="cosine",
                    min_learning_rate_ratio=0.01, log_every=1, val_every=200, checkpoint_every=200, model=SMALL,
                    device="cpu", objective=NO_PRIOR)
    settings.update(overrides)
    return TrainConfig(**settings)


def write_mocap(path, n: int = 64):
    """Real-pose stand-ins for the adversarial prior: small random SMPL poses and betas, as the npz holds."""
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(path, poses=rng.normal(0, 0.2, (n, 72)).astype(np.float32), betas=rng.normal(0, 1, (n, 10)).astype(np.float32))
    return path


def scalars(out_dir):
    return [json.loads(line) for line in (out_dir / "scalars.jsonl").read_text().splitlines()]


def test_the_model_overfits_a_handful_of_tubes(synthetic_root, tmp_path):
    root, smpl_dir = synthetic_root
    # 8-frame windows: the body model dominates a CPU step and runs on every frame of 6 predictions
    train(config_for(root, smpl_dir, tmp_path, steps=800, window=8))
    totals = [r["total"] for r in scalars(tmp_path) if "total" in r]
    first, last = sum(totals[:5]) / 5, sum(totals[-20:]) / 20  # means, so one lucky batch does not pass it
    print(f"total loss {first:.3f} -> {last:.4f} in 800 steps ({first / last:.1f}x)")
    assert last < first / 10
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000  # TensorBoard scalars, one per logged step
    validation = [r for r in scalars(tmp_path) if "val_pck_0.05" in r]
    assert validation and 0 <= validation[-1]["val_pck_0.05"] <= 1
    assert (tmp_path / "checkpoint.pt").is_file() and json.loads((tmp_path / "config.json").read_text())["steps"] == 800


def test_a_mix_of_3d_and_2d_tubes_trains_and_the_papers_mpjpe_falls(synthetic_root, tmp_path):
    """Half of each batch from a 3D dataset (its `targets` rows, as an importer writes them), half from our
    2D tubes; the paper's table (`hmmr-train eval`) on the 3D tubes shows MPJPE falling."""
    from click.testing import CliRunner

    from pipelines.cli.train import main as train_cli
    from train.mixing import MixConfig

    root, smpl_dir = synthetic_root
    model = ModelConfig(width=64, groups=8, regressor_width=64, dropout=0.0)
    # The body model dominates a CPU step: short windows, no hallucinated predictions, so it runs in seconds.
    objective = ObjectiveConfig(adversarial=0.0, discriminator=0.0, hallucination=False)

    def mpjpe_after(steps: int) -> float:
        out = tmp_path / f"steps{steps}"
        train(config_for(root, smpl_dir, out, steps=steps, batch_size=2, window=8, datasets=("insta", "h36m"),
                         mix=MixConfig(share_3d=0.5), model=model, objective=objective, learning_rate=2e-3,
                         val_every=1000))
        assert {"present_joints_3d", "future_smpl"} <= set([r for r in scalars(out) if "total" in r][-1])
        result = CliRunner().invoke(train_cli, ["eval", "--root", str(root.path), "--checkpoint", str(out / "checkpoint.pt"),
                                                "--datasets", "h36m", "--split", "train"])
        assert result.exit_code == 0, result.output
        return json.loads((out / "eval_train_h36m.json").read_text())["results"]["h36m"]["movie"]["mpjpe"]

    before, after = mpjpe_after(1), mpjpe_after(60)
    print(f"MPJPE on the 3D tubes: {before:.1f} mm -> {after:.1f} mm in 60 steps")
    assert after < before / 2


def test_resume_reproduces_the_next_losses_exactly(synthetic_root, tmp_path):
    root, smpl_dir = synthetic_root
    whole, half = tmp_path / "whole", tmp_path / "half"
    model = ModelConfig(width=64, groups=8, regressor_width=64, dropout=0.5)  # dropout: RNG state must resume too
    # Windows read ahead by 2 loader workers in the interrupted run, in this process in the whole one.
    train(config_for(root, smpl_dir, whole, steps=6, checkpoint_every=3, model=model, loader_workers=0))
    train(config_for(root, smpl_dir, half, steps=6, checkpoint_every=3, model=model, loader_workers=2),
          stop_after_steps=3)
    assert max(r["step"] for r in scalars(half)) == 3
    train(config_for(root, smpl_dir, half, steps=6, checkpoint_every=3, model=model, loader_workers=2), resume=True)
    expected = [r for r in scalars(whole) if r.get("step", 0) > 3 and "total" in r]
    resumed = [r for r in scalars(half) if r.get("step", 0) > 3 and "total" in r]
    assert len(expected) == 3 and resumed == expected


def test_the_adversarial_prior_trains_on_mocap_and_is_refused_without_it(synthetic_root, tmp_path):
    root, smpl_dir = synthetic_root
    mocap = write_mocap(tmp_path / "mocap.npz")
    train(config_for(root, smpl_dir, tmp_path / "run", steps=2, mocap=str(mocap), objective=ObjectiveConfig()))
    last = [r for r in scalars(tmp_path / "run") if "total" in r][-1]
    assert last["adversarial"] > 0 and last["discriminator"] > 0
    with pytest.raises(ValueError, match="adversarial pose prior .* needs real poses: give --mocap"):
        train(config_for(root, smpl_dir, tmp_path / "none", steps=1, objective=ObjectiveConfig()))


def test_a_non_finite_loss_stops_the_run_with_every_file_closed(synthetic_root, tmp_path):
    """Before, train() had no finally: scalars.jsonl and TensorBoard's event file stayed open."""
    import os

    from train.loop import NonFiniteLoss

    root, smpl_dir = synthetic_root
    exploding = ObjectiveConfig(adversarial=0.0, discriminator=0.0, keypoints=float("inf"))
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss at step 0: \{.*'present_keypoints': inf"):
        train(config_for(root, smpl_dir, tmp_path, steps=3, objective=exploding))
    still_open = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                  if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [path for path in still_open if path.startswith(str(tmp_path))]


def test_an_unknown_dataset_is_refused_with_the_names_there_are(synthetic_root, tmp_path):
    root, smpl_dir = synthetic_root
    with pytest.raises(DataError, match=r"no tubes for datasets \['kinetics'\] .* datasets with tubes: \['h36m', 'insta', 'vlog'\]"):
        train(config_for(root, smpl_dir, tmp_path, steps=1, datasets=("insta", "kinetics")))


def test_eval_and_predict_from_a_checkpoint(synthetic_root, tmp_path):
    from click.testing import CliRunner

    from pipelines.cli.predict import main as predict_cli
    from pipelines.cli.train import main as train_cli

    root, smpl_dir = synthetic_root
    train(config_for(root, smpl_dir, tmp_path, steps=2, model=ModelConfig(width=64, groups=8, regressor_width=64)))
    checkpoint = tmp_path / "checkpoint.pt"
    evaluated = CliRunner().invoke(train_cli, ["eval", "--root", str(root.path), "--checkpoint", str(checkpoint),
                                               "--split", "val"])
    assert evaluated.exit_code == 0, evaluated.output
    movie = [line.split() for line in evaluated.output.splitlines() if line.split()[:2] == ["insta", "movie"]]
    assert len(movie) == 1 and 0 <= float(movie[0][6]) <= 1  # its PCK; no 3D truth, so no MPJPE: '-'
    assert movie[0][7] == "-" and (tmp_path / "eval_val_insta.json").is_file()
    out = tmp_path / "tube.npz"
    predicted = CliRunner().invoke(predict_cli, ["synthetic-t0-t0-0", "--root", str(root.path), "--checkpoint",
                                                 str(checkpoint), "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    import numpy as np

    arrays = np.load(out)
    assert arrays["pose"].shape == (40, 72) and arrays["camera"].shape == (40, 3) and arrays["betas"].shape == (40, 10)
    assert arrays["single_frame_past_pose"].shape == arrays["single_frame_future_pose"].shape == (40, 72)


def test_predict_straight_from_a_video_file(synthetic_root, tmp_path):
    """A real clip through pose, tracking, tubes and features in one process, then the model, per tube."""
    from pathlib import Path

    import numpy as np
    from click.testing import CliRunner

    from pipelines.cli.predict import main as predict_cli

    root, smpl_dir = synthetic_root
    train(config_for(root, smpl_dir, tmp_path, steps=1, model=ModelConfig(width=64, groups=8, regressor_width=64)))
    clip = Path(__file__).parents[1] / "data" / "angle_zoom.mp4"
    out = tmp_path / "predicted"
    done = CliRunner().invoke(predict_cli, [str(clip), "--checkpoint", str(tmp_path / "checkpoint.pt"), "--out", str(out)])
    assert done.exit_code == 0, done.output
    written = sorted(out.glob("angle_zoom-t*.npz"))
    assert written and len(done.output.strip().splitlines()) == len(written)
    for path in written:
        arrays = np.load(path)
        n = len(arrays["frames"])
        assert n >= 40 and np.array_equal(arrays["frames"], np.arange(arrays["frames"][0], arrays["frames"][0] + n))
        assert arrays["keypoints"].shape == (n, 25, 3) and arrays["bbox"].shape == (n, 3)
        assert arrays["pose"].shape == (n, 72) and arrays["single_frame_future_pose"].shape == (n, 72)
        assert np.isfinite(arrays["pose"]).all()

    missing = CliRunner().invoke(predict_cli, [str(tmp_path / "nope.mp4"), "--checkpoint", str(tmp_path / "checkpoint.pt")])
    assert missing.exit_code != 0 and "nope.mp4: no such video file" in missing.output


def test_torchrun_with_two_processes_trains_and_writes_one_checkpoint(synthetic_root, tmp_path):
    """DDP on CPU (gloo): what `torchrun --nproc_per_node N hmmr-train ...` does on N GPUs."""
    import subprocess
    import sys

    root, smpl_dir = synthetic_root
    mocap = write_mocap(tmp_path / "mocap.npz")  # the discriminator runs under DDP too
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               "-m", "pipelines.cli.train", "--root", str(root.path), "--datasets", "insta", "--smpl-model-dir",
               str(smpl_dir), "--out", str(tmp_path), "--steps", "3", "--batch-size", "2", "--window", "12",
               "--width", "64", "--device", "cpu", "--mocap", str(mocap)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained to step 3" in done.stdout
    assert [r["step"] for r in scalars(tmp_path) if "total" in r] == [3]  # the last step, once: rank 0 alone writes
    assert (tmp_path / "checkpoint.pt").is_file()


def test_a_run_records_the_data_it_read_and_resume_refuses_other_data(client, synthetic_root, tmp_path):
    """Issue 26: config.json names the snapshot (or the live tables' fingerprint); after the root grows, a
    run on the live tables cannot resume, one on a snapshot can; a removal from the snapshot stops it too."""
    import shutil

    from manifests.snapshot import load_snapshot, take_snapshot
    from pipelines.remove import Selection, remove_videos
    from pipelines.runner import RunnerConfig

    root, smpl_dir = synthetic_root
    copy = DatasetRoot(tmp_path / "root")
    shutil.copytree(root.path, copy.path)
    take_snapshot(copy, "v1")
    live, frozen = tmp_path / "live", tmp_path / "frozen"
    train(config_for(copy, smpl_dir, live, steps=2, checkpoint_every=1), stop_after_steps=1)
    train(config_for(copy, smpl_dir, frozen, steps=2, checkpoint_every=1, snapshot="v1"), stop_after_steps=1)
    assert json.loads((frozen / "config.json").read_text())["data"] == {
        "snapshot": "v1", "fingerprint": load_snapshot(copy, "v1").fingerprint}
    assert json.loads((live / "config.json").read_text())["data"]["snapshot"] is None

    write_synthetic_tubes(client, copy, smpl_dir, {"t9": ("insta", "train")}, seed=1)  # the root grows
    with pytest.raises(DataError, match=r"--resume: .* trained on the live tables .* now holds the live tables"):
        train(config_for(copy, smpl_dir, live, steps=2, checkpoint_every=1), resume=True)
    train(config_for(copy, smpl_dir, frozen, steps=2, checkpoint_every=1, snapshot="v1"), resume=True)
    assert max(r["step"] for r in scalars(frozen)) == 2

    remove_videos(copy, Selection(video_ids=("synthetic-t0",)), "test", RunnerConfig(progress=False))
    with pytest.raises(DataError, match=r"trained on snapshot 'v1'"):
        train(config_for(copy, smpl_dir, frozen, steps=2, checkpoint_every=1, snapshot="v1"), resume=True)


def test_resume_refuses_a_root_whose_targets_changed_under_the_same_tubes(synthetic_root, tmp_path):
    """The data record covers every table the store reads, `targets` included. An import run that started
    before the tracking run but committed after it sorts first: the video's tubes and features stay the
    tracking's, while its targets become the import's, and the store trains on them from then on."""
    import shutil

    from manifests.tables import IMPORT_STAGE
    from pipelines.records import new_run_id
    from store_helpers import SyntheticVideo, commit, target_rows, tube_rows
    from train.data import prepare_store

    root, smpl_dir = synthetic_root
    copy = DatasetRoot(tmp_path / "root")
    shutil.copytree(root.path, copy.path)
    started_earlier = "2000" + new_run_id(IMPORT_STAGE)[4:]  # a run id of the year 2000: before the tracking's
    out = tmp_path / "out"
    train(config_for(copy, smpl_dir, out, steps=2, checkpoint_every=1), stop_after_steps=1)
    video = SyntheticVideo("synthetic-t0", "insta", "train", (40,))
    commit(copy, IMPORT_STAGE, {video.video_id: {"tubes": tube_rows(video), "targets": target_rows(video)}},
           run_id=started_earlier)
    index = prepare_store(copy, ("insta",), progress=False).rows.set_index("tube_id")
    assert index.loc["synthetic-t0-t0-0", "has_targets"]  # the store reads the new targets for the same tube
    with pytest.raises(DataError, match=r"--resume: .* trained on the live tables .* now holds the live tables"):
        train(config_for(copy, smpl_dir, out, steps=2, checkpoint_every=1), resume=True)
