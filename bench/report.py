"""Tiny helpers to write benchmark tables as Markdown."""
from __future__ import annotations

import platform
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable


@dataclass
class Section:
    title: str
    note: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", self.note, "", "| " + " | ".join(self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    """The fastest of a few timings: the least disturbed by other load on a shared machine."""
    return best_of_interleaved(repeats, {"": fn})[""]


def best_of_interleaved(repeats: int, fns: dict[str, Callable[[], object]],
                        clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """The fastest timing of each function, the functions taking turns: a slow spell of the machine then
    falls on all of them, not on whichever ran during it. clock: wall time by default; time.process_time
    for the CPU time of this process."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = clock()
            fn()
            times[name].append(clock() - started)
    return {name: min(seconds) for name, seconds in times.items()}


def page(sections: list[Section]) -> str:
    head = (f"# hmmr benchmarks\n\nWritten by `make bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{platform.machine()}, Python {platform.python_version()}. Speeds are given as ratios against a "
            f"baseline measured in the same run, because the machine is shared and noisy.\n")
    return head + "\n" + "\n".join(s.markdown() for s in sections)


REFRESHED = "Refreshed by `bench.run --only` on "


def merge_page(old: str, sections: list[Section]) -> str:
    """An existing page with these sections put in place of the ones of the same title (new titles at the
    end), the others kept: `--only` refreshes its own tables without erasing everyone else's. Each refreshed
    section says when under its title, so a page refreshed in turns still dates every table."""
    head, *blocks = re.split(r"(?m)^(?=## )", old)
    stamp = f"{REFRESHED}{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.\n"
    fresh = {}
    for section in sections:
        title_line, rest = section.markdown().split("\n", 1)
        fresh[section.title] = f"{title_line}\n\n{stamp}{rest}"
    kept = [fresh.pop(block.splitlines()[0][3:], block) for block in blocks]
    # A note of the whole page from before the notes moved under each title: it named these sections only.
    head = re.sub(r"(?m)^" + re.escape(REFRESHED) + r".*\n", "", head).rstrip("\n") + "\n\n"
    blocks = [b if b.endswith("\n\n") else b.rstrip("\n") + "\n\n" for b in kept + list(fresh.values())]
    return head + "".join(blocks).rstrip("\n") + "\n"
