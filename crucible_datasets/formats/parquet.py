"""Parquet: streamed a row group at a time; parts are runs of consecutive row groups.

A :class:`FilePart` of a Parquet file counts row groups, not bytes: ``FilePart(path, 2, 5)``
is row groups 2, 3 and 4. Only the footer and the row groups being read are ever in memory.
The row count and schema come from the footer without reading any data.

A declared schema casts each batch; rows that cannot be cast are bad records whose ``line``
is the 1-based row number in the file. A column asked for but missing from the file comes
back as nulls (files of one dataset drift). A file without rows reads as one empty batch that
carries its columns and types.

>>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq
>>> path = os.path.join(tempfile.mkdtemp(), "a.parquet")
>>> pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), path, row_group_size=2)
>>> fmt = ParquetFormat()
>>> fmt.num_rows(path), [p.end for p in fmt.parts(path, os.path.getsize(path), part_bytes=1)]
(3, [1, 2])
>>> [b.rows for b in fmt.read(FilePart(path, 1, 2), ReadOptions(columns=("b",)), ErrorPolicy())]
[[{'b': 'z'}]]
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import DataFileError
from crucible_datasets.formats._common import cast_batch, check_declared, target_schema, with_nulls
from crucible_datasets.formats.base import FilePart, Format, ReadOptions, ReadReport
from crucible_datasets.storage.filesystem import open_input

_READ_ERRORS = (pa.ArrowException, OSError, EOFError)


class ParquetFormat(Format):
    """Apache Parquet (``.parquet``)."""

    name = "parquet"
    extensions = (".parquet",)
    split_unit = "row_groups"

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """The rows of row groups ``[part.start, part.end)`` in batches of ``options.batch_rows``.

        A file without rows gives one empty batch with its columns. A :func:`partial
        <crucible_datasets.schema.partial>` declared schema casts the columns it names (each must
        be in the file) and keeps the others as stored.
        """
        if schemas.is_partial(options.schema):
            schema = schemas.narrow(options.schema, options.columns)
        else:
            schema = target_schema(options)
        return self._read(part, options, schema, errors)

    def row_groups(self, path: str) -> list[tuple[int, int]]:
        """``(rows, compressed bytes)`` of each row group, from the footer.

        >>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> path = os.path.join(tempfile.mkdtemp(), "a.parquet")
        >>> pq.write_table(pa.table({"a": [1, 2, 3]}), path, row_group_size=2)
        >>> [rows for rows, _ in ParquetFormat().row_groups(path)]
        [2, 1]
        """
        metadata = self._metadata(path)
        groups = []
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            nbytes = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
            groups.append((group.num_rows, nbytes))
        return groups

    def num_rows(self, path: str) -> int:
        return self._metadata(path).num_rows

    def stored_schema(self, path: str) -> pa.Schema:
        with _open(path) as pf:
            return _guard(path, lambda: pf.schema_arrow)

    # -- internals -------------------------------------------------------------------------

    def _metadata(self, path: str) -> pq.FileMetaData:
        with _open(path) as pf:
            return pf.metadata

    def _read(self, part: FilePart, options: ReadOptions, schema, errors: ErrorPolicy) -> Iterator[Batch]:
        path = part.path
        opened = _open(path)
        with opened as pf:
            metadata = pf.metadata
            end = metadata.num_row_groups if part.end is None else min(part.end, metadata.num_row_groups)
            groups = list(range(max(0, part.start), end))
            if metadata.num_rows == 0:  # its first part reads one empty batch (see below)
                groups = []
                if part.start > 0:
                    return
            elif not groups:
                return
            row = sum(metadata.row_group(i).num_rows for i in range(groups[0])) if groups else 0
            stored = _guard(path, lambda: pf.schema_arrow)
            partial = schemas.is_partial(schema)
            if partial:
                check_declared(path, stored, schema)
            wanted = list(schema.names) if schema is not None and not partial else options.columns
            present = None if wanted is None else [c for c in wanted if stored.get_field_index(c) >= 0]
            hinted = options.used_columns is not None or options.predicate is not None
            pushed = bool(schema is None and wanted is None and groups and hinted)
            if pushed:
                present, predicate, kept = _pushdown(opened.raw, groups, stored, options)
                total_rows = sum(metadata.row_group(i).num_rows for i in groups)
                groups = kept
                if not groups:
                    return ReadReport(total_rows, 0)
            size = options.batch_rows
            if groups:
                batches = _guard(
                    path, lambda: pf.iter_batches(batch_size=size, row_groups=groups, columns=present)
                )
            else:  # a file without rows: one empty batch, so its columns and types are known
                batches = iter([_empty(stored, present)])
            yielded = 0
            while True:
                batch = _guard(path, lambda: next(batches, None))
                if batch is None:
                    break
                if pushed and predicate is not None:
                    batch = Batch.from_arrow(pa.Table.from_batches([batch]).filter(predicate)).arrow
                    if not batch.num_rows:
                        continue
                yielded += batch.num_rows
                first_row, row = row, row + batch.num_rows
                if schema is not None:
                    target = schemas.overlay(batch.schema, schema) if partial else schema
                    batch = cast_batch(batch, target, errors, _rows_from(path, first_row))
                    if batch is None:
                        continue
                elif wanted is not None and len(present) != len(wanted):
                    batch = with_nulls(batch, wanted)
                yield Batch.from_arrow(batch)
            if pushed:
                return ReadReport(total_rows - yielded, _stored_bytes(metadata, groups, present))
            return None


class _open:
    """``ParquetFile`` over :func:`open_input` (remote paths work); errors name the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.raw = open_input(path)
        try:
            self.file = pq.ParquetFile(self.raw, pre_buffer=False)
        except _READ_ERRORS as exc:
            self.raw.close()
            raise DataFileError(f"cannot read {path}: not a valid Parquet file ({exc})") from exc
        except BaseException:
            self.raw.close()
            raise

    def __enter__(self) -> pq.ParquetFile:
        return self.file

    def __exit__(self, *exc_info) -> None:
        try:
            self.file.close()
        finally:
            self.raw.close()


def _pushdown(
    raw, groups: list[int], stored: pa.Schema, options: ReadOptions
) -> tuple[list[str] | None, pc.Expression | None, list[int]]:
    """What a read with ``options``' hints reads: the used columns the file has (None: all), the
    predicate it applies (None when it does not bind to the file: then the stage judges, and
    fails as it would), and the row groups among ``groups`` whose statistics may match it."""
    used = options.used_columns
    columns = None if used is None else [n for n in stored.names if n in used]
    predicate = options.predicate
    if predicate is None:
        return columns, None, groups
    try:
        fragment = ds.ParquetFileFormat().make_fragment(raw, row_groups=groups)
        kept = [g.id for piece in fragment.split_by_row_group(predicate) for g in piece.row_groups]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return columns, None, groups
    return columns, predicate, kept


def _stored_bytes(metadata: pq.FileMetaData, groups: list[int], columns: list[str] | None) -> int:
    """Compressed bytes of the column chunks of ``columns`` (None: all) in row groups ``groups``."""
    total = 0
    for i in groups:
        group = metadata.row_group(i)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if columns is None or chunk.path_in_schema.split(".")[0] in columns:
                total += chunk.total_compressed_size
    return total


def _guard(path: str, fn):
    try:
        return fn()
    except DataFileError:
        raise
    except _READ_ERRORS as exc:
        raise DataFileError(f"cannot read {path}: corrupt or truncated Parquet data ({exc})") from exc


def _empty(stored: pa.Schema, columns: list[str] | None) -> pa.RecordBatch:
    schema = stored if columns is None else pa.schema([stored.field(c) for c in columns])
    return pa.RecordBatch.from_pylist([], schema=schema)


def _rows_from(path: str, first_row: int):
    """``locate`` for :func:`cast_batch`: row ``i`` of a batch is row ``first_row + i + 1`` of the file."""
    return lambda i: (path, first_row + i + 1, None)
