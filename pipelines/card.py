"""A dataset card for a snapshot: what is in it, where it came from, and what was taken out, as Markdown + JSON.

Every number is counted from the snapshot's rows (manifests.snapshot.read_at), so the card of a snapshot
is the same whenever it is made, except for videos removed since (listed, and no longer counted).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from manifests import DETECTIONS, SOURCES, TUBES, VIDEOS, DatasetRoot
from manifests.atomic import write_text_atomic
from manifests.snapshot import Snapshot, load_snapshot, read_at, removed_since
from manifests.tombstones import read_tombstones
from pipelines.report import histogram_plot

TUBE_LENGTH_BINS = np.array([0, 10, 20, 40, 80, 160, 320, 640, 1280, 2560])  # longer: in the last bin
PEOPLE_BINS = np.arange(0.5, 11.5)  # 1 ... 10 people; more are counted in the last bin


@dataclass(frozen=True)
class Counts:
    """Per dataset and split (or '*' for all): videos, hours of video, tubes, tube frames."""

    dataset: str
    split: str
    videos: int
    hours: float
    tubes: int
    frames: int


@dataclass(frozen=True)
class Histogram:
    edges: list[float]  # bin edges; values beyond the last are counted in the last bin
    counts: list[int]


@dataclass(frozen=True)
class Removal:
    video_id: str
    reason: str
    removed_at: str


@dataclass(frozen=True)
class Card:
    name: str
    created_at: str
    fingerprint: str
    previous: str | None
    queries: dict[str, int]  # "<dataset> <query>": videos
    source_lists: dict[str, int]  # the authors' list files (sources table): videos named
    counts: list[Counts]
    total: Counts
    licences: dict[str, int]
    pose: dict[str, int]  # "<backend> <version>": detections
    tube_length: Histogram  # frames per tube
    people_per_frame: Histogram  # detections per frame, frames with at least one
    removed_since_previous: list[Removal]  # taken down between the previous snapshot and this one
    removed_since: list[Removal]  # taken down after this snapshot: no longer in its reads


def _histogram(values: pd.Series, bins: np.ndarray) -> Histogram:
    clipped = np.minimum(values.to_numpy(dtype=np.float64), bins[-1] - 1e-6)  # beyond the last edge: in its bin
    counts, _ = np.histogram(clipped, bins=bins)
    return Histogram(edges=[float(e) for e in bins], counts=[int(c) for c in counts])


def _removals(frame: pd.DataFrame) -> list[Removal]:
    return [Removal(r.video_id, r.reason, pd.Timestamp(r.removed_at).isoformat()) for r in frame.itertuples()]


def _counts(videos: pd.DataFrame, tubes: pd.DataFrame, dataset: str, split: str) -> Counts:
    return Counts(dataset, split, videos=len(videos), hours=round(float(videos["duration_s"].sum()) / 3600, 4),
                  tubes=len(tubes), frames=int(tubes["n_frames"].sum()))


def make_card(root: DatasetRoot, snapshot: Snapshot) -> Card:
    videos = read_at(root, VIDEOS, ["video_id", "dataset", "split", "query", "duration_s", "license"], snapshot=snapshot)
    tubes = read_at(root, TUBES, ["tube_id", "video_id", "dataset", "split", "n_frames"], snapshot=snapshot)
    detections = read_at(root, DETECTIONS, ["video_id", "frame", "backend", "backend_version"], snapshot=snapshot)
    sources = read_at(root, SOURCES, ["video_id", "list_name"], snapshot=snapshot)
    groups = sorted(set(zip(videos["dataset"], videos["split"])) | set(zip(tubes["dataset"], tubes["split"])))
    counts = [_counts(videos[(videos["dataset"] == d) & (videos["split"] == s)],
                      tubes[(tubes["dataset"] == d) & (tubes["split"] == s)], d, s) for d, s in groups]
    pose = detections.groupby(["backend", "backend_version"]).size()
    people = detections.groupby(["video_id", "frame"]).size()
    tombstones = read_tombstones(root)
    previous = load_snapshot(root, snapshot.previous).created_at if snapshot.previous else None
    after_previous = tombstones["removed_at"] > pd.Timestamp(previous) if previous else True
    between = tombstones[after_previous & (tombstones["removed_at"] <= pd.Timestamp(snapshot.created_at))]
    return Card(
        name=snapshot.name, created_at=snapshot.created_at, fingerprint=snapshot.fingerprint, previous=snapshot.previous,
        queries={f"{d} {q}": int(n) for (d, q), n in videos.groupby(["dataset", "query"]).size().items()},
        source_lists={str(k): int(n) for k, n in sources.groupby("list_name")["video_id"].nunique().items()},
        counts=counts, total=_counts(videos, tubes, "*", "*"),
        licences={str(k): int(n) for k, n in videos["license"].fillna("unknown").value_counts().sort_index().items()},
        pose={f"{b} {v}": int(n) for (b, v), n in pose.items()},
        tube_length=_histogram(tubes["n_frames"], TUBE_LENGTH_BINS),
        people_per_frame=_histogram(people, PEOPLE_BINS),
        removed_since_previous=_removals(between), removed_since=_removals(removed_since(root, snapshot)))


def card_markdown(card: Card, tube_png: str, people_png: str) -> str:
    lines = [f"# Dataset card: {card.name}", "",
             f"Snapshot `{card.name}` of an hmmr dataset root, taken {card.created_at} (fingerprint "
             f"`{card.fingerprint}`; previous snapshot: {card.previous or 'none'}).", "",
             "## Counts", "", "| dataset | split | videos | hours | tubes | tube frames |", "|---|---|---:|---:|---:|---:|"]
    for c in [*card.counts, card.total]:
        lines.append(f"| {c.dataset} | {c.split} | {c.videos} | {c.hours:.2f} | {c.tubes} | {c.frames} |")
    lines += ["", "## Sources", "", "| dataset and query | videos |", "|---|---:|"]
    lines += [f"| {q} | {n} |" for q, n in card.queries.items()]
    if card.source_lists:
        lines += ["", "Published lists: " + ", ".join(f"{k} ({n} videos)" for k, n in card.source_lists.items())]
    lines += ["", "## Licences", "", "| licence | videos |", "|---|---:|"]
    lines += [f"| {k} | {n} |" for k, n in card.licences.items()]
    lines += ["", "## Pose labels", "", "| backend and version | detections |", "|---|---:|"]
    lines += [f"| {k} | {n} |" for k, n in card.pose.items()]
    lines += ["", "## Tubes", "", f"![tube length]({tube_png})", "", f"![people per frame]({people_png})", "",
              "## Removals", ""]
    for title, removals in (("Taken down since the previous snapshot", card.removed_since_previous),
                            ("Taken down after this snapshot (no longer in it)", card.removed_since)):
        lines.append(f"{title}: {len(removals)}")
        lines += [f"- `{r.video_id}` ({r.removed_at}): {r.reason}" for r in removals]
        lines.append("")
    return "\n".join(lines)


def write_card(root: DatasetRoot, snapshot: Snapshot, out: Path) -> Card:
    """card.md, card.json and the two histograms' PNGs in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    card = make_card(root, snapshot)
    tube_png = _plot(card.tube_length, "tube length", "frames", out / "tube_length.png")
    people_png = _plot(card.people_per_frame, "people per frame (frames with anyone)", "people",
                       out / "people_per_frame.png")
    write_text_atomic(out / "card.json", json.dumps(asdict(card), indent=2) + "\n")
    write_text_atomic(out / "card.md", card_markdown(card, tube_png, people_png) + "\n")
    return card


def _plot(histogram: Histogram, title: str, unit: str, path: Path) -> str:
    edges = np.array(histogram.edges)
    return histogram_plot(pd.Series(np.repeat((edges[:-1] + edges[1:]) / 2, histogram.counts)), title, unit, edges, path)
