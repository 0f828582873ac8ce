"""A static HTML report of a dataset root: what was harvested, what became tubes, what failed, and how
the labels look. Plain HTML + PNG files (matplotlib, Pillow): open it from disk, mail it, put it online.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402

from manifests.joints import N_BODY_25  # noqa: E402
from media.decode import DecodeConfig, open_stream  # noqa: E402
from pseudolabel.draw import draw_people  # noqa: E402
from tracking.tubes import TubeConfig  # noqa: E402


@dataclass
class ReportInputs:
    """The tables the report reads (pandas frames as manifests.read_table returns them)."""

    videos: pd.DataFrame
    tubes: pd.DataFrame
    detections: pd.DataFrame
    tracks: pd.DataFrame
    status: dict[str, pd.DataFrame]  # stage -> latest status per unit
    root: Path


def _bar(ax, series: pd.Series, title: str, unit: str) -> None:
    series = series.sort_values(ascending=True)
    ax.barh([str(i) for i in series.index], series.to_numpy(), color="#3b7dd8")
    ax.set_title(title)
    ax.set_xlabel(unit)


def _save(figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path.name


def overview_plots(inputs: ReportInputs, out: Path) -> list[tuple[str, str]]:
    """(title, png name) of the summary plots."""
    videos, tubes = inputs.videos, inputs.tubes
    plots = []
    for key in ("dataset", "query"):
        figure, axes = plt.subplots(1, 4, figsize=(16, max(2.5, 0.35 * videos[key].nunique() + 1.5)))
        _bar(axes[0], videos.groupby(key).size(), f"videos per {key}", "videos")
        _bar(axes[1], videos.groupby(key)["duration_s"].sum() / 3600, f"hours per {key}", "hours")
        tube_counts = (tubes.merge(videos[["video_id", "query"]], on="video_id", how="left") if key == "query" else tubes)
        _bar(axes[2], tube_counts.groupby(key).size().reindex(videos[key].unique(), fill_value=0), f"tubes per {key}",
             "tubes")
        _bar(axes[3], tube_counts.groupby(key)["n_frames"].sum().reindex(videos[key].unique(), fill_value=0),
             f"tube frames per {key}", "frames")
        plots.append((f"Per {key}", _save(figure, out / f"per_{key}.png")))

    figure, axes = plt.subplots(1, 3, figsize=(15, 3.2))
    axes[0].hist(tubes["n_frames"], bins=20, color="#3b7dd8")
    axes[0].axvline(TubeConfig().min_frames, color="k", linestyle="--")
    axes[0].set_title(f"tube length (frames; dashed: the {TubeConfig().min_frames}-frame minimum)")
    axes[1].hist(tubes["mean_confidence"], bins=20, range=(0, 1), color="#2a9d8f")
    axes[1].set_title("tube mean keypoint confidence")
    axes[2].hist(tubes["mean_visible_joints"], bins=N_BODY_25, range=(0, N_BODY_25), color="#e76f51")
    axes[2].set_title(f"tube mean visible joints (of {N_BODY_25})")
    plots.append(("Tube length and quality", _save(figure, out / "tube_quality.png")))

    rows = []
    for stage, latest in inputs.status.items():
        bad = latest[latest["status"] != "ok"]
        for (status, reason), count in bad.groupby(["status", "reason"], dropna=False).size().items():
            rows.append((f"{stage}: {status} ({'' if pd.isna(reason) else reason})", count))
    figure, ax = plt.subplots(figsize=(10, max(2.0, 0.35 * len(rows) + 1)))
    if rows:
        _bar(ax, pd.Series(dict(rows)), "units not ok, by stage and reason", "units")
    else:
        ax.text(0.5, 0.5, "every unit of every stage is ok", ha="center", va="center")
        ax.axis("off")
    plots.append(("Failures and skips by reason", _save(figure, out / "failures.png")))
    return plots


def sample_frames(inputs: ReportInputs, out: Path, n_samples: int = 4) -> list[tuple[str, str]]:
    """(caption, png name) of frames with skeletons, track ids and tube crop boxes drawn."""
    samples = []
    tubes = inputs.tubes.sort_values("n_frames", ascending=False).drop_duplicates("video_id").head(n_samples)
    for tube in tubes.itertuples():
        frame_index = int(tube.start_frame + tube.n_frames // 2)
        media = inputs.videos.set_index("video_id").loc[tube.video_id, "media_path"]
        _, frames = open_stream(inputs.root / media, DecodeConfig(fps=float(tube.fps)))
        rgb = next((f.rgb for f in frames if f.index == frame_index), None)
        if rgb is None:
            continue
        here = inputs.detections[(inputs.detections["video_id"] == tube.video_id)
                                 & (inputs.detections["frame"] == frame_index)]
        here = here.merge(inputs.tracks[["video_id", "frame", "person", "track_id"]], on=["video_id", "frame", "person"])
        people = [np.asarray(k, dtype=np.float32).reshape(N_BODY_25, 3) for k in here["keypoints"]]
        ids = here["track_id"].astype(int).tolist()
        boxes = []
        for track_id in ids:
            box = None
            if track_id == tube.track_id:
                cx, cy, scale = np.stack(tube.bbox)[frame_index - tube.start_frame]
                box = (cx, cy, TubeConfig().crop_px / scale)
            boxes.append(box)
        drawn = draw_people(rgb, people, ids=ids, boxes=boxes)
        name = f"sample_{len(samples)}.png"
        Image.fromarray(drawn).save(out / name)
        samples.append((f"{tube.video_id}, frame {frame_index}: tube {tube.tube_id} (box) among "
                        f"{len(people)} people", name))
    return samples


def write_report(inputs: ReportInputs, out: Path) -> Path:
    """Write out/index.html and its PNGs; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    videos, tubes = inputs.videos, inputs.tubes
    summary = [("videos", len(videos)), ("hours", f"{videos['duration_s'].sum() / 3600:.2f}"),
               ("tubes", len(tubes)), ("tube frames", int(tubes["n_frames"].sum()) if len(tubes) else 0),
               ("datasets", ", ".join(sorted(videos["dataset"].unique())))]
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>hmmr dataset report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}img{max-width:100%}"
             "td,th{padding:2px 12px;text-align:left}</style></head><body>",
             f"<h1>hmmr dataset report</h1><p>{html.escape(str(inputs.root))}</p><table>"]
    parts += [f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary]
    parts.append("</table>")
    for title, name in overview_plots(inputs, out):
        parts.append(f"<h2>{html.escape(title)}</h2><img src='{name}' alt='{html.escape(title)}'>")
    parts.append("<h2>Samples: skeletons, track ids and tube crop boxes</h2>")
    for caption, name in sample_frames(inputs, out):
        parts.append(f"<figure><img src='{name}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    page = out / "index.html"
    page.write_text("\n".join(parts))
    return page
