"""``Dataset``: a split held in memory as an Arrow table, with eager operations.

>>> import crucible_datasets as cd
>>> ds = cd.Dataset.from_list([{"x": 1}, {"x": 2}, {"x": 3}])
>>> len(ds), ds[0], ds["x"], ds.filter(lambda r: r["x"] > 1).to_pylist()
(3, {'x': 1}, [1, 2, 3], [{'x': 2}, {'x': 3}])
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.features import Features
from crucible_datasets.formatting import Formatting, format_batch, format_rows
from crucible_datasets.operations import Exports, Operations, collect
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import local
from crucible_datasets.sources import GeneratorSource, TableSource
from crucible_datasets.transforms.casting import CastColumns, arrow_types
from crucible_datasets.writing import Writable

__all__ = ["Dataset", "collect"]

if TYPE_CHECKING:
    from crucible_datasets.dataset_dict import DatasetDict
    from crucible_datasets.iterable_dataset import IterableDataset


def _cast_table(table: pa.Table, features: Any) -> pa.Table:
    """``table`` cast to ``features`` (any form ``Dataset.cast`` takes), or as it is for None."""
    if features is None:
        return table
    stage = CastColumns(arrow_types(features), exact=True, what="features")
    return pa.Table.from_batches([stage.process(Batch.from_arrow(table)).arrow])


class Dataset(Operations, Exports, Writable):
    """A split in memory. Operations return a new ``Dataset``."""

    def __init__(self, table: pa.Table, split: str | None = None, description: str = "") -> None:
        self._table = table
        self.split = split
        self.description = description

    @classmethod
    def from_list(cls, rows: list[dict], features: Any = None, split: str | None = None) -> Dataset:
        """A dataset of ``rows`` (dicts); ``features``: the column types, as :meth:`cast` takes them.

        >>> Dataset.from_list([{"x": 1}, {"x": 2}], features={"x": "int8"}).schema.field("x").type
        DataType(int8)
        """
        table = collect([Batch.from_rows(rows)]) if rows else pa.table({})
        return cls(_cast_table(table, features) if rows else table, split)

    @classmethod
    def from_dict(cls, mapping: dict[str, list], features: Any = None, split: str | None = None) -> Dataset:
        """A dataset of columns: ``{"x": [1, 2]}``; ``features`` as in :meth:`from_list`.

        >>> Dataset.from_dict({"x": [1, 2], "y": ["a", "b"]})[1]
        {'x': 2, 'y': 'b'}
        """
        return cls(_cast_table(pa.table(mapping), features), split)

    @classmethod
    def from_pandas(
        cls, df: Any, features: Any = None, split: str | None = None, preserve_index: bool | None = None
    ) -> Dataset:
        """A dataset of a ``pandas.DataFrame``'s columns (Arrow's conversion; ``preserve_index``
        as in ``pyarrow.Table.from_pandas``: None keeps a non-default index as a column)."""
        return cls(_cast_table(pa.Table.from_pandas(df, preserve_index=preserve_index), features), split)

    @classmethod
    def from_generator(
        cls,
        generator: Callable[..., Iterable[dict]],
        features: Any = None,
        gen_kwargs: dict | None = None,
        split: str = "train",
    ) -> Dataset:
        """A dataset of the rows ``generator(**gen_kwargs)`` yields, read now into memory.

        As in ``datasets``, list values of ``gen_kwargs`` are shards (see
        :class:`~crucible_datasets.sources.GeneratorSource`); there is no cache, no ``num_proc``.

        >>> def gen(n):
        ...     for i in range(n):
        ...         yield {"i": i}
        >>> Dataset.from_generator(gen, gen_kwargs={"n": 3})["i"]
        [0, 1, 2]
        """
        source = GeneratorSource(generator, dict(gen_kwargs or {}))
        table = collect(local.iter_batches(Pipeline(source)))
        return cls(_cast_table(table, features) if table.num_columns else table, split, source.description)

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

    @property
    def features(self) -> Features:
        """The column types as ``datasets`` describes them (:class:`~crucible_datasets.features.Features`
        of ``Value``, ``List``, ``ClassLabel``...), from the Arrow schema and its ``huggingface`` metadata.

        >>> Dataset.from_dict({"x": [1], "t": [["a"]]}).features
        {'x': Value('int64'), 't': List(Value('string'))}
        """
        return Features.from_arrow_schema(self._table.schema)

    def _arrow_table(self) -> pa.Table:
        return self._table

    def iter(self, batch_size: int, drop_last_batch: bool = False) -> Iterator[dict[str, list]]:
        """The rows in batches of ``batch_size``, each a dict of column lists (the last one may be
        shorter; ``drop_last_batch=True`` leaves it out).

        >>> [b["x"] for b in Dataset.from_dict({"x": [1, 2, 3]}).iter(batch_size=2)]
        [[1, 2], [3]]
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        n = len(self)
        stop = n - n % batch_size if drop_last_batch else n
        for start in range(0, stop, batch_size):
            if self._formatting is not None:  # with_format
                yield format_batch(Batch.from_arrow(self._table.slice(start, batch_size)), self._formatting)
                continue
            yield self._columns(self._table.slice(start, batch_size))

    def __iter__(self) -> Iterator[dict]:
        for batch in self._table.to_batches(max_chunksize=1024):
            if self._formatting is not None:  # with_format
                yield from format_rows(Batch.from_arrow(batch), self._formatting)
                continue
            yield from schemas.to_pylist(batch)

    def __getitem__(self, key: int | slice | str | Sequence[int]) -> dict | list:
        """``ds[i]`` a row; ``ds[a:b]`` a dict of lists; ``ds["col"]`` a column as a list."""
        if self._formatting is not None:  # with_format
            return self._formatted_item(key)
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

    def shard(self, num_shards: int, index: int, contiguous: bool = True) -> Dataset:
        """Shard ``index`` of ``num_shards``, as ``datasets`` cuts them: contiguous runs of rows whose
        lengths differ by at most one (the first ones longer), or (``contiguous=False``) every
        ``num_shards``-th row from ``index``.

        >>> ds = Dataset.from_dict({"x": list(range(5))})
        >>> ds.shard(2, 0)["x"], ds.shard(2, 1)["x"], ds.shard(2, 0, contiguous=False)["x"]
        ([0, 1, 2], [3, 4], [0, 2, 4])
        """
        if not 0 <= index < num_shards:
            raise ValueError("index should be in [0, num_shards-1]")
        n = len(self)
        if contiguous:
            div, mod = divmod(n, num_shards)
            start = div * index + min(index, mod)
            length = div + (1 if index < mod else 0)
            return Dataset(self._table.slice(start, length), self.split, self.description)
        return self.select(range(index, n, num_shards))

    def _check_columns(self, what: str, names: Sequence[str]) -> None:
        missing = [c for c in names if c not in self._table.schema.names]
        if missing:
            raise ColumnNotFoundError(what, missing, self.column_names)

    def sort(
        self,
        column_names: str | Sequence[str],
        reverse: bool | Sequence[bool] = False,
        null_placement: str = "at_end",
    ) -> Dataset:
        """Rows sorted by ``column_names`` (stable; ``reverse``: one bool, or one per column;
        ``null_placement``: ``"at_end"``/``"last"`` or ``"at_start"``/``"first"``), as ``datasets``.

        >>> ds = Dataset.from_dict({"k": [2, 1, 2], "v": ["a", "b", "c"]})
        >>> ds.sort("k")["v"], ds.sort(["k", "v"], reverse=[True, True])["v"]
        (['b', 'a', 'c'], ['c', 'a', 'b'])
        """
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        if isinstance(reverse, bool):
            reverse = [reverse] * len(names)
        elif len(reverse) != len(names):
            raise ValueError(
                "Parameter 'reverse' should be either a boolean or a list of booleans with the same "
                "length as 'column_names'."
            )
        self._check_columns("sort", names)
        placement = {"first": "at_start", "last": "at_end"}.get(null_placement, null_placement)
        if placement not in ("at_start", "at_end"):
            raise ValueError(
                f"null_placement {null_placement!r} is an invalid parameter value. Must be either "
                "'last', 'at_end', 'first' or 'at_start'."
            )
        keys = [(n, "descending" if r else "ascending") for n, r in zip(names, reverse, strict=True)]
        try:  # pyarrow 25 takes the null placement per key (and deprecates the global one)
            order = pc.sort_indices(self._table, sort_keys=[(*k, placement) for k in keys])
        except (TypeError, ValueError, pa.ArrowInvalid):
            order = pc.sort_indices(self._table, sort_keys=keys, null_placement=placement)
        return Dataset(self._table.take(order), self.split, self.description)

    def unique(self, column: str) -> list:
        """The distinct values of ``column``, in first-seen order.

        >>> Dataset.from_dict({"k": [2, 1, 2]}).unique("k")
        [2, 1]
        """
        self._check_columns("unique", [column])
        values = self._table.select([column])
        table = pa.table({column: values.column(0).unique()}, schema=values.schema)
        return [row[column] for row in schemas.to_pylist(table)]

    def train_test_split(
        self,
        test_size: float | int | None = None,
        train_size: float | int | None = None,
        shuffle: bool = True,
        seed: int | None = None,
    ) -> DatasetDict:
        """Splits ``"train"`` and ``"test"``, with the sizes and the row order of ``datasets``.

        A float size is a fraction (test rounded up, train down), an int a row count; neither
        given: ``test_size=0.25``. ``shuffle=True`` draws NumPy's ``default_rng(seed).permutation``
        as ``datasets`` does, so a seed gives its rows; ``shuffle=False`` keeps the first rows for
        train. There is no ``stratify_by_column``.

        >>> dd = Dataset.from_dict({"x": list(range(10))}).train_test_split(test_size=0.3, shuffle=False)
        >>> dd["train"]["x"], dd["test"]["x"]
        ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
        """
        from crucible_datasets.dataset_dict import DatasetDict

        n_samples = len(self)
        if n_samples == 0:
            return DatasetDict({"train": self, "test": self})
        n_train, n_test = _split_sizes(n_samples, test_size, train_size)
        if not shuffle:
            train, test = range(n_train), range(n_train, n_train + n_test)
        else:
            import numpy as np

            permutation = np.random.default_rng(seed).permutation(n_samples).tolist()
            test, train = permutation[:n_test], permutation[n_test : n_test + n_train]
        return DatasetDict({"train": self.select(train), "test": self.select(test)})

    def to_iterable_dataset(self) -> IterableDataset:
        """The same rows as a lazy :class:`IterableDataset`."""
        from crucible_datasets.iterable_dataset import IterableDataset

        ds = IterableDataset(self._pipeline(), self.split)
        if self._formatting is not None:
            ds._formatting = self._formatting
        return ds

    # --- with_format (formatting.py); kept by with_format's copy only ---

    _formatting: Formatting | None = None

    def with_format(
        self,
        type: Literal["python", "numpy", "torch", "arrow", "pandas"] | None = None,
        columns: list[str] | None = None,
        output_all_columns: bool = False,
    ) -> Dataset:
        """Rows, slices, columns and ``iter`` batches as ``type`` (as ``datasets``' ``with_format``).

        >>> ds = Dataset.from_dict({"x": [1, 2, 3], "s": ["a", "b", "c"]}).with_format("numpy")
        >>> ds["x"].tolist(), ds[0:2]["s"], type(ds[0]["x"]).__name__
        ([1, 2, 3], ['a', 'b'], 'int64')
        """
        ds = Dataset(self._table, self.split, self.description)
        fmt = Formatting(type, columns, output_all_columns)
        ds._formatting = None if fmt.plain else fmt
        return ds

    @property
    def format(self) -> dict:
        f = self._formatting or Formatting()
        cols = list(f.columns) if f.columns else None
        return {"type": f.type, "columns": cols, "output_all_columns": f.output_all_columns}

    def _formatted_item(self, key: int | slice | str | Sequence[int]) -> object:
        fmt, table = self._formatting, self._table
        if isinstance(key, str):
            return format_batch(Batch.from_arrow(table.select([key])), replace(fmt, columns=(key,)))[key]
        if isinstance(key, int):
            n = len(self)
            if not -n <= key < n:
                raise IndexError(f"index {key} out of range for a dataset of {n} rows")
            return next(format_rows(Batch.from_arrow(table.slice(key % n, 1)), fmt))
        indices = range(*key.indices(len(self))) if isinstance(key, slice) else list(key)
        return format_batch(Batch.from_arrow(table.take(pa.array(indices, pa.int64()))), fmt)


def _split_sizes(
    n_samples: int, test_size: float | int | None, train_size: float | int | None
) -> tuple[int, int]:
    """``(n_train, n_test)`` by the rules (and errors) of ``datasets``' ``train_test_split``."""
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if (isinstance(size, int) and (size >= n_samples or size <= 0)) or (
            isinstance(size, float) and (size <= 0 or size >= 1)
        ):
            raise ValueError(
                f"{name}={size} should be either positive and smaller "
                f"than the number of samples {n_samples} or a float in the (0, 1) range"
            )
        if size is not None and not isinstance(size, int | float):
            raise ValueError(f"Invalid value for {name}: {size} of type {type(size)}")
    if isinstance(train_size, float) and isinstance(test_size, float) and train_size + test_size > 1:
        raise ValueError(
            f"The sum of test_size and train_size = {train_size + test_size}, should be in the (0, 1)"
            " range. Reduce test_size and/or train_size."
        )
    n_test = math.ceil(test_size * n_samples) if isinstance(test_size, float) else test_size
    n_train = math.floor(train_size * n_samples) if isinstance(train_size, float) else train_size
    if train_size is None:
        n_train = n_samples - n_test
    elif test_size is None:
        n_test = n_samples - n_train
    if n_train + n_test > n_samples:
        raise ValueError(
            f"The sum of train_size and test_size = {n_train + n_test}, should be smaller than the number "
            f"of samples {n_samples}. Reduce test_size and/or train_size."
        )
    if n_train == 0:
        raise ValueError(
            f"With n_samples={n_samples}, test_size={test_size} and train_size={train_size}, the "
            "resulting train set will be empty. Adjust any of the aforementioned parameters."
        )
    return int(n_train), int(n_test)
