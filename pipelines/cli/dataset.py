"""`hmmr-dataset`: keep a growing dataset root fit to publish: take videos down, freeze versions, describe
and export them."""
from __future__ import annotations

from pathlib import Path

import click

from pipelines.cli.common import dataset_root, exit_codes, report, root_option, setup_logging

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
lock_wait_option = click.option("--lock-wait", default=0.0, show_default=True,
                                help="Seconds to wait for another run writing the same root (0 = exit at once).")


@click.group(context_settings=CONTEXT)
def main():
    """Maintain a dataset root: remove videos for good, freeze snapshots, write their card, export them.

    \b
    hmmr-dataset remove --root data --id youtube-abc --reason "creator's request"   # --dry-run first
    hmmr-dataset snapshot v1 --root data          # freeze the live rows (by reference, not a copy)
    hmmr-train --root data --snapshot v1 ...      # trains on exactly v1's tubes, today or in a year
    hmmr-dataset card v1 --root data              # Markdown + JSON: counts, sources, licences, removals
    hmmr-dataset export v1 --root data --out release-v1   # Parquet tables + card + README
    """


@main.command(context_settings=CONTEXT)
@root_option
@click.option("--id", "video_ids", multiple=True, metavar="VIDEO_ID", help="A video id (videos.video_id). Repeatable.")
@click.option("--ids-file", type=click.Path(exists=True, dir_okay=False),
              help="File of video ids, one a line ('# comments' and blank lines ignored).")
@click.option("--uploader", "uploaders", multiple=True, help="Every video of this uploader (videos.uploader). Repeatable.")
@click.option("--query", "queries", multiple=True,
              help="Every video found by this query: '#tag', a list file's name, or a query id ('insta:#dance'). "
                   "Repeatable.")
@click.option("--reason", default="", help="Why (a creator's request, a wrong licence): kept in the tombstone and "
                                           "shown when a later harvest skips the video. Required unless --dry-run.")
@click.option("--dry-run", is_flag=True, help="Only say what would go: videos, rows per table, media files.")
@lock_wait_option
@click.option("-v", "--verbose", is_flag=True)
@exit_codes
def remove(root, video_ids, ids_file, uploaders, queries, reason, dry_run, lock_wait, verbose):
    """Take videos down for good: every row derived from them leaves every table (videos, shots, detections,
    tracks, tubes, features, targets, sources, and their entries), their media files are deleted, and a
    tombstone (id, URLs, reason, time) makes every later run skip them: a harvest that finds them again
    records `skipped: removed` with the reason. Committed like any stage: a crash leaves whole videos
    removed or not, and running the same command again finishes the job.

    \b
    Snapshots taken before keep their other rows and leave the removed ones out too
    (`hmmr-dataset card NAME` lists them under "taken down after this snapshot").
    Old rows stay in the parts superseded on disk, as any superseded row does; the media file does not.

    \b
    hmmr-dataset remove --root data --uploader someone --dry-run
    hmmr-dataset remove --root data --ids-file takedowns.txt --reason "DMCA notice 2026-11-02"
    """
    from pipelines.remove import dry_run as plan_only
    from pipelines.remove import read_id_file, remove_videos, removal_selection
    from pipelines.runner import RunnerConfig

    setup_logging(verbose)
    ids = [*video_ids, *(read_id_file(ids_file) if ids_file else ())]
    selection = removal_selection(ids, uploaders, queries)
    if dry_run:
        click.echo(plan_only(dataset_root(root), selection).summary())
        return
    plan, stats = remove_videos(dataset_root(root), selection, reason,
                                RunnerConfig(lock_wait_s=lock_wait, progress=False))
    click.echo(plan.summary())
    report([stats])


@main.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@root_option
@lock_wait_option
@exit_codes
def snapshot(name, root, lock_wait):
    """Freeze the live rows of every table as snapshot NAME (manifests/_snapshots/NAME: which rows of which
    part files, not a copy), or list the snapshots when NAME is not given.

    \b
    A snapshot never changes: `hmmr-train --snapshot NAME` trains on exactly its tubes however the root
    grows. The one exception is deliberate: videos removed afterwards are left out of it too, and listed.
    """
    from manifests import DatasetLock
    from manifests.snapshot import list_snapshots, removed_since, take_snapshot

    dataset = dataset_root(root)
    if name is None:
        for one in list_snapshots(dataset):
            removed = len(removed_since(dataset, one))
            counts = ", ".join(f"{k} {v}" for k, v in one.n_rows.items() if k in ("videos", "tubes", "features"))
            click.echo(f"{one.name}\t{one.created_at}\t{one.fingerprint}\t{counts}\t{removed} removed since")
        return
    with DatasetLock(dataset.path, owner="hmmr-dataset snapshot", wait_s=lock_wait):
        made = take_snapshot(dataset, name)
    click.echo(f"snapshot {made.name}: " + ", ".join(f"{k} {v}" for k, v in made.n_rows.items() if v)
               + f" (fingerprint {made.fingerprint})")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@root_option
@click.option("--out", "out_dir", default=None, help="Folder for card.md, card.json and plots "
                                                     "[default: ROOT/cards/NAME].")
@exit_codes
def card(name, root, out_dir):
    """The dataset card of snapshot NAME: counts (videos, hours, tubes, frames) per dataset and split, sources
    and queries, licences, pose backends and versions, tube-length and people-per-frame histograms, and the
    videos taken down since the previous snapshot (and since this one)."""
    from manifests.snapshot import load_snapshot
    from pipelines.card import write_card

    dataset = dataset_root(root)
    out = Path(out_dir) if out_dir else dataset.path / "cards" / name
    made = write_card(dataset, load_snapshot(dataset, name), out)
    click.echo(f"card: {out / 'card.md'} ({made.total.videos} videos, {made.total.tubes} tubes)")


@main.command(context_settings=CONTEXT)
@click.argument("name")
@root_option
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="A new (or empty) folder for the release.")
@exit_codes
def export(name, root, out_dir):
    """Export snapshot NAME as a folder that pandas, duckdb and HF `datasets` read with no code of ours:
    <table>/part-*.parquet (the snapshot's rows only, the tables' own schemas), card.md/card.json, README.md.

    \b
    hmmr-dataset export v1 --root data --out release-v1
    python -c 'import pandas as pd; print(pd.read_parquet("release-v1/tubes").groupby("dataset").size())'
    """
    from manifests.snapshot import load_snapshot
    from pipelines.export import export_snapshot

    dataset = dataset_root(root)
    written = export_snapshot(dataset, load_snapshot(dataset, name), Path(out_dir))
    click.echo(f"exported {name} to {out_dir}: " + ", ".join(f"{k} {v}" for k, v in written.items() if v))


if __name__ == "__main__":
    main()
