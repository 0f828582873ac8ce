"""Harvest end to end: real yt-dlp against a loopback site of real clips, on a real LocalCluster."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from testing.loopback import serve
from harvest.queries import read_hashtags, read_url_list
from media.fingerprint import file_sha256
from manifests import ENTRIES, VIDEOS, latest_status, read_table
from pipelines.harvest import harvest
from pipelines.runner import RunnerConfig
from tests_helpers import harvest_config

pytestmark = pytest.mark.slow
RUNNER = RunnerConfig(flush_every_units=4, progress=False)
DAY1 = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 2, tzinfo=timezone.utc)


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
        config = harvest_config(base, per_site_concurrency=1)
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
        config = harvest_config(base, max_duration_s=10.0)
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
        config = harvest_config(base)
        harvest(client, root, read_hashtags(tags, template=config.source_template), config, RUNNER)
    assert by_status(root) == {"generic-missing": ("failed", "DownloadError"), "generic-jump": ("ok", None)}
    assert "404" in latest_status(root, "harvest").loc["generic-missing", "message"]


def test_too_large_is_skipped(client, root, site, tmp_path):
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/media/jump.mp4\n")
        harvest(client, root, read_url_list(listing), harvest_config(base, max_filesize_mb=0.001), RUNNER)
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
        harvest(client, root, read_url_list(listing), harvest_config(base, retries=3), RUNNER)
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




def test_max_per_tag_and_min_duration(client, root, site, tmp_path):
    """--max-per-tag keeps the first entries of a page; a video shorter than --min-duration is skipped."""
    tags = tmp_path / "tags.txt"
    tags.write_text("dance\n")
    with serve(site) as base:
        config = harvest_config(base, max_per_tag=1, min_duration_s=3.0)
        harvest(client, root, read_hashtags(tags, template=config.source_template), config, RUNNER)
    assert read_table(root, ENTRIES)["video_id"].tolist() == ["generic-walk"]
    assert by_status(root) == {"generic-walk": ("skipped", "too_short")}
    assert "shorter than --min-duration 3 s" in latest_status(root, "harvest").loc["generic-walk", "message"]
    assert not (root.media_dir / "generic-walk.mp4").exists()
