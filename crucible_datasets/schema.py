"""Arrow schemas for drifting data: inference, permissive promotion, JSON-text fallback.

Real JSONL drifts: a field is null for 10k rows and then a string, an int becomes a float, a
key is missing from some rows, a value is a list in one row and a string in another. Here:

- inference looks at every row's keys (a key missing from a row is null there);
- types are promoted permissively (null -> anything, int -> float, struct fields unioned);
- values that cannot share one Arrow type are carried as JSON text in a column whose field
  metadata says so, and are decoded back to the original Python values when rows are read.

>>> b = from_pylist([{"a": 1, "b": [1]}, {"a": 2.5, "b": "x"}])
>>> b.schema.field("a").type, is_json_text(b.schema.field("b"))
(DataType(double), True)
>>> to_pylist(b)
[{'a': 1.0, 'b': [1]}, {'a': 2.5, 'b': 'x'}]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
import pyarrow as pa

JSON_TEXT_KEY = b"crucible.json"
_JSON_TEXT_META = {JSON_TEXT_KEY: b"1"}


def is_json_text(field: pa.Field) -> bool:
    """True when the column holds JSON text standing for values of mixed types."""
    return bool(field.metadata) and field.metadata.get(JSON_TEXT_KEY) == b"1"


def json_text_field(name: str) -> pa.Field:
    return pa.field(name, pa.string(), metadata=_JSON_TEXT_META)


def _dumps(value: object) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _json_text_array(values: Sequence) -> pa.Array:
    return pa.array([_dumps(v) for v in values], pa.string())


def column_names(rows: Iterable[dict]) -> list[str]:
    """Every key seen in ``rows``, in first-seen order."""
    names: dict[str, None] = {}
    for keys in dict.fromkeys(map(tuple, rows)):
        names.update(dict.fromkeys(keys))
    return list(names)


def from_pylist(rows: list[dict], schema: pa.Schema | None = None) -> pa.RecordBatch:
    """Rows to one record batch; a declared ``schema`` wins (raises if a row does not fit)."""
    if schema is not None:
        return pa.RecordBatch.from_pylist(rows, schema=schema)
    names = column_names(rows)
    arrays, fields = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            array = pa.array(values)
            field = pa.field(name, array.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            array = _json_text_array(values)
            field = json_text_field(name)
        arrays.append(array)
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def to_pylist(batch: pa.RecordBatch | pa.Table) -> list[dict]:
    """Arrow to Python dicts, JSON-text columns decoded to their original values."""
    rows = batch.to_pylist()
    for field in batch.schema:
        if is_json_text(field):
            name = field.name
            for row in rows:
                text = row[name]
                if text is not None:
                    row[name] = orjson.loads(text)
    return rows


def unify(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema every input can be cast to: permissive promotion, else JSON text."""
    schemas = [s for s in schemas if s is not None]
    if not schemas:
        return pa.schema([])
    if all(s.equals(schemas[0], check_metadata=True) for s in schemas[1:]):
        return schemas[0]
    by_name: dict[str, list[pa.Field]] = {}
    for s in schemas:
        for f in s:
            by_name.setdefault(f.name, []).append(f)
    return pa.schema([_unify_fields(fs) for fs in by_name.values()])


def _unify_fields(fields: list[pa.Field]) -> pa.Field:
    name = fields[0].name
    if any(is_json_text(f) for f in fields):
        return json_text_field(name)
    try:
        merged = pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive")
        return merged.field(name)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return json_text_field(name)


def cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` to ``schema`` (a superset from :func:`unify`): nulls for missing columns."""
    if batch.schema.equals(schema, check_metadata=True):
        return batch
    arrays = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            arrays.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(index)
        source = batch.schema.field(index)
        if is_json_text(field) and not is_json_text(source):
            arrays.append(_json_text_array(column.to_pylist()))
        elif column.type.equals(field.type):
            arrays.append(column)
        else:
            arrays.append(column.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def bad_rows_for_schema(rows: list[dict], schema: pa.Schema) -> list[tuple[int, str]]:
    """The rows of ``rows`` that cannot be cast to ``schema``: (index, reason) pairs."""
    bad = []
    for i, row in enumerate(rows):
        try:
            pa.RecordBatch.from_pylist([row], schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError) as exc:
            bad.append((i, f"does not fit the declared schema: {exc}"))
    return bad
