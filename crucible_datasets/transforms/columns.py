"""Column stages: ``select_columns``, ``remove_columns``, ``rename_column(s)``; the column check.

They work on whichever form the batch already has (Arrow or rows), never forcing a conversion.

The column check (:class:`ColumnCheck`, run by :meth:`Stage.apply` for every stage that names
columns: these, ``where``, ``load(columns=...)``) raises
:class:`~crucible_datasets.errors.ColumnNotFoundError` when a named column does not exist:

- a batch that knows its columns (Arrow: a Parquet footer, a CSV header, an eager dataset, a
  declared schema) decides at once: the first such batch without the column fails;
- schemaless rows (JSON Lines, JSON, where a key may be absent from some rows) fail only at the
  end of the stream, when no row the stage saw had the column. "The stream" is what one run of
  the stage sees: the whole split when iterating, one task's file parts when writing;
- a stage that saw no row at all (empty input) has nothing to judge and does not fail.

Columns made by an earlier stage (a ``map``) exist like any other. The reader (see
``Pipeline.run_parts``) adds the file(s) being read to the message.

>>> from crucible_datasets.batch import Batch
>>> b = Batch.from_rows([{"a": 1, "b": 2}])
>>> SelectColumns(["b"]).process(b).rows, RenameColumns({"a": "z"}).process(b).rows
([{'b': 2}], [{'z': 1, 'b': 2}])
>>> from crucible_datasets.transforms.base import StageCounter
>>> list(SelectColumns(["c"]).apply(iter([b]), StageCounter()))
Traceback (most recent call last):
...
crucible_datasets.errors.ColumnNotFoundError: select_columns: column 'c' not found; available columns: a, b
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.transforms.base import Stage


def _names(columns: str | Sequence[str]) -> tuple[str, ...]:
    names = (columns,) if isinstance(columns, str) else tuple(columns)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"column names are strings, got {name!r}")
    return names


class ColumnCheck:
    """One run's check that the ``needed`` columns exist in a stage's input (rule: module doc).

    ``clash``: names that must NOT exist (a rename's targets); any batch holding one fails.
    """

    def __init__(self, what: str, needed: Sequence[str], clash: Sequence[str] = ()) -> None:
        self.what = what
        self.needed = tuple(dict.fromkeys(needed))
        self.clash = frozenset(clash)
        self.pending = set(self.needed)  # not yet seen in any batch
        self.seen: dict[str, None] = {}  # columns of the schemaless rows seen, first-seen order
        self.rows = 0

    def see(self, batch: Batch) -> None:
        """Check one input batch; raises at once when it knows its columns and lacks one."""
        if batch.has_arrow:
            names = batch.arrow.schema.names
            if not names and not len(batch):
                return  # an empty batch with no schema says nothing
            missing = [c for c in self.needed if c not in names]
            if missing:
                raise ColumnNotFoundError(self.what, missing, names)
            self._no_clash(names)
            self.rows += len(batch)
            self.pending.clear()
            return
        if not len(batch):
            return
        self.rows += len(batch)
        if self.pending or self.clash:
            names = schemas.column_names(batch.rows)
            self.seen.update(dict.fromkeys(names))
            self.pending.difference_update(names)
            self._no_clash(names)

    def finish(self) -> None:
        """At the end of the stream: fail for a column no row had (when there were rows)."""
        if self.pending and self.rows:
            missing = [c for c in self.needed if c in self.pending]
            raise ColumnNotFoundError(self.what, missing, list(self.seen), at_end=True)

    def _no_clash(self, names: Sequence[str]) -> None:
        if self.clash:
            taken = [n for n in names if n in self.clash]
            if taken:
                raise ColumnNotFoundError(
                    self.what,
                    taken,
                    names,
                    problem="already exists",
                    hint="choose a name that is not already in the dataset",
                )


class SelectColumns(Stage):
    """Keep only ``columns``, in that order (a row without one gets None, as drifted rows do)."""

    declarative = True

    def __init__(self, columns: str | Sequence[str], what: str = "select_columns") -> None:
        self.columns = _names(columns)
        self.what = what

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str]:
        return frozenset(self.columns)

    def column_check(self) -> ColumnCheck:
        return ColumnCheck(self.what, self.columns)

    def process(self, batch: Batch) -> Batch:
        if batch.has_arrow:
            arrow = batch.arrow
            if list(arrow.schema.names) == list(self.columns):
                return batch
            return Batch.from_arrow(arrow.select(list(self.columns)))
        cols = self.columns
        return Batch.from_rows([{c: row.get(c) for c in cols} for row in batch.rows])


class RemoveColumns(Stage):
    """Drop ``columns``."""

    declarative = True

    def __init__(self, columns: str | Sequence[str]) -> None:
        self.columns = _names(columns)

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        return None if needed_after is None else needed_after | set(self.columns)  # the check needs them

    def column_check(self) -> ColumnCheck:
        return ColumnCheck("remove_columns", self.columns)

    def process(self, batch: Batch) -> Batch:
        drop = set(self.columns)
        if batch.has_arrow:
            keep = [n for n in batch.arrow.schema.names if n not in drop]
            return Batch.from_arrow(batch.arrow.select(keep))
        return Batch.from_rows([{k: v for k, v in row.items() if k not in drop} for row in batch.rows])


class RenameColumns(Stage):
    """Rename columns by ``{old: new}``; as in ``datasets``, ``old`` must exist and ``new`` must not.

    A ``new`` name that is itself renamed away (``{"a": "b", "b": "a"}``) is free.
    """

    declarative = True

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)
        self.what = what = "rename_column" if len(self.mapping) == 1 else "rename_columns"
        _names(list(self.mapping))
        _names(list(self.mapping.values()))
        duplicates = len(self.mapping) - len(set(self.mapping.values()))
        if duplicates:
            raise ValueError(
                f"{what}: new column names must all be different, but {self.mapping} has "
                f"{duplicates} duplicate{'s' if duplicates > 1 else ''}"
            )
        empty = [old for old, new in self.mapping.items() if not new]
        if empty:
            raise ValueError(f"{what}: the new name for column(s) {', '.join(map(repr, empty))} is empty")

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        """The old names of the columns used after it, and every renamed column (the check)."""
        if needed_after is None:
            return None
        old = {new: old for old, new in self.mapping.items()}
        kept = {n for n in needed_after if n not in old and n not in self.mapping}
        renamed = {old[n] for n in needed_after if n in old}
        return frozenset(kept | renamed | set(self.mapping) | set(self.mapping.values()))

    def column_check(self) -> ColumnCheck:
        renamed = self.mapping
        targets = [new for old, new in renamed.items() if new not in renamed and new != old]
        return ColumnCheck(self.what, list(renamed), clash=targets)

    def process(self, batch: Batch) -> Batch:
        m = self.mapping
        if batch.has_arrow:
            arrow = batch.arrow
            return Batch.from_arrow(arrow.rename_columns([m.get(n, n) for n in arrow.schema.names]))
        return Batch.from_rows([{m.get(k, k): v for k, v in row.items()} for row in batch.rows])
