"""SIGKILL in the middle of `hmmr-pseudolabel run`, then a re-run: the same tables as an uninterrupted run."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import numpy as np

from manifests import DETECTIONS, SHOTS, TRACKS, TUBES, DatasetRoot, read_table, status_spec
from manifests.store import list_parts
from tests_helpers import harvest_clips

pytestmark = pytest.mark.slow
NAMES = ["people_a", "angle_zoom", "people_b"]


def pseudolabel_command(root: DatasetRoot) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli.pseudolabel", "run", "--root", str(root.path), "--workers", "2",
            "--flush-every", "1", "--no-progress"]


def tables(root: DatasetRoot) -> dict:
    keys = ((SHOTS, ["video_id", "shot"]), (DETECTIONS, ["video_id", "frame", "person"]),
            (TRACKS, ["video_id", "frame", "person"]), (TUBES, ["tube_id"]))
    return {spec.name: read_table(root, spec).sort_values(key).reset_index(drop=True) for spec, key in keys}


def test_sigkill_mid_pseudolabel_then_rerun_equals_a_clean_run(client, tmp_path):
    clean = DatasetRoot(tmp_path / "clean")
    harvest_clips(client, clean, NAMES, tmp_path)
    crashed = DatasetRoot(tmp_path / "crashed")
    shutil.copytree(clean.path, crashed.path)

    done = subprocess.run(pseudolabel_command(clean), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    process = subprocess.Popen(pseudolabel_command(crashed), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list_parts(crashed, status_spec("pose")):  # the first video's pose is committed, the rest in flight
        assert process.poll() is None and time.monotonic() < deadline, "pseudolabel ended before it could be killed"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    partial = read_table(crashed, DETECTIONS)
    assert 0 < partial["video_id"].nunique() < len(NAMES)  # killed in the middle, still readable

    rerun = subprocess.run(pseudolabel_command(crashed), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    expected, found = tables(clean), tables(crashed)
    for name in expected:
        assert len(found[name]) == len(expected[name]) > 0, name
        assert found[name].drop(columns=["keypoints", "bbox"], errors="ignore").equals(
            expected[name].drop(columns=["keypoints", "bbox"], errors="ignore")), name
        for column in ("keypoints", "bbox"):
            if column in expected[name]:
                for mine, theirs in zip(found[name][column], expected[name][column]):
                    np.testing.assert_array_equal(np.stack(mine) if mine.dtype == object else mine,
                                                  np.stack(theirs) if theirs.dtype == object else theirs)
