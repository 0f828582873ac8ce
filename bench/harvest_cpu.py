"""Where a harvested video's CPU goes: our unit's parts, our harvest on a warm cluster, video2dataset's processes."""
from __future__ import annotations

import importlib
import multiprocessing
import shutil
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.harvest_sites import N_CLIPS, PER_SITE, WARM_UP_CLIPS, root_at, serve_in_another_process, video2dataset_round
from bench.report import Section
from harvest.config import HarvestConfig
from harvest.queries import read_url_list
from harvest.work import DownloadPayload
from harvest.ytdlp import known_single_video
from pipelines.cluster import ClusterConfig, connect
from pipelines.harvest import download_stage, harvest
from pipelines.runner import RunnerConfig
from testing.loopback import Site


def cpu_per_video(clips: dict[str, Path], folder: Path, video2dataset: list[str] | None, rounds: int) -> Section:
    """Where a video's CPU goes: the parts of our unit run one after another in a fresh process, our whole
    harvest on a warm cluster and its units without the runner, and video2dataset's processes with their start-up
    taken out."""
    section = Section(
        "Harvest CPU per video (issue 3)",
        f"Why the site that answers at once is a contest of CPU: the same {N_CLIPS} small clips, served at once "
        "from a process of its own; CPU time (user + system) per video. The parts of our unit: run one after "
        "another in a fresh process, best of "
        f"{rounds}. hmmr harvest: the client and scheduler's process and the 2 workers x 8 "
        "threads of a warm LocalCluster, over a harvest of every clip, best of "
        f"{rounds}; then the same units sent as one task per worker, its 8 threads sharing the worker's half, with "
        "no runner and no scheduler round trip per task: what the runner and Dask add on the workers. "
        "video2dataset: all its processes, start-up taken out by "
        f"running it on {N_CLIPS} and on {3 * N_CLIPS} URLs (the clips under three names) and dividing the "
        f"difference by {2 * N_CLIPS}, best of {rounds} each. Ratio: the row's CPU over video2dataset's. The "
        "download and the probe are what the issue asks of every video (yt-dlp, the probe of the decoder's "
        "library).",
        ["what", "CPU ms / video", "ratio vs video2dataset"],
    )
    names = {f"c{copy}_{name}": path for copy in range(3) for name, path in clips.items()}
    rows: dict[str, float] = {}
    with serve_in_another_process(Site(media=names)) as base:
        config = HarvestConfig(source_template=base + "/{tag}", per_site_concurrency=PER_SITE)
        # Each in a fresh process, as a worker and the command are: this one's heap, grown by the scenarios
        # before, would make each of Python's full garbage collections (and so each unit) slower.
        urls = [f"{base}/media/c0_{name}" for name in sorted(clips)]
        rows.update(_in_a_fresh_process(_unit_parts_cpu, config, urls, folder, rounds))
        listing = folder / "cpu-list.txt"
        listing.write_text("".join(f"{url}\n" for url in urls))
        rows.update(_in_a_fresh_process(_cluster_cpu_ms, config, listing, folder, rounds))
        if video2dataset:
            rows["video2dataset, all processes (start-up taken out)"] = _video2dataset_cpu_ms(
                video2dataset, base, sorted(clips), folder, rounds)
    theirs = rows.get("video2dataset, all processes (start-up taken out)")
    for what, ms in rows.items():
        section.rows.append([what, f"{ms:.2f}", f"{ms / theirs:.2f}x" if theirs else "-"])
    return section


def _in_a_fresh_process(function, *args):
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh_process:
        return fresh_process.submit(function, *args).result()


def _download_payload(url: str) -> DownloadPayload:
    """The download unit's payload for a listed media file's URL, named as harvest() names it."""
    entry = known_single_video(url)
    return DownloadPayload(unit_id=entry.video_id, url=url, webpage_url=url, extractor=entry.extractor, query=url,
                           dataset="vlog")


def _unit_parts_cpu(config: HarvestConfig, urls: list[str], folder: Path, rounds: int) -> dict[str, float]:
    """CPU ms per video of each part of the download unit, and of the whole unit, in this thread."""
    from harvest.work import claim_sha256
    from media.fingerprint import file_sha256
    from harvest.download import download_video
    from media.probe import probe_video
    from pipelines.stage import run_unit

    payloads = [_download_payload(url) for url in urls]
    parts: dict[str, list[float]] = defaultdict(list)
    for round_number in range(rounds):
        media = folder / f"parts{round_number}" / "media"
        spent: dict[str, float] = defaultdict(float)
        for payload in payloads:
            video_id = payload.unit_id
            started = time.thread_time()
            path = download_video(payload.url, video_id, media, config, payload.extractor).path
            downloaded = time.thread_time()
            probe_video(path)
            probed = time.thread_time()
            claim_sha256(media, file_sha256(path), video_id)
            spent["yt-dlp HTTP download (HttpFD, to a file)"] += downloaded - started
            spent["PyAV probe (open, first frame, tail packets)"] += probed - downloaded
            spent["sha256 + duplicate claim"] += time.thread_time() - probed
        stage = download_stage(config, root_at(folder / f"unit{round_number}"))
        started = time.thread_time()
        for payload in payloads:
            outcome = run_unit(stage, payload)
            assert outcome.status == "ok", outcome.message
        spent["whole unit, serial (the above + the videos row)"] = time.thread_time() - started
        for what, seconds in spent.items():
            parts[what].append(1000 * seconds / len(urls))
        shutil.rmtree(folder / f"parts{round_number}")
        shutil.rmtree(folder / f"unit{round_number}")
    return {what: min(values) for what, values in parts.items()}


def _cluster_cpu_ms(config: HarvestConfig, listing: Path, folder: Path, rounds: int) -> dict[str, float]:
    """CPU ms per video of a harvest on a warm cluster: all processes, and split into the client's (with the
    scheduler) and the workers' (the units, and each worker's event loop), from the round with the least;
    and the workers' CPU for the same units sent as one task per worker: what they cost with no runner at all."""
    def process_cpu_s() -> float:  # run here and on each worker
        import psutil  # Dask's own dependency
        times = psutil.Process().cpu_times()
        return times.user + times.system

    def workers_cpu_s() -> float:
        return sum(client.run(process_cpu_s).values())

    def units_in_one_task(stage, payloads: list[DownloadPayload], threads: int) -> list[str]:  # run on a worker
        from concurrent.futures import ThreadPoolExecutor

        from pipelines.stage import run_unit

        with ThreadPoolExecutor(threads) as pool:
            return [outcome.status for outcome in pool.map(lambda p: run_unit(stage, p), payloads)]

    threads = 8
    spent = []  # (client s, workers s) per round
    units_alone = []  # workers s per round
    with connect(ClusterConfig(n_workers=2, threads_per_worker=threads)) as client:
        client.run(importlib.import_module, "harvest.work")
        queries = read_url_list(listing)
        payloads = [_download_payload(query.url) for query in queries]
        harvest(client, root_at(folder / "cpu-warm"), queries[:WARM_UP_CLIPS], config, RunnerConfig(progress=False))
        workers = list(client.scheduler_info()["workers"])
        for round_number in range(rounds):
            client_before, workers_before = process_cpu_s(), workers_cpu_s()
            stats = harvest(client, root_at(folder / f"cpu-ours{round_number}"), queries, config,
                            RunnerConfig(progress=False))
            spent.append((process_cpu_s() - client_before, workers_cpu_s() - workers_before))
            assert stats[-1].n_ok == N_CLIPS, stats[-1].summary()
            shutil.rmtree(folder / f"cpu-ours{round_number}")
            # The same units with neither runner nor scheduler: one task per worker, its threads pulling
            # the worker's half of the units from a queue, as video2dataset's processes do.
            stage = download_stage(config, root_at(folder / f"cpu-alone{round_number}"))
            workers_before = workers_cpu_s()
            tasks = [client.submit(units_in_one_task, stage, payloads[i::len(workers)], threads, workers=[worker],
                                   pure=False)
                     for i, worker in enumerate(workers)]
            statuses = [status for task in tasks for status in task.result()]
            units_alone.append(workers_cpu_s() - workers_before)
            assert statuses == ["ok"] * N_CLIPS, Counter(statuses)
            shutil.rmtree(folder / f"cpu-alone{round_number}")
    shutil.rmtree(folder / "cpu-warm")
    client_s, workers_s = min(spent, key=sum)
    return {"hmmr harvest on the cluster, all processes (steady state)": 1000 * (client_s + workers_s) / N_CLIPS,
            "... of which the client and scheduler's process": 1000 * client_s / N_CLIPS,
            "... of which the 2 workers": 1000 * workers_s / N_CLIPS,
            "the same units on the 2 workers, one task each (no runner, no scheduler)": 1000 * min(units_alone) / N_CLIPS}


def _video2dataset_cpu_ms(command: list[str], base: str, names: list[str], folder: Path, rounds: int) -> float:
    import resource

    def children_cpu_s() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant: its pool too
        return usage.ru_utime + usage.ru_stime

    spent: dict[int, list[float]] = defaultdict(list)
    for round_number in range(rounds):
        for copies in (1, 3):
            listing = folder / f"cpu-v2d-{copies}.txt"
            listing.write_text("".join(f"{base}/media/c{copy}_{name}\n" for copy in range(copies) for name in names))
            before = children_cpu_s()
            video2dataset_round(command, listing, folder / f"cpu-v2d-{copies}-{round_number}", copies * len(names))
            spent[copies].append(children_cpu_s() - before)
            shutil.rmtree(folder / f"cpu-v2d-{copies}-{round_number}")
    return 1000 * (min(spent[3]) - min(spent[1])) / (2 * len(names))
