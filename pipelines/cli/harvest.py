"""`hmmr-harvest`: grow a dataset root's videos from hashtag pages and URL lists (also `make harvest`)."""
from __future__ import annotations

import click

from pipelines.cli.common import (cluster_config, cluster_options_with, dataset_root, exit_codes, load_yaml_config,
                                  report, root_option, runner_config, runner_options, setup_logging)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@root_option
@click.option("--hashtags", type=click.Path(exists=True, dir_okay=False),
              help="File of hashtags, one a line ('#' optional; blank lines and '# comments' allowed).")
@click.option("--urls", type=click.Path(exists=True, dir_okay=False),
              help="File of video/playlist URLs, YouTube ids or VLOG clip ids (the authors' vlog_ids.txt: "
                   "0_0_I_v_LdhYI_Pq00I_021_), one a line.")
@click.option("--instavariety", type=click.Path(exists=True, dir_okay=False),
              help="The HMMR authors' InstaVariety.json: each post's page is harvested, its download tag recorded "
                   "as the query, the post's record kept in the `sources` table.")
@click.option("--split-list", "split_lists", multiple=True, metavar="[SPLIT=]FILE",
              help="An official split list ('download_tag/video_name' a line, e.g. insta_variety_test.txt; the split "
                   "is read from the file name, or given as test=FILE). Its videos get that split instead of the "
                   "hash split, recorded before they are downloaded and never changed. Repeatable.")
@click.option("--vlog-meta", type=click.Path(exists=True, file_okay=False),
              help="VLOG's meta/ folder (manifest.txt + youtube_links.txt): each VLOG clip id of --urls keeps its "
                   "frame segment, and only that segment is posed, tracked and cut into tubes.")
@click.option("--dataset", default=None, help="Dataset name for the videos [default: insta for tags, vlog for lists].")
@click.option("--source-template", default=None,
              help="Tag page URL with {tag} [default: https://www.instagram.com/explore/tags/{tag}/].")
@click.option("--max-per-tag", type=int, default=None, help="Newest entries per tag or list URL [default: 500].")
@click.option("--min-duration", "min_duration_s", type=float, default=None, help="Seconds [default: 1].")
@click.option("--max-duration", "max_duration_s", type=float, default=None, help="Seconds [default: 600].")
@click.option("--max-filesize", "max_filesize_mb", type=float, default=None,
              help="MB, announced or counted as bytes arrive [default: 500].")
@click.option("--download-timeout", "download_timeout_s", type=float, default=None,
              help="Seconds one download may take in all, retries included [default: 900].")
@click.option("--max-frame-pixels", type=int, default=None,
              help="Refuse videos whose frames have more pixels (width x height) [default: 33177600, 8K UHD].")
@click.option("--format", "format_", default=None,
              help="yt-dlp format selector [default: mp4 up to 720p, video-only where sharper: "
                   "'bv*[height<=720][ext=mp4]/b[height<=720]/bv*[height<=720]/b'].")
@click.option("--cookies", "cookies_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Netscape cookies file (Instagram tag pages need a logged-in session).")
@click.option("--sleep", "sleep_s", type=float, default=None, help="Seconds to pause between requests [default: 0].")
@click.option("--rate-limit", "rate_limit_bps", type=int, default=None, help="Bytes/s per download [default: none].")
@click.option("--retries", type=int, default=None, help="Retries per request, with exponential backoff [default: 3].")
@click.option("--socket-timeout", "socket_timeout_s", type=float, default=None, help="Seconds [default: 20].")
@click.option("--per-site", "per_site_concurrency", type=int, default=None,
              help="Downloads from one site at once [default: 4].")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="YAML file of HarvestConfig fields; flags override it.")
# A download spends most of its time waiting on the network, so each worker runs several at once
# (capped per site by --per-site); one thread per worker would leave the cores idle on real sites.
@cluster_options_with(8, "LocalCluster threads per worker: downloads that may run at once on each.")
@runner_options
@exit_codes
def main(root, hashtags, urls, instavariety, split_lists, vlog_meta, dataset, config_file, address, n_workers, threads_per_worker, retry_failed, limit,
         lock_wait, flush_every, no_progress, verbose, format_, **harvest_flags):
    """Download the videos of hashtag pages (--hashtags) and URL lists (--urls) into ROOT.

    \b
    Each tag becomes a query on its tag page; each listed URL, YouTube id or VLOG clip id a query of its
    own (a YouTube video named by several VLOG clips is harvested once; the clip ids are kept in the
    `sources` table); each post of the authors' InstaVariety.json a query of its own.
    Every video is downloaded once: re-runs fetch only what is new (tag pages are re-read once a day),
    the same bytes under another id are skipped as duplicates, and failures are retried with
    --retry-failed. Results: ROOT/media/<video_id>.<ext> and the `videos` table.

    \b
    Examples:
      hmmr-harvest --hashtags tags.txt --root data --max-per-tag 100 --cookies cookies.txt
      hmmr-harvest --urls vlog_ids.txt --dataset vlog --max-duration 300
      hmmr-harvest --urls vlog_ids.txt --vlog-meta vlog/meta --max-duration 1800
      hmmr-harvest --instavariety InstaVariety.json --split-list insta_variety_train.txt \\
                   --split-list insta_variety_test.txt --cookies cookies.txt
    """
    from harvest.queries import read_hashtags, read_url_list
    from harvest.config import HarvestConfig
    from pipelines.authors_lists import list_queries_and_sources
    from pipelines.cluster import connect
    from pipelines.harvest import count_lines, harvest

    setup_logging(verbose)
    if not hashtags and not urls and not instavariety and not split_lists:
        raise click.UsageError("give --hashtags FILE, --urls FILE and/or --instavariety InstaVariety.json")
    if vlog_meta and not urls:
        raise click.UsageError("--vlog-meta gives the segments of the VLOG clip ids of --urls: give --urls too")
    config = load_yaml_config(HarvestConfig, config_file, {**harvest_flags, "format": format_})
    queries = []
    if hashtags:
        queries += read_hashtags(hashtags, dataset=dataset or "insta", template=config.source_template)
    if urls:
        queries += read_url_list(urls, dataset=dataset or "vlog")
    root_path = dataset_root(root)
    more_queries, sources = list_queries_and_sources(root_path, urls=urls, urls_dataset=dataset or "vlog",
                                                     instavariety=instavariety, insta_dataset=dataset or "insta",
                                                     split_lists=split_lists, vlog_meta=vlog_meta)
    queries += more_queries
    with connect(cluster_config(address, n_workers, threads_per_worker)) as client:
        stats = harvest(client, root_path, queries, config,
                        runner_config(retry_failed, limit, lock_wait, flush_every, no_progress), sources=sources)
    lines = count_lines(root_path, queries)
    try:
        report(stats)
    finally:
        click.echo(lines.summary())
    if lines.without_row and not limit:
        click.echo(f"{len(lines.without_row)} input lines got no status row: a bug, please report it with "
                   "ROOT/runs/*/log", err=True)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
