"""`hmmr-convert-checkpoint`: the authors' TensorFlow checkpoints -> torch weights, without TensorFlow."""
from __future__ import annotations

import logging
from pathlib import Path

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
log = logging.getLogger("hmmr.convert")


class BadCheckpoint(click.ClickException):
    """A checkpoint that cannot be read or converted: bad input, exit code 2."""

    exit_code = 2


def _checkpoint_errors(function):
    import functools

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from checkpoints.errors import CheckpointError

        try:
            return function(*args, **kwargs)
        except CheckpointError as e:
            raise BadCheckpoint(str(e)) from e

    return wrapper


@click.group(context_settings=CONTEXT)
def main():
    """Convert the HMMR authors' TensorFlow V2 checkpoints (PREFIX.index + PREFIX.data-*) to torch.

    \b
    hmmr-convert-checkpoint hmr models/hmr_noS5.ckpt-642561 --out models/hmr_encoder.pt
    hmmr-convert-checkpoint hmmr models/hmmr_model.ckpt-1119816 --out models/hmmr_released.pt
    hmmr-convert-checkpoint list models/hmmr_model.ckpt-1119816      # variables, dtypes, shapes

    CHECKPOINT is the prefix TensorFlow's Saver takes (or its .index file). Every tensor read is checked
    against its crc32c. The files written hold plain tensors, loadable with torch.load(weights_only=True).
    """


@main.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The torch file to write.")
@click.option("--scope", default="resnet_v2_50", show_default=True,
              help="The variable scope of the ResNet v2 in the checkpoint.")
@_checkpoint_errors
def hmr(checkpoint, out, scope):
    """HMR's image encoder (TF-slim ResNet-v2-50, e.g. hmr_noS5.ckpt-642561) -> the weights of
    `hmmr-train features --encoder hmr`. Only the encoder is taken; HMR's regressor and the optimizer's
    state are left. TF-slim's ImageNet resnet_v2_50.ckpt converts too (its classifier is left)."""
    from checkpoints.convert import save_weights
    from checkpoints.hmr import convert_hmr_encoder

    payload = convert_hmr_encoder(checkpoint, scope)
    save_weights(payload, Path(out))
    config = payload["config"]
    n_values = sum(t.numel() for t in payload["state_dict"].values())
    click.echo(f"{out}: {scope} with units {config['units']}, bottlenecks {config['base_depths']} "
               f"({len(payload['state_dict'])} tensors, {n_values:,} values), from {payload['source']}")


@main.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The torch checkpoint to write.")
@click.option("--groups", default=32, show_default=True,
              help="Group-norm groups of the temporal encoder (not stored in the checkpoint; the release used 32).")
@_checkpoint_errors
def hmmr(checkpoint, out, groups):
    """The released HMMR model (hmmr_model.ckpt-1119816: temporal encoder, hallucinator, IEF and delta
    regressors, learned mean) -> a checkpoint `hmmr-predict --checkpoint` reads. Its image encoder is
    HMR's: convert hmr_noS5 with `hmmr-convert-checkpoint hmr` and predict with --encoder hmr."""
    from checkpoints.convert import save_weights
    from checkpoints.hmmr import convert_released_hmmr

    payload = convert_released_hmmr(checkpoint, groups)
    save_weights(payload, Path(out))
    config = payload["config"]["model"]
    click.echo(f"{out}: HMMR with {config['n_blocks']} temporal blocks of {config['width']} channels, "
               f"IEF width {config['regressor_width']} ({len(payload['model'])} tensors), from {payload['source']}")


@main.command("list", context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--contains", default="", help="Only variables whose name contains this text.")
@_checkpoint_errors
def list_variables(checkpoint, contains):
    """Every variable of CHECKPOINT with its dtype and shape (no TensorFlow needed)."""
    from checkpoints.tf_checkpoint import NUMPY_DTYPES, TFCheckpoint

    reader = TFCheckpoint(checkpoint)
    for name in reader.names():
        if contains in name:
            entry = reader.entry(name)
            dtype = NUMPY_DTYPES.get(entry.dtype_code)
            click.echo(f"{name}\t{dtype.__name__ if dtype else f'dtype {entry.dtype_code}'}\t{list(entry.shape)}")


if __name__ == "__main__":
    main()
