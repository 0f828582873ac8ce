"""A hostile web site for the harvest tests: a server that trickles a byte at a time, one that stalls, one
that floods without Content-Length, and files under names that collide or are too long."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import unquote, urlsplit

FLOOD_LIMIT_BYTES = 256 * 2**20  # the flood's own end, far past any cap a test sets


@dataclass
class HostileSite:
    """files: request path (percent-decoded, with its query) -> bytes. Besides them:
    /trickle/<any>  a Content-Length, then one byte every `trickle_s` (under any socket timeout); an
                    HTML page if <any> ends with '/'
    /stall/<any>    a Content-Length and a few bytes, then nothing for `stall_s`
    /flood/<any>    no Content-Length, bytes as fast as the client takes them, up to 256 MiB"""

    files: dict[str, bytes] = field(default_factory=dict)
    trickle_s: float = 0.2
    stall_s: float = 20.0
    requests: list[str] = field(default_factory=list)
    n_flood_bytes: int = 0


def _handler(site: HostileSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path) + (f"?{parts.query}" if parts.query else "")
            site.requests.append(path)
            try:
                if path.startswith("/trickle/"):
                    self._headers(length=10**6, html=path.endswith("/"))
                    for _ in range(int(30 / site.trickle_s)):
                        self.wfile.write(b"\0")
                        self.wfile.flush()
                        time.sleep(site.trickle_s)
                elif path.startswith("/stall/"):
                    self._headers(length=10**6)
                    self.wfile.write(b"\0" * 1024)
                    self.wfile.flush()
                    time.sleep(site.stall_s)
                elif path.startswith("/flood/"):
                    self._headers(length=None)
                    block = b"\0" * 65536
                    while site.n_flood_bytes < FLOOD_LIMIT_BYTES:
                        self.wfile.write(block)
                        site.n_flood_bytes += len(block)
                elif path in site.files:
                    self._headers(length=len(site.files[path]), html=path.endswith("/"))
                    self.wfile.write(site.files[path])
                else:
                    self.send_error(404, "not found")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up: what a deadline or a cap does

        def _headers(self, length: int | None, html: bool = False) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8" if html else "video/mp4")
            if length is None:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(length))
            self.end_headers()

    return Handler


@contextmanager
def serve(site: HostileSite) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
