"""The harvest benches' fixtures: the clips, the loopback site in a process of its own, video2dataset's CLI."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from testing.loopback import Site, serve


N_CLIPS = 200
VIDEO2DATASET = Path(__file__).parent / ".venvs" / "video2dataset" / "bin" / "video2dataset"


def make_small_clips(folder: Path) -> dict[str, Path]:
    """200 distinct 2 s 160x120 clips (~65 KB): per-video costs dominate."""
    ffmpeg = _ffmpeg()
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


def make_real_size_clips(folder: Path) -> dict[str, Path]:
    """200 distinct 10 s 640x360 clips of ~2 MB, the size of a short social-media video: one encode,
    then copies that differ in a metadata tag (so no two share a sha256)."""
    ffmpeg = _ffmpeg()
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "source.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
                    "-t", "10", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1600k",
                    str(source)], check=True)
    clips = {}
    for i in range(N_CLIPS):
        path = folder / f"clip{i:03d}.mp4"
        subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(source), "-c", "copy", "-metadata",
                        f"comment=clip {i}", "-movflags", "+faststart", str(path)], check=True)
        clips[path.name] = path
    source.unlink()
    return clips


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


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


def video2dataset_command() -> list[str] | None:
    """video2dataset's CLI from its own venv (`make bench-venvs`; it pins numpy < 2), or None."""
    path = Path(os.environ.get("HMMR_VIDEO2DATASET", VIDEO2DATASET))
    return [str(path)] if path.is_file() else None


def video2dataset_round(command: list[str], listing: Path, out: Path, n_urls: int = N_CLIPS) -> tuple[float, float]:
    """(wall seconds including its start-up, seconds from its first shard's start to its last shard's end)."""
    config = out.parent / "video2dataset.yaml"
    # Our bench's footing: 2 processes; two shards, so that both get work; no resizing.
    config.write_text(yaml.safe_dump({
        "subsampling": {}, "reading": {"yt_args": {"download_size": 720}, "timeout": 60, "sampler": None},
        "storage": {"number_sample_per_shard": n_urls // 2, "oom_shard_count": 5, "captions_are_subtitles": False},
        "distribution": {"processes_count": 2, "thread_count": 8, "subjob_size": 1000, "distributor": "multiprocessing"},
    }))
    started = time.perf_counter()
    subprocess.run([*command, "--url_list", str(listing), "--input_format", "txt", "--output_folder", str(out),
                    "--output_format", "files", "--config", str(config)], check=True, capture_output=True)
    wall_s = time.perf_counter() - started
    shards = [json.loads(p.read_text()) for p in out.glob("*_stats.json")]
    if sum(s["successes"] for s in shards) != n_urls:
        raise RuntimeError(f"video2dataset downloaded {sum(s['successes'] for s in shards)} of {n_urls}")
    return wall_s, max(s["end_time"] for s in shards) - min(s["start_time"] for s in shards)


# Every tool gets 16 downloads at once: video2dataset's 2 processes x 8 threads, and our default
# LocalCluster (2 workers x 8 threads) with the per-site cap raised to match (one site serves all).
PER_SITE = 16
WARM_UP_CLIPS = 16


def root_at(path: Path):
    from manifests import DatasetRoot

    return DatasetRoot(path)
