"""Arrow IPC (``.arrow``): the file form and the stream form; parts are runs of record batches.

``datasets`` writes the stream form (its cache files, ``save_to_disk`` shards); ``pyarrow``'s
``ipc.new_file`` / Feather v2 write the file form (``ARROW1`` magic, a footer indexing the
batches). Both are read, a record batch at a time: a :class:`FilePart` of an Arrow file counts
record batches, as one of a Parquet file counts row groups (``FilePart(path, 2, 5)`` is batches
2, 3 and 4). Local files are memory-mapped, so skipping to a part's first batch of a stream
copies nothing; the stream form has no index, so planning reads its message headers through.

Each batch is validated (``RecordBatch.validate(full=True)``, as ``datasets`` does): a corrupt
or truncated file is a :class:`~crucible_datasets.errors.DataFileError` naming it. Column
projection, a declared schema (rows that do not fit are bad records whose ``line`` is the
1-based row number) and a column missing from the file (nulls) work as for Parquet. A file
without rows reads as one empty batch that carries its columns.

>>> import os, tempfile, pyarrow as pa
>>> path = os.path.join(tempfile.mkdtemp(), "a.arrow")
>>> with pa.ipc.new_stream(path, pa.schema([("a", pa.int64()), ("b", pa.string())])) as w:
...     w.write_batch(pa.record_batch({"a": [1, 2], "b": ["x", "y"]}))
...     w.write_batch(pa.record_batch({"a": [3], "b": ["z"]}))
>>> fmt = ArrowFormat()
>>> fmt.num_rows(path), [rows for rows, _ in fmt.row_groups(path)]
(3, [2, 1])
>>> [b.rows for b in fmt.read(FilePart(path, 1, 2), ReadOptions(columns=("b",)), ErrorPolicy())]
[[{'b': 'z'}]]
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import DataFileError
from crucible_datasets.formats._common import cast_batch, check_declared, target_schema, with_nulls
from crucible_datasets.formats.base import FilePart, Format, ReadOptions
from crucible_datasets.storage.filesystem import is_remote, open_input

FILE_MAGIC = b"ARROW1"
_READ_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError)


class ArrowFormat(Format):
    """Arrow IPC (``.arrow``), the file or the stream form."""

    name = "arrow"
    extensions = (".arrow",)
    split_unit = "row_groups"

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """The rows of record batches ``[part.start, part.end)`` in batches of ``options.batch_rows``."""
        if schemas.is_partial(options.schema):
            schema = schemas.narrow(options.schema, options.columns)
        else:
            schema = target_schema(options)
        return self._read(part, options, schema, errors)

    def row_groups(self, path: str) -> list[tuple[int, int]]:
        """``(rows, stored bytes)`` of each record batch."""
        with _IpcFile(path) as ipc:
            return [(batch.num_rows, nbytes) for batch, nbytes in ipc.batches()]

    def num_rows(self, path: str) -> int:
        return sum(rows for rows, _ in self.row_groups(path))

    def stored_schema(self, path: str) -> pa.Schema:
        with _IpcFile(path) as ipc:
            return ipc.schema

    def _read(self, part: FilePart, options: ReadOptions, schema, errors: ErrorPolicy) -> Iterator[Batch]:
        path = part.path
        with _IpcFile(path) as ipc:
            stored = ipc.schema
            partial = schemas.is_partial(schema)
            if partial:
                check_declared(path, stored, schema)
            wanted = list(schema.names) if schema is not None and not partial else options.columns
            present = None if wanted is None else [c for c in wanted if stored.get_field_index(c) >= 0]
            row, seen = 0, False
            for index, (whole, _) in enumerate(ipc.batches(part.end)):
                if index < part.start:
                    row += whole.num_rows
                    continue
                _guard(path, lambda b=whole: b.validate(full=True))
                seen = seen or whole.num_rows > 0
                if present is not None:
                    whole = whole.select(present)
                for start in range(0, whole.num_rows, options.batch_rows):
                    batch = whole.slice(start, options.batch_rows)
                    first_row, row = row, row + batch.num_rows
                    batch = _shaped(batch, schema, partial, wanted, present, errors, path, first_row)
                    if batch is not None:
                        yield Batch.from_arrow(batch)
            if not seen and part.start == 0:  # no rows: one empty batch, so the columns are known
                empty = pa.RecordBatch.from_pylist([], schema=stored)
                empty = empty if present is None else empty.select(present)
                batch = _shaped(empty, schema, partial, wanted, present, errors, path, 0)
                if batch is not None:
                    yield Batch.from_arrow(batch)


def _shaped(batch, schema, partial, wanted, present, errors, path: str, first_row: int):
    """``batch`` cast to the declared ``schema`` (bad rows set aside), or with nulls for the
    ``wanted`` columns the file lacks."""
    if schema is not None:
        target = schemas.overlay(batch.schema, schema) if partial else schema
        return cast_batch(batch, target, errors, lambda i: (path, first_row + i + 1, None))
    if wanted is not None and len(present) != len(wanted):
        return with_nulls(batch, wanted)
    return batch


class _IpcFile:
    """An Arrow IPC file of either form (memory-mapped when local); errors name the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            if is_remote(path):
                self.source = pa.PythonFile(open_input(path), mode="r")
            else:
                self.source = pa.memory_map(path)
        except DataFileError:
            raise
        except _READ_ERRORS as exc:
            raise DataFileError(f"cannot open {path}: {exc}") from exc
        try:
            self.is_file_form = self.source.read(len(FILE_MAGIC)) == FILE_MAGIC
            self.source.seek(0)
            self.reader = self._open_reader()
        except BaseException:
            self.source.close()
            raise

    def _open_reader(self):
        try:
            if self.is_file_form:
                return pa.ipc.open_file(self.source)
            return pa.ipc.open_stream(self.source)
        except _READ_ERRORS as exc:
            form = "file" if self.is_file_form else "stream"
            raise DataFileError(f"cannot read {self.path}: not a valid Arrow IPC {form} ({exc})") from exc

    @property
    def schema(self) -> pa.Schema:
        return self.reader.schema

    def batches(self, stop: int | None = None) -> Iterator[tuple[pa.RecordBatch, int]]:
        """``(batch, stored bytes)`` in file order, up to batch ``stop`` (excluded)."""
        reader = self.reader
        if self.is_file_form:
            count = reader.num_record_batches if stop is None else min(stop, reader.num_record_batches)
            for i in range(count):
                batch = _guard(self.path, lambda i=i: reader.get_batch(i))
                yield batch, batch.nbytes
            return
        index, at = 0, self.source.tell()
        while stop is None or index < stop:
            batch = _guard(self.path, lambda: _next(reader))
            if batch is None:
                return
            now = self.source.tell()
            yield batch, now - at
            index, at = index + 1, now

    def __enter__(self) -> _IpcFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.source.close()


def _next(reader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _guard(path: str, fn):
    try:
        return fn()
    except DataFileError:
        raise
    except _READ_ERRORS as exc:
        raise DataFileError(f"cannot read {path}: corrupt or truncated Arrow IPC data ({exc})") from exc
