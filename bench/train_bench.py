"""Training step speed at paper size (batch 8 x 20 frames, 2048 channels) and the share spent waiting for data."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.report import Section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run() -> list[Section]:
    from manifests import DatasetRoot
    from pipelines.cluster import ClusterConfig, connect
    from tests_helpers import write_synthetic_tubes
    from train.body import BodyModel, write_test_smpl
    from train.data import WindowSampler, load_sequences
    from train.losses import Criterion, LossWeights
    from train.model import HMMR, ModelConfig

    section = Section(
        "Training step (issue 6)",
        "One optimiser step of the paper-size model (temporal encoder 2048 channels, IEF 1024) on batches of "
        "8 windows x 20 frames, with the SMPL body (6890 vertices) in the loss, on this machine's CPU "
        f"(torch using {torch.get_num_threads()} thread(s)). Data wait = drawing the window batch from memory.",
        ["measure", "value"],
    )
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_test_smpl(folder / "smpl" / "SMPL_NEUTRAL.pkl")
        root = DatasetRoot(folder / "root")
        with connect(ClusterConfig(n_workers=1, processes=False)) as client:
            write_synthetic_tubes(client, root, folder / "smpl", {f"t{i}": ("insta", "train") for i in range(4)})
        sampler = WindowSampler(load_sequences(root, ("insta",), "train", 20), 20)
        model = HMMR(ModelConfig())
        criterion = Criterion(BodyModel(folder / "smpl"), LossWeights(), None, 5)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        data_s, step_s = 0.0, 0.0
        n_steps = 3
        for step in range(n_steps + 1):
            started = time.perf_counter()
            batch = sampler.batch(8, seed=step)
            loaded = time.perf_counter()
            total = sum(criterion(model(batch.features), batch).values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            if step:  # the first step warms up allocators
                data_s += loaded - started
                step_s += time.perf_counter() - started
    section.rows += [["sequences/s (CPU)", f"{8 * n_steps / step_s:.2f}"],
                     ["seconds per step", f"{step_s / n_steps:.2f}"],
                     ["share of step waiting for data", f"{100 * data_s / step_s:.2f} %"],
                     ["GPU figures", "not measured: this session had no GPU"]]
    return [section]
