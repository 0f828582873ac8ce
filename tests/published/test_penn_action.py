"""Penn Action's release -> videos, tubes and 2D targets, through the real import stage."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from manifests import TARGETS, TUBES, VIDEOS, read_table
from manifests.joints import BODY_25, HMMR_25, joint_index
from media.decode import DecodeConfig, open_stream
from pipelines.imports import ImportConfig, import_dataset
from pipelines.runner import RunnerConfig
from published.penn_action import PennActionError, read_penn_labels
from published_fixtures import frame_index_of, write_penn_clip

RUNNER = RunnerConfig(progress=False)


def test_penn_clips_become_tubes_with_the_released_splits_and_joint_slots(client, root, tmp_path):
    source = tmp_path / "Penn_Action"
    labels = {name: write_penn_clip(source, name, n, is_train, seed=i)
              for i, (name, n, is_train) in enumerate([("0001", 24, True), ("0002", 22, False), ("0003", 21, False)])}
    stats = import_dataset(client, root, ImportConfig(kind="penn", source=str(source), dataset="penn"), RUNNER)
    assert stats.n_ok == 3, stats.failures

    videos = read_table(root, VIDEOS).set_index("video_id")
    # The released split: train flag; of the held-out clips sorted by name, every 10th (the first) is val.
    assert videos["split"].to_dict() == {"penn-0001": "train", "penn-0002": "val", "penn-0003": "test"}
    assert (videos["codec"] == "mjpeg").all() and (videos["fps"] == 30.0).all() and (videos["dataset"] == "penn").all()
    info, frames = open_stream(root.path / videos.at["penn-0002", "media_path"], DecodeConfig(fps=30.0))
    assert [frame_index_of(f.rgb) for f in frames] == list(range(22))  # frame k of the video is image k of the clip

    tubes = read_table(root, TUBES).set_index("tube_id")
    targets = read_table(root, TARGETS).set_index("tube_id")
    assert sorted(tubes.index) == ["penn-0001-t0-0", "penn-0002-t0-0", "penn-0003-t0-0"]
    tube, target = tubes.loc["penn-0001-t0-0"], targets.loc["penn-0001-t0-0"]
    assert tube["n_frames"] == 24 and tube["start_frame"] == 0 and tube["fps"] == 30.0
    penn = labels["0001"]
    training = np.stack(target["keypoints"]).reshape(24, 25, 3)
    body25 = np.stack(tube["keypoints"]).reshape(24, 25, 3)
    # Penn's label order as the released reader reads it: head, R/L shoulder, ..., R/L ankle.
    for penn_index, slot in ((0, "head_top"), (5, "right_wrist"), (6, "left_wrist"), (11, "right_ankle"), (12, "left_ankle")):
        seen = penn[:, penn_index, 2] > 0
        assert np.array_equal(training[:, joint_index(HMMR_25, slot), 2], seen)
        assert np.allclose(training[seen, joint_index(HMMR_25, slot), :2], penn[seen, penn_index, :2], atol=1e-4)
    assert training[:, joint_index(HMMR_25, "right_heel"), 2].sum() == 0  # Penn has no heels: the heel slots stay unseen
    assert training[::7, joint_index(HMMR_25, "right_wrist"), 2].sum() == 0  # its visibility flag 0 stays unseen
    assert np.allclose(body25[:, joint_index(BODY_25, "right_ankle")], penn[:, 11], atol=1e-4)
    assert body25[:, joint_index(BODY_25, "neck"), 2].sum() == 0
    assert target["joints_3d"] is None and target["pose"] is None and target["shape"] is None
    bbox = np.stack(tube["bbox"])
    assert bbox.shape == (24, 3) and np.all((bbox[:, 0] > 0) & (bbox[:, 0] < 96)) and np.all(bbox[:, 2] > 1.0)

    again = import_dataset(client, root, ImportConfig(kind="penn", source=str(source), dataset="penn"), RUNNER)
    assert again.n_due == 0 and again.n_already_done == 3


def test_a_label_file_without_the_release_keys_is_named_with_what_was_expected(tmp_path):
    from scipy.io import savemat

    from pipelines.cli.import_datasets import main

    source = tmp_path / "Penn_Action"
    write_penn_clip(source, "0001", 5, True)
    savemat(source / "labels" / "0002.mat", {"x": np.zeros((5, 13)), "nframes": np.array([[5]])})
    with pytest.raises(PennActionError, match=r"0002\.mat: missing \['y', 'visibility', 'train'\]"):
        read_penn_labels(source / "labels" / "0002.mat")
    result = CliRunner().invoke(main, ["penn", str(source), "--root", str(tmp_path / "root"), "--no-progress"])
    assert result.exit_code != 0 and "0002.mat: missing ['y', 'visibility', 'train']" in result.output
    assert "Traceback" not in result.output
