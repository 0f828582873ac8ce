"""The loopback site most harvest tests download from (test_hostile_input has a hostile one of its own)."""
from __future__ import annotations

import pytest

from testing.loopback import Site


@pytest.fixture
def site(clips):
    return Site(media={f"{name}.mp4": path for name, path in clips.items()},
                tags={"dance": ["walk.mp4", "jump.mp4"], "parkour": ["run.mp4", "walk_copy.mp4"], "empty": []},
                stall_s=20)
