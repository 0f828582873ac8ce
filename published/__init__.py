"""Converters from published datasets (Penn Action, 3DPW, Human3.6M) into our tables.

Each reads the public release's own files, checks them, and returns rows of `videos`, `tubes` and
`targets` for one sequence: a unit of the `import` stage (`pipelines/imports.py`), which commits them
through the same runner as our own stages. Pure of Dask.
"""
