"""Duplicate detection by sha256: the first id to claim a video's bytes owns them, also under a race."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from harvest.work import claim_sha256

SHA = "ab" * 32


def test_threads_claiming_the_same_bytes_at_once_agree_on_one_owner(tmp_path):
    ids = [f"generic-clip{i}" for i in range(16)]
    start = threading.Barrier(len(ids))

    def claim(video_id):
        start.wait()
        return claim_sha256(tmp_path, SHA, video_id)

    with ThreadPoolExecutor(len(ids)) as pool:
        owners = set(pool.map(claim, ids))
    assert len(owners) == 1 and owners <= set(ids)
    assert claim_sha256(tmp_path, SHA, "generic-later") == owners.pop()
    assert claim_sha256(tmp_path, "cd" * 32, "generic-later") == "generic-later"  # other bytes: its own
