"""Harvest throughput: 200 small clips from the loopback site, ours vs the plain yt-dlp CLI."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run() -> list[Section]:
    section = Section(
        "Harvest throughput (issue 3)",
        f"{N_CLIPS} distinct 2 s H.264 clips served by the loopback site; ours = `harvest()` with a LocalCluster "
        "of 2 workers (download + PyAV probe + sha256 + manifest commit per video); baseline = the plain `yt-dlp` "
        "CLI on the same URL list (`yt-dlp -a list.txt`, download only). Tiny clips make this a measure of "
        "per-video overhead (yt-dlp extraction, Dask task, probe, commit), not bandwidth. video2dataset has not "
        "been measured yet.",
        ["tool", "videos/s", "MB/s", "ratio (ours / yt-dlp)"],
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        clips = _make_clips(folder / "clips")
        n_bytes = sum(p.stat().st_size for p in clips.values())
        site = Site(media=clips)
        with serve(site) as base:
            listing = folder / "list.txt"
            listing.write_text("".join(f"{base}/media/{name}\n" for name in sorted(clips)))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "-a", str(listing), "-o",
                            str(folder / "ytdlp" / "%(id)s.%(ext)s")], check=True)
            baseline_s = time.perf_counter() - started
            with connect(ClusterConfig(n_workers=2)) as client:
                started = time.perf_counter()
                stats = harvest(client, _root(folder / "ours"), read_url_list(listing),
                                HarvestConfig(source_template=base + "/{tag}", per_site_concurrency=8),
                                RunnerConfig(progress=False))
                ours_s = time.perf_counter() - started
        assert stats[-1].n_ok == N_CLIPS, stats[-1].summary()
        megabytes = n_bytes / 2**20
        section.rows.append(["hmmr harvest (2 workers)", f"{N_CLIPS / ours_s:.1f}", f"{megabytes / ours_s:.2f}",
                             f"{baseline_s / ours_s:.2f}x"])
        section.rows.append(["yt-dlp CLI (1 process)", f"{N_CLIPS / baseline_s:.1f}", f"{megabytes / baseline_s:.2f}",
                             "1.00x"])
        shutil.rmtree(folder / "ytdlp", ignore_errors=True)
    return [section]


def _root(path: Path):
    from manifests import DatasetRoot

    return DatasetRoot(path)
