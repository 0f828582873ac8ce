"""Training data at dataset scale (issue 21): the training store against the loader it replaced.

Synthetic roots of 50k, 200k and 1M tube frames (100-frame tubes, 4 per video, 3 views of 2048 float16
features) are written through the stage runner's commit, a flush at a time, measured, and deleted.
HMMR_BENCH_STORE_FRAMES=50000,200000 picks other sizes. Each measurement runs in a fresh process.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import Section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SIZES = (50_000, 200_000, 1_000_000)
BASELINE_FRAMES = 50_000
BYTES_PER_FRAME = 3 * 2048 * 2 + 1_000  # three views of features, keypoints and boxes: in the manifests and again in the store
GIB = 2**30


def _sizes() -> tuple[int, ...]:
    chosen = os.environ.get("HMMR_BENCH_STORE_FRAMES")
    return tuple(int(n) for n in chosen.split(",")) if chosen else SIZES


def _probe(command: str, root: Path, n_batches: int = 60, *more: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.store_probe", command, str(root), str(n_batches), *more],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        raise RuntimeError(f"bench.store_probe {command} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _format_rows(store_dir: Path) -> list[list[str]]:
    """Windows of 20 frames gathered 64 at a time from one shard's features: the .npy memmap the store uses
    against the same array in an Arrow IPC file (memory-mapped, Table.take), in this process, warm cache."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    from bench.report import best_of_interleaved

    features = np.load(store_dir / "shards" / "000000" / "features.npy", mmap_mode="r")
    path = store_dir / "features.arrow"
    table = pa.table({"features": pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(features).ravel()),
                                                                      features.shape[1])})
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=65536)
    del table
    arrow = ipc.open_file(pa.memory_map(str(path))).read_all()
    starts = np.random.default_rng(0).integers(0, len(features) - 20, (20, 64))

    def npy() -> None:
        for batch in starts:
            np.stack([features[s:s + 20] for s in batch]).astype(np.float32)

    def arrow_take() -> None:
        for batch in starts:
            rows = arrow.take(pa.array((batch[:, None] + np.arange(20)).ravel()))["features"].combine_chunks()
            rows.values.to_numpy().reshape(64, 20, -1).astype(np.float32)

    times = best_of_interleaved(3, {"npy": npy, "arrow": arrow_take})
    path.unlink()
    rate = {name: 20 * 64 / seconds for name, seconds in times.items()}
    return [["store format: .npy memmap (used)", "", "", "", "", "",
             f"{rate['npy']:,.0f} (1 thread, no conversion to torch)", ""],
            ["store format: Arrow IPC memmap, Table.take", "", "", "", "", "",
             f"{rate['arrow']:,.0f} ({rate['npy'] / rate['arrow']:.0f}x slower)", ""]]


def run() -> list[Section]:
    from manifests import DatasetRoot
    from store_helpers import write_feature_root
    from train.body import write_test_smpl

    section = Section(
        "Training data at dataset scale (issue 21)",
        "Synthetic roots (100-frame tubes, 4 per video, 3 views of 2048 float16 features), written through the "
        "stage runner's commit and deleted after. Each figure comes from a fresh process (`bench/store_probe.py`): "
        "*store build* is the one-off load of the manifests into `<root>/store` (a later run appends only what is "
        "new); *first batch* is what `hmmr-train` does before step 1 on an up-to-date store (status tables and "
        "index read, split selected, 2 loader workers started, first batch of 64 windows x 20 frames), from "
        "after the imports (from process start, imports of torch included, in brackets); *hmmr-train to first step* "
        "is the whole command (`hmmr-train --root R --datasets insta --no-adversarial --batch-size 64 --window 20 "
        "--device cpu`, the paper's 2048-wide model, the tests' SMPL stand-in) from process start until its first "
        "batch reaches the step: the data path overlapped with what every run does first whatever the data "
        "(parameter init, the body model, torch's first optimiser); RSS growth is the "
        "process's peak resident memory above its size after the imports (anonymous memory alone in brackets: "
        "the rest is memory-mapped page cache, shared and reclaimable). windows/s: batches of 64 windows of 20 "
        "frames from random tubes and views, float32 tensors ready for a CPU step (in brackets: float16 features, "
        "as the loader hands them to a GPU trainer, which casts them on the device). The baseline is the loader "
        "hmmr-train had before the store (`bench/baseline_loader.py`), at 50k frames. The machine is shared by "
        "other jobs: compare ratios within a run.",
        ["frames (3 views)", "loader", "store build", "first batch", "hmmr-train to first step",
         "RSS growth to first batch", "windows/s, 0 workers", "windows/s, 2 workers"],
    )
    load_before = os.getloadavg()[0]
    for n_frames in _sizes():
        scratch = Path(tempfile.gettempdir())
        needed = 2.2 * n_frames * BYTES_PER_FRAME + 2 * GIB
        free = shutil.disk_usage(scratch).free
        if free < needed:
            section.rows.append([f"{n_frames:,}", "not run", f"needs {needed / GIB:.0f} GiB free in {scratch}, "
                                 f"has {free / GIB:.0f}", "", "", "", "", ""])
            continue
        with tempfile.TemporaryDirectory(prefix="hmmr-store-bench-") as folder:
            root = DatasetRoot(Path(folder) / "root")
            smpl_dir = Path(folder) / "smpl"
            write_test_smpl(smpl_dir / "SMPL_NEUTRAL.pkl")
            started = time.perf_counter()
            n_tubes = write_feature_root(root, n_frames)
            written_s = time.perf_counter() - started
            print(f"  {n_frames:,} frames ({n_tubes:,} tubes) written in {written_s:.0f} s", file=sys.stderr)
            if n_frames == BASELINE_FRAMES:
                base = _probe("baseline", root.path)
                section.rows.append([f"{n_frames:,}", "before the store (baseline)", "-",
                                     f"{base['first_batch_s']:.1f} s ({base['from_start_s']:.1f} s)", "-",
                                     f"{base['rss_growth'] / GIB:.2f} GiB ({base['anon_growth'] / GIB:.2f})",
                                     f"{base['windows_per_s_0']:,.0f}", "-"])
            build = _probe("build", root.path)
            opened = _probe("open", root.path)
            whole = _probe("cli", root.path, 0, str(smpl_dir))
            row = [f"{n_frames:,}", "training store", f"{build['build_s']:.0f} s ({build['shards']} shards)",
                   f"{opened['first_batch_s']:.2f} s ({opened['from_start_s']:.1f} s)",
                   f"{whole['from_start_s']:.1f} s",
                   f"{opened['rss_growth'] / GIB:.2f} GiB ({opened['anon_growth'] / GIB:.2f})",
                   f"{opened['windows_per_s_0']:,.0f} ({opened['windows_per_s_0_f16']:,.0f})",
                   f"{opened['windows_per_s_2']:,.0f} ({opened['windows_per_s_2_f16']:,.0f})"]
            if n_frames == BASELINE_FRAMES:
                row[3] += f", {base['first_batch_s'] / opened['first_batch_s']:.0f}x sooner"
                row[6] += f", {opened['windows_per_s_0'] / base['windows_per_s_0']:.2f}x the baseline"
                section.rows += [row] + _format_rows(root.path / "store")
            else:
                section.rows.append(row)
    section.note += (f" Load average of the machine: {load_before:.0f} when this section started, "
                     f"{os.getloadavg()[0]:.0f} when it ended, on {os.cpu_count()} cores.")
    return [section]
