"""Bounds on one download: an overall deadline and a byte cap, enforced inside yt-dlp as bytes arrive.

yt-dlp alone bounds neither. Its socket timeout bounds each wait for a byte, so a server that sends one
byte every few seconds holds a download forever; its `max_filesize` reads only Content-Length (and a
format's announced size), so a response without one fills the disk. Here:

- a progress hook, which yt-dlp's downloaders call after every block they write, raises
  `DownloadTimeout` past the deadline and `DownloadTooLarge` once more bytes than the cap arrived
  (yt-dlp lets a hook's exception through: the download stops, its file is closed);
- a watchdog shuts down, at the deadline, the socket of every response the download opened and has
  not finished reading, so a read blocked on a trickling server returns at once; the next request or
  retry wait yt-dlp makes then raises `DownloadTimeout` too.

`DownloadGuard` is the one per download; `current_guard()` gives the calling thread's, so one hook and one
request wrapper per YoutubeDL serve every download thread sharing it. One watchdog thread per process
serves every guard (a timer thread per download cost 0.15 ms of CPU each, a tenth of a small video's
download); a download ends, on time, in its own thread, and starts no other.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Any, Callable

from yt_dlp.utils import DownloadCancelled

_local = threading.local()
# Where a yt-dlp response keeps its socket: Response.fp (urllib3's response, or http.client's) -> _fp
# (http.client's) -> fp (the socket's reader) -> raw (SocketIO) -> _sock.
_SOCKET_PATHS = ("fp", "_fp", "raw", "_sock", "sock")


class DownloadTimeout(DownloadCancelled):
    """The download took longer than its deadline (--download-timeout)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"took longer than --download-timeout {timeout_s:g} s (a stalled or trickling server?); "
                         "a partial file is deleted")


class DownloadTooLarge(DownloadCancelled):
    """More bytes arrived than the size cap (--max-filesize), whatever the server announced."""

    def __init__(self, n_bytes: int, max_bytes: int) -> None:
        super().__init__(f"more than --max-filesize {max_bytes / 2**20:g} MB arrived ({n_bytes} bytes and counting, "
                         f"with no size announced or a wrong one); the partial file was deleted")


class DownloadGuard:
    """The deadline and byte cap of one download, active in the thread that enters it."""

    def __init__(self, timeout_s: float, max_bytes: int) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout_s
        self.expired = False
        self.finished = False
        self._lock = threading.Lock()
        self._responses: list[Any] = []

    def __enter__(self) -> DownloadGuard:
        if getattr(_local, "guard", None) is not None:
            raise RuntimeError("a download is already guarded in this thread")
        _local.guard = self
        _WATCHDOG.watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _local.guard = None
        with self._lock:
            self.finished = True  # the watchdog leaves it alone from now on
            self._responses.clear()

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise DownloadTimeout once the deadline has passed."""
        if self.expired or self.remaining_s() <= 0:
            raise DownloadTimeout(self.timeout_s)

    def on_progress(self, status: dict[str, Any]) -> None:
        """yt-dlp's progress hook: called after each block written (and at the end of each file)."""
        self.check()
        n_bytes = status.get("downloaded_bytes") or 0
        if n_bytes > self.max_bytes:
            raise DownloadTooLarge(n_bytes, self.max_bytes)

    def watch(self, response: Any) -> None:
        """Shut `response`'s socket down at the deadline (at once if it has passed)."""
        with self._lock:
            self._responses.append(response)
            expired = self.expired
        if expired:
            _shut_down(response)

    def expire(self) -> None:
        """At the deadline (the watchdog's thread): mark it expired and unblock its reads."""
        with self._lock:
            if self.finished:
                return
            self.expired = True
            responses = list(self._responses)
        for response in responses:
            _shut_down(response)


class _Watchdog:
    """One daemon thread per process that expires guards at their deadlines, earliest first."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, DownloadGuard]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, guard: DownloadGuard) -> None:
        with self._wake:
            heapq.heappush(self._due, (guard.deadline, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked child
                self._thread = threading.Thread(target=self._run, name="hmmr-download-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                # Finished guards leave the queue as the watchdog meets them, not when they finish.
                while self._due and self._due[0][2].finished:
                    heapq.heappop(self._due)
                wait_s = self._due[0][0] - time.monotonic() if self._due else None
                if wait_s is None or wait_s > 0:
                    self._wake.wait(wait_s)
                    continue
                guard = heapq.heappop(self._due)[2]
            guard.expire()


_WATCHDOG = _Watchdog()


def current_guard() -> DownloadGuard | None:
    return getattr(_local, "guard", None)


def guard_progress(status: dict[str, Any]) -> None:
    """A progress hook for any downloader: the calling thread's guard, if it has one, checks the bounds."""
    guard = current_guard()
    if guard is not None:
        guard.on_progress(status)


def guarded_urlopen(urlopen: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a YoutubeDL's `urlopen`: no new request past the deadline, and each response is watched."""
    def open_within_deadline(*args: Any, **kwargs: Any) -> Any:
        guard = current_guard()
        if guard is None:
            return urlopen(*args, **kwargs)
        guard.check()
        response = urlopen(*args, **kwargs)
        guard.watch(response)
        return response

    return open_within_deadline


def bounded_wait_s(wait_s: float) -> float:
    """A retry's wait, cut to the time left before the calling thread's deadline; DownloadTimeout if none is."""
    guard = current_guard()
    if guard is None:
        return wait_s
    guard.check()
    return min(wait_s, max(0.0, guard.remaining_s()))


def _shut_down(response: Any) -> None:
    """Shut down the socket a response reads from, if it still has one: a blocked read returns at once.
    A finished response has handed its connection back (its chain ends before a socket): left alone."""
    sock = _socket_of(response)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _socket_of(response: Any, depth: int = 6) -> socket.socket | None:
    if isinstance(response, socket.socket):
        return response
    if depth == 0 or response is None:
        return None
    for name in _SOCKET_PATHS:
        inner = getattr(response, name, None)
        if inner is not None and inner is not response:
            found = _socket_of(inner, depth - 1)
            if found is not None:
                return found
    return None
