"""A real run killed with SIGKILL, and two runs on one root, in subprocesses."""
from __future__ import annotations

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


def toy_run(root: DatasetRoot, *args: str, wait: bool = True, timeout: float = 120):
    command = [sys.executable, "-m", "testing.toy", str(root.path), "--threads", *args]
    if not wait:
        return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


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
    crashed = toy_run(root, "--units", "200", "--crash-at", crash_at)
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
    first = toy_run(root, "--units", "200", "--sleep-s", "0.06", wait=False)  # ~6 s: longer than a start-up
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


def test_a_command_holds_the_root_from_its_first_stage_to_its_last(client, tmp_path, monkeypatch):
    """One lock per command (issue 19, item 8): another command started between two stages of a harvest
    (here, right after enumerate, as harvest reads the entries it found) is refused and says who holds the
    root. With a lock per stage it ran there, between the two, and a first command that came back to the
    lock without waiting failed."""
    import pipelines.harvest as wiring
    from harvest.queries import read_url_list
    from harvest.config import HarvestConfig
    from pipelines.runner import RunnerConfig
    from testing.loopback import Site, serve

    root = DatasetRoot(tmp_path / "dataset")
    between_stages = []
    read_entries = wiring.read_table

    def read_after_a_second_command(*args, **kwargs):
        if not between_stages:  # the first table read after the enumerate stage: one command in between
            between_stages.append(toy_run(root, "--units", "3"))
        return read_entries(*args, **kwargs)

    monkeypatch.setattr(wiring, "read_table", read_after_a_second_command)
    with serve(Site(media={"clip.mp4": REPO / "tests" / "data" / "people_a.mp4"})) as base:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{base}/media/clip.mp4\n")
        stats = wiring.harvest(client, root, read_url_list(listing), HarvestConfig(source_template=base + "/{tag}"),
                               RunnerConfig(progress=False))
    assert [(s.stage, s.n_ok) for s in stats] == [("enumerate", 1), ("harvest", 1)]
    (second,) = between_stages
    assert second.returncode != 0
    assert "is being written by another run (hmmr-harvest pid " in second.stderr, second.stderr
    assert not list_parts(root, TOY)
