"""`make demo`: the whole pipeline on a fresh machine, with no Internet.

A loopback site serves tag pages over the committed clips of real pedestrians (tests/data, cut from
OpenCV's vtest.avi). The demo runs the real commands a user runs, against that site:
  1. hmmr-harvest --hashtags <first tags file>    -> media/ + videos
  2. hmmr-pseudolabel run                          -> shots, detections (embedded BlazePose), tracks, tubes
  3. hmmr-train features                           -> features (ResNet-50; random init: no weights here)
  4. a second tags file with one more tag, and the commands again: only the new videos are done;
  5. a short hmmr-train run on all tubes, with an SMPL-format model the demo makes (not the real SMPL,
     which needs a licence: the log says so), to show the trainer runs end to end;
  6. hmmr-predict on the longest tube with --render: an mp4 of its mesh over the video (and a side view),
     and the dataset report with a still of the model's meshes per sampled tube. Random weights and a
     mannequin: the images say so.
It ends by printing where everything is and what each stage did.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click

from testing.loopback import Site, serve
from manifests import DETECTIONS, FEATURES, TRACKS, TUBES, VIDEOS, DatasetRoot, read_table

CLIPS = Path(__file__).resolve().parents[1] / "tests" / "data"
TAGS = {"walking": ["people_a.mp4", "people_b.mp4"], "crossing": ["angle_zoom.mp4", "people_c.mp4"]}


def _run(command: list[str]) -> None:
    click.secho("$ " + " ".join(command), fg="cyan")
    started = time.perf_counter()
    result = subprocess.run(command)
    click.echo(f"  ({time.perf_counter() - started:.1f} s)")
    if result.returncode != 0:
        raise click.ClickException(f"{command[0]} exited with {result.returncode}")


def _stage_summaries(root: DatasetRoot, since: float) -> list[str]:
    lines = []
    for stats_file in sorted(root.runs_dir.glob("*/stats.json")):
        if stats_file.stat().st_mtime < since:
            continue
        stats = json.loads(stats_file.read_text())
        lines.append(f"  {stats['stage']:10s} did {stats['n_ok'] + stats['n_failed'] + stats['n_skipped']:3d} units "
                     f"({stats['n_ok']} ok, {stats['n_failed']} failed, {stats['n_skipped']} skipped), "
                     f"{stats['n_already_done']} already done")
    return lines


@click.command()
@click.option("--root", default="demo-data", show_default=True, type=click.Path(file_okay=False))
@click.option("--workers", default=2, show_default=True)
def main(root: str, workers: int) -> None:
    """Run the demo into ROOT (re-running it is incremental: nothing new, nothing done)."""
    dataset = DatasetRoot(Path(root))
    dataset.path.mkdir(parents=True, exist_ok=True)
    site = Site(media={name: CLIPS / name for names in TAGS.values() for name in names}, tags=TAGS)
    first, second = dataset.path / "demo_tags_1.txt", dataset.path / "demo_tags_2.txt"
    first.write_text("# the first harvest\n#walking\n")
    second.write_text("# a week later, one more tag\n#walking\n#crossing\n")
    bin_dir = Path(sys.executable).parent
    with serve(site) as base:
        for round_number, tags in enumerate((first, second), start=1):
            click.secho(f"\n== round {round_number}: {tags.name} ==", bold=True)
            since = time.time()
            _run([str(bin_dir / "hmmr-harvest"), "--root", root, "--hashtags", str(tags), "--source-template",
                  f"{base}/tags/{{tag}}/", "--workers", str(workers), "--no-progress"])
            _run([str(bin_dir / "hmmr-pseudolabel"), "run", "--root", root, "--workers", str(workers)])
            # One jittered view per tube (the default is two) keeps the demo's CPU feature pass short.
            _run([str(bin_dir / "hmmr-train"), "features", "--root", root, "--jitter-views", "1", "--workers",
                  str(workers), "--no-progress"])
            click.echo("\n".join(_stage_summaries(dataset, since)))

    click.secho("\n== a short training run ==", bold=True)
    smpl_dir = dataset.path / "demo-smpl"
    if not (smpl_dir / "SMPL_NEUTRAL.pkl").is_file():
        from train.body import write_test_smpl

        write_test_smpl(smpl_dir / "SMPL_NEUTRAL.pkl")
        click.echo(f"  wrote an SMPL-FORMAT TEST MODEL (random values, not SMPL) to {smpl_dir}: get the real one "
                   f"from smpl.is.tue.mpg.de")
    _run([str(bin_dir / "hmmr-train"), "--root", root, "--datasets", "insta", "--smpl-model-dir", str(smpl_dir),
          "--out", str(dataset.path / "runs" / "demo-train"), "--steps", "20", "--batch-size", "2", "--window", "12",
          "--width", "64", "--no-adversarial"])

    click.secho("\n== predictions to look at ==", bold=True)
    tubes = read_table(dataset, TUBES)
    label = "make demo: random weights, 20 training steps, a mannequin in SMPL's place"
    checkpoint = dataset.path / "runs" / "demo-train" / "checkpoint.pt"
    tube_id = tubes.sort_values(["n_frames", "tube_id"], ascending=[False, True]).iloc[0]["tube_id"]
    predictions = dataset.path / "predictions"
    predictions.mkdir(exist_ok=True)
    _run([str(bin_dir / "hmmr-predict"), tube_id, "--root", root, "--checkpoint", str(checkpoint), "--smpl-model-dir",
          str(smpl_dir), "--out", str(predictions / f"{tube_id}.npz"), "--render", str(predictions / f"{tube_id}.mp4"),
          "--side-view", "--label", label, "--no-progress"])
    _run([str(bin_dir / "hmmr-pseudolabel"), "report", "--root", root, "--checkpoint", str(checkpoint),
          "--smpl-model-dir", str(smpl_dir), "--label", label])

    videos = read_table(dataset, VIDEOS)
    click.secho("\n== the dataset ==", bold=True)
    click.echo(f"  videos     {len(videos)} ({', '.join(sorted(videos['query'].unique()))}) in {dataset.media_dir}")
    click.echo(f"  detections {len(read_table(dataset, DETECTIONS, columns=['frame']))} people-frames")
    tracks = read_table(dataset, TRACKS, columns=["video_id", "track_id"]).drop_duplicates()
    click.echo(f"  tracks     {(tracks['track_id'] >= 0).sum()}")  # -1: detections no track kept
    click.echo(f"  tubes      {len(tubes)} of {tubes['n_frames'].sum() if len(tubes) else 0} frames")
    click.echo(f"  tables     {dataset.manifests_dir}/<table>/part-*.parquet (pandas.read_parquet reads them)")
    click.echo(f"  runs       {dataset.runs_dir}/<run_id>/config.json, stats.json, log")
    click.echo("  status     hmmr-pseudolabel status --root " + root)
    features = read_table(dataset, FEATURES, columns=["tube_id", "view"])
    click.echo(f"  features   {features['tube_id'].nunique()} tubes x {features['view'].nunique()} views "
               f"(the tube's own crop and jittered ones; random-init ResNet-50)")
    click.echo(f"  training   {dataset.path / 'runs' / 'demo-train'}/checkpoint.pt, scalars.jsonl")
    click.echo(f"  rendered   {predictions / f'{tube_id}.mp4'} (the model's mesh over the video, and from the side)")
    click.echo(f"  report     {dataset.path / 'report' / 'index.html'} (its Predictions section: a still per sampled tube)")


if __name__ == "__main__":
    main()
