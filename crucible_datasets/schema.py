"""Arrow schemas for drifting data: inference, permissive promotion, JSON-text fallback.

Real JSONL drifts: a field is null for 10k rows and then a string, an int becomes a float, a
key is missing from some rows, a value is a list in one row and a string in another. Here:

- inference looks at every row's keys (a key missing from a row is null there);
- types are promoted permissively (null -> anything, int -> float, struct fields unioned);
- values that cannot share one Arrow type are carried as JSON text in a column whose field
  metadata says so, and are decoded back to the original Python values when rows are read;
- so are objects whose keys vary within a batch (chat turns where only some have ``"lang"``):
  as a struct, a key absent from an object would come back as ``None``. ``datasets`` 5 does
  the same with its ``Json`` feature (the card declares these columns ``dtype: json``);
- a declared schema marked :func:`partial` (what ``load(schema={...})`` passes) casts the
  columns it names and leaves the others to inference.

>>> b = from_pylist([{"a": 1, "b": [1]}, {"a": 2.5, "b": "x"}])
>>> b.schema.field("a").type, is_json_text(b.schema.field("b"))
(DataType(double), True)
>>> to_pylist(b)
[{'a': 1.0, 'b': [1]}, {'a': 2.5, 'b': 'x'}]
>>> turns = [{"t": [{"role": "user", "lang": "en"}, {"role": "bot"}]}]
>>> is_json_text(from_pylist(turns).schema.field("t")), to_pylist(from_pylist(turns)) == turns
(True, True)
>>> from_pylist([{"a": 1, "b": "x"}], partial(pa.schema([("a", pa.float64())]))).schema.types
[DataType(double), DataType(string)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from operator import itemgetter

import orjson
import pyarrow as pa

JSON_TEXT_KEY = b"crucible.json"
_JSON_TEXT_META = {JSON_TEXT_KEY: b"1"}
PARTIAL_KEY = b"crucible.partial"  # schema metadata: the declared schema names only some columns


def is_json_text(field: pa.Field) -> bool:
    """True when the column holds JSON text standing for values of mixed types."""
    return bool(field.metadata) and field.metadata.get(JSON_TEXT_KEY) == b"1"


def json_text_field(name: str) -> pa.Field:
    return pa.field(name, pa.string(), metadata=_JSON_TEXT_META)


def partial(schema: pa.Schema) -> pa.Schema:
    """``schema`` marked as naming only some columns: readers cast those, infer the rest."""
    return schema.with_metadata({**(schema.metadata or {}), PARTIAL_KEY: b"1"})


def is_partial(schema: pa.Schema | None) -> bool:
    """True for a declared schema made by :func:`partial`."""
    return schema is not None and bool(schema.metadata) and schema.metadata.get(PARTIAL_KEY) == b"1"


def narrow(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Schema:
    """The fields of the :func:`partial` ``schema`` among ``columns`` (all when None), still partial."""
    if columns is None:
        return schema
    return pa.schema([f for f in schema if f.name in columns], metadata=schema.metadata)


def overlay(stored: pa.Schema, declared: pa.Schema) -> pa.Schema:
    """``stored`` with the fields ``declared`` names replaced by the declared ones (same order)."""
    fields = []
    for field in stored:
        i = declared.get_field_index(field.name)
        fields.append(field if i < 0 else declared.field(i))
    return pa.schema(fields)


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
    """Rows to one record batch; a declared ``schema`` wins (raises if a row does not fit).

    A :func:`partial` schema casts the columns it names (all-null ones when no row has them)
    and infers the others, in the rows' key order.
    """
    if schema is not None and not is_partial(schema):
        return pa.RecordBatch.from_pylist(rows, schema=schema)
    names = column_names(rows)
    if schema is not None:
        seen = set(names)
        names += [n for n in schema.names if n not in seen]
    arrays, fields = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        declared = -1 if schema is None else schema.get_field_index(name)
        if declared >= 0:
            field = schema.field(declared)
            array = pa.array(values, field.type)
        else:
            array, field = _infer(name, values)
        arrays.append(array)
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _infer(name: str, values: list) -> tuple[pa.Array, pa.Field]:
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return _json_text_array(values), json_text_field(name)
    if _has_struct(array.type) and _keys_vary(values, array.type):
        try:
            return _json_text_array(values), json_text_field(name)
        except TypeError:  # a value JSON cannot hold (bytes): keep the struct
            pass
    return array, pa.field(name, array.type)


def _has_struct(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_struct(t.value_type)
    return False


def _keys_vary(values: list, t: pa.DataType) -> bool:
    """True when an object at a struct position of ``t`` lacks one of the struct's fields.

    The struct's fields are the union of the objects' keys, so an object with as many keys as
    fields has them all: one ``len()`` per object, and nested values looked at only below structs.
    """
    try:
        if pa.types.is_struct(t):
            lengths = set(map(len, values))
        else:  # a list type (only lists reach here: see _has_struct)
            items = list(chain.from_iterable(values))
    except TypeError:  # None among the values
        values = [v for v in values if v is not None]
        return _keys_vary(values, t) if values else False
    if not pa.types.is_struct(t):
        return bool(items) and _keys_vary(items, t.value_type)
    n = t.num_fields
    if lengths - {n}:
        return True
    for i in range(n):
        child = t.field(i)
        if _has_struct(child.type) and _keys_vary(list(map(itemgetter(child.name), values)), child.type):
            return True
    return False


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
    if any(is_json_text(f) for f in fields) or _struct_keys_differ([f.type for f in fields]):
        return json_text_field(name)
    try:
        merged = pa.unify_schemas([pa.schema([f]) for f in fields], promote_options="permissive")
        return merged.field(name)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return json_text_field(name)


def _struct_keys(kind: pa.DataType, path: str, out: dict[str, set[frozenset]]) -> None:
    """The key set of every struct in ``kind``, by its path (a list's items are ``path[]``)."""
    if pa.types.is_struct(kind):
        out.setdefault(path, set()).add(frozenset(kind.field(i).name for i in range(kind.num_fields)))
        for i in range(kind.num_fields):
            _struct_keys(kind.field(i).type, f"{path}.{kind.field(i).name}", out)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        _struct_keys(kind.value_type, f"{path}[]", out)


def _struct_keys_differ(kinds: list[pa.DataType]) -> bool:
    """True when objects at one place below a column have other keys in another batch: merging
    them would give back a ``None`` for a key a row never had, so the column becomes JSON text
    (as within a batch, and as ``datasets`` 5 makes such a column ``Json``).

    >>> a = pa.list_(pa.struct([("role", pa.string())]))
    >>> b = pa.list_(pa.struct([("role", pa.string()), ("lang", pa.string())]))
    >>> _struct_keys_differ([a, b]), _struct_keys_differ([a, a, pa.null()])
    (True, False)
    """
    keys: dict[str, set[frozenset]] = {}
    for kind in kinds:
        _struct_keys(kind, "", keys)
    return any(len(sets) > 1 for sets in keys.values())


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
