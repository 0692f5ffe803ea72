"""Stages that regroup rows: batched ``map``/``filter``, ``batch(n)``, Arrow ``map_batches``.

Batched functions get and return columns (``dict`` of lists), as in Hugging Face ``datasets``;
rows are regrouped to exactly ``batch_size`` (the last group may be smaller).
``with_indices=True`` also passes the list of the rows' running indices in the stream, and
``batch_size=None`` makes one batch of every row: both need the whole stream in order, so they
use :class:`WholeStreamBatchedMap` / :class:`WholeStreamBatchedFilter` (``StageKind.WHOLE_STREAM``).

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


def regroup(stream: Iterator[Batch], size: int | None, counter: StageCounter) -> Iterator[list[dict]]:
    """Rows of ``stream`` in lists of exactly ``size`` (the last may be shorter); None: one list."""
    buffer: list[dict] = []
    if size is None:
        for batch in stream:
            counter.rows_in += len(batch)
            buffer.extend(batch.rows)
        if buffer:
            yield buffer
        return
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


def whole_batch(batch_size: int | None) -> bool:
    """True for the ``batch_size`` that means one batch of every row: None or <= 0, as in ``datasets``."""
    if batch_size is None:
        return True
    return isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size <= 0


def _stage_size(kind: StageKind, batch_size: int | None) -> int | None:
    """A stage's batch size: None (one batch of everything) only for a whole-stream stage."""
    return None if kind is StageKind.WHOLE_STREAM and batch_size is None else _check_size(batch_size)


class _Regrouping(Stage):
    """A stage that regroups rows into batches of ``batch_size``: resumable mid-batch."""

    batch_size: int | None

    def resume_node(self, below, state):
        if self.kind is not StageKind.REGROUPING:
            return None  # a whole-stream variant: replayed
        from crucible_datasets.resume import RegroupNode, StageNode

        return StageNode(self, RegroupNode(self.batch_size, below(state["up"] if state else None), state))


class BatchedMap(_Regrouping):
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
        with_indices: bool = False,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"map needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.batch_size = _stage_size(self.kind, batch_size)
        self.remove_columns = tuple(remove_columns)
        self.drop_last_batch = drop_last_batch
        self.with_indices = with_indices

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        index = 0
        for rows in regroup(stream, self.batch_size, counter):
            start, index = index, index + len(rows)
            if self.drop_last_batch and self.batch_size is not None and len(rows) < self.batch_size:
                continue
            out = self._call(rows, start)
            if out:
                counter.rows_out += len(out)
                yield Batch.from_rows(out)

    def _call(self, rows: list[dict], start: int = 0) -> list[dict]:
        columns = to_columns(rows)
        if self.with_indices:
            result = self.fn(columns, list(range(start, start + len(rows))))
        else:
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


class BatchedFilter(_Regrouping):
    """``fn(columns) -> list of bool`` over groups of ``batch_size`` rows."""

    kind: ClassVar[StageKind] = StageKind.REGROUPING

    def __init__(
        self, fn: Callable[[dict], Sequence[bool]], batch_size: int = 1000, with_indices: bool = False
    ) -> None:
        if not callable(fn):
            raise TypeError(f"filter needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.batch_size = _stage_size(self.kind, batch_size)
        self.with_indices = with_indices

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        index = 0
        for rows in regroup(stream, self.batch_size, counter):
            columns = to_columns(rows)
            if self.with_indices:
                mask = list(self.fn(columns, list(range(index, index + len(rows)))))
            else:
                mask = list(self.fn(columns))
            index += len(rows)
            if len(mask) != len(rows):
                raise ValueError(f"batched filter returned {len(mask)} values for {len(rows)} rows")
            kept = [row for row, keep in zip(rows, mask, strict=True) if keep]
            if kept:
                counter.rows_out += len(kept)
                yield Batch.from_rows(kept)


class WholeStreamBatchedMap(BatchedMap):
    """A batched map over the whole stream in order: ``with_indices=True`` (global indices) or
    ``batch_size=None`` (one batch of every row).

    >>> stream = iter([Batch.from_rows([{"x": 1}]), Batch.from_rows([{"x": 2}])])
    >>> stage = WholeStreamBatchedMap(lambda cols, idx: {"n": [len(idx)] * len(idx)}, None, with_indices=True)
    >>> [b.rows for b in stage.apply(stream, StageCounter())]
    [[{'x': 1, 'n': 2}, {'x': 2, 'n': 2}]]
    """

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM


class WholeStreamBatchedFilter(BatchedFilter):
    """A batched filter over the whole stream in order (global indices, or ``batch_size=None``)."""

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM


class Batcher(_Regrouping):
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
