"""Training step speed at paper size (batch 8 x 20 frames, 2048 channels) and the share spent waiting for data."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.report import Section
from train.loop import generator_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


# Dense bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s (without sparsity).
BF16_PEAK_TFLOPS = {"H100 SXM": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H200": 989.0, "A100": 312.0,
                    "L40S": 362.0, "A10G": 70.0}


def _peak_tflops(device_name: str) -> float | None:
    for name, peak in sorted(BF16_PEAK_TFLOPS.items(), key=lambda item: -len(item[0])):
        if all(word in device_name for word in name.split()):
            return peak
    if "H100" in device_name:  # an H100 whose form factor the name does not say: assume SXM
        return BF16_PEAK_TFLOPS["H100 SXM"]
    return None


def _step_flops(model, criterion, optimizer, batch, device) -> float:
    """Floating-point operations of one training step (forward and backward), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        generator_step(model, criterion, optimizer, batch, 0, device)
    return float(counter.get_total_flops())


def _timed_steps(model, criterion, optimizer, sampler, batch_size, device, n_steps, bf16=False) -> tuple[float, float]:
    """(seconds per step, seconds per step spent drawing the batch), after one warm-up step."""
    data_s = step_s = 0.0
    for step in range(n_steps + 1):
        started = time.perf_counter()
        batch = sampler.batch(batch_size, seed=step).to(device)
        loaded = time.perf_counter()
        generator_step(model, criterion, optimizer, batch, step, device, bf16)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up allocators (and CUDA kernels)
            data_s += loaded - started
            step_s += time.perf_counter() - started
    return step_s / n_steps, data_s / n_steps


LARGEST_TRIED = 4096


def _largest_batch(model, criterion, optimizer, sampler, device, start: int, limit: int) -> int:
    """The largest power-of-two batch (x 20 frames) whose training step fits in GPU memory."""
    fits, size = 0, start
    while size <= limit:
        try:
            generator_step(model, criterion, optimizer, sampler.batch(size, seed=0).to(device), 0, device)
            torch.cuda.synchronize()
            fits, size = size, size * 2
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
    return fits


def run() -> list[Section]:
    from manifests import DatasetRoot
    from pipelines.cluster import ClusterConfig, connect
    from tests_helpers import write_synthetic_tubes
    from train.body import BodyModel, write_test_smpl
    from train.data import WindowSampler, prepare_store, select_tubes
    from train.losses import Criterion, ObjectiveConfig
    from train.model import HMMR, ModelConfig, PoseDiscriminator
    from train.sampling import SamplingRules

    gpu = torch.cuda.is_available()
    section = Section(
        "Training step (issue 6)",
        "One optimiser step of the paper-size model (temporal encoder 2048 channels, IEF 1024) on batches of "
        "8 windows x 20 frames, with the released objective (present, +-5 and hallucinated predictions through "
        "the SMPL body, 6890 vertices; the pose discriminator on all of them), float32: on this machine's CPU "
        f"(torch using {torch.get_num_threads()} thread(s))"
        + (f", and on its GPU ({torch.cuda.get_device_name()}; also with --bf16)" if gpu else "")
        + ". Data wait = reading the window batch from the training store (in the step's process). FLOPs per step are counted by torch "
        "(`FlopCounterMode`), forward and backward.",
        ["measure", "value"],
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_test_smpl(folder / "smpl" / "SMPL_NEUTRAL.pkl")
        root = DatasetRoot(folder / "root")
        with connect(ClusterConfig(n_workers=1, processes=False)) as client:
            write_synthetic_tubes(client, root, folder / "smpl", {f"t{i}": ("insta", "train") for i in range(4)})
        store = prepare_store(root, ("insta",), progress=False)
        sampler = WindowSampler(select_tubes(store, root, ("insta",), "train", 20), SamplingRules(20))
        for device in [torch.device("cpu")] + ([torch.device("cuda")] if gpu else []):
            model = HMMR(ModelConfig()).to(device)
            criterion = Criterion(BodyModel(folder / "smpl").to(device), ObjectiveConfig(),
                                  PoseDiscriminator().to(device), 5)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
            flops = _step_flops(model, criterion, optimizer, sampler.batch(8, seed=0).to(device), device)
            step_s, data_s = _timed_steps(model, criterion, optimizer, sampler, 8, device,
                                          n_steps=3 if device.type == "cpu" else 20)
            name = device.type.upper()
            section.rows += [[f"sequences/s ({name})", f"{8 / step_s:.2f}"],
                             [f"seconds per step ({name})", f"{step_s:.3f}"],
                             [f"share of step waiting for data ({name})", f"{100 * data_s / step_s:.2f} %"],
                             [f"achieved TFLOP/s ({name})", f"{flops / step_s / 1e12:.3f}"]]
            if device.type == "cuda":
                bf16_s, _ = _timed_steps(model, criterion, optimizer, sampler, 8, device, n_steps=20, bf16=True)
                section.rows.append(["sequences/s (GPU, --bf16)", f"{8 / bf16_s:.2f}"])
                peak = _peak_tflops(torch.cuda.get_device_name())
                section.rows.append(["share of the card's dense bf16 peak",
                                     f"{100 * flops / step_s / 1e12 / peak:.1f} % of {peak:g} TFLOP/s" if peak
                                     else "peak unknown for this card"])
                largest = _largest_batch(model, criterion, optimizer, sampler, device, start=8, limit=LARGEST_TRIED)
                section.rows.append(["largest batch that fits (x 20 frames)",
                                     f"{largest}" + (" (the largest tried)" if largest >= LARGEST_TRIED else "")])
            section.rows.append([f"GFLOP per step ({name})", f"{flops / 1e9:.1f}"])
    if not gpu:
        section.rows.append(["GPU figures", "not measured: no GPU on this machine"])
    return [section]
