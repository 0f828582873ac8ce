"""The released HMMR model (`hmmr_model.ckpt-1119816`) -> our HMMR (train/model.py), through one table.

The released variable scopes (src/models.py, src/trainer_sequence_fc.py), at the top level:
  mean_param                                     (1, 85): the learned IEF start [camera, pose, shape]
  AZ_FC_block_preact_gn{1,2}block_{i}/{gamma,beta}   group norms of temporal block i (contrib group_norm:
                                                 32 groups, epsilon 1e-6, statistics over time x group)
  AZ_FC_block2_conv{1,2}block_{i}/{weights,biases}   temporal convs, kernel (3, 1, 2048, 2048), 'SAME'
  fc2_res/fc{1,2,3}/{weights,biases}             the hallucinator: fc1, fc2 with ReLU, fc3 linear, + input
  single_view_ief/3D_module/fc{1,2,3}/...        IEF on [phi (2048), theta (85)] -> 1024 -> 1024 -> 85
  single_view_ief_{past,future}5/3D_module/...   delta regressors on [phi, pose (72)] -> 72, started
                                                 from the present theta's pose
The checkpoint holds no image encoder (the released code restores it from hmr_noS5.ckpt-642561), and
also holds the discriminators (D_*), the step and Adam's slots, which are not read. The same IEF and
delta weights serve the temporal strip and the hallucinated one.

The right-hand column is train/model.py's parameter names. Where our model departs from the released
architecture, conversion stops and names every parameter that has no counterpart.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from checkpoints.convert import WeightRow, conv1d_kernel, convert_weights, dense_kernel, row_vector
from checkpoints.errors import CheckpointError
from checkpoints.tf_checkpoint import TFCheckpoint
from train.checkpoint import RELEASED_FORMAT

RELEASED_GROUPS = 32  # tf.contrib.layers.group_norm's default; the checkpoint does not store it
_REGRESSORS = (("single_view_ief", "regressor"), ("single_view_ief_past5", "past"), ("single_view_ief_future5", "future"))


def _dense(variable_scope: str, module: str) -> list[WeightRow]:
    return [WeightRow(f"{variable_scope}/weights", f"{module}.weight", dense_kernel),
            WeightRow(f"{variable_scope}/biases", f"{module}.bias")]


def hmmr_table(n_blocks: int = 3) -> list[WeightRow]:
    """Released variable -> train/model.py parameter, for a temporal encoder of `n_blocks` blocks."""
    rows = [WeightRow("mean_param", "mean_theta", row_vector)]
    for i in range(n_blocks):
        block, module = f"block_{i}", f"encoder.blocks.{i}"
        for norm, conv, index in (("gn1", "conv1", 1), ("gn2", "conv2", 2)):
            rows += [WeightRow(f"AZ_FC_block_preact_{norm}{block}/gamma", f"{module}.norm{index}.weight"),
                     WeightRow(f"AZ_FC_block_preact_{norm}{block}/beta", f"{module}.norm{index}.bias"),
                     WeightRow(f"AZ_FC_block2_{conv}{block}/weights", f"{module}.conv{index}.weight", conv1d_kernel),
                     WeightRow(f"AZ_FC_block2_{conv}{block}/biases", f"{module}.conv{index}.bias")]
    for layer in ("fc1", "fc2", "fc3"):  # the hallucinator; its skip adds the input
        rows += _dense(f"fc2_res/{layer}", f"hallucinator.{layer}")
    for scope, module in _REGRESSORS:
        for layer in ("fc1", "fc2", "fc3"):
            rows += _dense(f"{scope}/3D_module/{layer}", f"{module}.{layer}")
    return rows


def released_model_config(checkpoint: TFCheckpoint, groups: int = RELEASED_GROUPS) -> dict[str, Any]:
    """ModelConfig's fields for the released model, widths read off the checkpoint's shapes."""
    from train.model import ModelConfig

    first_conv = "AZ_FC_block2_conv1block_0/weights"
    if first_conv not in checkpoint or "single_view_ief/3D_module/fc1/weights" not in checkpoint:
        scopes = sorted({name.split("/", 1)[0] for name in checkpoint.names()})
        hint = (" This looks like HMR's checkpoint: convert its image encoder with `hmmr-convert-checkpoint hmr`."
                if any(s.startswith("resnet_v2") for s in scopes) else "")
        raise CheckpointError(f"{checkpoint.prefix}: not the released HMMR model (no {first_conv} or "
                              f"single_view_ief); its top-level scopes are {scopes[:8]}.{hint}")
    kernel = checkpoint.entry(first_conv).shape  # (3, 1, in, out)
    n_blocks = 0
    while f"AZ_FC_block2_conv1block_{n_blocks}/weights" in checkpoint:
        n_blocks += 1
    config = ModelConfig(feature_dim=kernel[2], width=kernel[3], groups=groups, n_blocks=n_blocks,
                         regressor_width=checkpoint.entry("single_view_ief/3D_module/fc1/weights").shape[1])
    return asdict(config)


def convert_released_hmmr(path: str | Path, groups: int = RELEASED_GROUPS) -> dict[str, Any]:
    """A file `hmmr-predict --checkpoint` and `hmmr-train eval` read (train.checkpoint.load_model):
    {"config": {"model": ModelConfig fields}, "model": state dict}, plus format tags and provenance; plain
    types only."""
    from train.model import HMMR, ModelConfig

    checkpoint = TFCheckpoint(path)
    model_config = released_model_config(checkpoint, groups)
    target = HMMR(ModelConfig(**model_config))
    state = convert_weights(checkpoint, hmmr_table(model_config["n_blocks"]), target)
    return {"format": RELEASED_FORMAT, "format_version": 1, "config": {"model": model_config}, "model": state,
            "source": checkpoint.prefix.name}
