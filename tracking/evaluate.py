"""Scoring trackers against known identities (CLEAR-MOT and IDF1 with py-motmetrics), with a box-IoU
Hungarian tracker as the baseline scored in the same run.

    python -m tracking.evaluate            # the table of the README's tracking section

Each detection of a scene knows the true person it shows, so a detection is matched to exactly that
person (no IoU threshold between a jittered box and the true one decides it): the scores measure
association alone. Every true person-frame counts, seen by the detector or not, as in MOT benchmarks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking.link import TrackerConfig, link_tracks
from tracking.scenes import Noise, Scene, add_noise, mot_scene, mot_sequences, person, synthetic_scenes
from tracking.similarity import boxes_of, pairwise_iou

__all__ = ["Score", "score", "iou_tracks", "person", "synthetic_scenes", "evaluation_table"]
Tracker = Callable[[Scene], np.ndarray]


@dataclass(frozen=True)
class Score:
    """idf1, mota: in [0, 1] (mota may be negative); id_switches, fragmentations, false_positives, misses:
    counts; tracks_per_person: distinct track ids on each true person's detections, averaged; flaps:
    returns of a person to an id they had before another (evaluate.flaps)."""

    idf1: float
    mota: float
    id_switches: int
    fragmentations: int
    false_positives: int
    misses: int
    tracks_per_person: float
    flaps: int


def score(scene: Scene, track_ids: np.ndarray) -> Score:
    """CLEAR-MOT, IDF1 and tracks per person of `track_ids` (one per detection) against the scene's truth."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=False)
    people = scene.true_person_frames()
    for frame in np.union1d(np.unique(people[:, 0]), np.unique(scene.frames)):
        truth_ids = people[people[:, 0] == frame, 1]
        rows = np.flatnonzero((scene.frames == frame) & (track_ids >= 0))  # -1: untracked, no hypothesis
        # Distance 0 between a detection and the person it shows, no match otherwise.
        distance = np.where(truth_ids[:, None] == scene.truth[rows][None, :], 0.0, np.nan)
        accumulator.update(truth_ids.tolist(), track_ids[rows].tolist(), distance, frameid=int(frame))
    metrics = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches", "num_fragmentations",
                                                                "num_false_positives", "num_misses"])
    row = metrics.iloc[0]
    real = (scene.truth >= 0) & (track_ids >= 0)
    pairs = np.unique(np.stack([scene.truth[real], track_ids[real]], axis=1), axis=0)
    return Score(idf1=float(row["idf1"]), mota=float(row["mota"]), id_switches=int(row["num_switches"]),
                 fragmentations=int(row["num_fragmentations"]), false_positives=int(row["num_false_positives"]),
                 misses=int(row["num_misses"]),
                 tracks_per_person=len(pairs) / max(len(np.unique(pairs[:, 0])), 1), flaps=flaps(scene, track_ids))


def flaps(scene: Scene, track_ids: np.ndarray) -> int:
    """How often a person's id returns to one it had before another took over (A ... B ... A): the
    flapping the tracks table must never show. Counted per person over their tracked detections in
    frame order, as returns to an earlier id."""
    count = 0
    tracked = (scene.truth >= 0) & (track_ids >= 0)
    for true_person in np.unique(scene.truth[tracked]):
        rows = np.flatnonzero(tracked & (scene.truth == true_person))
        sequence = track_ids[rows[np.argsort(scene.frames[rows], kind="stable")]]
        runs = sequence[np.concatenate([[True], sequence[1:] != sequence[:-1]])]
        count += len(runs) - len(np.unique(runs))
    return count


def fast_idf1(scene: Scene, track_ids: np.ndarray) -> float:
    """IDF1 as py-motmetrics computes it here, without it: detections know their person, so the identity
    matching is one assignment on the (person, track) co-occurrence counts. For parameter searches."""
    tracked = track_ids >= 0
    real = tracked & (scene.truth >= 0)
    people, person_index = np.unique(scene.truth[real], return_inverse=True)
    tracks, track_index = np.unique(track_ids[real], return_inverse=True)
    counts = np.zeros((len(people), len(tracks)))
    np.add.at(counts, (person_index, track_index), 1)
    rows, cols = linear_sum_assignment(-counts) if counts.size else ([], [])
    true_positives = counts[rows, cols].sum()
    return float(2 * true_positives / (len(scene.true_person_frames()) + tracked.sum()))


def iou_tracks(frames: np.ndarray, keypoints: np.ndarray, shot_starts=(0,), min_iou: float = 0.3,
               max_gap: int = 15, min_confidence: float = 0.1) -> np.ndarray:
    """The baseline: each frame's boxes matched to the live tracks' last boxes by a Hungarian solve on
    1 - IoU, pairs under `min_iou` refused (SORT's threshold); tracks unseen for up to `max_gap` frames
    may be matched again. No motion, no poses."""
    frames = np.asarray(frames)
    ids = np.full(len(frames), -1, dtype=np.int64)
    boxes = boxes_of(np.asarray(keypoints, dtype=np.float64), min_confidence)
    shots = np.sort(np.asarray(shot_starts))
    live_ids, live_rows, live_frames, next_id, shot = [], [], [], 0, None
    for frame in np.unique(frames):
        rows = np.flatnonzero(frames == frame)
        if np.searchsorted(shots, frame, side="right") != shot:  # a cut ends every track
            live_ids, live_rows, live_frames, shot = [], [], [], np.searchsorted(shots, frame, side="right")
        alive = [i for i, f in enumerate(live_frames) if frame - f <= max_gap + 1]
        live_ids, live_rows, live_frames = ([x[i] for i in alive] for x in (live_ids, live_rows, live_frames))
        matched = set()
        if live_ids:
            iou = pairwise_iou(boxes[live_rows], boxes[rows])
            old, new = linear_sum_assignment(-iou)
            for i, j in zip(old, new):
                if iou[i, j] >= min_iou:
                    ids[rows[j]] = live_ids[i]
                    live_rows[i], live_frames[i] = rows[j], frame
                    matched.add(j)
        for j in range(len(rows)):
            if j not in matched:
                ids[rows[j]] = next_id
                live_ids.append(next_id), live_rows.append(rows[j]), live_frames.append(frame)
                next_id += 1
    return ids


def ours(config: TrackerConfig = TrackerConfig()) -> Tracker:
    return lambda scene: link_tracks(scene.frames, scene.keypoints, scene.shot_starts, config, scene.frame_size)


def baseline(scene: Scene) -> np.ndarray:
    return iou_tracks(scene.frames, scene.keypoints, scene.shot_starts, max_gap=TrackerConfig().max_gap)


CLEAN = Noise(box_jitter=0.0, miss_rate=0.0)
DETECTOR = Noise(box_jitter=0.05, miss_rate=0.10, joint_noise=1.0, joint_miss_rate=0.05)


def evaluation_scenes(noises: dict[str, Noise] | None = None, seeds: tuple[int, ...] = (0,)) -> list[tuple[str, Scene]]:
    """(noise name, scene) for every synthetic and real scene under every noise setting and seed."""
    noises = noises or {"clean": CLEAN, "detector": DETECTOR}
    base = synthetic_scenes() + [mot_scene(name, path, max_covered=1.0) for name, path in mot_sequences().items()]
    base += [mot_scene(f"{name} (occluded unseen)", path) for name, path in mot_sequences().items()]
    return [(noise_name, add_noise(scene, noise, seed)) for noise_name, noise in noises.items()
            for scene in base for seed in seeds]


def evaluation_table(trackers: dict[str, Tracker], scenes: list[tuple[str, Scene]]) -> list[dict]:
    """One row per (scene, noise, tracker), seeds pooled: mean IDF1, MOTA, tracks per person; summed counts."""
    rows = []
    for noise_name in dict.fromkeys(n for n, _ in scenes):
        for name in dict.fromkeys(s.name for n, s in scenes if n == noise_name):
            group = [s for n, s in scenes if n == noise_name and s.name == name]
            for tracker_name, tracker in trackers.items():
                scores = [score(s, tracker(s)) for s in group]
                rows.append({"scene": name, "noise": noise_name, "tracker": tracker_name,
                             "idf1": np.mean([s.idf1 for s in scores]), "mota": np.mean([s.mota for s in scores]),
                             "switches": sum(s.id_switches for s in scores),
                             "fragmentations": sum(s.fragmentations for s in scores),
                             "flaps": sum(s.flaps for s in scores),
                             "tracks_per_person": np.mean([s.tracks_per_person for s in scores])})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| scene | noise | tracker | IDF1 | MOTA | switches | fragmentations | flaps | tracks/person |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['scene']} | {r['noise']} | {r['tracker']} | {r['idf1']:.3f} | {r['mota']:.3f} | {r['switches']} "
              f"| {r['fragmentations']} | {r['flaps']} | {r['tracks_per_person']:.2f} |" for r in rows]
    return "\n".join(lines)


def pooled_table(trackers: dict[str, Tracker], scenes: list[tuple[str, Scene]]) -> str:
    """Markdown: per tracker, noise and kind of scene (synthetic or the real TUD trajectories), the mean
    IDF1 and MOTA and the summed switches, flaps, with the mean tracks per true person."""
    lines = ["| tracker | noise | scenes | IDF1 | MOTA | switches | flaps | tracks/person |", "|---|---|---|---|---|---|---|---|"]
    for tracker_name, tracker in trackers.items():
        groups: dict[tuple[str, str], list[Score]] = {}
        for noise_name, scene in scenes:
            kind = "real (TUD)" if scene.name.startswith("TUD") else "synthetic"
            groups.setdefault((noise_name, kind), []).append(score(scene, tracker(scene)))
        for (noise_name, kind), scores in groups.items():
            lines.append(f"| {tracker_name} | {noise_name} | {kind} | {np.mean([s.idf1 for s in scores]):.3f} | "
                         f"{np.mean([s.mota for s in scores]):.3f} | {sum(s.id_switches for s in scores)} | "
                         f"{sum(s.flaps for s in scores)} | {np.mean([s.tracks_per_person for s in scores]):.2f} |")
    return "\n".join(lines)


def tube_table(trackers: dict[str, Tracker], scenes: list[tuple[str, Scene]]) -> str:
    """Markdown: per tracker and noise, the tubes cut from its tracks of the real TUD scenes, their frames,
    and the share of their detections that show another person than most of the tube does (what a
    training tube must not hold)."""
    from tracking.tubes import cut_tubes

    lines = ["| tracker | noise | tubes | tube frames | detections of another person |", "|---|---|---|---|---|"]
    for tracker_name, tracker in trackers.items():
        for noise_name in dict.fromkeys(n for n, _ in scenes):
            n_tubes = n_frames = others = 0
            for _, scene in [(n, s) for n, s in scenes if n == noise_name and s.name.startswith("TUD")]:
                ids = tracker(scene)
                tubes, _ = cut_tubes(scene.frames, scene.keypoints, ids)
                for tube in tubes:
                    inside = (scene.frames >= tube.start_frame) & (scene.frames < tube.end_frame)
                    rows = (ids == tube.track_id) & inside
                    n_tubes, n_frames = n_tubes + 1, n_frames + tube.n_frames
                    others += rows.sum() - np.unique(scene.truth[rows], return_counts=True)[1].max()
            lines.append(f"| {tracker_name} | {noise_name} | {n_tubes} | {n_frames} | {others / max(n_frames, 1):.2%} |")
    return "\n".join(lines)


def clip_table(clips: dict[str, tuple[np.ndarray, np.ndarray]], trackers: dict[str, Tracker]) -> str:
    """Markdown: tracks, tubes and tube yield per real clip (a pose backend's detections, no identities)."""
    from tracking.tubes import cut_tubes, tube_yield

    lines = ["| clip | tracker | tracks | tubes | tube frames | tube yield |", "|---|---|---|---|---|---|"]
    for clip, (frames, keypoints) in clips.items():
        scene = Scene(clip, frames, keypoints, np.zeros(len(frames), dtype=np.int64))
        for tracker_name, tracker in trackers.items():
            ids = tracker(scene)
            tubes, _ = cut_tubes(frames, keypoints, ids)
            lines.append(f"| {clip} | {tracker_name} | {len(np.unique(ids[ids >= 0]))} | {len(tubes)} | "
                         f"{sum(t.n_frames for t in tubes)} | "
                         f"{tube_yield([t.keypoints for t in tubes], len(frames)):.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import click

    from tracking.motion import Motion, MotionConfig

    @click.command()
    @click.option("--seeds", default=3, show_default=True, help="Noise draws per scene.")
    @click.option("--clips-cache", type=click.Path(exists=True, file_okay=False),
                  help="Detections of the real clips, one npz each (tests/data/pose_clips.py writes them).")
    def command(seeds: int, clips_cache: str | None) -> None:
        """The README's tracking tables: trackers scored on scenes with identities, and real clips."""
        scenes = evaluation_scenes(seeds=tuple(range(seeds)))
        variants = {f"ours, {m.value}": ours(TrackerConfig(motion=MotionConfig(model=m))) for m in Motion}
        variants["ours, COCO sigmas"] = ours(TrackerConfig(sigmas="coco", oks_scale=1.0))
        variants["ours, before hindsight (`hindsight_span=0`)"] = ours(TrackerConfig(hindsight_span=0))
        click.echo(pooled_table({**variants, "IoU Hungarian": baseline}, scenes) + "\n")
        click.echo(markdown(evaluation_table({"ours": ours(), "IoU": baseline}, scenes)) + "\n")
        click.echo(tube_table({"ours": ours(), "IoU": baseline}, scenes) + "\n")
        if clips_cache:
            from pathlib import Path

            clips = {path.stem: (np.load(path)["frames"], np.load(path)["keypoints"])
                     for path in sorted(Path(clips_cache).glob("*.npz"))}
            click.echo(clip_table(clips, {"ours": ours(), "IoU": baseline}))

    command.main(args=argv, standalone_mode=True)


if __name__ == "__main__":
    main()
