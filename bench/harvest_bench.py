"""Harvest throughput: 200 small clips from the loopback site, ours vs the yt-dlp CLI and video2dataset,
with the site answering at once (per-video overhead) and 50 ms away (a network-bound harvest), where a
video's CPU goes (bench.harvest_cpu), and 200 real-size videos from a far site."""
from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.harvest_cpu import cpu_per_video
from bench.harvest_sites import (N_CLIPS, PER_SITE, WARM_UP_CLIPS, make_real_size_clips, make_small_clips, root_at,
                                 serve_in_another_process, video2dataset_command, video2dataset_round)
from bench.report import Section
from harvest.config import HarvestConfig
from harvest.queries import read_url_list
from pipelines.cluster import ClusterConfig, connect
from pipelines.harvest import harvest
from pipelines.runner import RunnerConfig
from testing.loopback import Site


# Each tool is timed two ways, and each way is compared only with ours timed the same way: a whole run
# (start-up included: what a user waits for on these 200 clips, and the measure) against the
# `hmmr-harvest` command, and a steady state (start-up left out: what a long harvest runs at) against
# `harvest()` on a warm cluster.
WHOLE_RUN = "whole run, start-up included"
STEADY = "steady state (a warm cluster)"
LOOP_ONLY = "steady state (its download loop, by its shards' clock)"  # video2dataset's steady state
OURS = "hmmr harvest() (2 workers x 8 threads)"
OUR_COMMAND = "hmmr-harvest command (2 workers x 8 threads)"
VIDEO2DATASET_ROW = "video2dataset (2 processes x 8 threads)"


@dataclass(frozen=True)
class Scenario:
    title: str
    description: str
    latency_s: float
    bandwidth_bps: float = 0.0  # per connection; 0 = as fast as the loopback goes
    real_size_clips: bool = False
    # Rows that download one or two videos at a time (the yt-dlp CLI, 2 workers x 1 thread): left out
    # where each download takes a second, as they would only measure that.
    one_at_a_time_rows: bool = True


SCENARIOS = (
    Scenario("Harvest per-video overhead (issue 3)",
             "The site answers at once: tiny clips from a server on the same machine measure what each tool "
             "spends per video (CPU on 2 cores shared with the server), not the network.", latency_s=0.0),
    Scenario("Harvest from a remote site (issue 3)",
             "The site waits 50 ms before every response, as a server a continent away would: a download mostly "
             "waits on the network, and what counts is how many run at once.", latency_s=0.05),
    Scenario("Harvest of real-size videos from a remote site (issue 3)",
             "The site waits 50 ms before every response and sends each video at 4 MB/s, as a CDN a continent "
             "away does over one connection: the regime of a real harvest.", latency_s=0.05,
             bandwidth_bps=4 * 2**20, real_size_clips=True, one_at_a_time_rows=False),
)


def run(rounds: int = 3) -> list[Section]:
    video2dataset = video2dataset_command()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        small = make_small_clips(folder / "small")
        sections = [_scenario(scenario, small, folder, video2dataset, rounds)
                    for scenario in SCENARIOS if not scenario.real_size_clips]
        # Right after the site that answers at once, whose rates it explains.
        sections.insert(1, cpu_per_video(small, folder, video2dataset, rounds))
        shutil.rmtree(folder / "small")
        real_size = make_real_size_clips(folder / "real-size")
        return sections + [_scenario(scenario, real_size, folder, video2dataset, rounds)
                           for scenario in SCENARIOS if scenario.real_size_clips]


def _scenario(scenario: Scenario, clips: dict[str, Path], folder: Path, video2dataset: list[str] | None,
              rounds: int) -> Section:
    clip_kind = "10 s 640x360 (~2 MB)" if scenario.real_size_clips else "2 s 160x120 (~65 KB)"
    section = Section(
        scenario.title,
        f"{scenario.description} {N_CLIPS} distinct {clip_kind} H.264 clips from the loopback site, run in a "
        "process of its own. hmmr = `harvest()` (enumerate the URL list, then download + PyAV probe + sha256 + "
        "manifest commit per video) on a LocalCluster started beforehand, its workers with the harvest code imported and "
        f"warmed by a harvest of {WARM_UP_CLIPS} clips into a scratch root: the steady-state rate, at "
        f"{'1 and at ' if scenario.one_at_a_time_rows else ''}8 threads per worker (the `hmmr-harvest` default); "
        "`hmmr-harvest` = the command's wall time, Python start-up and cluster start included. All hmmr runs use "
        f"`--per-site {PER_SITE}`. Baselines on the same URL list: "
        + ("the plain `yt-dlp` CLI (`yt-dlp -a list.txt`, one process, download only, its start-up included) and "
           if scenario.one_at_a_time_rows else "")
        + "video2dataset (its own venv, 2 processes x 8 threads, plain HTTP downloads for non-YouTube URLs, files "
        "output), by wall time and by its shards' own clock (its download loop only). Best of "
        f"{rounds} alternating rounds each, into empty folders. Ratio: our videos/s over the tool's, timed alike: "
        "a whole run (start-up included) against the `hmmr-harvest` command's, a steady state against `harvest()`'s "
        "on the warm cluster."
        + ("" if video2dataset else " video2dataset was not measured: its venv is missing (`make bench-venvs`)."),
        ["tool", "timed", "videos/s", "MB/s", "ratio (hmmr timed alike / tool)"],
    )
    n_bytes = sum(p.stat().st_size for p in clips.values())
    times: dict[tuple[str, str], list[float]] = defaultdict(list)  # (tool, how timed) -> seconds per round
    site = Site(media=clips, latency_s=scenario.latency_s, bandwidth_bps=scenario.bandwidth_bps)
    with serve_in_another_process(site) as base:
        config = HarvestConfig(source_template=base + "/{tag}", per_site_concurrency=PER_SITE)
        listing = folder / "list.txt"
        listing.write_text("".join(f"{base}/media/{name}\n" for name in sorted(clips)))
        warm_up = read_url_list(listing)[:WARM_UP_CLIPS]
        for round_number in range(rounds):
            if scenario.one_at_a_time_rows:
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "yt_dlp", "-q", "--no-progress", "-a", str(listing), "-o",
                                str(folder / f"ytdlp{round_number}" / "%(id)s.%(ext)s")], check=True)
                times["yt-dlp CLI (1 process)", WHOLE_RUN].append(time.perf_counter() - started)
            for threads in (1, 8) if scenario.one_at_a_time_rows else (8,):
                # A cluster per round, started before the clock and closed before the other tools' rounds,
                # which would otherwise share the cores with its idle heartbeats.
                with connect(ClusterConfig(n_workers=2, threads_per_worker=threads)) as client:
                    # Steady state: before the clock, the workers import the harvest code (yt-dlp, PyAV,
                    # pyarrow: about a second) and harvest a few clips into a scratch root (each worker's
                    # first downloads cost ~15 ms of CPU each, yt-dlp's one-off set-up). Both are counted
                    # in the command's row.
                    client.run(importlib.import_module, "harvest.work")
                    harvest(client, root_at(folder / f"warm{threads}-{round_number}"), warm_up, config,
                            RunnerConfig(progress=False))
                    started = time.perf_counter()
                    stats = harvest(client, root_at(folder / f"ours{threads}-{round_number}"), read_url_list(listing),
                                    config, RunnerConfig(progress=False))
                    times[f"hmmr harvest() (2 workers x {threads} thread{'s' if threads > 1 else ''})", STEADY
                          ].append(time.perf_counter() - started)
                assert stats[-1].n_ok == N_CLIPS, stats[-1].summary()
            started = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "hmmr-harvest"), "--root",
                            str(folder / f"cli{round_number}"), "--urls", str(listing), "--per-site", str(PER_SITE),
                            "--workers", "2", "--no-progress"], check=True, capture_output=True)
            times[OUR_COMMAND, WHOLE_RUN].append(time.perf_counter() - started)
            if video2dataset:
                wall_s, own_s = video2dataset_round(video2dataset, listing, folder / f"v2d{round_number}")
                times[VIDEO2DATASET_ROW, WHOLE_RUN].append(wall_s)
                times[VIDEO2DATASET_ROW, LOOP_ONLY].append(own_s)
            for leftover in folder.glob(f"*{round_number}"):
                shutil.rmtree(leftover, ignore_errors=True)
    megabytes = n_bytes / 2**20
    ours_whole_run, ours_steady = min(times[OUR_COMMAND, WHOLE_RUN]), min(times[OURS, STEADY])
    # Whole runs first, then steady states, each group in the order measured (sorted() is stable).
    for (tool, timed), seconds in sorted(times.items(), key=lambda item: item[0][1] != WHOLE_RUN):
        best = min(seconds)
        ours = ours_whole_run if timed == WHOLE_RUN else ours_steady
        section.rows.append([tool, timed, f"{N_CLIPS / best:.1f}", f"{megabytes / best:.2f}", f"{best / ours:.2f}x"])
    return section
