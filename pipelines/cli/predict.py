"""`hmmr-predict`: SMPL parameters per frame of a tube, from a trained checkpoint."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli.common import dataset_root, friendly_errors, root_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("tube_id")
@root_option
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--out", default=None, help="npz to write [default: <tube_id>.npz].")
@friendly_errors
def main(tube_id, root, checkpoint, out):
    """Predict per-frame SMPL (camera, pose, shape) for TUBE_ID with the temporal encoder, and each frame's
    past/present/future pose from that frame alone (the hallucinator). Writes an npz.

    A raw video goes through `hmmr-harvest --urls`, `hmmr-pseudolabel run` and `hmmr-train features` first:
    its tubes are then in the manifests (`manifests.read_table(root, manifests.TUBES)` lists them).
    """
    import numpy as np

    from train.predict import load_model, predict_tube, tube_features

    try:
        features = tube_features(dataset_root(root), tube_id)
    except KeyError as e:
        raise click.ClickException(str(e.args[0])) from e
    arrays = predict_tube(load_model(Path(checkpoint)), features)
    target = Path(out or f"{tube_id}.npz")
    np.savez(target, **arrays)
    click.echo(f"{target}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
