"""`hmmr-pseudolabel`: 2D pose, shot cuts and tracks for every harvested video of a dataset root."""
from __future__ import annotations

import click

from pipelines.cli.common import (BadInput, cluster_config, cluster_options, dataset_root, exit_codes, pose_config,
                                  pose_options, report, root_option, runner_config, runner_options, setup_logging)
from pipelines.cli.tracking_flags import tracking_config, tracking_options

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT)
def main() -> None:
    """Pseudo-label harvested videos: decode -> shot cuts -> 2D pose (BODY_25) -> tracks -> tubes.

    \b
    hmmr-pseudolabel run                     # embedded CPU pose model on a local Dask cluster
    hmmr-pseudolabel run --backend openpose --openpose-model-folder ~/openpose/models --cluster tcp://head:8786
    hmmr-pseudolabel status                  # ok / failed / skipped per stage, and the last failures
    """


@main.command(context_settings=CONTEXT)
@root_option
@pose_options
@tracking_options
@click.option("--datasets", default="", help="Only videos of these datasets (comma-separated) [default: all].")
@cluster_options
@runner_options
@exit_codes
def run(root, backend, openpose_model_folder, openpose_python_path, net_resolution, openpose_params, tile_px, fps,
        max_side_px, batch_frames, tracker_settings, tube_settings, datasets, address, n_workers, threads_per_worker,
        retry_failed, limit, lock_wait, flush_every, no_progress, verbose):
    """Pose, cut and track every harvested video of ROOT that is not done yet.

    Incremental: a second run does nothing; a new backend (or its options, or --fps) makes every video due
    again, and a new --tracker or --tube setting makes every video due for tracking. GPU stages run only
    on workers started with `--resources GPU=1`; a local cluster declares it on its CPU workers.
    """
    from pipelines.cluster import connect
    from pipelines.pseudolabel import pseudolabel

    setup_logging(verbose)
    pose = pose_config(backend, openpose_model_folder, openpose_python_path, net_resolution, openpose_params, tile_px,
                       fps, max_side_px, batch_frames, local=not address)
    tracking = tracking_config(tracker_settings, tube_settings)
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = pseudolabel(client, dataset_root(root), pose,
                            runner_config(retry_failed, limit, lock_wait, flush_every, no_progress),
                            datasets=tuple(d for d in datasets.split(",") if d), tracking=tracking)
    report(stats)


@main.command(context_settings=CONTEXT)
@root_option
@click.option("--failures", default=5, show_default=True, help="How many recent failures to show per stage.")
@exit_codes
def status(root, failures):
    """Counts of ok / failed / skipped units per stage (harvest's stages included), the reasons for skips
    and failures with their counts, and the latest failures with their messages."""
    from manifests import latest_status, stages_with_status
    from manifests.status import first_line
    from manifests.store import failed_units
    from pipelines.cli.common import reason_counts

    dataset = dataset_root(root)
    stages = stages_with_status(dataset)
    if not stages:
        raise BadInput(f"{dataset.path} has no stage status yet: run hmmr-harvest first")
    for stage in stages:
        latest = latest_status(dataset, stage)
        counts = latest["status"].value_counts().to_dict()
        versions = ", ".join(sorted(latest["version"].unique()))
        click.echo(f"{stage:10s} ok {counts.get('ok', 0):6d}   failed {counts.get('failed', 0):5d}   "
                   f"skipped {counts.get('skipped', 0):5d}   (versions: {versions})")
        for kind in ("skipped", "failed"):
            reasons = latest.loc[latest["status"] == kind, "reason"].fillna("?").value_counts().to_dict()
            if reasons:
                click.echo(f"    {kind}: {reason_counts(reasons)}")
        for unit, row in failed_units(dataset, stage, limit=failures).iterrows():
            click.echo(f"    {unit}: {row['reason']}: {first_line(row['message'])[:200]}")


@main.command("report", context_settings=CONTEXT)
@root_option
@click.option("--out", "out_dir", default=None, help="Folder for index.html and its PNGs [default: ROOT/report].")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Add a Predictions section: this model's meshes on a still of each sampled tube with features.")
@click.option("--smpl-model-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="The SMPL model folder the checkpoint was trained with (needed by --checkpoint).")
@click.option("--label", default="", help="Text written on every prediction still (e.g. what the weights are).")
@exit_codes
def report_command(root, out_dir, checkpoint, smpl_model_dir, label):
    """A static HTML report with plots: videos, hours, tubes and frames per dataset and query, tube length
    and quality, failures by reason, sample frames with skeletons, track ids and tube boxes, and with
    --checkpoint the model's predictions drawn on sampled tubes."""
    from pathlib import Path

    from manifests import DETECTIONS, TRACKS, TUBES, VIDEOS, latest_status, read_table, stages_with_status
    from pipelines.report import ReportInputs, write_report

    dataset = dataset_root(root)
    videos = read_table(dataset, VIDEOS)
    if videos.empty:
        raise BadInput(f"{dataset.path} has no videos yet: run hmmr-harvest first")
    stages = stages_with_status(dataset)
    inputs = ReportInputs(videos=videos, tubes=read_table(dataset, TUBES), detections=read_table(dataset, DETECTIONS),
                          tracks=read_table(dataset, TRACKS), status={s: latest_status(dataset, s) for s in stages},
                          root=dataset.path)
    if checkpoint and not smpl_model_dir:
        raise click.UsageError("--checkpoint needs --smpl-model-dir")
    out = Path(out_dir) if out_dir else dataset.path / "report"
    predictions = []
    if checkpoint:
        from pipelines.visualise import prediction_stills

        out.mkdir(parents=True, exist_ok=True)
        predictions = prediction_stills(dataset, inputs.tubes, Path(checkpoint), Path(smpl_model_dir), out, label=label)
        if not predictions:
            click.echo("no tube has features yet (`hmmr-train features`): the report has no Predictions section")
    page = write_report(inputs, out, predictions)
    click.echo(f"report: {page}")


@main.command(context_settings=CONTEXT)
@click.argument("video_id")
@root_option
@click.option("--out", default=None, help="mp4 to write [default: ROOT/show/<video_id>.mp4].")
@exit_codes
def show(video_id, root, out):
    """An mp4 of VIDEO_ID with every skeleton drawn and coloured by its track id."""
    from pathlib import Path

    from manifests import DETECTIONS, SHOTS, TRACKS, VIDEOS, read_table
    from pseudolabel.show import render_tracks

    dataset = dataset_root(root)
    videos = read_table(dataset, VIDEOS, units=[video_id])
    if videos.empty:
        known = read_table(dataset, VIDEOS, columns=["video_id"])["video_id"].head(5).tolist()
        raise BadInput(f"no video {video_id!r} in {dataset.path}; some that exist: {known}")
    shots = read_table(dataset, SHOTS, units=[video_id])
    if shots.empty:
        raise BadInput(f"{video_id} has no pose yet: run `hmmr-pseudolabel run` first")
    detections = read_table(dataset, DETECTIONS, columns=["video_id", "frame", "person", "keypoints"], units=[video_id])
    tracks = read_table(dataset, TRACKS, columns=["frame", "person", "track_id"], units=[video_id])
    detections = detections.merge(tracks, on=["frame", "person"], how="left").fillna({"track_id": -1})
    target = Path(out) if out else dataset.path / "show" / f"{video_id}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    n_frames = render_tracks(dataset.path / videos.iloc[0]["media_path"], float(shots.iloc[0]["fps"]), detections, target)
    click.echo(f"{target}: {n_frames} frames")


if __name__ == "__main__":
    main()
