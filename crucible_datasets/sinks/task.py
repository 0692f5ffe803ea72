"""Phase 1 of a write, in each task: rows to temp files, with roll-over and schema widening.

``writer = sink.open_task(i)`` gives a :class:`TaskWriter`; ``writer.write(batch)`` appends to
the task's open temp file in the sink's :class:`~crucible_datasets.sinks.files.FileFormat`,
opening the next one when the sink's ``max_rows_per_shard`` / ``max_bytes_per_shard`` is
reached; ``writer.close()`` returns the picklable :class:`TaskResult` that
:meth:`Sink.finalize <crucible_datasets.sinks.base.Sink.finalize>` takes. Temp files are named
by task index and roll-over index (``task-00003-00001.parquet``) in the run's temp folder, so a
retried task overwrites its own files.

>>> import tempfile
>>> from crucible_datasets.batch import Batch
>>> from crucible_datasets.sinks.parquet import ParquetSink
>>> sink = ParquetSink(tempfile.mkdtemp(), max_rows_per_shard=2)
>>> with sink.open_task(0) as writer:
...     writer.write(Batch.from_rows([{"a": 1}, {"a": 2}, {"a": 3}]))
>>> [(s.roll, s.rows) for s in writer.result.shards]
[(0, 2), (1, 1)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.storage import filesystem as fs

if TYPE_CHECKING:
    from crucible_datasets.sinks.base import Sink
    from crucible_datasets.sinks.files import FileWriter


@dataclass(frozen=True)
class TempShard:
    """One closed temp file written by a task."""

    path: str
    task_index: int
    roll: int
    rows: int
    bytes: int  # size of the file
    num_bytes: int  # Arrow (in-memory) size of its rows, for the card's ``num_bytes``
    schema: pa.Schema


@dataclass(frozen=True)
class TaskResult:
    """What :meth:`TaskWriter.close` returns: picklable, handed to :meth:`Sink.finalize`."""

    run_id: str
    task_index: int
    shards: tuple[TempShard, ...]
    schema: pa.Schema | None  # every batch the task saw, empty ones included

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


class TaskWriter:
    """Writes one task's rows to temp files; rolls over at the sink's caps.

    A batch whose schema does not fit the open file is unified with it (``schema.unify``); when
    the file's schema must change and the format stores one (Parquet), what was written so far
    is rewritten, a row group at a time, into a new temp file of the wider schema.

    Use as a context manager to abort on an exception (``.result`` holds the TaskResult).
    """

    def __init__(self, sink: Sink, task_index: int) -> None:
        self.sink = sink
        self.task_index = task_index
        self.result: TaskResult | None = None
        self._shards: list[TempShard] = []
        self._seen: pa.Schema | None = None  # every batch's schema, unified
        self._file: FileWriter | None = None
        self._file_rows = 0
        self._file_num_bytes = 0
        self._roll = 0
        self._version = 0
        self._done = False

    def __getstate__(self) -> dict:
        if self._file is not None:
            raise TypeError("a TaskWriter with an open file cannot be pickled: pickle it before writing")
        return self.__dict__.copy()

    def __enter__(self) -> TaskWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._done:
            self.close()

    def write(self, batch: Batch) -> None:
        if self._done:
            raise ValueError(f"task {self.task_index}: write() after close() or abort()")
        rows_given = not batch.has_arrow
        arrow = batch.arrow
        if arrow.num_rows != len(batch):  # rows without any key: Arrow cannot count them
            batch, arrow, rows_given = self._rows_without_columns(batch)
        batch_schema = arrow.schema.remove_metadata()
        self._check_declared(batch_schema)
        if self._seen is None:
            self._seen = batch_schema
        elif not self._seen.equals(batch_schema, check_metadata=True):
            self._seen = schemas.unify([self._seen, batch_schema])
        total = len(batch)
        cap = self.sink.max_rows_per_shard
        start = 0
        while start < total:
            if self._file is None:
                self._open_next()
            stop = total if cap is None else min(total, start + cap - self._file_rows)
            if start == 0 and stop == total:
                part = batch
            else:
                rows = batch.rows[start:stop] if rows_given else None
                part = Batch(arrow=arrow.slice(start, stop - start), rows=rows)
            self._fit(batch_schema)
            self._file.write(part)
            self._file_rows += stop - start
            self._file_num_bytes += arrow.nbytes * (stop - start) // max(arrow.num_rows, 1)
            start = stop
            full_rows = cap is not None and self._file_rows >= cap
            max_bytes = self.sink.max_bytes_per_shard
            if full_rows or (max_bytes is not None and self._file_num_bytes >= max_bytes):
                self._finish_file()

    def close(self) -> TaskResult:
        """Close the open temp file; the task's :class:`TaskResult` (also kept as ``.result``)."""
        if self.result is not None:
            return self.result
        if self._done:
            raise ValueError(f"task {self.task_index} was aborted")
        try:
            self._finish_file()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self.result = TaskResult(self.sink.run_id, self.task_index, tuple(self._shards), self._seen)
        return self.result

    def abort(self) -> None:
        """Stop and delete this task's temp files (also after ``close``: its result is void)."""
        self._done = True
        self.result = None
        if self._file is not None:
            path = self._file.path
            self._file.abort()
            self._file = None
            fs.delete(path)
        for shard in self._shards:
            fs.delete(shard.path)
        self._shards = []

    # -- internals --

    def _check_declared(self, batch_schema: pa.Schema) -> None:
        declared = self.sink.schema
        if declared is None:
            return
        extra = [name for name in batch_schema.names if declared.get_field_index(name) < 0]
        if extra:
            raise ValueError(
                f"task {self.task_index}: columns {extra} are not in the sink's declared schema "
                f"(columns {declared.names})"
            )

    def _rows_without_columns(self, batch: Batch) -> tuple[Batch, pa.RecordBatch, bool]:
        """Rows like ``{}``: all-null rows of the columns seen so far (Parquet cannot hold rows
        without columns); kept as they are by formats without a schema (JSON Lines)."""
        if not self.sink.files.rewrite_on_schema_change:
            return batch, batch.arrow, True
        target = self.sink.schema or self._seen
        if target is None or len(target) == 0:
            raise ValueError(
                f"task {self.task_index}: {len(batch)} rows have no columns at all, and a Parquet file "
                "cannot hold rows without columns (did a map function return empty dicts?)"
            )
        arrow = pa.RecordBatch.from_pylist([{}] * len(batch), schema=target)
        return Batch.from_arrow(arrow), arrow, False

    def _open_next(self) -> None:
        self._version = 0
        target = self.sink.schema or self.sink.files.file_schema(self._seen)
        path = self.sink.temp_path(self.task_index, self._roll)
        self._file = self.sink.files.open(path, target)
        self._file_rows = 0
        self._file_num_bytes = 0

    def _fit(self, batch_schema: pa.Schema) -> None:
        """Make the open file's schema able to hold ``batch_schema``."""
        current = self._file.schema
        if self.sink.schema is not None or current.equals(batch_schema, check_metadata=True):
            return
        wider = self.sink.files.file_schema(schemas.unify([current, batch_schema]))
        if wider.equals(current, check_metadata=True):
            return
        if not self.sink.files.rewrite_on_schema_change:
            self._file.schema = wider
            return
        old = self._file
        self._file = None
        old.close()
        self._version += 1
        path = self.sink.temp_path(self.task_index, self._roll, self._version)
        wide = self.sink.files.open(path, wider)
        try:
            self.sink.files.copy_into(old.path, wide)
        except BaseException:
            wide.abort()
            fs.delete(path)
            fs.delete(old.path)
            raise
        fs.delete(old.path)
        self._file = wide  # stays open: the rest of the task appends to it

    def _finish_file(self) -> None:
        if self._file is None:
            return
        writer = self._file
        self._file = None
        writer.close()
        if self._file_rows == 0:
            fs.delete(writer.path)
            return
        self._shards.append(
            TempShard(
                path=writer.path,
                task_index=self.task_index,
                roll=self._roll,
                rows=self._file_rows,
                bytes=fs.size(writer.path),
                num_bytes=self._file_num_bytes,
                schema=writer.schema,
            )
        )
        self._roll += 1
