"""Harvest end to end: real yt-dlp against a loopback site of real clips, on a real LocalCluster."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from testing.loopback import Site, serve
from harvest.queries import read_hashtags, read_url_list
from media.fingerprint import file_sha256
from harvest.config import HarvestConfig
from manifests import ENTRIES, VIDEOS, latest_status, read_table
from pipelines.harvest import harvest
from pipelines.runner import RunnerConfig

pytestmark = pytest.mark.slow
RUNNER = RunnerConfig(flush_every_units=4, progress=False)
DAY1 = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 2, tzinfo=timezone.utc)
# A media file's URL goes straight to yt-dlp's HTTP downloader ("Generic"); any other (None) through extraction.
BOTH_DOWNLOAD_PATHS = pytest.mark.parametrize("extractor", ["Generic", None], ids=["http-downloader", "yt-dlp-extraction"])


@pytest.fixture
def site(clips):
    return Site(media={f"{name}.mp4": path for name, path in clips.items()},
                tags={"dance": ["walk.mp4", "jump.mp4"], "parkour": ["run.mp4", "walk_copy.mp4"], "empty": []},
                stall_s=20)


def config_for(base: str, **overrides) -> HarvestConfig:
    settings = {"retries": 1, "socket_timeout_s": 2.0, **overrides}
    return HarvestConfig(source_template=base + "/tags/{tag}/", **settings)


def by_status(root, stage="harvest"):
    """{unit: (status, reason or None)} of each unit's latest attempt."""
    status = latest_status(root, stage)
    return {unit: (row["status"], None if pd.isna(row["reason"]) else row["reason"]) for unit, row in status.iterrows()}


def test_tags_harvest_dedupe_and_an_incremental_rerun(client, root, site, tmp_path):
    tags = tmp_path / "tags.txt"
    tags.write_text("#dance\nparkour\nempty\n")
    with serve(site) as base:
        # One download at a time: of two ids with the same bytes downloaded at once, the one that finishes
        # first keeps them, and here the first listed (#dance's walk) must.
        config = config_for(base, per_site_concurrency=1)
        queries = read_hashtags(tags, template=config.source_template)
        stats = harvest(client, root, queries, config, RUNNER, today=DAY1)

        assert by_status(root, "enumerate") == {"insta:#dance": ("ok", None), "insta:#parkour": ("ok", None),
                                                 "insta:#empty": ("skipped", "no_videos")}
        status = by_status(root)
        assert status["generic-walk"] == ("ok", None)
        assert status["generic-walk_copy"] == ("skipped", "duplicate")
        assert latest_status(root, "harvest").loc["generic-walk_copy", "message"] == "duplicate of generic-walk (same sha256)"
        videos = read_table(root, VIDEOS).set_index("video_id")
        assert sorted(videos.index) == ["generic-jump", "generic-run", "generic-walk"]
        walk = videos.loc["generic-walk"]
        assert (walk["dataset"], walk["query"]) == ("insta", "#dance")
        assert walk["media_path"] == "media/generic-walk.mp4"
        assert (walk["width"], walk["height"], walk["codec"]) == (160, 120, "h264")
        assert walk["fps"] == pytest.approx(25.0) and walk["duration_s"] == pytest.approx(2.0, abs=0.1)
        assert walk["sha256"] == file_sha256(site.media["walk.mp4"])
        assert walk["url"] == f"{base}/media/walk.mp4" and walk["split"] in ("train", "val", "test")
        assert not (root.media_dir / "generic-walk_copy.mp4").exists()
        assert stats[-1].n_ok == 3 and stats[-1].n_skipped == 1

        # Same day, same tags: no page is read again, no byte is downloaded.
        bytes_before, requests_before = site.n_media_bytes, site.n_requests
        again = harvest(client, root, queries, config, RUNNER, today=DAY1)
        assert [s.n_due for s in again] == [0, 0]
        assert site.n_media_bytes == bytes_before and site.n_requests == requests_before

        # A day later the dance page has a new post: only that one is downloaded.
        site.tags["dance"].append("swim.mp4")
        n_paths = len(site.paths)
        later = harvest(client, root, queries, config, RUNNER, today=DAY2)
        assert later[-1].n_ok == 1 and later[-1].n_due == 1
        media_requests = {p for p in site.paths[n_paths:] if p.startswith("/media/")}
        assert media_requests == {"/media/swim.mp4"}
        assert len(read_table(root, VIDEOS)) == 4


def test_every_bad_input_ends_as_a_status_row_and_the_rest_finish(client, root, site, tmp_path):
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text("\n".join([
            f"{base}/media/skate.mp4",          # good
            f"{base}/media/missing.mp4",        # 404
            f"{base}/html/walk.mp4",            # HTML where a video was expected
            f"{base}/media/corrupt.mp4",        # bytes that are no video
            f"{base}/media/truncated.mp4",      # half a file
            f"{base}/media/audio_only.mp4",     # no video stream
            f"{base}/media/long.mp4",           # 12 s, longer than --max-duration
            f"{base}/stall/run.mp4",            # server stops sending
            f"{base}/tags/empty/",              # a page without any video
        ]) + "\n")
        config = config_for(base, max_duration_s=10.0)
        stats = harvest(client, root, read_url_list(listing), config, RUNNER)
    # A listed page is read by yt-dlp first; one without any video fails there.
    pages = latest_status(root, "enumerate")
    failed_pages = pages[pages["status"] == "failed"]
    assert list(failed_pages.index) == [f"vlog:{base}/tags/empty/"]
    assert "Unsupported URL" in failed_pages.iloc[0]["message"]

    # The rest are downloaded; what is not a usable video fails or is skipped with its reason.
    status = latest_status(root, "harvest")
    outcome = by_status(root)
    assert outcome["generic-skate"] == ("ok", None)
    assert outcome["generic-missing"] == ("failed", "DownloadError")
    assert "404" in status.loc["generic-missing", "message"]
    assert outcome["generic-walk"] == ("failed", "DownloadError")  # HTML where a video was expected
    assert "sent an HTML page, not a video" in status.loc["generic-walk", "message"]
    assert outcome["generic-corrupt"] == ("failed", "VideoError")
    assert "not a readable media file" in status.loc["generic-corrupt", "message"]
    assert outcome["generic-truncated"] == ("failed", "VideoError")
    assert outcome["generic-audio_only"] == ("failed", "VideoError")
    assert "no video stream" in status.loc["generic-audio_only", "message"]
    assert outcome["generic-long"] == ("skipped", "too_long")
    assert outcome["generic-run"] == ("failed", "DownloadError")
    assert "timed out" in status.loc["generic-run", "message"].lower()
    assert not (root.media_dir / "generic-long.mp4").exists()
    assert read_table(root, VIDEOS)["video_id"].tolist() == ["generic-skate"]
    # The page is read by a worker; the media URLs, which name one video each, are listed in-process.
    assert [(s.stage, s.n_due, s.n_failed) for s in stats] == [("enumerate", 1, 1), ("enumerate", 8, 0),
                                                               ("harvest", 8, 6)]


def test_a_listed_clip_that_is_gone_fails_its_download(client, root, site, tmp_path):
    site.tags["gone"] = ["missing.mp4", "jump.mp4"]
    tags = tmp_path / "tags.txt"
    tags.write_text("gone\n")
    with serve(site) as base:
        config = config_for(base)
        harvest(client, root, read_hashtags(tags, template=config.source_template), config, RUNNER)
    assert by_status(root) == {"generic-missing": ("failed", "DownloadError"), "generic-jump": ("ok", None)}
    assert "404" in latest_status(root, "harvest").loc["generic-missing", "message"]


def test_too_large_is_skipped(client, root, site, tmp_path):
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/media/jump.mp4\n")
        harvest(client, root, read_url_list(listing), config_for(base, max_filesize_mb=0.001), RUNNER)
    assert by_status(root) == {"generic-jump": ("skipped", "too_large")}


def test_a_cut_connection_is_resumed_with_a_range_request(client, root, site, tmp_path):
    """The server closes the connection after 96 KiB of a ~260 KB clip, and sends the rest only to a Range
    request. yt-dlp keeps the blocks it read whole (with its requests handler, a block cut short is
    lost), so the cut must come after its first 64 KiB read."""
    site.cut_after_bytes = 96 * 1024
    assert site.media["big.mp4"].stat().st_size > 2 * site.cut_after_bytes
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/cut/big.mp4\n")
        harvest(client, root, read_url_list(listing), config_for(base, retries=3), RUNNER)
    assert by_status(root) == {"generic-big": ("ok", None)}
    assert any(start > 0 for start in site.range_starts)
    assert file_sha256(root.media_dir / "generic-big.mp4") == file_sha256(site.media["big.mp4"])


def test_a_run_killed_mid_download_resumes_where_it_stopped(root, site, tmp_path):
    site.slow_chunk_bytes, site.slow_chunk_s = 1024, 0.1
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/slow/long.mp4\n")
        command = [sys.executable, "-m", "pipelines.cli.harvest", "--root", str(root.path), "--urls", str(listing),
                   "--workers", "1", "--no-progress", "--socket-timeout", "5"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        part = root.media_dir / "generic-long.mp4.part"
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 8 * 1024):
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)  # the command and its worker processes
        process.wait(timeout=30)
        kept = part.stat().st_size
        site.slow_chunk_s = 0.0
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 ok" in done.stdout
    assert any(start >= kept > 0 for start in site.range_starts)
    assert file_sha256(root.media_dir / "generic-long.mp4") == file_sha256(site.media["long.mp4"])
    assert read_table(root, VIDEOS)["video_id"].tolist() == ["generic-long"]


@BOTH_DOWNLOAD_PATHS
def test_both_download_paths_fetch_the_same_bytes_and_refuse_what_is_too_large(site, tmp_path, extractor):
    """A media file's URL goes straight to yt-dlp's HTTP downloader; anything else (a site's video page)
    through extraction. Both must give the same file and the same skips."""
    from harvest.download import DownloadSkipped, download_video

    with serve(site) as base:
        url = f"{base}/media/jump.mp4"
        download = download_video(url, "jump", tmp_path / "media", config_for(base), extractor)
        assert download.path == tmp_path / "media" / "jump.mp4"
        assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])
        assert download.info["webpage_url"] == url
        with pytest.raises(DownloadSkipped) as skipped:
            download_video(url, "jump2", tmp_path / "media", config_for(base, max_filesize_mb=0.001), extractor)
        assert skipped.value.reason == "too_large"
        assert not (tmp_path / "media" / "jump2.mp4").exists()


@BOTH_DOWNLOAD_PATHS
def test_a_cookies_file_opens_a_login_walled_video(site, tmp_path, extractor):
    """--cookies: the session cookie from a Netscape cookies file goes with the download on both paths;
    without it the site answers with its login page, which fails the download instead of being kept."""
    from yt_dlp.utils import DownloadError

    from harvest.download import download_video

    name, value = site.session_cookie.split("=")
    with serve(site) as base:
        cookies = tmp_path / "cookies.txt"
        cookies.write_text("# Netscape HTTP Cookie File\n"
                           f"127.0.0.1\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n")
        url = f"{base}/private/jump.mp4"
        with pytest.raises(DownloadError, match="an HTML page, not a video|Unsupported URL"):
            download_video(url, "anonymous", tmp_path / "media", config_for(base), extractor)
        assert not (tmp_path / "media" / "anonymous.mp4").exists()
        download = download_video(url, "logged-in", tmp_path / "media", config_for(base, cookies_file=str(cookies)),
                                  extractor)
    assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])


@BOTH_DOWNLOAD_PATHS
def test_sleep_spaces_every_request_to_the_site(site, tmp_path, extractor):
    """--sleep: a pause before each download and each extraction request, so that no two requests of a
    thread reach the site closer together than that."""
    from harvest.download import download_video

    pause_s = 0.3
    with serve(site) as base:
        config = config_for(base, sleep_s=pause_s)
        for name in ("walk", "jump", "run"):
            download_video(f"{base}/media/{name}.mp4", name, tmp_path / "media", config, extractor)
    assert len(site.arrived_at) >= 3
    gaps = [later - earlier for earlier, later in zip(site.arrived_at, site.arrived_at[1:])]
    assert min(gaps) >= pause_s


@BOTH_DOWNLOAD_PATHS
def test_a_site_that_answers_503_is_retried_with_backoff(site, tmp_path, extractor):
    """--retries: a passing failure (429, 5xx, a dropped connection) is tried again after 0.5 s, 1 s, ...,
    on the media bytes (yt-dlp's own retries) and on an extractor's requests (ours); past the last retry
    the unit fails with the site's answer."""
    from yt_dlp.utils import DownloadError

    from harvest.download import download_video

    with serve(site) as base:
        url = f"{base}/flaky/media/jump.mp4"  # 503 twice, then the clip
        download = download_video(url, "jump", tmp_path / "media", config_for(base, retries=2), extractor)
        with pytest.raises(DownloadError, match="503"):
            download_video(f"{base}/flaky/media/run.mp4", "run", tmp_path / "media", config_for(base, retries=1),
                           extractor)
        with pytest.raises(DownloadError, match="404"):  # not a passing failure: asked once
            download_video(f"{base}/media/gone.mp4", "gone", tmp_path / "media", config_for(base, retries=2), extractor)
    assert site.paths.count("/media/gone.mp4") == 1
    assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])
    first, second, third = [t for p, t in zip(site.paths, site.arrived_at) if p == "/flaky/media/jump.mp4"][:3]
    assert second - first >= 0.5 and third - second >= 1.0


def test_extraction_waits_as_long_as_retry_after_says(site, tmp_path):
    from harvest.ytdlp import enumerate_query

    site.flaky_failures, site.retry_after = 1, "2"
    with serve(site) as base:
        entries = enumerate_query(f"{base}/flaky/tags/dance/", config_for(base, retries=1))
    assert [e.video_id for e in entries] == ["generic-walk", "generic-jump"]
    assert site.paths == ["/flaky/tags/dance/"] * 2
    assert site.arrived_at[1] - site.arrived_at[0] >= 2.0


def test_rate_limit_caps_the_bytes_per_second_of_a_download(site, tmp_path):
    from harvest.download import download_video

    size = site.media["walk.mp4"].stat().st_size
    rate = size // 2  # the clip should take about two seconds
    with serve(site) as base:
        started = time.monotonic()
        download = download_video(f"{base}/media/walk.mp4", "walk", tmp_path / "media",
                                  config_for(base, rate_limit_bps=rate), "Generic")
        elapsed_s = time.monotonic() - started
    assert file_sha256(download.path) == file_sha256(site.media["walk.mp4"])
    assert elapsed_s >= 1.0  # at least half the time the cap implies: yt-dlp may send its first block at once


def test_max_per_tag_and_min_duration(client, root, site, tmp_path):
    """--max-per-tag keeps the first entries of a page; a video shorter than --min-duration is skipped."""
    tags = tmp_path / "tags.txt"
    tags.write_text("dance\n")
    with serve(site) as base:
        config = config_for(base, max_per_tag=1, min_duration_s=3.0)
        harvest(client, root, read_hashtags(tags, template=config.source_template), config, RUNNER)
    assert read_table(root, ENTRIES)["video_id"].tolist() == ["generic-walk"]
    assert by_status(root) == {"generic-walk": ("skipped", "too_short")}
    assert "shorter than --min-duration 3 s" in latest_status(root, "harvest").loc["generic-walk", "message"]
    assert not (root.media_dir / "generic-walk.mp4").exists()


def test_the_command_runs_downloads_side_by_side_up_to_the_per_site_cap(site, tmp_path):
    """Downloads wait on the network: `hmmr-harvest` gives each worker several threads (8 by default), so
    one worker process runs several at once, and never more than --per-site from one site."""
    site.latency_s = 0.3
    site.media.update({f"copy{i}.mp4": site.media["walk.mp4"] for i in range(9)})
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text("".join(f"{base}/media/copy{i}.mp4\n" for i in range(9)))
        done = subprocess.run([sys.executable, "-m", "pipelines.cli.harvest", "--root", str(tmp_path / "data"),
                               "--urls", str(listing), "--workers", "1", "--per-site", "3", "--no-progress"],
                              capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "1 ok" in done.stdout and "8 skipped" in done.stdout  # the same bytes under nine names
    assert site.max_in_flight == 3


def test_download_threads_of_one_worker_share_a_client_safely(site, tmp_path):
    """Media files from several threads at once, through the one YoutubeDL a worker process shares
    between them: each thread gets its own bytes, and a failure stays with its thread."""
    from concurrent.futures import ThreadPoolExecutor

    from yt_dlp.utils import DownloadError

    from harvest.download import download_video

    site.latency_s = 0.2  # every request overlaps the others
    names = ["walk", "jump", "run", "long"] * 2
    with serve(site) as base:
        config = config_for(base)

        def fetch(i: int):
            url = f"{base}/media/{'gone' if i == 3 else names[i]}.mp4"
            try:
                return download_video(url, f"v{i}", tmp_path / "media", config, "Generic").path
            except DownloadError as error:
                return error

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(fetch, range(8)))
    assert site.max_in_flight >= 4  # they did overlap
    assert isinstance(results[3], DownloadError) and "404" in str(results[3])
    for i, result in enumerate(results):
        if i != 3:
            assert result == tmp_path / "media" / f"v{i}.mp4"
            assert file_sha256(result) == file_sha256(site.media[f"{names[i]}.mp4"])


def test_a_bandwidth_capped_site_paces_its_bytes_and_still_sends_them_all(site):
    """The benches' far server: a media response takes at least its size over the per-connection rate."""
    from urllib.request import urlopen

    size = site.media["walk.mp4"].stat().st_size
    site.bandwidth_bps = size / 0.5
    with serve(site) as base:
        started = time.perf_counter()
        with urlopen(f"{base}/media/walk.mp4", timeout=10) as response:
            body = response.read()
        elapsed_s = time.perf_counter() - started
    assert body == site.media["walk.mp4"].read_bytes()
    assert elapsed_s >= 0.45


def test_the_site_is_quiet_when_a_client_drops_its_connection_and_loud_on_its_own_faults(site, capsys):
    """Clients close kept-alive connections whenever they like (a process ends, a pool drops an idle one):
    the benches' logs stay free of tracebacks for that, and a fault of the site still prints one."""
    import socket
    import struct

    with serve(site) as base:
        port = int(base.rsplit(":", 1)[1])
        dropped = socket.create_connection(("127.0.0.1", port))
        dropped.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        dropped.sendall(b"GET /media/walk.mp4 HTTP/1.1\r\nHost: x\r\n")  # half a request, then gone
        dropped.close()
        time.sleep(0.5)  # the server meets the reset while it reads the rest of the request
        site.media["gone.mp4"] = Path("/nonexistent/gone.mp4")  # the site's own fault: a file it cannot read
        with socket.create_connection(("127.0.0.1", port)) as broken:
            broken.sendall(b"GET /media/gone.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
            broken.recv(1024)  # returns once the server has printed its error and closed the connection
    printed = capsys.readouterr().err
    assert printed.count("Traceback") == 1 and "FileNotFoundError" in printed, printed
