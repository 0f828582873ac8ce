"""Pseudolabel speed: decode vs `ffmpeg -f null`, pose frames/s per core, end-to-end on 2 workers."""
from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from bench.report import Section, best_of_interleaved
from pseudolabel.backends import BackendSpec
from media.decode import DecodeConfig, open_stream

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIP = DATA / "people_a.mp4"
DECODE_ROUNDS = 15  # each decode of the clip takes ~70 ms: many short timings, interleaved


def _decode_all(path: Path, config: DecodeConfig) -> int:
    _, frames = open_stream(path, config)
    return sum(1 for _ in frames)


def _ffmpeg_null(path: Path) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-threads", "1", "-i", str(path),
                    "-f", "null", "-"], check=True)


def run() -> list[Section]:
    decode = Section(
        "Decode (issue 4)",
        f"Frames/s decoding `{CLIP.name}` (768x576 H.264, 80 frames) to RGB arrays with our streaming decoder, "
        f"against `ffmpeg -i X -f null -` (decode only, no RGB conversion) on the same file, best of {DECODE_ROUNDS} "
        "rounds in which the three take turns.",
        ["decoder", "frames/s", "ratio vs ffmpeg"],
    )
    n_frames = _decode_all(CLIP, DecodeConfig())
    best = best_of_interleaved(DECODE_ROUNDS, {
        "ffmpeg": lambda: _ffmpeg_null(CLIP), "ours": lambda: _decode_all(CLIP, DecodeConfig()),
        "small": lambda: _decode_all(CLIP, DecodeConfig(max_side_px=384))})
    ffmpeg_s, ours_s, small_s = best["ffmpeg"], best["ours"], best["small"]
    decode.rows += [["ffmpeg -f null", f"{n_frames / ffmpeg_s:,.0f}", "1.00x"],
                    ["hmmr decode (RGB, full size)", f"{n_frames / ours_s:,.0f}", f"{ffmpeg_s / ours_s:.2f}x"],
                    ["hmmr decode (RGB, --max-side 384)", f"{n_frames / small_s:,.0f}", f"{ffmpeg_s / small_s:.2f}x"]]

    pose = Section(
        "Embedded pose backend (issue 4)",
        "BlazePose (LiteRT, 1 thread = 1 core) on 20 frames of the real pedestrian clip resized to 640x480 (the clip is 4:3); "
        "`tile_px` trades speed for finding small people (its people are ~50-80 px tall at that size). "
        "People/frame is the mean number of people found (about 5-6 are visible).",
        ["tile_px", "frames/s per core", "people/frame"],
    )
    _, frames = open_stream(CLIP, DecodeConfig(max_side_px=640))
    batch = np.stack([f.rgb for f in frames if f.index % 4 == 0])[:20]
    for tile in (0, 320, 256, 192):
        backend = BackendSpec("blazepose", (("tile_px", tile),)).build()
        backend.detect(batch[:1])
        started = time.perf_counter()
        found = backend.detect(batch)
        seconds = time.perf_counter() - started
        pose.rows.append([tile or "0 (whole frame)", f"{len(batch) / seconds:.1f}",
                          f"{np.mean([len(p) for p in found]):.1f}"])
    return [decode, pose, _end_to_end()]


def _end_to_end() -> Section:
    from manifests import DatasetRoot
    from pipelines.cluster import ClusterConfig, connect
    from pipelines.pseudolabel import pseudolabel
    from pipelines.runner import RunnerConfig
    from pseudolabel.work import PoseStageConfig

    section = Section(
        "End-to-end pseudolabel (issue 4)",
        "hmmr-pseudolabel's pose + tracking stages on 4 harvested real clips (320 frames at 768x576, BlazePose "
        "tile_px 256) on a LocalCluster of 2 workers, against the same pose work done serially in one "
        "process (no Dask).",
        ["how", "frames/s", "ratio"],
    )
    names = ["people_a", "people_b", "people_c", "people_d"]
    with tempfile.TemporaryDirectory() as folder, connect(ClusterConfig(n_workers=2)) as client:
        import sys

        sys.path.insert(0, str(DATA.parent))
        from tests_helpers import harvest_clips

        root = DatasetRoot(Path(folder) / "root")
        harvest_clips(client, root, names, Path(folder))
        config = PoseStageConfig(backend=BackendSpec("blazepose", (("tile_px", 256),)))
        started = time.perf_counter()
        pseudolabel(client, root, config, RunnerConfig(progress=False))
        cluster_s = time.perf_counter() - started
    backend = config.backend.build()
    started = time.perf_counter()
    for name in names:
        _, frames = open_stream(DATA / f"{name}.mp4", DecodeConfig())
        for frame in frames:
            backend.detect(frame.rgb[None])
    serial_s = time.perf_counter() - started
    section.rows += [["serial, 1 process", f"{320 / serial_s:.1f}", "1.00x"],
                     ["LocalCluster, 2 workers", f"{320 / cluster_s:.1f}", f"{serial_s / cluster_s:.2f}x"]]
    return section
