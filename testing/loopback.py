"""A loopback HTTP server that looks like a video site: tag pages of `<video>` elements over real clips.

Used by the tests (every bad input a real site produces) and by `make demo` (no Internet needed).
It serves files with HTTP Range support, because yt-dlp resumes an interrupted download with a Range
request, and a few routes that misbehave on purpose:
  /tags/<tag>/            an HTML page with one <video> per clip listed for the tag
  /media/<name>           the clip bytes (Range supported)
  /stall/<name>           sends headers and a few bytes, then stalls (socket timeout test)
  /html/<name>.mp4        HTML where a video was expected
  /cut/<name>             without a Range header: the first bytes, then a closed connection; with
                          one: the asked range (so a client that resumes gets the whole clip)
  /slow/<name>            the clip, a small chunk at a time (to kill a download half way)
  /flaky/<route>          503 Service Unavailable (with `Site.retry_after` as Retry-After, if set) to the
                          first `Site.flaky_failures` requests of each path, then what /<route> serves
  /private/<name>         the clip to a request that sends `Site.session_cookie`, a login page to others
                          (as Instagram answers without a logged-in session)
Anything else is a 404. Binds 127.0.0.1 only. `Site.latency_s` delays every response and
`Site.bandwidth_bps` paces media bytes, as a server far away would (benchmarks of network-bound harvests).
"""
from __future__ import annotations

import html
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from contextlib import contextmanager

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
BANDWIDTH_CHUNK_BYTES = 64 * 1024
LOGIN_PAGE = b"<html><body>Log in to see this video</body></html>"  # what a site sends instead of a video


@dataclass
class Site:
    """What the server serves: clip files by name, and the clip names of each tag page."""

    media: dict[str, Path] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)
    latency_s: float = 0.0  # before every response: a round trip to a remote server
    bandwidth_bps: float = 0.0  # bytes/s of each media response (a far server's rate per connection); 0 = no cap
    stall_s: float = 30.0
    cut_after_bytes: int = 4096
    slow_chunk_bytes: int = 2048
    slow_chunk_s: float = 0.05
    session_cookie: str = "sessionid=loopback-session"
    flaky_failures: int = 2
    retry_after: str | None = None
    n_requests: int = 0
    n_media_bytes: int = 0
    range_starts: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # every request, in order
    arrived_at: list[float] = field(default_factory=list)  # time.monotonic() of each request, in order
    max_in_flight: int = 0  # the most requests it was answering at one moment


def tag_page(tag: str, clip_urls: list[str]) -> str:
    videos = "\n".join(f'<video controls src="{html.escape(u)}"></video>' for u in clip_urls)
    return (f"<!doctype html><html><head><title>#{html.escape(tag)}</title></head>"
            f"<body><h1>#{html.escape(tag)}</h1>\n{videos}\n</body></html>")


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    counting = threading.Lock()
    in_flight = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes: with Nagle's algorithm on, a client that keeps the
        # connection open (yt-dlp's requests handler) waits for a delayed ACK before each body, ~9 ms.
        # Web servers send with TCP_NODELAY.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:  # keep test output clean
            return

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            with counting:
                in_flight[0] += 1
                site.max_in_flight = max(site.max_in_flight, in_flight[0])
            try:
                self._answer(head)
            finally:
                with counting:
                    in_flight[0] -= 1

        def _answer(self, head: bool) -> None:
            site.n_requests += 1
            site.paths.append(self.path)
            site.arrived_at.append(time.monotonic())
            if site.latency_s:
                time.sleep(site.latency_s)
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            if parts and parts[0] == "flaky":
                if site.paths.count(self.path) <= site.flaky_failures:
                    return self._unavailable()
                parts = parts[1:]
            if len(parts) == 2 and parts[0] == "tags" and parts[1] in site.tags:
                urls = [f"/media/{name}" for name in site.tags[parts[1]]]
                return self._send_bytes(tag_page(parts[1], urls).encode(), "text/html; charset=utf-8", head)
            if len(parts) == 2 and parts[0] == "html":
                return self._send_bytes(LOGIN_PAGE, "text/html", head)
            if len(parts) == 2 and parts[1] in site.media:
                path = site.media[parts[1]]
                if parts[0] == "media":
                    return self._send_file(path, head)
                if parts[0] == "stall":
                    return self._stall(path)
                if parts[0] == "cut":
                    if self.headers.get("Range"):
                        return self._send_file(path, head)
                    return self._cut(path)
                if parts[0] == "slow":
                    return self._send_file(path, head, slow=True)
                if parts[0] == "private":
                    if site.session_cookie in self.headers.get("Cookie", ""):
                        return self._send_file(path, head)
                    return self._send_bytes(LOGIN_PAGE, "text/html", head)
            self.send_error(404, "not found")

        def _send_bytes(self, body: bytes, content_type: str, head: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _send_file(self, path: Path, head: bool, slow: bool = False) -> None:
            data = path.read_bytes()
            start, end = 0, len(data) - 1
            match = _RANGE.match(self.headers.get("Range", ""))
            if match:
                start = int(match.group(1))
                site.range_starts.append(start)
                end = int(match.group(2)) if match.group(2) else end
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if head:
                return
            if slow:
                step, pause_s = site.slow_chunk_bytes, site.slow_chunk_s
            elif site.bandwidth_bps:
                step = BANDWIDTH_CHUNK_BYTES
                pause_s = step / site.bandwidth_bps
            else:
                step, pause_s = len(data) + 1, 0.0
            for offset in range(start, end + 1, step):
                chunk = data[offset:min(end + 1, offset + step)]
                self.wfile.write(chunk)
                site.n_media_bytes += len(chunk)
                if pause_s:
                    self.wfile.flush()
                    time.sleep(pause_s * len(chunk) / step)

        def _unavailable(self) -> None:
            self.send_response(503)
            if site.retry_after is not None:
                self.send_header("Retry-After", site.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _stall(self, path: Path) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            self.wfile.write(path.read_bytes()[:1024])
            self.wfile.flush()
            time.sleep(site.stall_s)

        def _cut(self, path: Path) -> None:
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:site.cut_after_bytes])
            self.wfile.flush()
            self.close_connection = True

    return Handler


class _Server(ThreadingHTTPServer):
    # The standard library's listen backlog of 5 drops connections when 16 clients connect at once
    # and the accepting thread is slow to run: each dropped one waits a second for its SYN to be resent.
    request_queue_size = 128

    def handle_error(self, request: object, client_address: tuple) -> None:
        # A client closing a kept-alive connection (its process ended, its pool dropped an idle one) is
        # how HTTP/1.1 ends, not a fault of the site: print a traceback only for real errors.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextmanager
def serve(site: Site) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 at a free port; yields the base URL (http://127.0.0.1:PORT)."""
    server = _Server(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="loopback-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
