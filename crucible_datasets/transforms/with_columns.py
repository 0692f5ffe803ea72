"""``with_columns({"n_chars": "len(response)"})``: add or replace columns computed by expressions.

Each value is a safe column expression (the grammar: ``transforms/expression.py``), computed with
pyarrow compute on Arrow batches and by the expression's row function on Python rows, with the
same results (nulls in, nulls out; ``len`` an int64 count of characters or items). As Polars'
``with_columns`` and Spark's ``withColumns``, every expression sees the input's columns (not the
ones the same call adds: chain a second ``with_columns`` for that); a column of the input with
one of the names is replaced where it stands, the others are added at the end in the given
order. A column an expression reads and the data lacks is a
:class:`~crucible_datasets.errors.ColumnNotFoundError` naming the columns that exist.

Declarative: a pipeline of ``where``, ``with_columns`` and ``select_columns`` never makes Python
rows, and the reader reads only the columns the stages use (``docs/PERFORMANCE.md``).

>>> from crucible_datasets.batch import Batch
>>> stage = WithColumns({"n": "len(text)", "long": "len(text) > 3"})
>>> rows = [{"text": "añb"}, {"text": None}, {"text": "abcde"}]
>>> by_rows = stage.process(Batch.from_rows(rows)).rows
>>> [(r["n"], r["long"]) for r in by_rows]
[(3, False), (None, None), (5, True)]
>>> stage.process(Batch.from_arrow(pa.RecordBatch.from_pylist(rows))).rows == by_rows
True
>>> WithColumns({"n": "len(text"})
Traceback (most recent call last):
...
ValueError: with_columns 'n': expression 'len(text' is not valid: '(' was never closed
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.columns import ColumnCheck
from crucible_datasets.transforms.expression import Expression


class WithColumns(Stage):
    """Add or replace columns, each computed by an expression of the input's columns."""

    declarative = True

    def __init__(self, columns: Mapping[str, str]) -> None:
        if not isinstance(columns, Mapping):
            raise TypeError(
                "with_columns takes a mapping of new column names to expressions, "
                f"such as {{'n_chars': 'len(response)'}}; got {type(columns).__name__}"
            )
        if not columns:
            raise ValueError("with_columns needs at least one column: {'name': 'expression'}")
        for name in columns:
            if not isinstance(name, str) or not name:
                raise ValueError(f"with_columns: a column name is a non-empty string, got {name!r}")
        self.columns = dict(columns)
        self._compiled = {
            name: Expression(text, f"with_columns {name!r}: expression") for name, text in columns.items()
        }
        self.reads = frozenset().union(*(e.columns for e in self._compiled.values()))

    def __getstate__(self) -> dict:
        return {"columns": self.columns}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["columns"])

    def column_check(self) -> ColumnCheck:
        """The columns the expressions read must exist (the rule: ``transforms/columns.py``)."""
        return ColumnCheck(f"with_columns {self.columns}", sorted(self.reads))

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        """What the expressions read, and the columns used after it that it does not make.

        >>> sorted(WithColumns({"n": "len(a)", "b": "b + 1"}).input_columns(frozenset({"id", "n", "b"})))
        ['a', 'b', 'id']
        """
        return None if needed_after is None else (needed_after - self.columns.keys()) | self.reads

    def process(self, batch: Batch) -> Batch:
        if batch.has_arrow:
            return Batch.from_arrow(self._arrow(batch.arrow))
        compiled = self._compiled.items()
        out = []
        for row in batch.rows:
            new = dict(row)
            for name, expression in compiled:
                new[name] = expression.row(row)
            out.append(new)
        return Batch.from_rows(out)

    def _arrow(self, arrow: pa.RecordBatch) -> pa.RecordBatch:
        made = {name: expression.arrow(arrow) for name, expression in self._compiled.items()}
        names = arrow.schema.names
        arrays = [made[n] if n in made else arrow.column(n) for n in names]
        added = [n for n in made if n not in names]
        return pa.RecordBatch.from_arrays(arrays + [made[n] for n in added], names=names + added)
