"""The chainable operations shared by :class:`Dataset` and :class:`IterableDataset`.

Each method turns its arguments into a stage (``transforms/``) and hands it to :meth:`apply`,
which also takes a user's own :class:`~crucible_datasets.transforms.base.Stage`. The two
dataset classes run the longer pipeline their way (``_from_pipeline``): lazily (an
``IterableDataset``) or eagerly (a new table). Names and arguments follow Hugging Face
``datasets``. :data:`OPERATIONS`, the public methods of :class:`Operations`, is what
``DatasetDict`` and ``IterableDatasetDict`` apply to every split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.batching import BatchedFilter, BatchedMap, Batcher, MapBatches
from crucible_datasets.transforms.columns import RemoveColumns, RenameColumns, SelectColumns
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.rows import FlatMap, RowFilter, RowMap
from crucible_datasets.transforms.stream import Dedupe, Sample, Skip, Take

if TYPE_CHECKING:
    from crucible_datasets.pipeline import Pipeline


def _bind(function: Callable, input_columns: str | Sequence[str] | None, fn_kwargs: dict | None) -> Callable:
    """Adapt a user function to take one row (or one dict of columns), as ``datasets`` does."""
    kwargs = fn_kwargs or {}
    if input_columns is None:
        return (lambda x: function(x, **kwargs)) if kwargs else function
    cols = [input_columns] if isinstance(input_columns, str) else list(input_columns)
    return lambda x: function(*(x[c] for c in cols), **kwargs)


def _identity(x: dict) -> None:
    return None


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

    def map(
        self,
        function: Callable | None = None,
        *,
        batched: bool = False,
        batch_size: int = 1000,
        drop_last_batch: bool = False,
        remove_columns: str | Sequence[str] | None = None,
        input_columns: str | Sequence[str] | None = None,
        fn_kwargs: dict | None = None,
    ) -> Self:
        """Apply ``function`` to each row (or, ``batched=True``, to each dict of columns).

        The returned dict updates the row; ``remove_columns`` are dropped after the call.
        """
        fn = _bind(function or _identity, input_columns, fn_kwargs)
        drop = [remove_columns] if isinstance(remove_columns, str) else list(remove_columns or ())
        if batched:
            return self.apply(BatchedMap(fn, batch_size, drop, drop_last_batch))
        return self.apply(RowMap(fn, drop))

    def filter(
        self,
        function: Callable | None = None,
        *,
        batched: bool = False,
        batch_size: int = 1000,
        input_columns: str | Sequence[str] | None = None,
        fn_kwargs: dict | None = None,
    ) -> Self:
        """Keep rows for which ``function`` is true (``batched``: returns a list of bools)."""
        if function is None:
            raise TypeError("filter needs a function")
        fn = _bind(function, input_columns, fn_kwargs)
        return self.apply(BatchedFilter(fn, batch_size) if batched else RowFilter(fn))

    def where(self, expression: str) -> Self:
        """Keep rows where a safe column expression is true: ``ds.where("score > 0.5")``."""
        return self.apply(ExpressionFilter(expression))

    def flat_map(self, function: Callable[[dict], Any]) -> Self:
        """Each row becomes the rows that ``function(row)`` returns (zero or more)."""
        return self.apply(FlatMap(function))

    def map_batches(self, function: Callable) -> Self:
        """Apply a vectorised ``function(pyarrow.RecordBatch) -> RecordBatch | Table``."""
        return self.apply(MapBatches(function))

    def batch(self, batch_size: int, drop_last_batch: bool = False) -> Self:
        """Group rows: each output row is a dict of lists of ``batch_size`` input rows."""
        return self.apply(Batcher(batch_size, drop_last_batch))

    def take(self, n: int) -> Self:
        return self.apply(Take(n))

    def skip(self, n: int) -> Self:
        return self.apply(Skip(n))

    def dedupe(self, key: str | Sequence[str] | None = None) -> Self:
        """Drop exact duplicate rows (or rows with a duplicate ``key``), keeping the first."""
        return self.apply(Dedupe(key))

    def sample(self, fraction: float, seed: int = 0) -> Self:
        """Keep about ``fraction`` of the rows, chosen by row content and ``seed``."""
        return self.apply(Sample(fraction, seed))

    def select_columns(self, column_names: str | Sequence[str]) -> Self:
        return self.apply(SelectColumns(column_names))

    def remove_columns(self, column_names: str | Sequence[str]) -> Self:
        return self.apply(RemoveColumns(column_names))

    def rename_column(self, original_column_name: str, new_column_name: str) -> Self:
        return self.apply(RenameColumns({original_column_name: new_column_name}))

    def rename_columns(self, column_mapping: Mapping[str, str]) -> Self:
        return self.apply(RenameColumns(column_mapping))

    def shuffle(self, seed: int | None = None) -> Self:
        """Shuffle the rows (``seed`` makes it repeatable); each dataset class shuffles its own way."""
        raise NotImplementedError


# The names of the operations: the public methods of Operations, which a DatasetDict applies per split.
OPERATIONS: frozenset[str] = frozenset(
    name for name, value in vars(Operations).items() if callable(value) and not name.startswith("_")
)
