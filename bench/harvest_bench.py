"""Harvest throughput: 200 small clips from the loopback site, ours vs the plain yt-dlp CLI."""
from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.report import Section
from harvest.loopback import Site, serve
from harvest.queries import read_url_list
from harvest.ytdlp import HarvestConfig
from pipelines.cluster import ClusterConfig, connect
from pipelines.harvest import harvest
from pipelines.runner import RunnerConfig

N_CLIPS = 200


def _make_clips(folder: Path) -> dict[str, Path]:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    folder.mkdir(parents=True, exist_ok=True)
    clips = {}
    for i in range(N_CLIPS):
        path = folder / f"clip{i:03d}.mp4"
        # Distinct content per clip (a different test-pattern offset) so no two share a sha256.
        subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=160x120:rate=25,hue=h={i}", "-t", "2", "-pix_fmt", "yuv420p", "-c:v",
                        "libx264", "-preset", "ultrafast", "-movflags", "+faststart", str(path)], check=True)
        clips[path.name] = path
    return clips


def _serve_until_stopped(site: Site, urls, stop) -> None:
    with serve(site) as base:
        urls.put(base)
        stop.wait()


@contextmanager
def serve_in_another_process(site: Site) -> Iterator[str]:
    """The loopback site in a process of its own, as a remote server would be: served in the bench's
    process, its request handling would compete for the GIL with the Dask scheduler and client there."""
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve_until_stopped, args=(site, urls, stop), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=60)
    finally:
        stop.set()
        process.join(timeout=10)


def run(rounds: int = 3) -> list[Section]:
    section = Section(
        "Harvest throughput (issue 3)",
        f"{N_CLIPS} distinct 2 s H.264 clips served by the loopback site (in a process of its own, as a remote "
        "server would be); ours = `harvest()` with a LocalCluster of 2 workers (enumerate the URL list, then "
        "download + PyAV probe + sha256 + manifest commit per video); baseline = the plain `yt-dlp` CLI on the "
        f"same URL list (`yt-dlp -a list.txt`, download only). Best of {rounds} alternating rounds each, into "
        "empty folders. Tiny clips make this a measure of per-video overhead (yt-dlp extraction, Dask task, "
        "probe, commit), not bandwidth.",
        ["tool", "videos/s", "MB/s", "ratio (ours / yt-dlp)"],
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        clips = _make_clips(folder / "clips")
        n_bytes = sum(p.stat().st_size for p in clips.values())
        ours_s, baseline_s = [], []
        with serve_in_another_process(Site(media=clips)) as base:
            listing = folder / "list.txt"
            listing.write_text("".join(f"{base}/media/{name}\n" for name in sorted(clips)))
            for round_number in range(rounds):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "-a", str(listing), "-o",
                                str(folder / f"ytdlp{round_number}" / "%(id)s.%(ext)s")], check=True)
                baseline_s.append(time.perf_counter() - started)
                # A cluster per round, started before the clock and closed before the CLI's round, which
                # would otherwise share the cores with its idle heartbeats.
                with connect(ClusterConfig(n_workers=2)) as client:
                    started = time.perf_counter()
                    stats = harvest(client, _root(folder / f"ours{round_number}"), read_url_list(listing),
                                    HarvestConfig(source_template=base + "/{tag}", per_site_concurrency=8),
                                    RunnerConfig(progress=False))
                    ours_s.append(time.perf_counter() - started)
                assert stats[-1].n_ok == N_CLIPS, stats[-1].summary()
                shutil.rmtree(folder / f"ytdlp{round_number}", ignore_errors=True)
        megabytes = n_bytes / 2**20
        best_ours, best_baseline = min(ours_s), min(baseline_s)
        section.rows.append(["hmmr harvest (2 workers)", f"{N_CLIPS / best_ours:.1f}", f"{megabytes / best_ours:.2f}",
                             f"{best_baseline / best_ours:.2f}x"])
        section.rows.append(["yt-dlp CLI (1 process)", f"{N_CLIPS / best_baseline:.1f}",
                             f"{megabytes / best_baseline:.2f}", "1.00x"])
    return [section]


def _root(path: Path):
    from manifests import DatasetRoot

    return DatasetRoot(path)
