"""Stages that run a user's per-row function: ``map``, ``filter``, ``flat_map``.

User functions see rows as dicts, as in Hugging Face ``datasets``: ``map`` merges the dict the
function returns into the row (None leaves the row as it is), ``filter`` keeps rows for which
the function is true.

>>> from crucible_datasets.batch import Batch
>>> b = Batch.from_rows([{"x": 1}, {"x": 2}])
>>> RowMap(lambda r: {"y": r["x"] + 1}).process(b).rows
[{'x': 1, 'y': 2}, {'x': 2, 'y': 3}]
>>> RowFilter(lambda r: r["x"] > 1).process(b).rows
[{'x': 2}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage


def _check_callable(fn: object, what: str) -> None:
    if not callable(fn):
        raise TypeError(f"{what} needs a function, got {type(fn).__name__}")


class RowMap(Stage):
    """``fn(row) -> dict | None``: ``remove_columns`` go, then the returned keys update the row.

    As in ``datasets``, columns are removed before the update, so a returned column named in
    ``remove_columns`` is kept.
    """

    def __init__(self, fn: Callable[[dict], dict | None], remove_columns: Sequence[str] = ()) -> None:
        _check_callable(fn, "map")
        self.fn = fn
        self.remove_columns = tuple(remove_columns)

    def process(self, batch: Batch) -> Batch:
        fn, drop = self.fn, frozenset(self.remove_columns)
        out = []
        append = out.append
        for row in batch.rows:
            result = fn(row)
            new = {k: v for k, v in row.items() if k not in drop} if drop else dict(row)
            if result is not None:
                if not isinstance(result, dict):
                    raise TypeError(f"map function must return a dict or None, got {type(result).__name__}")
                new.update(result)
            append(new)
        return Batch.from_rows(out)


class RowFilter(Stage):
    """Keep the rows for which ``fn(row)`` is true."""

    def __init__(self, fn: Callable[[dict], object]) -> None:
        _check_callable(fn, "filter")
        self.fn = fn

    def process(self, batch: Batch) -> Batch | None:
        rows = batch.rows
        fn = self.fn
        kept = [row for row in rows if fn(row)]
        if len(kept) == len(rows):
            return batch
        return Batch.from_rows(kept) if kept else None


class FlatMap(Stage):
    """``fn(row) -> iterable of rows``: each input row becomes zero or more rows."""

    def __init__(self, fn: Callable[[dict], Iterable[dict]]) -> None:
        _check_callable(fn, "flat_map")
        self.fn = fn

    def process(self, batch: Batch) -> Batch | None:
        fn = self.fn
        out = [new for row in batch.rows for new in fn(row)]
        return Batch.from_rows(out) if out else None
