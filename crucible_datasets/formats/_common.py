"""Helpers the formats share: projection, declared schemas, bad rows, JSON type names."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import RAW_SNIPPET_BYTES, BadRecord, ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import DataFileError
from crucible_datasets.formats.base import ReadOptions

# What ``schema.from_pylist`` raises when a row does not fit a declared schema.
CAST_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    TypeError,
    ValueError,
)

_JSON_TYPE_NAMES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def json_type_name(value: object) -> str:
    """``[1]`` -> ``"an array"``: how a JSON value's type reads in an error message."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def target_schema(options: ReadOptions) -> pa.Schema | None:
    """The declared schema narrowed to ``options.columns`` (in that order), or None."""
    schema, columns = options.schema, options.columns
    if schema is None or columns is None:
        return schema
    missing = [c for c in columns if schema.get_field_index(c) < 0]
    if missing:
        raise ValueError(
            f"columns {missing} are not in the declared schema (its columns: {', '.join(schema.names)})"
        )
    return pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)


def project(rows: list[dict], columns: Sequence[str]) -> list[dict]:
    """Each row narrowed to ``columns``; a key missing from a row becomes None."""
    return [{c: row.get(c) for c in columns} for row in rows]


def raw_of_row(row: dict) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS, default=str)[:RAW_SNIPPET_BYTES]


def rows_to_batch(
    rows: list[dict],
    options: ReadOptions,
    schema: pa.Schema | None,
    errors: ErrorPolicy,
    locate: Callable[[int], tuple[str, int | None, int | None]],
) -> Batch | None:
    """One batch from parsed rows: projected, or cast to ``schema`` (the bad rows to ``errors``).

    ``locate(i)`` gives ``(file, line, offset)`` of ``rows[i]`` for a :class:`BadRecord`; it is
    only called for rows that do not fit the schema. None when no row is left.
    """
    if schema is None:
        if options.columns is not None:
            rows = project(rows, options.columns)
        return Batch.from_rows(rows)
    try:
        return Batch(arrow=schemas.from_pylist(rows, schema))
    except CAST_ERRORS:
        bad = schemas.bad_rows_for_schema(rows, schema)
        if not bad:
            raise
    for index, reason in bad:
        file, line, offset = locate(index)
        errors.handle(BadRecord(file, line, offset, reason, raw_of_row(rows[index])))
    bad_indexes = {index for index, _ in bad}
    kept = [row for i, row in enumerate(rows) if i not in bad_indexes]
    if not kept:
        return None
    return Batch(arrow=schemas.from_pylist(kept, schema))


# -- columnar formats (Parquet, Arrow, text): batches already in Arrow ------------------------


def check_declared(path: str, stored: pa.Schema, declared: pa.Schema) -> None:
    """A partial declared schema may name only columns the file has."""
    missing = [n for n in declared.names if stored.get_field_index(n) < 0]
    if missing:
        raise DataFileError(
            f"{path}: the declared schema names columns {missing} that the file does not have "
            f"(its columns: {', '.join(stored.names)})"
        )


def with_nulls(batch: pa.RecordBatch, columns: Sequence[str]) -> pa.RecordBatch:
    """``batch`` with ``columns`` in order; the ones it lacks as all-null columns."""
    arrays, fields = [], []
    for name in columns:
        i = batch.schema.get_field_index(name)
        if i >= 0:
            arrays.append(batch.column(i))
            fields.append(batch.schema.field(i))
        else:
            arrays.append(pa.nulls(batch.num_rows))
            fields.append(pa.field(name, pa.null()))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def cast_batch(
    batch: pa.RecordBatch,
    schema: pa.Schema,
    errors: ErrorPolicy,
    locate: Callable[[int], tuple[str, int | None, int | None]],
) -> pa.RecordBatch | None:
    """``batch`` cast to ``schema``; rows that do not fit go to ``errors`` (``locate(i)`` gives
    ``(file, line, offset)`` of row ``i``). None when no row is left."""
    try:
        return schemas.cast(batch, schema)
    except CAST_ERRORS:
        pass
    keep = []
    for i in range(batch.num_rows):
        one = batch.slice(i, 1)
        try:
            schemas.cast(one, schema)
        except CAST_ERRORS as exc:
            file, line, offset = locate(i)
            reason = f"does not fit the declared schema: {exc}"
            errors.handle(BadRecord(file, line, offset, reason, raw_of_row(one.to_pylist()[0])))
        else:
            keep.append(i)
    if not keep:
        return None
    return schemas.cast(batch.take(pa.array(keep, pa.int64())), schema)
