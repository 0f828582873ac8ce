"""A real run killed with SIGKILL, and two runs on one root, in subprocesses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifests import DatasetRoot, latest_status, read_table
from manifests.store import list_parts
from testing.toy import TOY

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]  # testing/ is not installed: run its command from the repository


def toy_run(root: DatasetRoot, *args: str, env: dict | None = None, wait: bool = True, timeout: float = 120):
    command = [sys.executable, "-m", "testing.toy", str(root.path), "--threads", *args]
    full_env = {**os.environ, **(env or {})}
    if not wait:
        return subprocess.Popen(command, env=full_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def sorted_rows(root: DatasetRoot):
    return read_table(root, TOY).sort_values(["unit_id", "row"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The rows of an uninterrupted run."""
    root = DatasetRoot(tmp_path_factory.mktemp("reference"))
    done = toy_run(root, "--units", "200")
    assert done.returncode == 0, done.stderr
    return sorted_rows(root)


@pytest.mark.parametrize("crash_at", ["after-data-part:5", "after-status-part:3"])
def test_sigkill_at_a_flush_then_rerun_gives_the_rows_of_a_clean_run(tmp_path, reference, crash_at):
    root = DatasetRoot(tmp_path / "dataset")
    crashed = toy_run(root, "--units", "200", env={"HMMR_CRASH_AT": crash_at})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    # Every table is readable after the crash and holds whole committed units only.
    partial = sorted_rows(root)
    ok_units = set(latest_status(root, "toy").query("status == 'ok'").index)
    assert set(partial["unit_id"]) == ok_units
    assert 0 < len(ok_units) < 200
    if crash_at.startswith("after-data-part"):
        assert len(list_parts(root, TOY)) == len(ok_units) // 10 + 1  # one orphan part on disk, unread

    rerun = toy_run(root, "--units", "200")
    assert rerun.returncode == 0, rerun.stderr
    assert f"{200 - len(ok_units)} ok" in rerun.stdout
    final = sorted_rows(root)
    assert final.equals(reference)


def test_sigkill_at_a_random_moment_then_rerun(tmp_path, reference):
    root = DatasetRoot(tmp_path / "dataset")
    process = toy_run(root, "--units", "200", "--sleep-s", "0.02", wait=False)
    time.sleep(3.0)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    read_table(root, TOY)  # readable whatever the moment was
    rerun = toy_run(root, "--units", "200")
    assert rerun.returncode == 0, rerun.stderr
    assert sorted_rows(root).equals(reference)


def test_a_second_run_on_the_same_root_says_who_holds_it_or_waits(tmp_path, reference):
    root = DatasetRoot(tmp_path / "dataset")
    first = toy_run(root, "--units", "200", "--sleep-s", "0.03", wait=False)
    lock_file = root.path / ".hmmr.lock"
    deadline = time.monotonic() + 60
    while not (lock_file.exists() and lock_file.read_text()):
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.1)

    refused = toy_run(root, "--units", "200")
    assert refused.returncode != 0
    assert "is being written by another run (stage toy run" in refused.stderr
    assert f"pid {first.pid}" in refused.stderr and "--lock-wait" in refused.stderr

    queued = toy_run(root, "--units", "200", "--lock-wait", "120")
    assert first.wait(timeout=120) == 0
    assert queued.returncode == 0, queued.stderr
    assert "nothing to do (200 of 200 units already done" in queued.stdout
    assert sorted_rows(root).equals(reference)
