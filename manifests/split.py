"""The train/val/test split: a pure function of `video_id`.

A stable hash (not Python's salted `hash`) so a video never changes split as the dataset grows and no
tube of a test video is ever trained on.
"""
from __future__ import annotations

import hashlib

SPLITS = ("train", "val", "test")
# Percent of hash buckets per split: 90/5/5.
_SPLIT_UPPER_BOUNDS = (("train", 90), ("val", 95), ("test", 100))


def split_of(video_id: str) -> str:
    """'train', 'val' or 'test' for a video id, the same on every machine and every run."""
    digest = hashlib.sha256(video_id.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    for split, upper in _SPLIT_UPPER_BOUNDS:
        if bucket < upper:
            return split
    raise AssertionError("unreachable: buckets cover 0..99")
