"""HMR's encoder converted from a TF-slim resnet_v2_50 checkpoint reproduces what TensorFlow computed
with it (data/make_tf_fixtures.py), and the features stage runs it by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from checkpoints.convert import WeightRow, convert_weights
from checkpoints.errors import CheckpointError
from checkpoints.hmr import convert_hmr_encoder, resnet_v2_config, resnet_v2_table
from checkpoints.tf_checkpoint import TFCheckpoint
from pipelines.cli.convert import main as convert_cli
from train.encoders import ENCODERS, symmetric_pixels
from train.encoders.hmr import ResNetV2, ResNetV2Config, load_hmr_encoder
from train.features import FeatureConfig, FeatureExtractor

DATA = Path(__file__).parent / "data"
TINY_HMR = DATA / "tiny_hmr.ckpt"
# TensorFlow and torch sum in other orders; measured max |difference| 2.4e-6 on outputs of size ~6.5.
ATOL = 1e-4


@pytest.fixture(scope="module")
def tf_outputs():
    return dict(np.load(DATA / "tf_outputs.npz"))


def run_encoder(model: torch.nn.Module, images_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(images_nhwc).permute(0, 3, 1, 2)).numpy()


def test_the_architecture_is_read_off_the_checkpoint():
    config = resnet_v2_config(TFCheckpoint(TINY_HMR))
    assert config == ResNetV2Config(root_channels=64, base_depths=(4, 4, 8, 8), units=(3, 4, 6, 3), strides=(2, 2, 2, 1))
    assert ResNetV2Config() == ResNetV2Config(64, (64, 128, 256, 512), (3, 4, 6, 3), (2, 2, 2, 1))  # resnet_v2_50


def test_converted_encoder_reproduces_tensorflow_at_even_and_odd_sizes(tmp_path, tf_outputs):
    out = tmp_path / "hmr_encoder.pt"
    result = CliRunner().invoke(convert_cli, ["hmr", str(TINY_HMR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "units [3, 4, 6, 3], bottlenecks [4, 4, 8, 8]" in result.output
    saved = torch.load(out, weights_only=True)  # plain tensors and plain types only
    assert saved["format"] == "hmmr.hmr_encoder" and saved["source"] == "tiny_hmr.ckpt"
    model, version = load_hmr_encoder(out)
    assert version == "hmr-hmr_encoder"
    for size in ("even", "odd"):  # 64x64: TF's SAME max pool pads at the end only; 45x59: odd sizes
        ours = run_encoder(model, tf_outputs[f"hmr_images_{size}"])
        expected = tf_outputs[f"hmr_features_{size}"]
        assert ours.shape == expected.shape == (len(tf_outputs[f"hmr_images_{size}"]), 32)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=ATOL)
        assert np.abs(expected).max() > 1.0  # the comparison is not between near-zero vectors


def test_a_swapped_or_misread_layer_would_be_caught(tf_outputs):
    """The fixture is sensitive: two transposed BatchNorm rows change the output far beyond ATOL."""
    checkpoint = TFCheckpoint(TINY_HMR)
    config = resnet_v2_config(checkpoint)
    table = resnet_v2_table(config)
    model = ResNetV2(config).eval()
    swapped = [WeightRow(row.variable.replace("moving_mean", "beta") if "block3/unit_2" in row.variable and
                         row.variable.endswith("moving_mean") else row.variable, row.parameter, row.layout)
               for row in table]
    model.load_state_dict(convert_weights(checkpoint, swapped, model))
    difference = np.abs(run_encoder(model, tf_outputs["hmr_images_even"]) - tf_outputs["hmr_features_even"]).max()
    assert difference > 100 * ATOL


def test_a_checkpoint_that_does_not_fit_lists_every_problem():
    checkpoint = TFCheckpoint(TINY_HMR)
    config = resnet_v2_config(checkpoint)
    table = resnet_v2_table(config)[2:]  # forget the stem
    table.append(WeightRow("resnet_v2_50/block9/unit_1/bottleneck_v2/conv1/weights", "conv1.weight"))
    with pytest.raises(CheckpointError) as error:
        convert_weights(checkpoint, table, ResNetV2(config))
    message = str(error.value)
    assert "missing variable 'resnet_v2_50/block9/unit_1" in message
    assert "no variable maps to parameter 'conv1.bias'" in message
    with pytest.raises(CheckpointError, match="does not convert"):  # the real widths are not the tiny ones
        convert_weights(checkpoint, resnet_v2_table(ResNetV2Config()), ResNetV2(ResNetV2Config()))


def test_cli_refuses_bad_input_with_exit_code_2(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(convert_cli, ["hmr", str(tmp_path / "hmr_noS5.ckpt-642561"), "--out", str(tmp_path / "x.pt")])
    assert missing.exit_code == 2 and "expected hmr_noS5.ckpt-642561.index" in missing.output
    hmmr = runner.invoke(convert_cli, ["hmr", str(DATA / "tiny_hmmr.ckpt"), "--out", str(tmp_path / "x.pt")])
    assert hmmr.exit_code == 2 and "holds no image encoder" in hmmr.output
    assert not (tmp_path / "x.pt").exists()
    listing = runner.invoke(convert_cli, ["list", str(TINY_HMR), "--contains", "postnorm/gamma"])
    assert listing.exit_code == 0 and listing.output == "resnet_v2_50/postnorm/gamma\tfloat32\t[32]\n"


def test_features_stage_runs_the_hmr_encoder_by_name(tmp_path):
    np.testing.assert_allclose(symmetric_pixels(np.array([[[[0, 255, 128]]]], np.uint8)), [[[[-1.0, 1.0, 1 / 255]]]],
                               atol=1e-6)
    config = FeatureConfig(encoder="hmr", batch_frames=2)
    assert config.version() != FeatureConfig().version() and config.version().startswith("3/hmr:random-init/")
    extract = FeatureExtractor(config)  # random init: full width, 2048-D
    assert (extract.name, extract.version) == ("hmr", "hmr-random-init")
    crops = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    features = extract(crops)
    assert features.shape == (3, 2048) and features.dtype == np.float16 and np.isfinite(features).all()
    assert not np.allclose(features[0], features[1])
    # The tiny test network gives 32-D features: the features table holds 2048-D ones.
    weights = tmp_path / "tiny.pt"
    torch.save(convert_hmr_encoder(TINY_HMR), weights)
    with pytest.raises(ValueError, match="gives 32-D features; the features table holds 2048-D"):
        FeatureExtractor(FeatureConfig(encoder="hmr", weights=str(weights)))
    with pytest.raises(ValueError, match="not an HMR encoder file"):
        torch.save({"conv1.weight": torch.zeros(1)}, weights)
        load_hmr_encoder(weights)
    with pytest.raises(ValueError, match="FeatureConfig.encoder must be one of"):
        FeatureConfig(encoder="vgg")


def test_the_clis_offer_every_registered_encoder():
    from pipelines.cli.predict import main as predict_cli
    from pipelines.cli.train import features

    for command in (features, predict_cli):
        option = next(p for p in command.params if p.name == "encoder")
        assert sorted(option.type.choices) == sorted(ENCODERS)
