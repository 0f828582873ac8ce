"""The released HMMR model's variables mapped onto train/model.py, checked against what TensorFlow
computed with the released scopes at tiny widths (data/make_tf_fixtures.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from checkpoints.convert import convert_weights
from checkpoints.hmmr import hmmr_table, released_model_config
from checkpoints.tf_checkpoint import TFCheckpoint
from pipelines.cli.convert import main as convert_cli
from train.checkpoint import load_model
from train.model import HMMR, ModelConfig

DATA = Path(__file__).parent / "data"
TINY_HMMR = DATA / "tiny_hmmr.ckpt"
FIXTURE_GROUPS = 16  # the fixture's 32 channels in 16 groups of 2, so that a grouping mistake shows
# Outputs reach 23. Measured max |difference|: 2.2e-4 with torch's GroupNorm epsilon (1e-5), 1e-5 with
# the released model's (contrib group_norm: 1e-6).
ATOL = 1e-3


@pytest.fixture(scope="module")
def tf_outputs():
    return dict(np.load(DATA / "tf_outputs.npz"))


def test_the_table_reads_every_model_variable_of_the_release():
    checkpoint = TFCheckpoint(TINY_HMMR)
    config = released_model_config(checkpoint, FIXTURE_GROUPS)
    assert (config["feature_dim"], config["width"], config["n_blocks"], config["regressor_width"]) == (32, 32, 3, 16)
    table = hmmr_table(config["n_blocks"])
    read = {row.variable for row in table}
    assert read == set(checkpoint.names()) - {"global_step", "D_pose/fc1/weights"}
    assert len({row.parameter for row in table}) == len(table)


def test_the_temporal_path_reproduces_tensorflow(tf_outputs):
    """Temporal encoder, IEF and delta regressors with the released weights give TensorFlow's theta and
    -5/+5 poses (the hallucinator is checked in the next test)."""
    checkpoint = TFCheckpoint(TINY_HMMR)
    config = released_model_config(checkpoint, FIXTURE_GROUPS)
    model = HMMR(ModelConfig(**config)).eval()
    temporal = nn.Module()  # the parts of the model the temporal path uses, under the same names
    temporal.encoder, temporal.regressor, temporal.past, temporal.future = (model.encoder, model.regressor,
                                                                             model.past, model.future)
    temporal.mean_theta = model.mean_theta
    rows = [row for row in hmmr_table(config["n_blocks"]) if not row.variable.startswith("fc2_res/")]
    temporal.load_state_dict(convert_weights(checkpoint, rows, temporal))
    with torch.no_grad():
        output = model(torch.from_numpy(tf_outputs["hmmr_features"]))
    prediction = output.movie
    for name, ours in (("movie_strip", output.movie_strip), ("theta", prediction.theta), ("past_pose", prediction.past_pose),
                       ("future_pose", prediction.future_pose)):
        np.testing.assert_allclose(ours.numpy(), tf_outputs[f"hmmr_{name}"], rtol=0, atol=ATOL, err_msg=name)


def test_the_converted_release_reproduces_tensorflow_end_to_end(tmp_path, tf_outputs):
    """Converted, read back through the one checkpoint reader, the whole model (hallucinator included:
    3 FC layers, GroupNorm epsilon 1e-6) gives TensorFlow's outputs."""
    out = tmp_path / "hmmr_released.pt"
    result = CliRunner().invoke(convert_cli, ["hmmr", str(TINY_HMMR), "--out", str(out), "--groups", str(FIXTURE_GROUPS)])
    assert result.exit_code == 0, result.output
    loaded = load_model(out)
    assert loaded.trained is None and loaded.model.config.norm_eps == 1e-6
    with torch.no_grad():
        output = loaded.model(torch.from_numpy(tf_outputs["hmmr_features"]))
    prediction, hallucinated = output.movie, output.hallucinated
    for name, ours in (("movie_strip", output.movie_strip), ("theta", prediction.theta),
                       ("past_pose", prediction.past_pose), ("future_pose", prediction.future_pose),
                       ("hallucinated_strip", output.hallucinated_strip),
                       ("hallucinated_theta", hallucinated.theta),
                       ("hallucinated_past_pose", hallucinated.past_pose),
                       ("hallucinated_future_pose", hallucinated.future_pose)):
        np.testing.assert_allclose(ours.numpy(), tf_outputs[f"hmmr_{name}"], rtol=0, atol=ATOL, err_msg=name)


def test_hmr_checkpoint_given_for_the_model_is_refused_with_a_hint(tmp_path):
    result = CliRunner().invoke(convert_cli, ["hmmr", str(DATA / "tiny_hmr.ckpt"), "--out", str(tmp_path / "x.pt")])
    assert result.exit_code == 2 and "convert its image encoder with `hmmr-convert-checkpoint hmr`" in result.output
