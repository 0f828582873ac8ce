"""`hmmr-import penn|3dpw|h36m PATH`: published datasets into ROOT's tables, each a dataset of its own.

The subcommands register on the `hmmr-import` group through `register(group)`, so another module's
import commands (the authors' tfrecords, tracks) can join the same group.
"""
from __future__ import annotations

import logging

import click

from pipelines.cli.common import (cluster_config, cluster_options, dataset_root, exit_codes, report, root_option,
                                  runner_config, runner_options, setup_logging)

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
log = logging.getLogger(__name__)


def _common_options(function):
    options = [
        click.argument("source", type=click.Path(exists=True, file_okay=False)),
        root_option,
        click.option("--split", "splits", multiple=True, type=click.Choice(["train", "val", "test"]),
                     help="Import only this split (repeatable) [default: all three]."),
    ]
    for option in reversed(options):
        function = option(function)
    return cluster_options(runner_options(function))


def _run(kind: str, source: str, root: str, dataset: str, splits: tuple[str, ...], address, n_workers,
         threads_per_worker, retry_failed, limit, lock_wait, flush_every, no_progress, verbose, **settings) -> None:
    from pipelines.cluster import connect
    from pipelines.imports import ImportConfig, import_dataset

    setup_logging(verbose)
    config = ImportConfig(kind=kind, source=source, dataset=dataset, **({"splits": splits} if splits else {}), **settings)
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = import_dataset(client, dataset_root(root), config,
                               runner_config(retry_failed, limit, lock_wait, flush_every, no_progress))
    report([stats])
    click.echo(f"next: hmmr-train features --root {root}   (then: hmmr-train eval --root {root} --datasets {dataset})")


@click.command("penn", context_settings=CONTEXT)
@_common_options
@click.option("--dataset", default="penn", show_default=True, help="Name of the dataset in the tables.")
@click.option("--fps", default=30.0, show_default=True, help="Frame rate of the clips (the release does not say).")
@exit_codes
def penn(source, root, splits, dataset, fps, **options):
    """Penn Action: 2,326 sports clips with 13 annotated 2D joints per frame.

    \b
    Get it: https://dreamdragon.github.io/PennAction/ (Penn_Action.tar.gz), unpacked as
      SOURCE/frames/0001/000001.jpg ...   SOURCE/labels/0001.mat ...
    Splits as the released HMMR code made them: train = the clips the labels flag train; of the rest,
    every 10th (by name) val, the others test. Each clip's JPEGs become one MJPEG video under ROOT/media
    (copied byte for byte: about the size of the frames), with one tube and its 2D targets.
    """
    _run("penn", source, root, dataset, splits, fps=fps, **options)


@click.command("3dpw", context_settings=CONTEXT)
@_common_options
@click.option("--dataset", default="3dpw", show_default=True, help="Name of the dataset in the tables.")
@click.option("--smpl-model-dir", type=click.Path(exists=True), default=None,
              help="Folder with the male and female SMPL models (SMPL_MALE.pkl / SMPL_FEMALE.pkl or the official "
                   "basicmodel_m/f files): the 3D joints come from them. Without it: no 3D joints, so no MPJPE.")
@exit_codes
def threedpw(source, root, splits, dataset, smpl_model_dir, **options):
    """3DPW: 60 outdoor sequences with IMU-fitted SMPL bodies for one or two people.

    \b
    Get it: https://virtualhumans.mpi-inf.mpg.de/3DPW/ (imageFiles.zip, sequenceFiles.zip), unpacked as
      SOURCE/imageFiles/<seq>/image_00000.jpg ...
      SOURCE/sequenceFiles/{train,validation,test}/<seq>.pkl   (validation -> our val split)
    Each person is a tube with 2D keypoints (its OpenPose detections, score > 0.1), SMPL pose (global
    orientation in camera axes) and betas, and 3D joints in camera axes from the gendered SMPL model
    (NaN where the camera pose is not valid). The pickles are read with an unpickler that allows numpy
    arrays only. The paper evaluates on the test split: hmmr-import 3dpw SOURCE --split test ...
    """
    if not smpl_model_dir:
        log.warning("no --smpl-model-dir: 3DPW tubes get no 3D joints, so eval cannot report MPJPE on them")
    _run("3dpw", source, root, dataset, splits, smpl_model_dir=smpl_model_dir, **options)


@click.command("h36m", context_settings=CONTEXT)
@_common_options
@click.option("--dataset", default="h36m", show_default=True, help="Name of the dataset in the tables.")
@click.option("--test-camera", "test_cameras", multiple=True, default=("60457274",), show_default=True,
              help="Cameras of the test split (the paper evaluates one; repeatable).")
@exit_codes
def h36m(source, root, splits, dataset, test_cameras, **options):
    """Human3.6M: motion capture of 7 subjects in 4 cameras, 3D joints and their 2D projections.

    \b
    Get it: http://vision.imar.ro/human3.6m/ (per subject: Videos, D2 Positions, D3 Positions mono),
    unpacked as
      SOURCE/S1/Videos/Directions 1.54138969.mp4 ...
      SOURCE/S1/MyPoseFeatures/D2_Positions/Directions 1.54138969.cdf
      SOURCE/S1/MyPoseFeatures/D3_Positions_mono/Directions 1.54138969.cdf
    As the paper: 25 fps (every second frame), the 14 LSP joints; S1, S6, S7, S8 train, S5 val, S9 and S11
    test (camera 60457274 only). Videos are linked into ROOT/media, not copied. No SMPL parameters.
    """
    _run("h36m", source, root, dataset, splits, test_cameras=tuple(test_cameras), **options)


@click.group(context_settings=CONTEXT)
def main():
    """Import published datasets into ROOT's tables, each as a dataset with its own split.

    \b
    The paper's 3D and 2D benchmarks:
      hmmr-import penn /data/Penn_Action --root data
      hmmr-import 3dpw /data/3DPW --root data --split test --smpl-model-dir models/smpl
      hmmr-import h36m /data/human36m --root data
      hmmr-train features --root data          # features of the imported tubes, like ours
      hmmr-train eval --root data --checkpoint runs/hmmr/checkpoint.pt --datasets 3dpw,h36m,penn --split test
    What the HMMR authors published (akanazawa/human_dynamics):
      hmmr-harvest --instavariety InstaVariety.json --split-list insta_variety_train.txt \\
                   --split-list insta_variety_test.txt --cookies cookies.txt --root data
      hmmr-import tracks InstaVariety_tracks --root data     # their OpenPose tracks, not ours
      hmmr-pseudolabel run --root data                        # cuts tubes from those tracks; poses nothing
      hmmr-train features --root data
    Or train on their preprocessed tubes directly:
      hmmr-import tfrecords tf_datasets/insta_variety --root data
    """


def register(group: click.Group) -> None:
    from pipelines.cli.authors import import_tfrecords_command, import_tracks_command

    for command in (penn, threedpw, h36m, import_tracks_command, import_tfrecords_command):
        group.add_command(command)


register(main)

if __name__ == "__main__":
    main()
