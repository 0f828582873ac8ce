"""The evaluation protocol: sliding windows as the released Tester, and the paper's table end to end on
imported Penn Action and 3DPW fixtures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from train.evaluate import predict_sequence, window_layout
from train.model import HMMROutput, Prediction


class EchoModel:
    """Returns each frame's own first 85 feature values as theta (72 and 72 more for the deltas), so the
    stitched output shows which input frame each output frame came from; records the windows it saw."""

    def __init__(self) -> None:
        self.windows: list[torch.Tensor] = []

    def __call__(self, windows: torch.Tensor):
        self.windows.append(windows)
        prediction = Prediction(theta=windows[..., :85], past_pose=windows[..., 85:157], future_pose=windows[..., 157:229])
        return HMMROutput(movie=prediction, hallucinated=prediction, movie_strip=windows, hallucinated_strip=windows)


def test_window_layout_keeps_the_middle_of_each_window():
    assert window_layout(20, 20, 6) == (3, 8)  # T 20, receptive field 13: 8 frames kept per window
    assert window_layout(1, 20, 6) == (1, 8)
    with pytest.raises(ValueError, match="cannot keep a middle"):
        window_layout(10, 12, 6)


def test_every_frame_is_predicted_once_in_order_with_a_full_context_window():
    n, window, margin = 19, 12, 4
    features = np.arange(1, n + 1, dtype=np.float32)[:, None].repeat(229, axis=1)  # frame k carries k + 1
    model = EchoModel()
    movie, hallucinated = predict_sequence(model, features, window, margin, torch.device("cpu"), batch_windows=2)
    assert np.array_equal(movie.theta[:, 0], np.arange(1, n + 1)) and movie.theta.shape == (n, 85)
    assert np.array_equal(hallucinated.future_pose[:, 0], np.arange(1, n + 1))
    windows = torch.cat(model.windows)[..., 0]
    assert windows.shape == (5, 12)  # ceil(19 / 4) windows of 12 frames
    assert windows[0, :margin].eq(0).all() and windows[0, margin].item() == 1  # zero padding before frame 0
    assert windows[1, 0].item() == 1 and windows[1, margin].item() == 5  # frame 4 sees frames 0..11 around it


@pytest.mark.slow
def test_imported_penn_and_3dpw_are_evaluated_into_the_papers_table(client, root, tmp_path):
    from dataclasses import asdict

    from manifests import FEATURES, read_table
    from pipelines.cli.train import main as train_cli
    from pipelines.features import extract_features
    from pipelines.imports import ImportConfig, import_dataset
    from pipelines.runner import RunnerConfig
    from train.body import write_test_smpl
    from train.features import FeatureConfig, JitterConfig
    from train.loop import TrainConfig
    from train.model import HMMR, ModelConfig
    from published_fixtures import write_3dpw_sequence, write_penn_clip

    quiet = RunnerConfig(progress=False)
    smpl = tmp_path / "smpl"
    for name, seed in (("SMPL_NEUTRAL.pkl", 0), ("SMPL_MALE.pkl", 1), ("SMPL_FEMALE.pkl", 2)):
        write_test_smpl(smpl / name, seed=seed)
    penn, pw3d = tmp_path / "Penn_Action", tmp_path / "3DPW"
    write_penn_clip(penn, "0001", 2, True)
    write_penn_clip(penn, "0002", 2, False, seed=1)  # val (the first held-out clip)
    write_penn_clip(penn, "0003", 12, False, seed=2)  # test
    write_3dpw_sequence(pw3d, "test", "downtown_walking_00", 10, ["m", "f"])
    for config in (ImportConfig(kind="penn", source=str(penn), dataset="penn"),
                   ImportConfig(kind="3dpw", source=str(pw3d), dataset="3dpw", splits=("test",), smpl_model_dir=str(smpl))):
        assert import_dataset(client, root, config, quiet).n_failed == 0
    # A randomly initialised ResNet-50 (a smoke test of the wiring), on the imported media files.
    features = extract_features(client, root, FeatureConfig(batch_frames=32, jitter=JitterConfig(views=0)), quiet)
    assert features.n_ok == 4 and features.counters["crops"] == 2 + 2 + 12 + 2 * 10, features.failures
    assert len(read_table(root, FEATURES, columns=["tube_id"])) == 5

    # A checkpoint as hmmr-train writes it (the training loop is tested elsewhere): config and weights.
    model_config = ModelConfig(width=64, groups=8, regressor_width=64)
    trained = TrainConfig(root=str(root.path), smpl_model_dir=str(smpl), out_dir=str(tmp_path), datasets=("penn",),
                          window=14, model=model_config)
    torch.save({"step": 1, "config": asdict(trained), "model": HMMR(model_config).state_dict()}, tmp_path / "checkpoint.pt")
    result = CliRunner().invoke(train_cli, ["eval", "--root", str(root.path), "--checkpoint", str(tmp_path / "checkpoint.pt"),
                                            "--datasets", "3dpw,penn", "--split", "test"])
    assert result.exit_code == 0, result.output
    print(result.output)
    rows = [line.split() for line in result.output.splitlines()]
    kinds = {(r[0], r[1]) for r in rows if len(r) > 2 and r[0] in ("3dpw", "penn")}
    assert kinds == {(d, k) for d in ("3dpw", "penn") for k in
                     ("movie", "hallucinated", "past_5", "past_5_const", "future_5", "future_5_const")}
    saved = json.loads((tmp_path / "eval_test_3dpw-penn.json").read_text())["results"]
    assert saved["3dpw"]["counts"] == {"videos": 1.0, "tubes": 2.0, "frames": 20.0}
    assert saved["penn"]["counts"] == {"videos": 1.0, "tubes": 1.0, "frames": 12.0}  # the test clip only
    movie = saved["3dpw"]["movie"]
    assert movie["mpjpe"] > 0 and movie["pa_mpjpe"] > 0 and movie["pa_mpjpe"] <= movie["mpjpe"]
    assert 0 <= movie["pck"] <= 1 and movie["accel_error"] >= 0
    assert "mpjpe" not in saved["penn"]["movie"] and 0 <= saved["penn"]["movie"]["pck"] <= 1
