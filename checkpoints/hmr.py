"""HMR's `hmr_noS5.ckpt-642561` (TF-slim resnet_v2_50 under the scope `resnet_v2_50`) -> our ResNetV2.

Variable names, per unit `SCOPE/blockB/unit_U/bottleneck_v2/`:
  preact/{gamma,beta,moving_mean,moving_variance}      BatchNorm of the unit's input
  shortcut/{weights,biases}                            only where the width changes (unit_1 of each block)
  conv1/weights, conv1/BatchNorm/{gamma,beta,moving_mean,moving_variance}
  conv2/weights, conv2/BatchNorm/{...}
  conv3/{weights,biases}
and `SCOPE/conv1/{weights,biases}` (stem), `SCOPE/postnorm/{...}`. The checkpoint also holds HMR's
regressor (`3D_module/...`, `mean_param`), the step counter and optimizer slots: not read here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from checkpoints.convert import WeightRow, conv2d_kernel, convert_weights, unused_variables
from checkpoints.errors import CheckpointError
from checkpoints.tf_checkpoint import TFCheckpoint
from train.encoders.hmr import WEIGHTS_FORMAT, WEIGHTS_FORMAT_VERSION, ResNetV2, ResNetV2Config

DEFAULT_SCOPE = "resnet_v2_50"
_BATCH_NORM = (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
               ("moving_variance", "running_var"))


def _unit_scope(scope: str, block: int, unit: int) -> str:
    return f"{scope}/block{block + 1}/unit_{unit + 1}/bottleneck_v2"


def _norm_rows(variable_scope: str, module: str) -> list[WeightRow]:
    return [WeightRow(f"{variable_scope}/{tf_name}", f"{module}.{torch_name}") for tf_name, torch_name in _BATCH_NORM]


def resnet_v2_table(config: ResNetV2Config, scope: str = DEFAULT_SCOPE) -> list[WeightRow]:
    """The conversion table of a TF-slim ResNet v2 of this shape."""
    rows = [WeightRow(f"{scope}/conv1/weights", "conv1.weight", conv2d_kernel),
            WeightRow(f"{scope}/conv1/biases", "conv1.bias")]
    channels = config.root_channels
    for block, (base_depth, n_units) in enumerate(zip(config.base_depths, config.units)):
        for unit in range(n_units):
            tf_unit, torch_unit = _unit_scope(scope, block, unit), f"blocks.{block}.{unit}"
            rows += _norm_rows(f"{tf_unit}/preact", f"{torch_unit}.preact")
            if channels != 4 * base_depth:
                rows += [WeightRow(f"{tf_unit}/shortcut/weights", f"{torch_unit}.shortcut.weight", conv2d_kernel),
                         WeightRow(f"{tf_unit}/shortcut/biases", f"{torch_unit}.shortcut.bias")]
            for conv in ("conv1", "conv2"):
                rows.append(WeightRow(f"{tf_unit}/{conv}/weights", f"{torch_unit}.{conv}.weight", conv2d_kernel))
                rows += _norm_rows(f"{tf_unit}/{conv}/BatchNorm", f"{torch_unit}.{conv}_bn")
            rows += [WeightRow(f"{tf_unit}/conv3/weights", f"{torch_unit}.conv3.weight", conv2d_kernel),
                     WeightRow(f"{tf_unit}/conv3/biases", f"{torch_unit}.conv3.bias")]
            channels = 4 * base_depth
    return rows + _norm_rows(f"{scope}/postnorm", "postnorm")


def resnet_v2_config(checkpoint: TFCheckpoint, scope: str = DEFAULT_SCOPE) -> ResNetV2Config:
    """Widths and unit counts read off the checkpoint's shapes (resnet_v2_50 gives the defaults). Strides
    are not stored: TF-slim's ResNet v2 puts stride 2 on the last unit of every block but the last."""
    stem = f"{scope}/conv1/weights"
    if stem not in checkpoint:
        scopes = sorted({name.split("/", 1)[0] for name in checkpoint.names() if "/" in name})
        hint = (" This looks like the HMMR model, which holds no image encoder: the released code takes the "
                "encoder from hmr_noS5.ckpt-642561." if "single_view_ief" in scopes else "")
        raise CheckpointError(f"{checkpoint.prefix}: no ResNet v2 under the scope {scope!r} (no {stem}); its "
                              f"top-level scopes are {scopes[:8]}{' ...' if len(scopes) > 8 else ''}; pass the "
                              f"right one with --scope.{hint}")
    base_depths, units = [], []
    while f"{_unit_scope(scope, len(units), 0)}/conv1/weights" in checkpoint:
        block = len(units)
        base_depths.append(checkpoint.entry(f"{_unit_scope(scope, block, 0)}/conv1/weights").shape[-1])
        n_units = 1
        while f"{_unit_scope(scope, block, n_units)}/conv1/weights" in checkpoint:
            n_units += 1
        units.append(n_units)
    if not units:
        raise CheckpointError(f"{checkpoint.prefix}: {scope!r} has a stem but no block1/unit_1; not a TF-slim ResNet v2")
    return ResNetV2Config(root_channels=checkpoint.entry(stem).shape[-1], base_depths=tuple(base_depths),
                          units=tuple(units), strides=(2,) * (len(units) - 1) + (1,))


def convert_hmr_encoder(path: str | Path, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
    """The payload of an HMR encoder file: format tags, the architecture, the state dict, provenance."""
    checkpoint = TFCheckpoint(path)
    config = resnet_v2_config(checkpoint, scope)
    table = resnet_v2_table(config, scope)
    # An ImageNet checkpoint (TF-slim's resnet_v2_50.ckpt, which HMR started from) also has a classifier.
    forgotten = unused_variables(checkpoint, table, scope + "/", ignore=("logits/",))
    if forgotten:
        raise CheckpointError(f"{checkpoint.prefix}: {len(forgotten)} variables of {scope} have no place in a "
                              f"ResNet v2 (e.g. {forgotten[:3]}); is it another architecture?")
    state = convert_weights(checkpoint, table, ResNetV2(config))
    return {"format": WEIGHTS_FORMAT, "format_version": WEIGHTS_FORMAT_VERSION, "config": config.to_dict(),
            "state_dict": state, "source": checkpoint.prefix.name, "scope": scope}
