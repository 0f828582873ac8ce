"""`hmmr-import tracks|tfrecords` (registered on the `hmmr-import` group in import_datasets.py) and `hmmr-export`:
the HMMR authors' tracks and tfrecords into a dataset root, and back out."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli.common import (cluster_config, cluster_options, dataset_root, exit_codes, report, root_option,
                                  runner_config, runner_options, setup_logging)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.command("tracks", context_settings=CONTEXT)
@click.argument("tracks_dir", type=click.Path(exists=True, file_okay=False))
@root_option
@cluster_options
@runner_options
@exit_codes
def import_tracks_command(tracks_dir, root, address, n_workers, threads_per_worker, retry_failed, limit, lock_wait,
                          flush_every, no_progress, verbose):
    """Import InstaVariety_tracks/<tag>/<video>/<track>/*.json as the detections and tracks of their videos.

    \b
    A video folder is matched to our video through the `sources` table, which `hmmr-harvest --instavariety
    InstaVariety.json` fills ('download_tag/video_name' -> instagram-<shortcode>); only harvested videos are
    imported (the others are counted and named in the log: re-run after harvesting them). Joint names map
    to BODY_25 by name, OpenPose's score is the confidence, each track folder keeps its number as the track
    id. Afterwards `hmmr-pseudolabel run` never re-detects these videos and cuts their tubes from exactly
    these tracks (HMMR's rules), without linking them again.
    """
    from pipelines.authors_import import import_tracks
    from pipelines.cluster import connect

    setup_logging(verbose)
    root_path = dataset_root(root)
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats, plan = import_tracks(client, root_path, Path(tracks_dir),
                                    runner_config(retry_failed, limit, lock_wait, flush_every, no_progress))
    click.echo(f"{len(plan.units)} video folders match harvested videos; {len(plan.unknown)} are named by no recorded "
               f"list; {len(plan.not_harvested)} name videos not harvested")
    report([stats])


@click.command("tfrecords", context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@root_option
@click.option("--dataset", default=None, help="Dataset name [default: the folder above the split folder, as in "
                                              "the authors' <rootdir>/<dataset>/<split>/*.tfrecord].")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Split of every tube [default: the file's folder name: train/ or test/].")
@click.option("--fps", type=float, default=30.0, show_default=True,
              help="Frame rate recorded for the crops (the tfrecords store none).")
@click.option("--extractor", default="hmr_noS5.ckpt-642561", show_default=True,
              help="Name under which image/phis enter the features table.")
@cluster_options
@runner_options
@exit_codes
def import_tfrecords_command(inputs, root, dataset, split, fps, extractor, address, n_workers, threads_per_worker,
                             retry_failed, limit, lock_wait, flush_every, no_progress, verbose):
    """Import the authors' tfrecords (files, or folders searched for *.tfrecord) as a dataset.

    \b
    Each tube (one record) becomes: a stand-in video of its JPEG crops, muxed unchanged
    (media/<id>.avi, frames 224x224), a `tubes` row (keypoints in the crops' pixels, box = the whole
    crop), a `targets` row (HMMR's 25 joints, and 3D joints / SMPL where the file has them) and, when the
    file has image/phis, view 0 of `features` under --extractor. Copies of a training shard (_copy00,
    _copy01, ...) are differently augmented and mirrored crops, so each is a tube of its own.
    Train on them: hmmr-train --datasets insta_variety ...
    """
    from authors.tfrecord_import import TfrecordImportConfig
    from pipelines.authors_import import import_tfrecords
    from pipelines.cluster import connect

    setup_logging(verbose)
    config = TfrecordImportConfig(fps=fps, extractor=extractor)
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = import_tfrecords(client, dataset_root(root), [Path(p) for p in inputs], dataset, split, config,
                                 runner_config(retry_failed, limit, lock_wait, flush_every, no_progress))
    report([stats])


@click.group(context_settings=CONTEXT)
def export_main() -> None:
    """Export a dataset root's tubes in the HMMR authors' formats."""


@export_main.command("tfrecords", context_settings=CONTEXT)
@click.argument("out_dir", type=click.Path(file_okay=False))
@root_option
@click.option("--datasets", default="", help="Comma-separated datasets [default: all].")
@click.option("--splits", default="", help="Comma-separated splits [default: all].")
@click.option("--views", default=1, show_default=True,
              help="Copies per shard: copy k holds feature view k (view 0 = the tube's own crops).")
@click.option("--tubes-per-file", default=50, show_default=True, help="Tubes per tfrecord file (the authors' 50).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="Log what it does.")
@exit_codes
def export_tfrecords_command(out_dir, root, datasets, splits, views, tubes_per_file, no_progress, verbose):
    """Write tubes as OUT_DIR/<dataset>/<split>/<dataset>_NN_copyKK.tfrecord, the layout of the authors'
    training tfrecords with precomputed features.

    \b
    Per frame: the view's 224x224 crop as JPEG, HMMR's 25 joints normalised to the crop (unseen = 0,
    visible at OpenPose score 0.1), the features as image/phis (when the tube has them), SMPL and 3D joints
    from `targets`. Tubes imported from tfrecords are written back as they came (same crop bytes).
    Their trainer then reads them: python -m src.main --data_dir OUT_DIR --datasets <dataset> --precomputed_phi
    """
    from pipelines.authors_import import export_tfrecords

    setup_logging(verbose)
    split_names = tuple(s for s in splits.split(",") if s)
    written = export_tfrecords(dataset_root(root), Path(out_dir), tuple(d for d in datasets.split(",") if d),
                               split_names, views=views, tubes_per_file=tubes_per_file, progress=not no_progress)
    click.echo(f"wrote {len(written)} tfrecord files under {out_dir}")


if __name__ == "__main__":
    export_main()
