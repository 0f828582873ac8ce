"""The fingerprint of a media file: what the harvest's duplicate check and every import record as `sha256`."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path, chunk_bytes: int = 2**20) -> str:
    """The file's sha256 as hex, read a chunk at a time (videos do not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
