"""One writer per dataset root: an advisory `flock` on `<root>/.hmmr.lock`.

The kernel drops the lock when the holder dies (even by SIGKILL), so a crashed run never leaves a
stale lock behind. The holder writes who it is into the file so that a second run can say so.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from manifests.errors import DatasetLocked

LOCK_NAME = ".hmmr.lock"
_POLL_S = 0.2


class DatasetLock:
    """Context manager holding the writer lock of a dataset root.

    wait_s: how long to wait for another holder to finish; 0 = fail at once with its identity.
    Re-entrant within one process (a command that runs several stages holds it once).
    """

    _held: dict[Path, tuple[int, int]] = {}  # resolved root -> (fd, depth)

    def __init__(self, root: Path, owner: str, wait_s: float = 0.0) -> None:
        self.root = Path(root).resolve()
        self.owner = owner
        self.wait_s = wait_s

    @property
    def path(self) -> Path:
        return self.root / LOCK_NAME

    def __enter__(self) -> "DatasetLock":
        held = self._held.get(self.root)
        if held is not None:
            self._held[self.root] = (held[0], held[1] + 1)
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise DatasetLocked(
                        f"dataset root {self.root} is being written by another run ({describe_holder(self.path)}); "
                        f"wait for it to finish, or pass a lock wait (--lock-wait SECONDS) to queue behind it"
                    ) from None
                time.sleep(_POLL_S)
        holder = {
            "owner": self.owner, "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._held[self.root] = (fd, 1)
        return self

    def __exit__(self, *exc: object) -> None:
        fd, depth = self._held[self.root]
        if depth > 1:
            self._held[self.root] = (fd, depth - 1)
            return
        del self._held[self.root]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    return f"{holder.get('owner')} pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
