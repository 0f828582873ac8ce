"""Which videos were taken down, and the lookups every later run makes against them.

The `tombstones` table (manifests.tables.TOMBSTONES) is filled by the stage `remove` (pipelines.remove).
A run of any stage that writes rows keyed by video skips a unit whose id or URL is here (pipelines.runner),
so nothing taken down comes back: not by a re-harvest, a re-pose, a re-import.
"""
from __future__ import annotations

import pandas as pd

from manifests.store import DatasetRoot, read_table
from manifests.tables import TOMBSTONES


def read_tombstones(root: DatasetRoot) -> pd.DataFrame:
    """The live tombstones, oldest removal first."""
    return read_table(root, TOMBSTONES).sort_values(["removed_at", "video_id"], kind="stable").reset_index(drop=True)


def removal_reasons(root: DatasetRoot) -> dict[str, str]:
    """{video id or URL: the reason it was removed}: every key a later run must refuse."""
    tombstones = read_tombstones(root)
    reasons: dict[str, str] = {}
    for row in tombstones.itertuples(index=False):
        for key in (row.video_id, row.url, row.webpage_url):
            if key:
                reasons.setdefault(key, row.reason)
    return reasons


def removed_video_ids(root: DatasetRoot) -> set[str]:
    return set(read_table(root, TOMBSTONES, columns=["video_id"])["video_id"])
