"""Which renderer draws: OpenGL (render/gl.py) where a headless context can be made, else the torch
rasteriser (render/raster.py), so that a machine with pip's wheels and nothing else still renders.

HMMR_RENDERER=gl|torch forces one (gl fails loudly where it cannot start); unset or 'auto' chooses."""
from __future__ import annotations

import logging
import os
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)
KINDS = ("auto", "gl", "torch")


class Renderer(Protocol):
    """What render/overlay.py draws with: render.gl.MeshRenderer or render.raster.TorchRenderer."""

    description: str

    def draw(self, background: np.ndarray, meshes: list, opacity: float = 0.9) -> np.ndarray: ...

    def close(self) -> None: ...


def open_renderer(kind: str | None = None) -> Renderer:
    """OpenGL if it starts here, else torch (see the module's docstring); use it as a context manager."""
    from render.gl import MeshRenderer, RendererUnavailable
    from render.raster import TorchRenderer

    kind = kind or os.environ.get("HMMR_RENDERER") or "auto"
    if kind not in KINDS:
        raise ValueError(f"renderer {kind!r}: expected one of {', '.join(KINDS)} (HMMR_RENDERER)")
    if kind == "torch":
        return TorchRenderer()
    try:
        return MeshRenderer()
    except RendererUnavailable as e:
        if kind == "gl":
            raise
        log.warning("%s. Drawing with hmmr's torch rasteriser instead (the same picture, not antialiased, slower "
                    "on a CPU).", e)
        return TorchRenderer()
