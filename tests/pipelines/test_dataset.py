"""Maintaining a dataset (issue 26): takedowns that reach every derived row, snapshots, the card, export.

The root is real: three clips of people harvested from the loopback site's tag page by the real harvest,
then the pose, tracking and features stages' rows committed through the real runner (synthetic values,
written as those stages write them: their payloads would need a pose model and a GPU backbone).
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from click.testing import CliRunner

from harvest.queries import read_hashtags
from harvest.config import HarvestConfig
from manifests import (DATA_TABLES, DETECTIONS, ENTRIES, FEATURES, SHOTS, TRACKS, TUBES, VIDEOS, DatasetRoot, UnitResult,
                       latest_status, live_flushes, read_arrow, read_table)
from manifests.rows import DetectionRows, FeatureRows, ShotRows, TrackRows, TubeRows
from manifests.snapshot import load_snapshot, read_at, removed_since, take_snapshot
from manifests.status import UnitPayload
from manifests.tables import TOMBSTONES
from pipelines.card import write_card
from pipelines.cli.dataset import main as dataset_cli
from pipelines.export import export_snapshot
from pipelines.harvest import harvest
from pipelines.remove import Selection, remove_videos
from pipelines.runner import RunnerConfig, run_stage
from pipelines.scheduler import InProcessScheduler
from pipelines.stage import Stage
from testing.loopback import Site, serve
from train.data import prepare_store, select_tubes

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
DAY1 = datetime(2026, 11, 1, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 2, tzinfo=timezone.utc)
QUIET = RunnerConfig(progress=False)
N_FRAMES = 12


@dataclass(frozen=True)
class VideoUnit(UnitPayload):
    """A harvested video (unit_id) whose pose, tracking and features rows a test commits."""

    dataset: str


def _shots_and_detections(payload: VideoUnit, context) -> UnitResult:
    frames = np.repeat(np.arange(N_FRAMES), 2)
    return UnitResult(rows=(
        ShotRows(video_id=[payload.unit_id], shot=[0], start_frame=[0], end_frame=[N_FRAMES], fps=[25.0]),
        DetectionRows(video_id=[payload.unit_id] * len(frames), frame=frames, person=np.tile([0, 1], N_FRAMES),
                      keypoints=np.full((len(frames), 75), 1.0, np.float32), backend=["standin"] * len(frames),
                      backend_version=["1"] * len(frames))))


def _tracks_and_tubes(payload: VideoUnit, context) -> UnitResult:
    video = payload.unit_id
    return UnitResult(rows=(
        TrackRows(video_id=[video] * N_FRAMES, frame=range(N_FRAMES), person=[0] * N_FRAMES, track_id=[0] * N_FRAMES,
                  shot=[0] * N_FRAMES),
        TubeRows(tube_id=[f"{video}-t0-0"], video_id=[video], dataset=[payload.dataset], split=["train"], track_id=[0],
                 shot=[0], start_frame=[0], end_frame=[N_FRAMES], n_frames=[N_FRAMES], fps=[25.0],
                 keypoints=[np.full((N_FRAMES, 75), 1.0, np.float32)],
                 bbox=[np.tile([80.0, 60.0, 1.0], (N_FRAMES, 1)).astype(np.float32)],
                 mean_confidence=[1.0], mean_visible_joints=[25.0])))


def _features(payload: VideoUnit, context, tracked: dict[str, str]) -> UnitResult:
    video = payload.unit_id
    return UnitResult(rows=(FeatureRows(
        tube_id=[f"{video}-t0-0"], video_id=[video], view=[0], n_frames=[N_FRAMES],
        bbox=[np.tile([80.0, 60.0, 1.0], (N_FRAMES, 1)).astype(np.float32)], flipped=[False],
        features=[np.zeros((N_FRAMES, 2048), np.float32)], extractor=["synthetic"], extractor_version=["1"],
        tubes_flush=[tracked[video]]),))


def label_videos(root: DatasetRoot, version: str = "synthetic", also: tuple[str, ...] = ()) -> list:
    """Commit pose, tracking and features rows for every video of `videos` (and of `also`), as those stages
    would."""
    videos = read_table(root, VIDEOS, columns=["video_id", "dataset"])
    units = [VideoUnit(unit_id=v, dataset="insta") for v in (*videos["video_id"], *also)]
    here = InProcessScheduler()
    stats = [run_stage(here, root, Stage(name, version, outputs, work), units, QUIET)
             for name, outputs, work in (("pose", (SHOTS, DETECTIONS), _shots_and_detections),
                                         ("tracking", (TRACKS, TUBES), _tracks_and_tubes))]
    # The features record the tracking commit they were made from, as the stage does (the store checks it).
    features = functools.partial(_features, tracked=live_flushes(root, "tracking"))
    return stats + [run_stage(here, root, Stage("features", version, (FEATURES,), features), units, QUIET)]


@pytest.fixture(scope="module")
def site():
    site = Site(media={f"{n}.mp4": DATA / f"{n}.mp4" for n in ("people_a", "people_b", "people_c", "people_d")},
                tags={"dance": ["people_a.mp4", "people_b.mp4", "people_c.mp4"], "again": ["people_b.mp4"]})
    with serve(site) as base:
        yield site, base


def harvest_tags(client, root: DatasetRoot, base: str, tags: str, today: datetime, tmp_path: Path):
    listing = tmp_path / f"tags-{tags.replace(',', '-')}.txt"
    listing.write_text("".join(f"#{t}\n" for t in tags.split(",")))
    config = HarvestConfig(source_template=base + "/tags/{tag}/", retries=1, socket_timeout_s=5.0)
    return harvest(client, root, read_hashtags(listing, template=config.source_template), config, QUIET, today=today)


@pytest.fixture(scope="module")
def labelled(client, site, tmp_path_factory):
    """A root of three harvested, posed, tracked and featured videos; tests work on copies of it."""
    _, base = site
    folder = tmp_path_factory.mktemp("labelled")
    root = DatasetRoot(folder / "root")
    stats = harvest_tags(client, root, base, "dance", DAY1, folder)
    assert stats[-1].n_ok == 3, stats[-1].summary()
    label_videos(root)
    return root


@pytest.fixture
def copy(labelled, tmp_path) -> DatasetRoot:
    shutil.copytree(labelled.path, tmp_path / "root")
    return DatasetRoot(tmp_path / "root")


def rows_of(root: DatasetRoot) -> dict:
    """Every table's live rows, sorted by key, without the columns that hold the time of a run."""
    tables = {}
    for spec in DATA_TABLES.values():
        table = read_arrow(root, spec).sort_by([(k, "ascending") for k in spec.key])
        tables[spec.name] = table.drop_columns([c for c in ("removed_at",) if c in table.column_names])
    return tables


def video_ids_in(root: DatasetRoot) -> dict[str, set]:
    return {spec.name: set(read_table(root, spec, columns=["video_id"])["video_id"]) for spec in DATA_TABLES.values()}


def test_a_removed_video_leaves_every_table_and_stays_removed(client, copy, site):
    before = rows_of(copy)
    gone = "generic-people_b"
    media = copy.path / read_table(copy, VIDEOS).set_index("video_id").loc[gone, "media_path"]
    assert media.is_file() and all(gone in ids for name, ids in video_ids_in(copy).items()
                                   if name not in ("tombstones", "sources", "targets"))

    dry = CliRunner().invoke(dataset_cli, ["remove", "--root", str(copy.path), "--id", gone, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 videos selected" in dry.output and re.search(rf"detections +{2 * N_FRAMES} rows", dry.output)
    assert media.is_file() and rows_of(copy)["tubes"].equals(before["tubes"])  # a dry run changes nothing

    done = CliRunner().invoke(dataset_cli, ["remove", "--root", str(copy.path), "--id", gone,
                                            "--reason", "creator's request"])
    assert done.exit_code == 0, done.output
    after = rows_of(copy)
    for name, ids in video_ids_in(copy).items():
        assert gone not in ids or name == "tombstones", name
    for name, table in before.items():  # the other two videos' rows are untouched
        if name != "tombstones":
            kept = table.filter(~np.isin(np.array(table.column("video_id").to_pylist(), dtype=object), [gone]))
            assert after[name].equals(kept), name
    assert not media.exists()
    tombstone = read_table(copy, TOMBSTONES).iloc[0]
    assert (tombstone["video_id"], tombstone["reason"]) == (gone, "creator's request")

    # A re-run of the stages that make rows of it (a new version, asked for it by name) skips it: nothing
    # comes back.
    label_videos(copy, version="synthetic-2", also=(gone,))
    for stage in ("pose", "tracking", "features"):
        assert latest_status(copy, stage).loc[gone, ["status", "reason"]].tolist() == ["skipped", "removed"]
    assert all(gone not in ids for name, ids in video_ids_in(copy).items() if name != "tombstones")

    # A harvest that finds it again (another tag page lists it; the first is read again the next day) skips it.
    _, base = site
    stats = harvest_tags(client, copy, base, "dance,again", DAY2, copy.path)
    status = latest_status(copy, "harvest").loc[gone]
    assert (status["status"], status["reason"], status["message"]) == ("skipped", "removed", "creator's request")
    assert stats[-1].n_ok == 0 and stats[-1].skipped_by_reason == {"removed": 1}
    assert gone not in set(read_table(copy, VIDEOS)["video_id"]) and not media.exists()


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["after-data-part:1", "after-status-part:1"])
def test_sigkill_during_a_removal_then_a_rerun_gives_the_tables_of_an_uninterrupted_one(labelled, tmp_path, crash_at):
    clean = DatasetRoot(tmp_path / "clean")
    crashed = DatasetRoot(tmp_path / "crashed")
    for root in (clean, crashed):
        shutil.copytree(labelled.path, root.path)
    ids = ("generic-people_a", "generic-people_c")
    remove_videos(clean, Selection(video_ids=ids), "licence", QUIET)

    script = ("import sys; from manifests import DatasetRoot; from pipelines.remove import Selection, remove_videos; "
              "from pipelines.runner import RunnerConfig; from testing.toy import _crash_hook; "
              "remove_videos(DatasetRoot(sys.argv[1]), Selection(video_ids=tuple(sys.argv[3:])), 'licence', "
              "RunnerConfig(progress=False), commit_hook=_crash_hook(sys.argv[2]))")
    killed = subprocess.run([sys.executable, "-c", script, str(crashed.path), crash_at, *ids], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    read_table(crashed, TUBES)  # readable whatever the moment was
    remove_videos(crashed, Selection(video_ids=ids), "licence", QUIET)
    expected, got = rows_of(clean), rows_of(crashed)
    for name in expected:
        assert got[name].equals(expected[name]), name
    assert sorted(p.name for p in crashed.media_dir.glob("*.mp4")) == ["generic-people_b.mp4"]


def test_a_snapshot_keeps_its_tubes_through_growth_and_honours_later_removals(client, copy, site):
    _, base = site
    frozen = take_snapshot(copy, "v1")
    def tubes_of(snapshot):
        store = prepare_store(copy, ("insta",), progress=False, snapshot=snapshot)
        return sorted(select_tubes(store, copy, ("insta",), "train", 4).tube_id)

    before = tubes_of(frozen)
    assert len(before) == 3

    site[0].tags["dance"].append("people_d.mp4")  # the page grows; the next day's harvest finds the new post
    try:
        assert harvest_tags(client, copy, base, "dance", DAY2, copy.path)[-1].n_ok == 1
    finally:
        site[0].tags["dance"].remove("people_d.mp4")
    label_videos(copy)
    assert len(tubes_of(None)) == 4
    assert tubes_of(load_snapshot(copy, "v1")) == before

    remove_videos(copy, Selection(video_ids=("generic-people_a",)), "wrong licence", QUIET)
    assert tubes_of(load_snapshot(copy, "v1")) == [t for t in before if not t.startswith("generic-people_a-")]
    assert list(removed_since(copy, load_snapshot(copy, "v1"))["video_id"]) == ["generic-people_a"]
    listing = CliRunner().invoke(dataset_cli, ["snapshot", "--root", str(copy.path)])
    assert listing.exit_code == 0 and "v1\t" in listing.output and "1 removed since" in listing.output


def test_card_counts_equal_pandas_counts_and_an_export_reads_back(copy, tmp_path):
    take_snapshot(copy, "v1")
    remove_videos(copy, Selection(video_ids=("generic-people_c",)), "takedown", QUIET)
    take_snapshot(copy, "v2")
    snapshot = load_snapshot(copy, "v2")
    card = write_card(copy, snapshot, tmp_path / "card")

    videos, tubes = read_table(copy, VIDEOS), read_table(copy, TUBES)
    by_group = {(c.dataset, c.split): c for c in card.counts}
    for (dataset, split), group in videos.groupby(["dataset", "split"]):
        counts = by_group[(dataset, split)]
        assert counts.videos == len(group)
        assert counts.hours == pytest.approx(group["duration_s"].sum() / 3600, abs=1e-4)
    assert (card.total.videos, card.total.tubes, card.total.frames) == (2, len(tubes), int(tubes["n_frames"].sum()))
    assert card.licences == {"unknown": 2}
    assert card.pose == {"standin 1": len(read_table(copy, DETECTIONS))}
    assert card.people_per_frame.counts[1] == 2 * N_FRAMES  # two people in every frame of both videos
    assert [r.video_id for r in card.removed_since_previous] == ["generic-people_c"] and card.previous == "v1"
    assert "## Removals" in (tmp_path / "card" / "card.md").read_text()

    shown = CliRunner().invoke(dataset_cli, ["card", "v2", "--root", str(copy.path)])
    assert shown.exit_code == 0 and "(2 videos, 2 tubes)" in shown.output, shown.output
    assert json.loads((copy.path / "cards" / "v2" / "card.json").read_text())["total"]["videos"] == 2

    out = tmp_path / "release"
    result = CliRunner().invoke(dataset_cli, ["export", "v2", "--root", str(copy.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = pads.dataset(out / "tubes", format="parquet").to_table()
    assert sorted(exported.column("tube_id").to_pylist()) == sorted(tubes["tube_id"])
    assert pads.dataset(out / "detections", format="parquet").count_rows() == 4 * N_FRAMES
    assert not (out / "tombstones").exists() and (out / "card.md").is_file() and "load_dataset" in (out / "README.md").read_text()
    assert read_at(copy, ENTRIES, snapshot=load_snapshot(copy, "v1"))["video_id"].nunique() == 2  # c removed since v1
