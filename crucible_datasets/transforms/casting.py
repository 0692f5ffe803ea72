"""``cast`` / ``cast_column``: change column types, per batch, with Arrow's safe casts.

Types are given as ``datasets`` users give them: a ``pyarrow.DataType``, a dtype string
(``"int32"``, ``"float"``, ``"string"``, ``"timestamp[s]"``: the ``datasets.Value`` dtypes), or
a feature of ``crucible_datasets.features`` (``Value``, ``List``, ``ClassLabel``, a dict); a
whole set of features as a ``pyarrow.Schema``, a dict of name -> type, or a ``Features``
(anything with an ``arrow_schema``).

>>> from crucible_datasets.batch import Batch
>>> stage = CastColumns({"x": "float32"})
>>> out = stage.process(Batch.from_rows([{"x": 1, "y": "a"}]))
>>> out.arrow.schema.field("x").type, out.rows
(DataType(float), [{'x': 1.0, 'y': 'a'}])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.columns import ColumnCheck


def arrow_type(value: Any) -> pa.DataType:
    """A ``pyarrow.DataType`` from a type, a dtype string, or a feature (``cd.features``: ``Value``,
    ``List``, ``ClassLabel``, a dict for a struct).

    >>> from crucible_datasets.features import List, Value
    >>> arrow_type("int32"), arrow_type(pa.string()), arrow_type("double"), arrow_type(List(Value("int8")))
    (DataType(int32), DataType(string), DataType(double), ListType(list<item: int8>))
    """
    from crucible_datasets.features import Features, Value

    if isinstance(value, pa.DataType):
        return value
    if isinstance(value, str):
        try:
            return Value(value).pa_type
        except ValueError:
            raise ValueError(
                f"unknown dtype {value!r}; use an Arrow type name such as 'int64', 'float32', 'string', "
                "'bool', 'timestamp[s]', or a pyarrow.DataType"
            ) from None
    try:
        return Features({"column": value}).type.field(0).type
    except TypeError:
        raise TypeError(
            f"a column type is a pyarrow.DataType, a dtype string or a feature (Value...), got {value!r}"
        ) from None


def arrow_types(features: Any) -> dict[str, pa.DataType]:
    """Name -> Arrow type from a ``pyarrow.Schema``, a ``Features``-like object or a dict of types."""
    schema = getattr(features, "arrow_schema", None)
    if isinstance(schema, pa.Schema):
        features = schema
    if isinstance(features, pa.Schema):
        return {f.name: f.type for f in features}
    if isinstance(features, Mapping):
        return {name: arrow_type(t) for name, t in features.items()}
    raise TypeError(f"features are a pyarrow.Schema or a dict of column types, got {type(features).__name__}")


class CastColumns(Stage):
    """Cast the columns named in ``types``; ``exact=True`` (``cast``): the input must have exactly
    those columns, and they come out in that order (as ``datasets.Dataset.cast``)."""

    def __init__(self, types: Mapping[str, Any], exact: bool = False, what: str = "cast_column") -> None:
        self.types = {name: arrow_type(t) for name, t in types.items()}
        self.exact = exact
        self.what = what

    declarative = True

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        """``cast`` (exact) compares the input's columns with its own: it needs all of them."""
        if needed_after is None or self.exact:
            return None
        return needed_after | set(self.types)

    def column_check(self) -> ColumnCheck:
        return ColumnCheck(self.what, list(self.types))

    def process(self, batch: Batch) -> Batch:
        table = batch.arrow
        names = table.schema.names
        if self.exact and sorted(names) != sorted(self.types):
            raise ValueError(
                f"The columns in features ({list(self.types)}) must be identical as the columns in the "
                f"dataset: {names}"
            )
        order = list(self.types) if self.exact else names
        fields = [pa.field(n, self.types[n]) if n in self.types else table.schema.field(n) for n in order]
        arrays = []
        for field in fields:
            column = table.column(field.name)
            try:
                arrays.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"{self.what}: cannot cast column {field.name!r} "
                    f"from {column.type} to {field.type}: {exc}"
                ) from None
        return Batch.from_arrow(pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)))
