"""`make bench`: run every benchmark and write one Markdown page of tables."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import click

from bench.report import page

# Each module has run() -> list[Section]; a module whose stage does not exist yet is left out.
BENCHMARKS = ("bench.runner_bench", "bench.harvest_bench", "bench.pseudolabel_bench", "bench.tracking_bench",
              "bench.train_bench", "bench.import_bench", "bench.demo_bench")


@click.command()
@click.option("--out", default="bench/results.md", show_default=True, type=click.Path(dir_okay=False))
@click.option("--only", multiple=True, help="Run only these modules (e.g. --only bench.tracking_bench).")
def main(out: str, only: tuple[str, ...]) -> None:
    """Run the benchmarks and write their tables to OUT."""
    logging.basicConfig(level=logging.WARNING)
    sections = []
    for name in only or BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        click.echo(f"running {name} ...", err=True)
        sections += module.run()
    Path(out).write_text(page(sections))
    click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":
    main()
