"""The unit of data between stages: a chunk of rows held as Arrow or as Python dicts.

A stage that works on Arrow (column selection, a Parquet sink) asks for ``batch.arrow``; a
stage that runs a user's per-row function asks for ``batch.rows``. Each form is built at most
once, on first use, so a chain of row functions (parse -> filter -> map) never pays for an
Arrow round trip between its steps (see DESIGN.md, "The unit of data").

A batch may carry its :data:`Position` in the input (set by the reader, kept by per-batch
stages), so that a keyed stage (``transforms/base.py``) can keep "the first row" on any runner.

>>> b = Batch.from_rows([{"a": 1}, {"a": 2}])
>>> len(b), b.arrow.num_rows, b.rows[1], b.position
(2, 2, {'a': 2}, None)
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from crucible_datasets import schema as schemas

# Where a batch's rows stand in the input: a tuple that sorts in input order, whose first
# element, in [0, 1), is the fraction of the input before the part they were read from (so a
# runner can cut the input order into ranges); the rest is reader-defined (``ReadSplit``:
# (chunk start / total, batch index); the Beam runner: (task / tasks, batch index)). Row ``j``
# of a batch at ``p`` stands at ``(*p, j)``.
Position = tuple[float | int, ...]


class Batch:
    """Rows as ``pyarrow.RecordBatch`` and/or ``list[dict]``; converts lazily between them."""

    __slots__ = ("_arrow", "_rows", "_schema", "position")

    def __init__(
        self,
        *,
        arrow: pa.RecordBatch | None = None,
        rows: list[dict] | None = None,
        schema: pa.Schema | None = None,
        position: Position | None = None,
    ) -> None:
        if arrow is None and rows is None:
            raise ValueError("a Batch needs arrow= or rows=")
        self._arrow = arrow
        self._rows = rows
        self._schema = schema
        self.position = position

    @classmethod
    def from_rows(
        cls, rows: list[dict], schema: pa.Schema | None = None, position: Position | None = None
    ) -> Batch:
        return cls(rows=rows, schema=schema, position=position)

    @classmethod
    def from_arrow(cls, batch: pa.RecordBatch | pa.Table) -> Batch:
        if isinstance(batch, pa.Table):
            batch = _table_to_batch(batch)
        return cls(arrow=batch)

    def __len__(self) -> int:
        return len(self._rows) if self._rows is not None else self._arrow.num_rows

    @property
    def rows(self) -> list[dict]:
        """The rows as Python dicts (JSON-text columns decoded back to their values)."""
        if self._rows is None:
            self._rows = schemas.to_pylist(self._arrow)
        return self._rows

    @property
    def arrow(self) -> pa.RecordBatch:
        """The rows as one Arrow record batch (types inferred, or the declared schema)."""
        if self._arrow is None:
            self._arrow = schemas.from_pylist(self._rows, self._schema)
        return self._arrow

    def __getstate__(self) -> tuple:
        """Pickle one form only: the rows when the batch has them (they are what the stages
        made; Arrow built from rows can differ from them, e.g. a missing key becomes None),
        else the Arrow batch (pickles as buffers, about 20x faster than dicts)."""
        if self._rows is not None:
            return (None, self._rows, self._schema, self.position)
        return (self._arrow, None, self._schema, self.position)

    def __setstate__(self, state: tuple) -> None:
        self._arrow, self._rows, self._schema, self.position = state

    @property
    def has_arrow(self) -> bool:
        return self._arrow is not None

    @property
    def column_names(self) -> Sequence[str]:
        if self._arrow is not None:
            return self._arrow.schema.names
        return schemas.column_names(self._rows)


def _table_to_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return batches[0]
