"""Turn a frame (pandas, pyarrow or a dict of arrays) into a table that matches its spec exactly.

Errors name the table, where the data came from, the column, the first bad row and what was expected,
because the person reading them is usually debugging someone else's video or a new backend.
"""
from __future__ import annotations

from typing import Any, Mapping, Union

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from manifests.errors import SchemaError
from manifests.spec import TableSpec, fixed_size_of

Frame = Union[pd.DataFrame, pa.Table, Mapping[str, Any]]


def to_table(spec: TableSpec, data: Frame, source: str = "frame") -> pa.Table:
    """Validate `data` against `spec` and return it as a `pa.Table` with exactly `spec.schema`.

    Fixed-size list columns (keypoints, bbox) may be given as (N, K) or (N, J, 3) numpy arrays,
    which is how backends produce them; list-of-vector columns as a list of (n_i, K) arrays.
    Raises SchemaError for a missing or unknown column, a value of the wrong type, a null where the
    schema forbids it, a vector of the wrong length, or a duplicate key.
    """
    where = f"table {spec.name!r} ({source})"
    names = _column_names(data)
    expected = spec.columns  # a new list at each access: take it once
    given, wanted = set(names), set(expected)
    missing = [c for c in expected if c not in given]
    unknown = [c for c in names if c not in wanted]
    if missing or unknown:
        raise SchemaError(
            f"{where}: missing columns {missing}, unknown columns {unknown}; expected exactly {expected}"
        )
    arrays = [_column_array(field, _get_column(data, field.name), where) for field in spec.schema]
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise SchemaError(f"{where}: columns have different lengths {sorted(lengths)}")
    table = pa.Table.from_arrays(arrays, schema=spec.schema)
    check_keys_unique(spec, table, where)
    return table


def check_keys_unique(spec: TableSpec, table: pa.Table, where: str) -> None:
    """Raise SchemaError naming the first duplicated key of `table`."""
    if table.num_rows <= 1:  # the common case of one unit's one row: nothing to compare
        return
    # A key is unique if any of its columns is: one Arrow count instead of a pandas frame per flush
    # (a status part's unit_id column settles it in ~10 us, pandas took ~0.4 ms).
    for name in spec.key:
        if pc.count_distinct(table.column(name), mode="all").as_py() == table.num_rows:
            return
    keys = table.select(list(spec.key)).to_pandas()
    duplicated = keys.duplicated(keep=False)
    if duplicated.any():
        rows = np.flatnonzero(duplicated.to_numpy())
        first = keys.iloc[rows[0]].to_dict()
        raise SchemaError(
            f"{where}: duplicate key {first} at rows {rows[:5].tolist()}; "
            f"key columns {list(spec.key)} must be unique"
        )


def check_part_schema(spec: TableSpec, schema: pa.Schema, path: str) -> None:
    """Refuse a Parquet part whose columns or types differ from the spec."""
    expected = {f.name: f.type for f in spec.schema}
    found = {f.name: f.type for f in schema}
    if expected == found:
        return
    problems = []
    for name, data_type in expected.items():
        if name not in found:
            problems.append(f"missing column {name!r}")
        elif found[name] != data_type:
            problems.append(f"column {name!r} is {found[name]}, expected {data_type}")
    problems += [f"unknown column {name!r}" for name in found if name not in expected]
    raise SchemaError(f"table {spec.name!r}: part {path} does not match the schema: {'; '.join(problems)}")


def _column_names(data: Frame) -> list[str]:
    if isinstance(data, pa.Table):
        return list(data.column_names)
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    return list(data.keys())


def _get_column(data: Frame, name: str) -> Any:
    if isinstance(data, pa.Table):
        return data.column(name)
    return data[name]


def _column_array(field: pa.Field, values: Any, where: str) -> pa.Array:
    column = f"{where}, column {field.name!r}"
    try:
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            array = _cast_arrow(values, field.type, column)
        elif isinstance(values, np.ndarray) and fixed_size_of(field.type) and values.ndim >= 2:
            array = _fixed_list_from_matrix(values, field.type, column)
        else:
            array = _from_python(values, field.type, column)
    except SchemaError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as e:
        raise SchemaError(f"{column}: expected {field.type}, found {_describe(values)}: {e}") from e
    if not field.nullable and array.null_count:
        first = int(pc.index(pc.is_null(array), True).as_py())
        raise SchemaError(f"{column}: null at row {first}; this column may not be null")
    return array


def _cast_arrow(values: pa.Array | pa.ChunkedArray, data_type: pa.DataType, column: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type == data_type:
        return values
    if fixed_size_of(data_type) and pa.types.is_list(values.type):
        _check_list_lengths(pc.list_value_length(values).to_numpy(zero_copy_only=False),
                            fixed_size_of(data_type), column)
    return values.cast(data_type, safe=True)


def _fixed_list_from_matrix(values: np.ndarray, data_type: pa.DataType, column: str) -> pa.Array:
    size = fixed_size_of(data_type)
    # Not reshape(n, -1): a frame with no rows (a video where nobody was found) is (0, 75), and -1 is then undefined.
    flat = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
    if flat.shape[1] != size:
        raise SchemaError(f"{column}: each row must hold {size} values, found shape {values.shape}")
    value_type = data_type.value_type
    numpy_type = value_type.to_pandas_dtype()
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.astype(numpy_type).ravel(), value_type), size)


def _from_python(values: Any, data_type: pa.DataType, column: str) -> pa.Array:
    size = fixed_size_of(data_type)
    if size is not None:
        lengths = [(-1 if v is None else len(v)) for v in values]
        _check_list_lengths(np.asarray(lengths), size, column)
        values = [None if v is None else np.asarray(v).ravel() for v in values]
    elif pa.types.is_list(data_type) and fixed_size_of(data_type.value_type):
        inner = data_type.value_type
        nested = [None if v is None else _fixed_list_from_matrix(np.asarray(v).reshape(len(v), -1), inner, column)
                  for v in values]
        return _list_of_fixed(nested, data_type)
    elif pa.types.is_timestamp(data_type) and isinstance(values, pd.Series):
        values = pd.to_datetime(values, utc=True)
    if isinstance(values, pd.Series):
        return pa.Array.from_pandas(values, type=data_type)
    return pa.array(values, type=data_type, from_pandas=True)


def _list_of_fixed(nested: list[pa.Array | None], data_type: pa.DataType) -> pa.Array:
    """Build list<fixed_size_list<...>> from per-row fixed-size-list arrays without a Python loop per value."""
    offsets = [0]
    chunks = []
    for child in nested:
        n = 0 if child is None else len(child)
        offsets.append(offsets[-1] + n)
        if child is not None:
            chunks.append(child)
    inner = data_type.value_type
    values = pa.concat_arrays(chunks) if chunks else pa.array([], inner)
    mask = pa.array([child is None for child in nested], type=pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=data_type, mask=mask)


def _check_list_lengths(lengths: np.ndarray, size: int, column: str) -> None:
    bad = np.flatnonzero((lengths != size) & (lengths != -1))
    if bad.size:
        raise SchemaError(
            f"{column}: row {int(bad[0])} holds {int(lengths[bad[0]])} values, expected {size} "
            f"({bad.size} bad rows)"
        )


def _describe(values: Any) -> str:
    if isinstance(values, pd.Series):
        sample = values.head(3).tolist()
        return f"pandas dtype {values.dtype} with values like {sample!r}"
    if isinstance(values, np.ndarray):
        return f"numpy {values.dtype} of shape {values.shape}"
    return type(values).__name__

