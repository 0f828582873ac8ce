"""Tracking speed: link + cut frames/s per core at 1, 5, 20, 50 people per frame (and 5 people under a
detector's noise) vs a naive per-pair Python loop. CPU seconds of this process, not wall time: a loaded
machine shares its cores, and the target (issue 24: 20k frames/s per core at 5 people) is per core."""
from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment

from bench.report import Section, best_of_interleaved
from tracking.evaluate import DETECTOR
from tracking.link import link_tracks
from tracking.scenes import Scene, add_noise, person
from tracking.tubes import cut_tubes

N_FRAMES = 500
REPEATS = 3  # runs of each side; the fastest counts


def scene(n_people: int, n_frames: int = N_FRAMES):
    rng = np.random.default_rng(0)
    starts = rng.uniform([40, 60], [1800, 1000], size=(n_people, 2))
    frames = np.repeat(np.arange(n_frames), n_people)
    keypoints = np.stack([person(x + 0.5 * f, y, 100) for f in range(n_frames) for x, y in starts]).astype(np.float32)
    return frames, keypoints


def naive_link(frames: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """The baseline: per-pair Python loops for the cost, then the same Hungarian solver, no gate."""
    ids = np.full(len(frames), -1)
    previous: list[tuple[int, np.ndarray]] = []
    next_id = 0
    for frame in np.unique(frames):
        rows = np.flatnonzero(frames == frame)
        cost = np.zeros((len(previous), len(rows)))
        for i, (_, old) in enumerate(previous):
            for j, row in enumerate(rows):
                total = 0.0
                for joint in range(25):
                    dx = old[joint, 0] - keypoints[row, joint, 0]
                    dy = old[joint, 1] - keypoints[row, joint, 1]
                    total += (dx * dx + dy * dy) ** 0.5
                cost[i, j] = total
        current = []
        matched = {}
        if previous:
            for i, j in zip(*linear_sum_assignment(cost)):
                matched[j] = previous[i][0]
        for j, row in enumerate(rows):
            track = matched.get(j)
            if track is None:
                track, next_id = next_id, next_id + 1
            ids[row] = track
            current.append((track, keypoints[row]))
        previous = current
    return ids


def run() -> list[Section]:
    section = Section(
        "Tracking speed (issues 5, 24)",
        f"`link_tracks` + `cut_tubes` on {N_FRAMES} frames of N people walking, in CPU seconds of one process "
        f"(frames/s per core; the fastest of {REPEATS} runs of each side, taking turns), against a naive "
        "per-pair Python loop (same Hungarian solver, cost by per-joint loops, no motion) in the same run. "
        "'noisy': 5% box jitter, 10% missed detections, measured joint jitter (tracking.evaluate.DETECTOR): "
        "the per-frame path, where steady stretches cannot be batched.",
        ["people per frame", "ours frames/s", "naive frames/s", "speed-up"],
    )
    link_tracks(*scene(2, 50))  # once per process: the motion filter's steady state is solved and cached
    for label in (1, 5, "5 noisy", 20, 50):
        n_people = int(str(label).split()[0])
        frames, keypoints = scene(n_people)
        if label == "5 noisy":
            noisy = add_noise(Scene("bench", frames, keypoints, np.zeros(len(frames), dtype=np.int64)), DETECTOR)
            frames, keypoints = noisy.frames, noisy.keypoints
        n_naive = N_FRAMES if n_people <= 5 else 100  # the naive loop is too slow for 500 frames of 50 people
        naive_frames, naive_keypoints = frames[frames < n_naive], keypoints[frames < n_naive]
        seconds = best_of_interleaved(REPEATS, {
            "ours": lambda: cut_tubes(frames, keypoints, link_tracks(frames, keypoints)),
            "naive": lambda: naive_link(naive_frames, naive_keypoints)}, clock=time.process_time)
        ours_fps, naive_fps = N_FRAMES / seconds["ours"], n_naive / seconds["naive"]
        section.rows.append([label, f"{ours_fps:,.0f}", f"{naive_fps:,.0f}", f"{ours_fps / naive_fps:.1f}x"])
    return [section]
