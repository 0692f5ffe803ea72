"""The chainable operations shared by :class:`Dataset` and :class:`IterableDataset`.

Each method turns its arguments into a stage (``transforms/``) and hands it to :meth:`apply`,
which also takes a user's own :class:`~crucible_datasets.transforms.base.Stage`. The two
dataset classes run the longer pipeline their way (``_from_pipeline``): lazily (an
``IterableDataset``) or eagerly (a new table). Names and arguments follow Hugging Face
``datasets``. :data:`OPERATIONS`, the public methods of :class:`Operations`, is what
``DatasetDict`` and ``IterableDatasetDict`` apply to every split.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.batching import (
    BatchedFilter,
    BatchedMap,
    Batcher,
    MapBatches,
    WholeStreamBatchedFilter,
    WholeStreamBatchedMap,
    whole_batch,
)
from crucible_datasets.transforms.casting import CastColumns, arrow_types
from crucible_datasets.transforms.columns import RemoveColumns, RenameColumns, SelectColumns
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.rows import FlatMap, IndexedRowFilter, IndexedRowMap, RowFilter, RowMap
from crucible_datasets.transforms.sql import Sql
from crucible_datasets.transforms.stream import Dedupe, Sample, Skip, Take
from crucible_datasets.transforms.with_columns import WithColumns

if TYPE_CHECKING:
    from crucible_datasets.batch import Batch
    from crucible_datasets.pipeline import Pipeline

# The process rank ``with_rank=True`` passes. ``datasets`` passes the worker's rank with
# ``num_proc`` and None without; crucible has no ``num_proc`` pool (a function runs in one process
# per task, also on Beam's workers), so it passes None, as ``datasets`` does in-process.
RANK: int | None = None


def _bind(
    function: Callable,
    input_columns: str | Sequence[str] | None,
    fn_kwargs: dict | None,
    with_indices: bool = False,
    with_rank: bool = False,
) -> Callable:
    """Adapt a user function to take one row (or one dict of columns), as ``datasets`` does.

    ``function(*inputs, [index,] [rank,] **fn_kwargs)``, where ``inputs`` is the row or the
    ``input_columns`` values; with ``with_indices`` the adapted function takes ``(x, index)``.
    """
    kwargs = fn_kwargs or {}
    rank = (RANK,) if with_rank else ()
    cols = (
        None
        if input_columns is None
        else ([input_columns] if isinstance(input_columns, str) else list(input_columns))
    )
    if with_indices:
        if cols is None:
            return lambda x, idx: function(x, idx, *rank, **kwargs)
        return lambda x, idx: function(*(x[c] for c in cols), idx, *rank, **kwargs)
    if cols is None:
        return (lambda x: function(x, *rank, **kwargs)) if kwargs or rank else function
    return lambda x: function(*(x[c] for c in cols), *rank, **kwargs)


def _identity(x: dict) -> None:
    return None


def named_operation(method: Callable) -> Callable:
    """Decorate an operation: the stage it adds records the op's name and the arguments given
    (``Stage.operation``), which is how a pipeline writes itself as a spec (``to_spec``)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def recording(self: Operations, *args: Any, **kwargs: Any) -> Any:
        before = self._pipeline().stages
        result = method(self, *args, **kwargs)
        after = result._pipeline().stages
        if len(after) == len(before) + 1 and all(a is b for a, b in zip(before, after, strict=False)):
            arguments = signature.bind(self, *args, **kwargs).arguments
            after[-1].operation = (method.__name__, dict(list(arguments.items())[1:]))  # all but self
        return result

    return recording


def collect(batches: Iterable[Batch]) -> pa.Table:
    """Batches to one table, their schemas unified (drift promoted, mixed types as JSON text)."""
    arrows = [b.arrow for b in batches]
    if not arrows:
        return pa.table({})
    schema = schemas.unify([a.schema for a in arrows])
    return pa.Table.from_batches([schemas.cast(a, schema) for a in arrows], schema=schema)


class Operations:
    """Mixin: the dataset operations, each adding one stage."""

    def _pipeline(self) -> Pipeline:
        """The pipeline that yields this dataset's rows."""
        raise NotImplementedError

    def _from_pipeline(self, pipeline: Pipeline) -> Self:
        """A dataset of the same kind holding ``pipeline``'s rows (run now, or lazily)."""
        raise NotImplementedError

    def apply(self, stage: Stage) -> Self:
        """Add one stage: a :class:`~crucible_datasets.transforms.base.Stage`, such as one you wrote.

        >>> import crucible_datasets as cd
        >>> class Double(cd.Stage):
        ...     def process(self, batch):
        ...         return cd.Batch.from_rows([{"x": r["x"] * 2} for r in batch.rows])
        >>> cd.Dataset.from_list([{"x": 1}, {"x": 2}]).apply(Double())["x"]
        [2, 4]
        """
        if isinstance(stage, type) and issubclass(stage, Stage):
            raise TypeError(f"apply() takes a stage, got the class {stage.__name__}; pass {stage.__name__}()")
        if not isinstance(stage, Stage):
            raise TypeError(
                f"apply() takes a crucible_datasets.Stage, got {type(stage).__name__}; "
                "for a function of rows use map(), filter() or map_batches()"
            )
        return self._from_pipeline(self._pipeline().then(stage))

    @named_operation
    def map(
        self,
        function: Callable | None = None,
        *,
        with_indices: bool = False,
        with_rank: bool = False,
        batched: bool = False,
        batch_size: int | None = 1000,
        drop_last_batch: bool = False,
        remove_columns: str | Sequence[str] | None = None,
        input_columns: str | Sequence[str] | None = None,
        fn_kwargs: dict | None = None,
    ) -> Self:
        """Apply ``function`` to each row (or, ``batched=True``, to each dict of columns).

        The returned dict updates the row; ``remove_columns`` are dropped after the call. As in
        ``datasets``: ``with_indices=True`` passes the row's index (batched: the list of them)
        after the inputs; ``with_rank=True`` then passes the process rank: None, as ``datasets``
        passes in-process (there is no ``num_proc``; :data:`RANK`; ``datasets``' ``IterableDataset``
        has no ``with_rank``, ours takes it as ``Dataset`` does); ``batch_size=None`` (or <= 0)
        with ``batched=True`` makes one batch of every row. Indices count rows in the dataset's
        order (a stream: from its start), so a map with indices or one whole batch is a
        whole-stream stage: on Beam its pipeline runs as one task, and the indices are global.

        >>> import crucible_datasets as cd
        >>> ds = cd.Dataset.from_dict({"x": [5, 6, 7]})
        >>> ds.map(lambda r, i: {"i": i}, with_indices=True)["i"]
        [0, 1, 2]
        >>> ds.map(lambda b: {"n": [len(b["x"])] * len(b["x"])}, batched=True, batch_size=None)["n"]
        [3, 3, 3]
        """
        fn = _bind(function or _identity, input_columns, fn_kwargs, with_indices, with_rank)
        drop = [remove_columns] if isinstance(remove_columns, str) else list(remove_columns or ())
        if batched:
            whole = whole_batch(batch_size)
            if whole or with_indices:
                size = None if whole else batch_size
                return self.apply(WholeStreamBatchedMap(fn, size, drop, drop_last_batch, with_indices))
            return self.apply(BatchedMap(fn, batch_size, drop, drop_last_batch))
        return self.apply(IndexedRowMap(fn, drop) if with_indices else RowMap(fn, drop))

    @named_operation
    def filter(
        self,
        function: Callable | None = None,
        *,
        with_indices: bool = False,
        with_rank: bool = False,
        batched: bool = False,
        batch_size: int | None = 1000,
        input_columns: str | Sequence[str] | None = None,
        fn_kwargs: dict | None = None,
    ) -> Self:
        """Keep rows for which ``function`` is true (``batched``: returns a list of bools).

        ``with_indices``, ``with_rank`` and ``batch_size=None`` as in :meth:`map`.

        >>> import crucible_datasets as cd
        >>> cd.Dataset.from_dict({"x": [5, 6, 7]}).filter(lambda r, i: i != 1, with_indices=True)["x"]
        [5, 7]
        """
        if function is None:
            raise TypeError("filter needs a function")
        fn = _bind(function, input_columns, fn_kwargs, with_indices, with_rank)
        if batched:
            whole = whole_batch(batch_size)
            if whole or with_indices:
                size = None if whole else batch_size
                return self.apply(WholeStreamBatchedFilter(fn, size, with_indices))
            return self.apply(BatchedFilter(fn, batch_size))
        return self.apply(IndexedRowFilter(fn) if with_indices else RowFilter(fn))

    @named_operation
    def cast(self, features: Any) -> Self:
        """Cast every column to ``features``: a ``pyarrow.Schema``, a dict of column -> type (a
        ``pyarrow.DataType``, a dtype string such as ``"int32"``, or a ``Value``-like object) or a
        ``Features``-like object. As in ``datasets``, it names exactly the dataset's columns
        (ValueError otherwise), and the columns come out in its order.

        >>> import crucible_datasets as cd
        >>> cd.Dataset.from_dict({"x": [1], "y": ["2"]}).cast({"y": "int64", "x": "float64"})[0]
        {'y': 2, 'x': 1.0}
        """
        return self.apply(CastColumns(arrow_types(features), exact=True, what="cast"))

    @named_operation
    def cast_column(self, column: str, feature: Any) -> Self:
        """Cast one column to ``feature`` (a ``pyarrow.DataType``, a dtype string or a ``Value``).

        >>> import crucible_datasets as cd
        >>> cd.Dataset.from_dict({"x": [1, 2]}).cast_column("x", "string")["x"]
        ['1', '2']
        """
        return self.apply(CastColumns({column: feature}))

    @named_operation
    def where(self, expression: str) -> Self:
        """Keep rows where a safe column expression is true: ``ds.where("score > 0.5")``."""
        return self.apply(ExpressionFilter(expression))

    @named_operation
    def sql(self, query: str) -> Self:
        """Run ``SELECT ... FROM batch [WHERE ...]`` on each batch with DuckDB (needs ``duckdb``):
        per-row projections and filters, never Python rows (``transforms/sql.py``).

        >>> import crucible_datasets as cd
        >>> cd.Dataset.from_dict({"x": [1, 2, 3]}).sql("SELECT x * 10 AS y FROM batch WHERE x > 1")["y"]
        [20, 30]
        """
        return self.apply(Sql(query))

    @named_operation
    def with_columns(self, columns: Mapping[str, str]) -> Self:
        """Add or replace columns computed by safe column expressions, on Arrow or rows alike
        (``transforms/with_columns.py``; the grammar: ``transforms/expression.py``).

        >>> import crucible_datasets as cd
        >>> cd.Dataset.from_dict({"s": ["añb", None]}).with_columns({"n": "len(s)", "s": "s is None"})[:]
        {'s': [False, True], 'n': [3, None]}
        """
        return self.apply(WithColumns(columns))

    @named_operation
    def flat_map(self, function: Callable[[dict], Any]) -> Self:
        """Each row becomes the rows that ``function(row)`` returns (zero or more)."""
        return self.apply(FlatMap(function))

    @named_operation
    def map_batches(self, function: Callable) -> Self:
        """Apply a vectorised ``function(pyarrow.RecordBatch) -> RecordBatch | Table``."""
        return self.apply(MapBatches(function))

    @named_operation
    def batch(self, batch_size: int, drop_last_batch: bool = False) -> Self:
        """Group rows: each output row is a dict of lists of ``batch_size`` input rows."""
        return self.apply(Batcher(batch_size, drop_last_batch))

    @named_operation
    def take(self, n: int) -> Self:
        return self.apply(Take(n))

    @named_operation
    def skip(self, n: int) -> Self:
        return self.apply(Skip(n))

    @named_operation
    def dedupe(self, key: str | Sequence[str] | None = None) -> Self:
        """Drop exact duplicate rows (or rows with a duplicate ``key``), keeping the first."""
        return self.apply(Dedupe(key))

    @named_operation
    def sample(self, fraction: float, seed: int = 0) -> Self:
        """Keep about ``fraction`` of the rows, chosen by row content and ``seed``."""
        return self.apply(Sample(fraction, seed))

    @named_operation
    def select_columns(self, column_names: str | Sequence[str]) -> Self:
        return self.apply(SelectColumns(column_names))

    @named_operation
    def remove_columns(self, column_names: str | Sequence[str]) -> Self:
        return self.apply(RemoveColumns(column_names))

    @named_operation
    def rename_column(self, original_column_name: str, new_column_name: str) -> Self:
        return self.apply(RenameColumns({original_column_name: new_column_name}))

    @named_operation
    def rename_columns(self, column_mapping: Mapping[str, str]) -> Self:
        return self.apply(RenameColumns(column_mapping))

    def shuffle(self, seed: int | None = None) -> Self:
        """Shuffle the rows (``seed`` makes it repeatable); each dataset class shuffles its own way
        (a lazy one's ``shuffle`` is a :func:`named_operation` too)."""
        raise NotImplementedError


DEFAULT_MAX_BATCH_SIZE = 1000  # datasets' config.DEFAULT_MAX_BATCH_SIZE: to_dict/to_pandas(batched=True)


def _missing(package: str) -> ImportError:
    return ImportError(
        f"{package} is not installed; install it with `pip install {package}` "
        f"or `pip install 'crucible-datasets[{package}]'`"
    )


class Exports:
    """Mixin: the rows as Python, pandas or polars objects (``to_dict``, ``to_list``, ``to_pandas``,
    ``to_polars``), over ``self._arrow_table()``. Names and arguments as in ``datasets``.

    >>> import crucible_datasets as cd
    >>> ds = cd.Dataset.from_dict({"x": [1, 2, 3]})
    >>> ds.to_dict(), ds.to_list()[0], [b["x"] for b in ds.to_dict(batch_size=2, batched=True)]
    ({'x': [1, 2, 3]}, {'x': 1}, [[1, 2], [3]])
    """

    def _arrow_table(self) -> pa.Table:
        """Every row as one Arrow table (a stream reads itself to the end)."""
        from crucible_datasets.runners import local

        return collect(local.iter_batches(self._pipeline()))

    def _pieces(self, batch_size: int | None) -> Iterator[pa.Table]:
        table = self._arrow_table()
        size = batch_size or DEFAULT_MAX_BATCH_SIZE
        for start in range(0, table.num_rows, size):
            yield table.slice(start, size)

    def to_dict(self, batch_size: int | None = None, batched: bool = False) -> dict | Iterator[dict]:
        """The rows as a dict of column lists; ``batched=True``: an iterator of such dicts of
        ``batch_size`` rows (default 1000)."""

        def columns(table: pa.Table) -> dict[str, list]:
            rows = schemas.to_pylist(table)
            return {name: [r[name] for r in rows] for name in table.schema.names}

        if batched:
            return (columns(piece) for piece in self._pieces(batch_size))
        return columns(self._arrow_table())

    def to_list(self) -> list[dict]:
        """The rows as a list of dicts."""
        return schemas.to_pylist(self._arrow_table())

    def to_pandas(self, batch_size: int | None = None, batched: bool = False) -> Any:
        """A ``pandas.DataFrame`` (``batched=True``: an iterator of them); needs pandas installed."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise _missing("pandas") from None
        if batched:
            return (piece.to_pandas() for piece in self._pieces(batch_size))
        return self._arrow_table().to_pandas()

    def to_polars(self, batch_size: int | None = None, batched: bool = False) -> Any:
        """A ``polars.DataFrame`` (``batched=True``: an iterator of them); needs polars installed."""
        try:
            import polars
        except ImportError:
            raise _missing("polars") from None
        if batched:
            return (polars.from_arrow(piece) for piece in self._pieces(batch_size))
        return polars.from_arrow(self._arrow_table())


# The names of the operations: the public methods of Operations, which a DatasetDict applies per split.
OPERATIONS: frozenset[str] = frozenset(
    name for name, value in vars(Operations).items() if callable(value) and not name.startswith("_")
)
