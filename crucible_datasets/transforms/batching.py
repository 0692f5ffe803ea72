"""Stages that regroup rows: batched ``map``/``filter``, ``batch(n)``, Arrow ``map_batches``.

Batched functions get and return columns (``dict`` of lists), as in Hugging Face ``datasets``;
rows are regrouped to exactly ``batch_size`` (the last group may be smaller).

>>> from crucible_datasets.batch import Batch
>>> stream = iter([Batch.from_rows([{"x": i} for i in range(5)])])
>>> from crucible_datasets.transforms.base import StageCounter
>>> [b.rows for b in Batcher(2).apply(stream, StageCounter())]
[[{'x': [0, 1]}], [{'x': [2, 3]}], [{'x': [4]}]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage, StageCounter, StageKind


def regroup(stream: Iterator[Batch], size: int, counter: StageCounter) -> Iterator[list[dict]]:
    """Rows of ``stream`` in lists of exactly ``size`` (the last may be shorter)."""
    buffer: list[dict] = []
    for batch in stream:
        counter.rows_in += len(batch)
        buffer.extend(batch.rows)
        start = 0
        while len(buffer) - start >= size:
            yield buffer[start : start + size]
            start += size
        del buffer[:start]
    if buffer:
        yield buffer


def to_columns(rows: list[dict]) -> dict[str, list]:
    """Rows to a dict of lists over every key seen (missing values are None)."""
    return {n: [row.get(n) for row in rows] for n in schemas.column_names(rows)}


def to_rows(columns: dict[str, Sequence]) -> list[dict]:
    if not columns:
        return []
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"batched function returned columns of different lengths: {sorted(lengths)}")
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _check_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


class BatchedMap(Stage):
    """``fn(columns) -> columns`` over groups of ``batch_size`` rows.

    When the output has as many rows as the input, it updates the input columns; otherwise
    the input columns must all be removed with ``remove_columns`` (as in ``datasets``).
    """

    kind: ClassVar[StageKind] = StageKind.REGROUPING

    def __init__(
        self,
        fn: Callable[[dict], dict | None],
        batch_size: int = 1000,
        remove_columns: Sequence[str] = (),
        drop_last_batch: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"map needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.batch_size = _check_size(batch_size)
        self.remove_columns = tuple(remove_columns)
        self.drop_last_batch = drop_last_batch

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        for rows in regroup(stream, self.batch_size, counter):
            if self.drop_last_batch and len(rows) < self.batch_size:
                continue
            out = self._call(rows)
            if out:
                counter.rows_out += len(out)
                yield Batch.from_rows(out)

    def _call(self, rows: list[dict]) -> list[dict]:
        columns = to_columns(rows)
        result = self.fn(columns)
        if result is None:
            result = {}
        if not isinstance(result, dict):
            raise TypeError(f"batched map function must return a dict of lists, got {type(result).__name__}")
        n_out = len(next(iter(result.values()))) if result else len(rows)
        kept = {k: v for k, v in columns.items() if k not in self.remove_columns}
        if n_out != len(rows):
            stale = [k for k in kept if k not in result]
            if stale:
                raise ValueError(
                    f"batched map returned {n_out} rows for {len(rows)} input rows; remove the input "
                    f"columns it does not return with remove_columns= ({', '.join(stale)})"
                )
        return to_rows({**kept, **result})


class BatchedFilter(Stage):
    """``fn(columns) -> list of bool`` over groups of ``batch_size`` rows."""

    kind: ClassVar[StageKind] = StageKind.REGROUPING

    def __init__(self, fn: Callable[[dict], Sequence[bool]], batch_size: int = 1000) -> None:
        if not callable(fn):
            raise TypeError(f"filter needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.batch_size = _check_size(batch_size)

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        for rows in regroup(stream, self.batch_size, counter):
            mask = list(self.fn(to_columns(rows)))
            if len(mask) != len(rows):
                raise ValueError(f"batched filter returned {len(mask)} values for {len(rows)} rows")
            kept = [row for row, keep in zip(rows, mask, strict=True) if keep]
            if kept:
                counter.rows_out += len(kept)
                yield Batch.from_rows(kept)


class Batcher(Stage):
    """``batch(n)``: each output row holds ``n`` input rows as a dict of lists."""

    kind: ClassVar[StageKind] = StageKind.REGROUPING

    def __init__(self, batch_size: int, drop_last_batch: bool = False) -> None:
        self.batch_size = _check_size(batch_size)
        self.drop_last_batch = drop_last_batch

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        for rows in regroup(stream, self.batch_size, counter):
            if self.drop_last_batch and len(rows) < self.batch_size:
                continue
            counter.rows_out += 1
            yield Batch.from_rows([to_columns(rows)])


class MapBatches(Stage):
    """``fn(pyarrow.RecordBatch) -> RecordBatch | Table``: a vectorised step that stays in Arrow."""

    def __init__(self, fn: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table]) -> None:
        if not callable(fn):
            raise TypeError(f"map_batches needs a function, got {type(fn).__name__}")
        self.fn = fn

    def process(self, batch: Batch) -> Batch | None:
        out = self.fn(batch.arrow)
        if not isinstance(out, pa.RecordBatch | pa.Table):
            raise TypeError(
                f"map_batches function must return an Arrow RecordBatch or Table, got {type(out)}"
            )
        return Batch.from_arrow(out) if out.num_rows else None
