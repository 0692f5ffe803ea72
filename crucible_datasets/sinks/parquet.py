"""Parquet shards, streamed with ``pyarrow.parquet.ParquetWriter`` (a row group at a time).

>>> import tempfile
>>> import pyarrow.parquet as pq
>>> from crucible_datasets.batch import Batch
>>> out = tempfile.mkdtemp()
>>> sink = ParquetSink(out, split="test")
>>> with sink.open_task(0) as writer:
...     writer.write(Batch.from_rows([{"text": "a", "score": None}]))
...     writer.write(Batch.from_rows([{"text": "b", "score": 0.5}]))  # null -> double: rewritten
>>> summary = sink.finalize([writer.result], source="doc")
>>> pq.read_table(summary.files[0]).to_pylist()
[{'text': 'a', 'score': None}, {'text': 'b', 'score': 0.5}]
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.sinks.base import Sink
from crucible_datasets.sinks.files import FileFormat, FileWriter
from crucible_datasets.storage import filesystem as fs

ROW_GROUP_ROWS = 100_000
# A writer holds one row group in memory: 16 MiB keeps a write's memory flat from small inputs
# to large ones, and lets a streaming reader (or a range request) fetch little at a time.
ROW_GROUP_BYTES = 16 * 1024 * 1024


class ParquetFileWriter(FileWriter):
    """One Parquet temp file; batches are buffered up to a row group, then written."""

    def __init__(
        self,
        path: str,
        schema: pa.Schema,
        *,
        compression: str | None,
        row_group_rows: int,
        row_group_bytes: int,
        options: dict,
    ) -> None:
        super().__init__(path, schema)
        self._row_group_rows = row_group_rows
        self._row_group_bytes = row_group_bytes
        self._raw = fs.open_output(path)
        try:
            self._writer = pq.ParquetWriter(self._raw, schema, compression=compression or "none", **options)
        except BaseException:
            self._raw.close()
            raise
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0

    def write(self, batch: Batch) -> None:
        arrow = schemas.cast(batch.arrow, self.schema)
        if arrow.num_rows == 0:
            return
        self._buffer.append(arrow)
        self._buffered_rows += arrow.num_rows
        self._buffered_bytes += arrow.nbytes
        if self._buffered_bytes >= self._row_group_bytes:
            self._flush()
        elif self._buffered_rows >= self._row_group_rows:
            self._flush(whole_groups_only=True)

    def _flush(self, whole_groups_only: bool = False) -> None:
        """Write the buffer as row groups; with ``whole_groups_only`` keep the last partial one."""
        if not self._buffer:
            return
        table = pa.Table.from_batches(self._buffer, self.schema)
        keep = table.num_rows % self._row_group_rows if whole_groups_only else 0
        self._writer.write_table(table.slice(0, table.num_rows - keep), row_group_size=self._row_group_rows)
        self._buffer = table.slice(table.num_rows - keep).to_batches() if keep else []
        self._buffered_rows = keep
        self._buffered_bytes = sum(b.nbytes for b in self._buffer)

    def close(self) -> None:
        try:
            self._flush()
            self._writer.close()
        finally:
            self._raw.close()

    def abort(self) -> None:
        self._buffer = []
        super().abort()


class ParquetFiles(FileFormat):
    """Parquet shards: ``compression``, and a row group at ``row_group_rows`` or ``row_group_bytes``."""

    name = "parquet"
    rewrite_on_schema_change = True

    def __init__(
        self,
        *,
        compression: str | None = "snappy",
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
        writer_options: dict | None = None,
    ) -> None:
        self.compression = compression
        self.row_group_rows = row_group_rows
        self.row_group_bytes = row_group_bytes
        self.writer_options = dict(writer_options or {})

    @property
    def extension(self) -> str:
        return ".parquet"

    def open(self, path: str, schema: pa.Schema) -> FileWriter:
        return ParquetFileWriter(
            path,
            schema,
            compression=self.compression,
            row_group_rows=self.row_group_rows,
            row_group_bytes=self.row_group_bytes,
            options=self.writer_options,
        )

    def file_schema(self, schema: pa.Schema) -> pa.Schema:
        """Parquet cannot store a struct without fields (values like ``{}``): such a column is
        carried as JSON text, which keeps every value."""
        fields = [
            schemas.json_text_field(f.name)
            if _has_empty_struct(f.type) and not schemas.is_json_text(f)
            else f
            for f in schema
        ]
        return pa.schema(fields, metadata=schema.metadata)

    def iter_file(self, path: str) -> Iterator[pa.Table]:
        with fs.open_input(path) as f:
            parquet = pq.ParquetFile(f)
            for i in range(parquet.num_row_groups):
                yield parquet.read_row_group(i)


class ParquetSink(Sink):
    """Writes a split as ``data/{split}-00000-of-0000N.parquet``.

    ``compression``: ``"snappy"`` (default), ``"zstd"``, ``"gzip"``, ``None``...;
    ``row_group_rows`` / ``row_group_bytes``: a row group is written when either is reached;
    ``writer_options``: more ``pq.ParquetWriter`` keyword arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compression: str | None = "snappy",
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
        writer_options: dict | None = None,
        **kwargs,
    ) -> None:
        files = ParquetFiles(
            compression=compression,
            row_group_rows=row_group_rows,
            row_group_bytes=row_group_bytes,
            writer_options=writer_options,
        )
        super().__init__(path, files=files, **kwargs)


def _has_empty_struct(t: pa.DataType) -> bool:
    if pa.types.is_struct(t):
        return t.num_fields == 0 or any(_has_empty_struct(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_map(t):
        return _has_empty_struct(t.key_type) or _has_empty_struct(t.item_type)
    if isinstance(
        t, pa.ListType | pa.LargeListType | pa.FixedSizeListType | pa.ListViewType | pa.LargeListViewType
    ):
        return _has_empty_struct(t.value_type)
    return False
