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


@pytest.fixture(scope="session")
def renderer():
    from render.gl import MeshRenderer

    with MeshRenderer() as one:
        yield one
