"""Column stages: ``select_columns``, ``remove_columns``, ``rename_column(s)``.

They work on whichever form the batch already has (Arrow or rows), never forcing a conversion.

>>> from crucible_datasets.batch import Batch
>>> b = Batch.from_rows([{"a": 1, "b": 2}])
>>> SelectColumns(["b"]).process(b).rows, RenameColumns({"a": "z"}).process(b).rows
([{'b': 2}], [{'z': 1, 'b': 2}])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage


def _names(columns: str | Sequence[str]) -> tuple[str, ...]:
    return (columns,) if isinstance(columns, str) else tuple(columns)


def _check_present(batch: Batch, wanted: Sequence[str], what: str) -> None:
    available = batch.column_names
    missing = [c for c in wanted if c not in available]
    if missing and len(batch):
        raise ValueError(
            f"{what}: column(s) {', '.join(map(repr, missing))} not in the dataset; "
            f"available columns: {', '.join(available)}"
        )


class SelectColumns(Stage):
    """Keep only ``columns``, in that order."""

    def __init__(self, columns: str | Sequence[str]) -> None:
        self.columns = _names(columns)

    def process(self, batch: Batch) -> Batch:
        _check_present(batch, self.columns, "select_columns")
        if batch.has_arrow:
            return Batch.from_arrow(batch.arrow.select(list(self.columns)))
        cols = self.columns
        return Batch.from_rows([{c: row.get(c) for c in cols} for row in batch.rows])


class RemoveColumns(Stage):
    """Drop ``columns``."""

    def __init__(self, columns: str | Sequence[str]) -> None:
        self.columns = _names(columns)

    def process(self, batch: Batch) -> Batch:
        _check_present(batch, self.columns, "remove_columns")
        drop = set(self.columns)
        if batch.has_arrow:
            keep = [n for n in batch.arrow.schema.names if n not in drop]
            return Batch.from_arrow(batch.arrow.select(keep))
        return Batch.from_rows([{k: v for k, v in row.items() if k not in drop} for row in batch.rows])


class RenameColumns(Stage):
    """Rename columns by ``{old: new}``."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)

    def process(self, batch: Batch) -> Batch:
        _check_present(batch, list(self.mapping), "rename_column")
        m = self.mapping
        if batch.has_arrow:
            arrow = batch.arrow
            return Batch.from_arrow(arrow.rename_columns([m.get(n, n) for n in arrow.schema.names]))
        return Batch.from_rows([{m.get(k, k): v for k, v in row.items()} for row in batch.rows])
