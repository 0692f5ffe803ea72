"""Parquet: streamed a batch at a time, decoded one batch ahead; parts are row ranges.

A :class:`FilePart` of a Parquet file counts rows (split unit ``"rows"``): ``FilePart(path, 2,
5)`` is rows 2, 3 and 4 of the file (0-based), read from the row groups holding them. Parts of
equal row counts make a write's tasks, and so its shards, equal (docs/PERFORMANCE.md,
"Planning: balanced tasks"). Parquet cannot seek inside a row group: a part that starts inside
one decodes the group's rows before its start and drops them. Only the footer and the row
groups being read are ever in memory; the next batch is decoded on a read-ahead thread
(:class:`~crucible_datasets.formats._ahead.OneAhead`) while the caller works on the one before.
The row count and schema come from the footer without reading any data.

A declared schema casts each batch; rows that cannot be cast are bad records whose ``line``
is the 1-based row number in the file. A column asked for but missing from the file comes
back as nulls (files of one dataset drift). A file without rows reads as one empty batch that
carries its columns and types.

>>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq
>>> path = os.path.join(tempfile.mkdtemp(), "a.parquet")
>>> pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), path, row_group_size=2)
>>> fmt = ParquetFormat()
>>> fmt.num_rows(path), [(p.start, p.end) for p in fmt.parts(path, os.path.getsize(path), part_bytes=1)]
(3, [(0, 1), (1, 2), (2, 3)])
>>> [b.rows for b in fmt.read(FilePart(path, 1, 3), ReadOptions(columns=("b",)), ErrorPolicy())]
[[{'b': 'y'}, {'b': 'z'}]]
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import DataFileError
from crucible_datasets.formats._ahead import OneAhead
from crucible_datasets.formats._common import cast_batch, check_declared, target_schema, with_nulls
from crucible_datasets.formats.base import FilePart, Format, ReadOptions, ReadReport
from crucible_datasets.storage.filesystem import open_input

_READ_ERRORS = (pa.ArrowException, OSError, EOFError)

# Rows [lo, hi) of row group ``group``, whose first row is row ``first`` of the file.
Span = tuple[int, int, int, int]  # (group, first, lo, hi)


class ParquetFormat(Format):
    """Apache Parquet (``.parquet``)."""

    name = "parquet"
    extensions = (".parquet",)
    split_unit = "rows"

    def parts(self, path: str, size: int, part_bytes: int) -> list[FilePart]:
        """``path`` cut into row ranges whose counts differ by at most one, as many as ``size``
        holds ``part_bytes`` (at most one a row), as a ``"bytes"`` format counts them. A part's
        ``nbytes`` is the stored bytes of its rows: a row group that two parts share counts in
        each in proportion to its rows, so the parts add up to the file.

        >>> import os, tempfile, pyarrow as pa, pyarrow.parquet as pq
        >>> path = os.path.join(tempfile.mkdtemp(), "a.parquet")
        >>> pq.write_table(pa.table({"a": list(range(10))}), path, row_group_size=4)
        >>> [(p.start, p.end) for p in ParquetFormat().parts(path, 300, part_bytes=100)]
        [(0, 3), (3, 6), (6, 10)]
        """
        groups = self.row_groups(path)
        rows = sum(n for n, _ in groups)
        if not rows:  # its one part reads one empty batch with the columns
            return [FilePart(path, 0, 0, nbytes=sum(nbytes for _, nbytes in groups))]
        count = min(rows, max(1, -(-size // max(1, part_bytes))))
        bounds = [rows * i // count for i in range(count + 1)]
        sizes = [n for n, _ in groups]
        return [
            FilePart(path, a, b, nbytes=sum(_share(groups[g][1], sizes[g], lo, hi) for g, _, lo, hi in spans))
            for a, b in itertools.pairwise(bounds)
            for spans in [_overlaps(sizes, a, b)]
        ]

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """The rows ``[part.start, part.end)`` of the file in batches of at most ``options.batch_rows``.

        A file without rows gives one empty batch with its columns (its part starting at row 0).
        A :func:`partial <crucible_datasets.schema.partial>` declared schema casts the columns
        it names (each must be in the file) and keeps the others as stored.
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
            sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
            stop = metadata.num_rows if part.end is None else min(part.end, metadata.num_rows)
            spans = _overlaps(sizes, max(0, part.start), stop)
            if metadata.num_rows == 0:  # its first part reads one empty batch (see below)
                if part.start > 0:
                    return
            elif not spans:
                return
            stored = _guard(path, lambda: pf.schema_arrow)
            partial = schemas.is_partial(schema)
            if partial:
                check_declared(path, stored, schema)
            wanted = list(schema.names) if schema is not None and not partial else options.columns
            present = None if wanted is None else [c for c in wanted if stored.get_field_index(c) >= 0]
            hinted = options.used_columns is not None or options.predicate is not None
            pushed = bool(schema is None and wanted is None and spans and hinted)
            predicate = None
            if pushed:
                present, predicate, kept = _pushdown(opened.raw, [s[0] for s in spans], stored, options)
                total_rows = sum(hi - lo for _, _, lo, hi in spans)
                spans = [s for s in spans if s[0] in set(kept)]
                if not spans:
                    return ReadReport(total_rows, 0)
            if spans:
                _advise(opened.raw, metadata, spans, present)
                decoded = _decoded(pf, path, spans, options.batch_rows, present, predicate)
            else:  # a file without rows: one empty batch, so its columns and types are known
                decoded = iter([(0, _empty(stored, present))])
            yielded = 0
            try:
                with OneAhead(lambda: next(decoded, None)) as ahead:
                    for first_row, batch in ahead:
                        yielded += batch.num_rows
                        if schema is not None:
                            target = schemas.overlay(batch.schema, schema) if partial else schema
                            batch = cast_batch(batch, target, errors, _rows_from(path, first_row))
                            if batch is None:
                                continue
                        elif wanted is not None and len(present) != len(wanted):
                            batch = with_nulls(batch, wanted)
                        yield Batch.from_arrow(batch)
            finally:  # nothing decodes once the read ahead is over: close the row groups' reader here
                close = getattr(decoded, "close", None)
                if close is not None:
                    close()
            if pushed:
                return ReadReport(total_rows - yielded, _stored_bytes(metadata, spans, present))
            return None


def _overlaps(sizes: Sequence[int], start: int, stop: int) -> list[Span]:
    """The row groups (of ``sizes`` rows each) holding rows ``[start, stop)`` of the file, as
    :data:`Span` s; groups without rows are left out.

    >>> _overlaps([4, 0, 4, 2], 3, 9)
    [(0, 0, 3, 4), (2, 4, 0, 4), (3, 8, 0, 1)]
    """
    firsts = list(itertools.accumulate(sizes, initial=0))
    spans = []
    for g in range(max(0, bisect.bisect_right(firsts, start) - 1), len(sizes)):
        first = firsts[g]
        if first >= stop:
            break
        lo, hi = max(start, first) - first, min(stop, first + sizes[g]) - first
        if lo < hi:
            spans.append((g, first, lo, hi))
    return spans


def _share(nbytes: int, rows: int, lo: int, hi: int) -> int:
    """The stored bytes of rows ``[lo, hi)`` of a row group of ``rows`` rows and ``nbytes``: in
    proportion, so that the shares of a group's parts add up to ``nbytes``.

    >>> _share(10, 3, 0, 1) + _share(10, 3, 1, 2) + _share(10, 3, 2, 3), _share(10, 3, 0, 3)
    (10, 10)
    """
    return nbytes * hi // rows - nbytes * lo // rows


def _decoded(
    pf: pq.ParquetFile,
    path: str,
    spans: list[Span],
    batch_rows: int,
    columns: list[str] | None,
    predicate: pc.Expression | None,
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The rows of ``spans`` as ``(row in the file of the first, batch)``: each run of
    consecutive row groups read by one reader, cut to the spans' rows (a reader stops at the
    last), then filtered by ``predicate`` (batches left empty are dropped)."""
    runs = itertools.groupby(enumerate(spans), key=lambda item: item[1][0] - item[0])
    for _, items in runs:
        run = [span for _, span in items]
        row, first, stop = run[0][1], run[0][1] + run[0][2], run[-1][1] + run[-1][3]
        groups = [g for g, _, _, _ in run]
        batches = _guard(path, pf.iter_batches, batch_size=batch_rows, row_groups=groups, columns=columns)
        try:
            while row < stop:
                batch = _guard(path, next, batches, None)
                if batch is None:
                    break
                at, row = row, row + batch.num_rows
                lo, hi = max(first, at), min(stop, row)
                if lo >= hi:  # before the part's first row: decoded, dropped
                    continue
                if hi - lo < batch.num_rows:
                    batch = batch.slice(lo - at, hi - lo)
                if predicate is not None:
                    batch = Batch.from_arrow(pa.Table.from_batches([batch]).filter(predicate)).arrow
                    if not batch.num_rows:
                        continue
                yield lo, batch
        finally:
            batches.close()


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
    import pyarrow.dataset as ds  # here: importing it imports pandas (half a second)

    try:
        fragment = ds.ParquetFileFormat().make_fragment(raw, row_groups=groups)
        kept = [g.id for piece in fragment.split_by_row_group(predicate) for g in piece.row_groups]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return columns, None, groups
    return columns, predicate, kept


def _stored_bytes(metadata: pq.FileMetaData, spans: list[Span], columns: list[str] | None) -> int:
    """Compressed bytes of the column chunks of ``columns`` (None: all) in the rows of ``spans``
    (:func:`_share` of each group's)."""
    total = 0
    for g, _, lo, hi in spans:
        group = metadata.row_group(g)
        nbytes = 0
        for c in range(group.num_columns):
            chunk = group.column(c)
            if columns is None or chunk.path_in_schema.split(".")[0] in columns:
                nbytes += chunk.total_compressed_size
        total += _share(nbytes, group.num_rows, lo, hi)
    return total


def _advise(raw, metadata: pq.FileMetaData, spans: list[Span], columns: list[str] | None) -> None:
    """Tell a remote file (one with ``advise``) the bytes this read goes through, from the first
    span's row group to the last's, when the columns read are at least half of them: it then
    fetches them ahead of the decoder (``storage/http/read_ahead.py``) instead of one request
    per column chunk."""
    advise = getattr(raw, "advise", None)
    if advise is None:
        return
    chunks = [
        metadata.row_group(g).column(c)
        for g in (spans[0][0], spans[-1][0])
        for c in range(metadata.num_columns)
    ]
    offsets = [c.dictionary_page_offset or c.data_page_offset for c in chunks]
    start = min(offsets)
    stop = max(o + c.total_compressed_size for o, c in zip(offsets, chunks, strict=True))
    whole = [(g, first, 0, metadata.row_group(g).num_rows) for g, first, _, _ in spans]
    if _stored_bytes(metadata, whole, columns) >= (stop - start) / 2:
        advise(start, stop)


def _guard(path: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; a pyarrow or I/O error raised as a :class:`DataFileError` naming ``path``."""
    try:
        return fn(*args, **kwargs)
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
