"""One measurement of hmmr-train's data path in a fresh process, so that its start-up and memory are its own.

python -m bench.store_probe build|open|baseline ROOT   ->   one JSON line on stdout
  build:    bring the training store up to date (the first `hmmr-train` on a root does this once)
  open:     what `hmmr-train` does before step 1 on an up-to-date store (prepare_store, select_tubes,
            a sampler, DataLoader workers) until the first batch; then windows/s with 0 and 2 workers
  baseline: the same with the loader hmmr-train had before the store (bench/baseline_loader.py)
  cli:      `hmmr-train` itself (python -m bench.store_probe cli ROOT N SMPL_DIR), until its first batch
            reaches the step: the data path with everything else a run does first (model, body model,
            optimiser), in its own order
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()  # first thing: "from process start" includes the imports below

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Imported before the baseline RSS is taken: a trainer has them all loaded before it touches data.
import bench.baseline_loader  # noqa: E402,F401
import train.data  # noqa: E402,F401
import train.store_update  # noqa: E402,F401

BATCH, WINDOW, DATASETS = 64, 20, ("insta",)


def memory() -> dict[str, int]:
    """Resident bytes now, split into anonymous (the process's own) and file-backed (mapped page cache)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) * 1024
    return fields


def peak_rss() -> int:
    """This process's peak resident bytes. Not getrusage's ru_maxrss: Linux carries it over exec from the
    parent, so a probe started by the bench (which had just written a 200k-frame root) reported the
    bench's own peak as its growth."""
    return memory()["VmHWM"]


def windows_per_s(batches, n_batches: int, rounds: int = 3) -> float:
    """The best of `rounds` spells of n_batches / rounds batches: the least disturbed by other jobs."""
    iterator = iter(batches)
    next(iterator)  # workers started
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n_batches // rounds):
            next(iterator)
        rates.append(n_batches // rounds * BATCH / (time.perf_counter() - started))
    return max(rates)


def main() -> None:
    command, root_path = sys.argv[1], sys.argv[2]
    n_batches = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    from manifests import DatasetRoot

    root = DatasetRoot(Path(root_path))
    imported, start = time.perf_counter(), memory()
    out: dict[str, float] = {"import_s": imported - STARTED}
    if command == "build":
        from train.data import store_dir_of
        from train.store_update import update_store

        report = update_store(root, store_dir_of(root), DATASETS, progress=False)
        out.update(build_s=time.perf_counter() - imported, frames=report.n_frames_loaded, shards=report.n_shards_written)
    elif command == "open":
        import torch

        from train.data import WindowSampler, prepare_store, select_tubes, step_batches, window_loader
        from train.sampling import SamplingRules

        store = prepare_store(root, DATASETS, progress=False)
        opened = time.perf_counter()
        sampler = WindowSampler(select_tubes(store, root, DATASETS, "train", WINDOW), SamplingRules(WINDOW, augment=True))
        next(iter(step_batches(sampler, BATCH, 0, range(0, 10**9), workers=2)))
        first = time.perf_counter()
        out.update(open_s=opened - imported, first_batch_s=first - imported, from_start_s=first - STARTED,
                   rss_growth=peak_rss() - start["VmRSS"], anon_growth=memory()["RssAnon"] - start["RssAnon"],
                   tubes=len(sampler.tubes))
        # A seed of its own per measurement: the same windows again would come from the page cache, while
        # a store larger than it (1M frames: 12 GB) sends fresh windows to the disk.
        for seed, workers in ((1, 0), (3, 2)):
            out[f"windows_per_s_{workers}"] = windows_per_s(
                step_batches(sampler, BATCH, seed, range(0, 10**9), workers=workers), n_batches)
            # What a GPU trainer's loader makes: features stay float16 (the GPU casts them)
            out[f"windows_per_s_{workers}_f16"] = windows_per_s(
                window_loader(sampler, BATCH, seed + 1, range(0, 10**9), workers=workers, features_dtype=torch.float16),
                n_batches)
        out["rss_after_reading"] = memory()["VmRSS"] - start["VmRSS"]
        out["anon_after_reading"] = memory()["RssAnon"] - start["RssAnon"]
    elif command == "baseline":
        from bench.baseline_loader import WindowSampler, load_sequences

        sampler = WindowSampler(load_sequences(root, DATASETS, "train", WINDOW), WINDOW, augment=True)
        sampler.batch(BATCH, seed=0)
        first = time.perf_counter()
        out.update(first_batch_s=first - imported, from_start_s=first - STARTED, rss_growth=peak_rss() - start["VmRSS"],
                   anon_growth=memory()["RssAnon"] - start["RssAnon"])
        out["windows_per_s_0"] = windows_per_s((sampler.batch(BATCH, seed=step) for step in range(1, 10**9)), n_batches)
    elif command == "cli":
        import os

        import pipelines.cli.train as cli
        from train.data import DeviceBatches

        def first_batch(self, batches):  # the step's first batch: the figure, then leave at once
            for batch in batches:
                out.update(from_start_s=time.perf_counter() - STARTED, first_batch_s=time.perf_counter() - imported)
                print(json.dumps(out), flush=True)
                os._exit(0)
                yield batch

        DeviceBatches._moved = first_batch
        sys.argv = ["hmmr-train", "--root", root_path, "--datasets", ",".join(DATASETS),
                    "--smpl-model-dir", sys.argv[4], "--no-adversarial", "--out", str(Path(root_path) / "runs" / "probe"),
                    "--batch-size", str(BATCH), "--window", str(WINDOW), "--device", "cpu"]
        cli.main()
        raise SystemExit("hmmr-train ended without a batch")
    else:
        raise SystemExit(f"unknown command {command!r}: build, open, baseline or cli")
    out["peak_rss_growth"] = peak_rss() - start["VmRSS"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
