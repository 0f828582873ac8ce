"""Helpers importable by test modules (conftest fixtures cannot be imported by name)."""
from __future__ import annotations


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
