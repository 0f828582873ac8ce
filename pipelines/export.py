"""A snapshot as a folder other tools read with no code of ours: `<table>/part-*.parquet` (only the snapshot's
rows, in the tables' own schemas), the dataset card, and a README with the one-liners that load it.

The tombstones are not exported: a takedown's reason is the maintainer's record, not part of a release.
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from manifests import DATA_TABLES, DatasetRoot, InputError
from manifests.atomic import write_atomic, write_text_atomic
from manifests.snapshot import Snapshot, snapshot_parts
from manifests.tables import TOMBSTONES
from pipelines.card import write_card

EXPORTED = tuple(spec for spec in DATA_TABLES.values() if spec is not TOMBSTONES)
EMPTY_PART = "part-empty.parquet"  # a table without rows in the snapshot still has its schema on disk


def export_snapshot(root: DatasetRoot, snapshot: Snapshot, out: Path) -> dict[str, int]:
    """Write the export into `out` (new or empty); returns the rows written per table."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty: an export goes into a new folder")
    written = {}
    for spec in EXPORTED:
        folder = out / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        written[spec.name] = 0
        for part, table in snapshot_parts(root, snapshot, spec):
            if table.num_rows:
                write_atomic(folder / part, lambda sink, t=table: pq.write_table(t, sink, compression="zstd"))
                written[spec.name] += table.num_rows
        if not written[spec.name]:
            write_atomic(folder / EMPTY_PART, lambda sink, s=spec: pq.write_table(s.schema.empty_table(), sink))
    write_card(root, snapshot, out)
    write_text_atomic(out / "README.md", readme(snapshot, written))
    return written


def readme(snapshot: Snapshot, written: dict[str, int]) -> str:
    lines = [f"# hmmr dataset `{snapshot.name}`", "",
             f"Snapshot `{snapshot.name}` ({snapshot.created_at}, fingerprint `{snapshot.fingerprint}`): 2D pose tubes "
             "of people in Internet video, made by hmmr. `card.md` says what is in it and where it came from.", "",
             "Each table is a folder of Parquet files with one schema. To load one:", "", "```python",
             "import pandas as pd",
             'tubes = pd.read_parquet("tubes")  # a folder of parts reads as one frame', "",
             "import duckdb",
             "duckdb.sql(\"SELECT dataset, split, count(*) AS tubes FROM 'tubes/*.parquet' GROUP BY ALL\")", "",
             "from datasets import load_dataset",
             'tubes = load_dataset("parquet", data_files="tubes/*.parquet", split="train")', "```", "",
             "## Tables", ""]
    for spec in EXPORTED:
        lines += [f"### {spec.name} ({written.get(spec.name, 0)} rows)", "",
                  f"Key: {', '.join(spec.key)}. Columns: {', '.join(spec.columns)}.", ""]
        lines += [f"- `{column}`: {text}" for column, text in spec.units.items()]
        lines.append("")
    return "\n".join(lines)
