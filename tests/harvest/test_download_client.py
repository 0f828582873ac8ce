"""One download through yt-dlp against the loopback site: both download paths, cookies, pacing, retries,
rate limits, concurrency, and the test site's own behaviour."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from testing.loopback import serve
from media.fingerprint import file_sha256
from tests_helpers import harvest_config

pytestmark = pytest.mark.slow
# A media file's URL goes straight to yt-dlp's HTTP downloader ("Generic"); any other (None) through extraction.
BOTH_DOWNLOAD_PATHS = pytest.mark.parametrize("extractor", ["Generic", None], ids=["http-downloader", "yt-dlp-extraction"])


@BOTH_DOWNLOAD_PATHS
def test_both_download_paths_fetch_the_same_bytes_and_refuse_what_is_too_large(site, tmp_path, extractor):
    """A media file's URL goes straight to yt-dlp's HTTP downloader; anything else (a site's video page)
    through extraction. Both must give the same file and the same skips."""
    from harvest.download import DownloadSkipped, download_video

    with serve(site) as base:
        url = f"{base}/media/jump.mp4"
        download = download_video(url, "jump", tmp_path / "media", harvest_config(base), extractor)
        assert download.path == tmp_path / "media" / "jump.mp4"
        assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])
        assert download.info["webpage_url"] == url
        with pytest.raises(DownloadSkipped) as skipped:
            download_video(url, "jump2", tmp_path / "media", harvest_config(base, max_filesize_mb=0.001), extractor)
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
            download_video(url, "anonymous", tmp_path / "media", harvest_config(base), extractor)
        assert not (tmp_path / "media" / "anonymous.mp4").exists()
        download = download_video(url, "logged-in", tmp_path / "media", harvest_config(base, cookies_file=str(cookies)),
                                  extractor)
    assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])


@BOTH_DOWNLOAD_PATHS
def test_sleep_spaces_every_request_to_the_site(site, tmp_path, extractor):
    """--sleep: a pause before each download and each extraction request, so that no two requests of a
    thread reach the site closer together than that."""
    from harvest.download import download_video

    pause_s = 0.3
    with serve(site) as base:
        config = harvest_config(base, sleep_s=pause_s)
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
        download = download_video(url, "jump", tmp_path / "media", harvest_config(base, retries=2), extractor)
        with pytest.raises(DownloadError, match="503"):
            download_video(f"{base}/flaky/media/run.mp4", "run", tmp_path / "media", harvest_config(base, retries=1),
                           extractor)
        with pytest.raises(DownloadError, match="404"):  # not a passing failure: asked once
            download_video(f"{base}/media/gone.mp4", "gone", tmp_path / "media", harvest_config(base, retries=2), extractor)
    assert site.paths.count("/media/gone.mp4") == 1
    assert file_sha256(download.path) == file_sha256(site.media["jump.mp4"])
    first, second, third = [t for p, t in zip(site.paths, site.arrived_at) if p == "/flaky/media/jump.mp4"][:3]
    assert second - first >= 0.5 and third - second >= 1.0


def test_extraction_waits_as_long_as_retry_after_says(site, tmp_path):
    from harvest.ytdlp import enumerate_query

    site.flaky_failures, site.retry_after = 1, "2"
    with serve(site) as base:
        entries = enumerate_query(f"{base}/flaky/tags/dance/", harvest_config(base, retries=1))
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
                                  harvest_config(base, rate_limit_bps=rate), "Generic")
        elapsed_s = time.monotonic() - started
    assert file_sha256(download.path) == file_sha256(site.media["walk.mp4"])
    assert elapsed_s >= 1.0  # at least half the time the cap implies: yt-dlp may send its first block at once




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
        config = harvest_config(base)

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
