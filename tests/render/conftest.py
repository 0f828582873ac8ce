"""The mannequin in SMPL's format, posed once per session, for the render tests."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def body(tmp_path_factory):
    from train.body import BodyModel, write_test_smpl

    folder = tmp_path_factory.mktemp("smpl")
    write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
    return BodyModel(folder)


@pytest.fixture(scope="session")
def faces(body):
    return body.smpl.faces.astype(np.int32)


def open_gl(samples: int = 4):
    """OpenGL's renderer, or a skip that says which system library is missing (the torch one always runs)."""
    from render.gl import MeshRenderer, RendererUnavailable

    try:
        return MeshRenderer(samples=samples)
    except RendererUnavailable as e:
        pytest.skip(f"OpenGL renderer unavailable here ({e}); the torch rasteriser's run of this test stands")


@pytest.fixture(scope="session")
def gl_opener():
    return open_gl


@pytest.fixture(scope="session", params=["gl", "torch"])
def renderer(request):
    """Each drawing test runs on both renderers: OpenGL (moderngl, EGL) and the torch fallback."""
    from render.raster import TorchRenderer

    with (open_gl() if request.param == "gl" else TorchRenderer()) as one:
        yield one
