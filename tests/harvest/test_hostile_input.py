"""A hostile web site, as a new user meets one: media files of one name in two folders, non-ASCII names,
videos told apart only by their query, a 200-character name, a server that trickles a byte at a time,
one that stalls, one that floods without Content-Length, a header claiming huge frames, a truncated file
fixed later. Real yt-dlp against a loopback server (threads, 127.0.0.1), on the real LocalCluster."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from harvest.bounds import DownloadTimeout
from harvest.ids import MAX_VIDEO_ID_CHARS
from harvest.queries import read_url_list
from media.fingerprint import file_sha256
from harvest.download import DownloadSkipped, download_video
from hostile_media import claim_frame_size
from hostile_site import HostileSite, serve
from manifests import VIDEOS, latest_status, read_table
from manifests.status import first_line
from pipelines.harvest import count_lines, harvest
from pipelines.runner import RunnerConfig
from tests_helpers import harvest_config

RUNNER = RunnerConfig(flush_every_units=4, progress=False)
LONG_NAME = "a_dance_video_with_a_name_as_long_as_some_sites_make_them_" * 4  # 232 characters


# Seven different videos under names that collided, or were too long, before ids were fixed.
SAME_NAMES = {"/a/clip.mp4": "walk", "/b/clip.mp4": "jump", "/视频.mp4": "run", "/видео.mp4": "swim",
              "/watch.mp4?id=1": "skate", "/watch.mp4?id=2": "big", f"/{LONG_NAME}.mp4": "long"}


@pytest.fixture
def site(clips, tmp_path) -> HostileSite:
    files = {path: clips[name].read_bytes() for path, name in SAME_NAMES.items()}
    files["/huge.mp4"] = claim_frame_size(tmp_path / "huge.mp4").read_bytes()
    return HostileSite(files=files)


def threads_left_behind(before: set[int]) -> list[str]:
    """Threads started since `before` and still alive, but the site's own and the process's one watchdog."""
    return [t.name for t in threading.enumerate() if t.ident not in before and "process_request" not in t.name
            and t.name != "hmmr-download-deadlines"]


@pytest.mark.slow
def test_every_line_ends_as_one_row_with_its_reason(client, root, site, tmp_path):
    """Before: /b/clip.mp4, the second non-ASCII name and ?id=2 got no row at all (their ids were the
    first ones'), the 200-character name failed after its download (Errno 36) and left its file, the
    trickle held the harvest forever, and the run exited 0."""
    from pipelines.cli.harvest import main as harvest_cli
    from pipelines.cli.pseudolabel import main as pseudolabel_cli

    with serve(site) as base:
        listing = tmp_path / "list.txt"
        lines = [f"{base}{path}" for path in SAME_NAMES] + [f"{base}/trickle/slow.mp4", f"{base}/stall/stuck.mp4",
                                                             f"{base}/huge.mp4"]
        listing.write_text("\n".join(lines) + "\n")
        args = ["--root", str(root.path), "--urls", str(listing), "--cluster", client.scheduler.address,
                "--no-progress", "--socket-timeout", "1", "--retries", "1", "--download-timeout", "3"]
        sample = CliRunner().invoke(harvest_cli, args + ["--limit", "2"])
        assert sample.exit_code == 0, sample.output
        assert "input: 10 lines: 2 ok, 0 skipped, 0 failed; 8 without a row" in sample.output

        started = time.monotonic()
        done = CliRunner().invoke(harvest_cli, args)
        elapsed_s = time.monotonic() - started
    assert done.exit_code == 1, done.output  # three lines failed
    assert "input: 10 lines: 7 ok, 0 skipped, 3 failed" in done.output and "without a row" not in done.output
    assert elapsed_s < 30, done.output  # the trickle was cut at its deadline

    videos = read_table(root, VIDEOS).set_index("url")
    assert len(videos) == 7 and videos["video_id"].is_unique
    for path, name in SAME_NAMES.items():
        row = videos.loc[f"{base}{path}"]
        assert row["sha256"] == hashlib.sha256(site.files[path]).hexdigest(), path  # each id holds its own video
        assert len(row["video_id"]) <= MAX_VIDEO_ID_CHARS
    assert videos.loc[f"{base}/a/clip.mp4", "video_id"] == "generic-clip"
    assert videos.loc[f"{base}/b/clip.mp4", "video_id"].startswith("generic-clip-")

    status = latest_status(root, "harvest")
    failed = status[status["status"] == "failed"]
    assert sorted(failed["reason"]) == ["DownloadError", "DownloadTimeout", "VideoError"]
    reasons = dict(zip(failed["reason"], failed["message"]))
    assert "longer than --download-timeout 3 s" in reasons["DownloadTimeout"]
    assert "timed out" in first_line(reasons["DownloadError"])  # before: 'ERROR: ' and a '\r'
    assert "16000x16000 (256 MP) are larger than --max-frame-pixels" in reasons["VideoError"]
    kept = sorted(p.name for p in root.media_dir.iterdir() if p.is_file())
    assert kept == sorted(f"{video_id}{Path(urlsplit(url).path).suffix}" for url, video_id in videos["video_id"].items())

    shown = CliRunner().invoke(pseudolabel_cli, ["status", "--root", str(root.path)])
    assert shown.exit_code == 0, shown.output
    assert "failed: DownloadError 1, DownloadTimeout 1, VideoError 1" in shown.output
    stalled = next(line for line in shown.output.splitlines() if line.strip().startswith("generic-stuck:"))
    assert "Read timed out" in stalled and "\r" not in shown.output

    # The same URLs listed the other way round keep their ids: nothing is downloaded again.
    listing.write_text("\n".join(reversed(lines)) + "\n")
    assert count_lines(root, read_url_list(listing)).by_outcome == {"ok": 7, "failed": 3}


@pytest.mark.slow
def test_a_bad_file_is_removed_so_retry_failed_fetches_it_again(client, root, clips, tmp_path):
    """Before: the truncated file stayed in media/, and --retry-failed, after the site was fixed, made no
    request and reported 'truncated' again."""
    whole = clips["big"].read_bytes()
    site = HostileSite(files={"/fixme.mp4": whole[: len(whole) // 2]})
    with serve(site) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/fixme.mp4\n")
        queries = read_url_list(listing)
        harvest(client, root, queries, harvest_config(base), RUNNER)
        assert latest_status(root, "harvest").loc["generic-fixme", "reason"] == "VideoError"
        assert not list(root.media_dir.glob("generic-fixme.*"))

        site.files["/fixme.mp4"] = whole
        harvest(client, root, queries, harvest_config(base), RunnerConfig(retry_failed=True, progress=False))
    assert site.requests.count("/fixme.mp4") == 2
    assert latest_status(root, "harvest").loc["generic-fixme", "status"] == "ok"
    assert file_sha256(root.media_dir / "generic-fixme.mp4") == file_sha256(clips["big"])


def test_a_page_with_two_files_of_one_name_lists_both(site):
    """Before: the page's second clip.mp4 was dropped as a repeat of the first id."""
    from testing.loopback import tag_page
    from harvest.ytdlp import enumerate_query

    site.files["/tags/same/"] = tag_page("same", ["/a/clip.mp4", "/b/clip.mp4", "/a/clip.mp4"]).encode()
    with serve(site) as base:
        entries = enumerate_query(f"{base}/tags/same/", harvest_config(base))
    assert [e.url for e in entries] == [f"{base}/a/clip.mp4", f"{base}/b/clip.mp4"]
    assert entries[0].video_id == "generic-clip" and entries[1].video_id.startswith("generic-clip-")


# A media file's URL goes straight to yt-dlp's HTTP downloader; another through yt-dlp's extraction
# (its generic extractor: a URL without a media suffix).
BOTH_PATHS = pytest.mark.parametrize("suffix", [".mp4", ""], ids=["http-downloader", "yt-dlp-extraction"])


@BOTH_PATHS
def test_a_trickling_server_meets_the_download_deadline(tmp_path, suffix):
    """One byte every 0.2 s never trips a 2 s socket timeout: the deadline ends the download on time,
    deletes its partial file, and leaves no thread behind."""
    site = HostileSite(trickle_s=0.2)
    with serve(site) as base:
        before = {t.ident for t in threading.enumerate()}
        started = time.monotonic()
        with pytest.raises(DownloadTimeout, match="longer than --download-timeout 2 s"):
            download_video(f"{base}/trickle/slow{suffix}", "slow", tmp_path / "media", harvest_config(base, download_timeout_s=2),
                           "Generic")
        elapsed_s = time.monotonic() - started
    assert 2.0 <= elapsed_s < 3.5
    assert list((tmp_path / "media").iterdir()) == []
    assert threads_left_behind(before) == []


def test_a_trickling_page_meets_the_deadline_too(tmp_path):
    """A tag page read a byte at a time: yt-dlp reads a page whole before it lists anything."""
    from testing.loopback import tag_page
    from harvest.ytdlp import enumerate_query

    site = HostileSite(files={"/tags/warm/": tag_page("warm", ["/x.mp4"]).encode()}, trickle_s=0.2)
    with serve(site) as base:
        enumerate_query(f"{base}/tags/warm/", harvest_config(base))  # yt-dlp warmed: the deadline is the page's
        started = time.monotonic()
        with pytest.raises(DownloadTimeout, match="longer than --download-timeout 2 s"):
            enumerate_query(f"{base}/trickle/page/", harvest_config(base, download_timeout_s=2))
        elapsed_s = time.monotonic() - started
    assert 2.0 <= elapsed_s < 3.5
    assert site.requests.count("/trickle/page/") == 1  # cut at the deadline, not retried past it


@BOTH_PATHS
def test_a_flood_without_content_length_stops_at_the_size_cap(tmp_path, suffix):
    """Before: a response without Content-Length was written whole, whatever --max-filesize said."""
    site = HostileSite()
    with serve(site) as base:
        before = {t.ident for t in threading.enumerate()}
        with pytest.raises(DownloadSkipped, match=r"more than --max-filesize 0.25 MB arrived") as skipped:
            download_video(f"{base}/flood/endless{suffix}", "endless", tmp_path / "media",
                           harvest_config(base, max_filesize_mb=0.25), "Generic")
    assert skipped.value.reason == "too_large"
    assert site.n_flood_bytes < 32 * 2**20  # the server stopped soon after: the client hung up
    assert list((tmp_path / "media").iterdir()) == []
    assert threads_left_behind(before) == []


def test_a_source_template_with_another_field_is_a_usage_error(tmp_path):
    """Before: '{0}' in --source-template ended in an IndexError traceback."""
    from pipelines.cli.harvest import main as harvest_cli

    tags = tmp_path / "tags.txt"
    tags.write_text("dance\n")
    result = CliRunner().invoke(harvest_cli, ["--root", str(tmp_path / "data"), "--hashtags", str(tags),
                                              "--source-template", "http://h/tags/{tag}/{0}"])
    assert result.exit_code == 2, result.output
    assert "has a replacement field other than {tag}" in result.output and "Traceback" not in result.output


def test_reports_show_reasons_with_counts_and_messages_whole():
    """A yt-dlp message begins with '\\r' after 'ERROR: ': printed, it blanked the line."""
    from pipelines.cli.common import report
    from pipelines.records import RunStats, UnitFailure

    stats = RunStats(stage="harvest", version="1", run_id="r", run_dir="d", n_due=4, n_failed=1, n_skipped=3,
                     skipped_by_reason={"duplicate": 1, "too_long": 2}, failed_by_reason={"DownloadError": 1},
                     failures=[UnitFailure("generic-stuck", "DownloadError",
                                           "ERROR: \r[download] Got error: Read timed out.. Giving up after 1 retries")])
    result = CliRunner().invoke(as_command(report, [stats]))
    assert result.exit_code == 1
    assert "  skipped: too_long 2, duplicate 1" in result.output
    assert "  failed generic-stuck: DownloadError: ERROR: [download] Got error: Read timed out" in result.output


def as_command(function, *args):
    import click

    @click.command()
    def command():
        function(*args)

    return command
