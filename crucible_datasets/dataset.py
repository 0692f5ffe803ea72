"""``Dataset``: a split held in memory as an Arrow table, with eager operations.

>>> import crucible_datasets as cd
>>> ds = cd.Dataset.from_list([{"x": 1}, {"x": 2}, {"x": 3}])
>>> len(ds), ds[0], ds["x"], ds.filter(lambda r: r["x"] > 1).to_pylist()
(3, {'x': 1}, [1, 2, 3], [{'x': 2}, {'x': 3}])
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.operations import Operations
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import local
from crucible_datasets.sources import TableSource
from crucible_datasets.writing import Writable

if TYPE_CHECKING:
    from crucible_datasets.iterable_dataset import IterableDataset


def collect(batches: Iterable[Batch]) -> pa.Table:
    """Batches to one table, their schemas unified (drift promoted, mixed types as JSON text)."""
    arrows = [b.arrow for b in batches]
    if not arrows:
        return pa.table({})
    schema = schemas.unify([a.schema for a in arrows])
    return pa.Table.from_batches([schemas.cast(a, schema) for a in arrows], schema=schema)


class Dataset(Operations, Writable):
    """A split in memory. Operations return a new ``Dataset``."""

    def __init__(self, table: pa.Table, split: str | None = None, description: str = "") -> None:
        self._table = table
        self.split = split
        self.description = description

    @classmethod
    def from_list(cls, rows: list[dict], split: str | None = None) -> Dataset:
        return cls(collect([Batch.from_rows(rows)]) if rows else pa.table({}), split)

    @classmethod
    def from_dict(cls, columns: dict[str, list], split: str | None = None) -> Dataset:
        return cls(pa.table(columns), split)

    def __repr__(self) -> str:
        return f"Dataset(split={self.split!r}, num_rows={len(self)}, columns={self.column_names})"

    def _pipeline(self) -> Pipeline:
        return Pipeline(TableSource(self._table, description=self.description or "<in-memory table>"))

    def _from_pipeline(self, pipeline: Pipeline) -> Dataset:
        return Dataset(collect(local.iter_batches(pipeline)), self.split, self.description)

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self._table.schema.names)

    @property
    def schema(self) -> pa.Schema:
        return self._table.schema

    def __iter__(self) -> Iterator[dict]:
        for batch in self._table.to_batches(max_chunksize=1024):
            yield from schemas.to_pylist(batch)

    def __getitem__(self, key: int | slice | str | Sequence[int]) -> dict | list:
        """``ds[i]`` a row; ``ds[a:b]`` a dict of lists; ``ds["col"]`` a column as a list."""
        if isinstance(key, str):
            if key not in self._table.schema.names:
                raise KeyError(
                    f"column {key!r} not in the dataset; available columns: {', '.join(self.column_names)}"
                )
            return [row[key] for row in schemas.to_pylist(self._table.select([key]))]
        if isinstance(key, int):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"index {key} out of range for a dataset of {n} rows")
            return schemas.to_pylist(self._table.slice(key % n, 1))[0]
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
            return self._columns(self._table.take(pa.array(indices, pa.int64())))
        return self._columns(self._table.take(pa.array(list(key), pa.int64())))

    def _columns(self, table: pa.Table) -> dict[str, list]:
        rows = schemas.to_pylist(table)
        return {name: [r[name] for r in rows] for name in table.schema.names}

    def to_arrow(self) -> pa.Table:
        return self._table

    def to_pylist(self) -> list[dict]:
        return schemas.to_pylist(self._table)

    def select(self, indices: Iterable[int]) -> Dataset:
        """The rows at ``indices``, in that order."""
        return Dataset(self._table.take(pa.array(list(indices), pa.int64())), self.split, self.description)

    def take(self, n: int) -> Dataset:
        return Dataset(self._table.slice(0, n), self.split, self.description)

    def skip(self, n: int) -> Dataset:
        return Dataset(self._table.slice(n), self.split, self.description)

    def shuffle(self, seed: int | None = None) -> Dataset:
        """A full random permutation of the rows (``seed`` makes it repeatable)."""
        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        return self.select(order)

    def to_iterable_dataset(self) -> IterableDataset:
        """The same rows as a lazy :class:`IterableDataset`."""
        from crucible_datasets.iterable_dataset import IterableDataset

        return IterableDataset(self._pipeline(), self.split)
