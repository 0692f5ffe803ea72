"""Stages that run a user's per-row function: ``map``, ``filter``, ``flat_map``.

User functions see rows as dicts, as in Hugging Face ``datasets``: ``map`` merges the dict the
function returns into the row (None leaves the row as it is), ``filter`` keeps rows for which
the function is true. :class:`IndexedRowMap` / :class:`IndexedRowFilter` (``with_indices=True``)
also pass each row's running index in the stream; a global index needs every row in order, so
they are ``StageKind.WHOLE_STREAM`` stages (on Beam the pipeline runs as one task).

>>> from crucible_datasets.batch import Batch
>>> b = Batch.from_rows([{"x": 1}, {"x": 2}])
>>> RowMap(lambda r: {"y": r["x"] + 1}).process(b).rows
[{'x': 1, 'y': 2}, {'x': 2, 'y': 3}]
>>> RowFilter(lambda r: r["x"] > 1).process(b).rows
[{'x': 2}]
>>> from crucible_datasets.transforms.base import StageCounter
>>> stream = iter([b, Batch.from_rows([{"x": 3}])])
>>> [r for o in IndexedRowMap(lambda r, i: {"i": i}).apply(stream, StageCounter()) for r in o.rows]
[{'x': 1, 'i': 0}, {'x': 2, 'i': 1}, {'x': 3, 'i': 2}]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import ClassVar

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import RowStep, Stage, StageCounter, StageKind


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

    def row_step(self) -> RowStep:
        fn, merge = self.fn, _merger(self.remove_columns)
        return lambda row: merge(row, fn(row))


def _merger(remove_columns: Sequence[str]) -> Callable[[dict, dict | None], dict]:
    """``merge(row, result)``: a new row, ``row`` without ``remove_columns`` updated by ``result``."""
    drop = tuple(dict.fromkeys(remove_columns))

    def merge(row: dict, result: dict | None) -> dict:
        new = row.copy()  # then pop: 25% faster than a dict comprehension leaving them out
        for name in drop:
            new.pop(name, None)
        if result is not None:
            if not isinstance(result, dict):
                raise TypeError(f"map function must return a dict or None, got {type(result).__name__}")
            new.update(result)
        return new

    return merge


class RowFilter(Stage):
    """Keep the rows for which ``fn(row)`` is true."""

    def __init__(self, fn: Callable[[dict], object]) -> None:
        _check_callable(fn, "filter")
        self.fn = fn

    def row_step(self) -> RowStep:
        fn = self.fn
        return lambda row: row if fn(row) else None


def _indexed(stream: Iterator[Batch], counter: StageCounter) -> Iterator[tuple[Batch, int]]:
    """Each batch of ``stream`` with the running index of its first row (counted in)."""
    index = 0
    for batch in stream:
        counter.rows_in += len(batch)
        yield batch, index
        index += len(batch)


class IndexedRowMap(Stage):
    """``fn(row, index) -> dict | None`` (``map(with_indices=True)``); index: the row's place in the stream.

    ``WHOLE_STREAM``: the index is global, so every row must pass through one stream in order.
    """

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM

    def __init__(self, fn: Callable[[dict, int], dict | None], remove_columns: Sequence[str] = ()) -> None:
        _check_callable(fn, "map")
        self.fn = fn
        self.remove_columns = tuple(remove_columns)

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        fn, merge = self.fn, _merger(self.remove_columns)
        for batch, start in _indexed(stream, counter):
            out = [merge(row, fn(row, i)) for i, row in enumerate(batch.rows, start)]
            if out:
                counter.rows_out += len(out)
                yield Batch.from_rows(out, position=batch.position)


class IndexedRowFilter(Stage):
    """Keep rows for which ``fn(row, index)`` is true (``filter(with_indices=True)``); ``WHOLE_STREAM``."""

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM

    def __init__(self, fn: Callable[[dict, int], object]) -> None:
        _check_callable(fn, "filter")
        self.fn = fn

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        fn = self.fn
        for batch, start in _indexed(stream, counter):
            rows = batch.rows
            kept = [row for i, row in enumerate(rows, start) if fn(row, i)]
            if kept:
                counter.rows_out += len(kept)
                yield batch if len(kept) == len(rows) else Batch.from_rows(kept, position=batch.position)


class FlatMap(Stage):
    """``fn(row) -> iterable of rows``: each input row becomes zero or more rows."""

    def __init__(self, fn: Callable[[dict], Iterable[dict]]) -> None:
        _check_callable(fn, "flat_map")
        self.fn = fn

    def row_step(self) -> RowStep:
        fn = self.fn
        return lambda row: list(fn(row))
