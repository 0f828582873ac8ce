"""End-to-end wall time of `make demo` (after install) and the share of each stage."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.report import Section


def run() -> list[Section]:
    section = Section(
        "End-to-end demo (issue 7)",
        "`python -m demo.run` into an empty root: two rounds of harvest, pseudolabel (pose + tracking) and "
        "features (each tube's own crops and one jittered view) over the loopback site's real clips (4 videos, "
        "320 frames), then 20 training steps. Stage time is the sum of its runs' wall time from stats.json; the "
        "rest is command start-up (a LocalCluster per command, imports) and the training run.",
        ["part", "seconds", "share"],
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "demo"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "demo.run", "--root", str(root)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        total = time.perf_counter() - started
        by_stage: dict[str, float] = defaultdict(float)
        for stats_file in root.glob("runs/*/stats.json"):
            stats = json.loads(stats_file.read_text())
            by_stage[stats["stage"]] += stats["wall_s"]
    for stage, seconds in sorted(by_stage.items(), key=lambda item: -item[1]):
        section.rows.append([stage, f"{seconds:.1f}", f"{100 * seconds / total:.0f} %"])
    rest = total - sum(by_stage.values())
    section.rows += [["start-up, training, other", f"{rest:.1f}", f"{100 * rest / total:.0f} %"],
                     ["total", f"{total:.1f}", "100 %"]]
    return [section]
