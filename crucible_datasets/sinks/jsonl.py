"""JSON Lines shards, optionally gzip or zstd compressed (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``).

Rows are written as they come (``batch.rows``: JSON-text columns decoded back to their values),
one JSON object a line. Values JSON has no form for: bytes as base64 text, decimals as text,
durations as seconds. The files carry no schema, so a schema change needs no rewrite; the
unified Arrow schema only describes the split in the manifest and the card.

>>> import gzip, tempfile
>>> from crucible_datasets.batch import Batch
>>> out = tempfile.mkdtemp()
>>> sink = JsonlSink(out, compression="gzip")
>>> with sink.open_task(0) as writer:
...     writer.write(Batch.from_rows([{"a": 1}, {"a": [2]}]))
>>> summary = sink.finalize([writer.result])
>>> gzip.open(summary.files[0]).read()
b'{"a":1}\\n{"a":[2]}\\n'
"""

from __future__ import annotations

import base64
import datetime
import decimal
import gzip
import io
import os

import orjson
import pyarrow as pa

from crucible_datasets.batch import Batch
from crucible_datasets.sinks.base import Sink
from crucible_datasets.sinks.files import FileFormat, FileWriter
from crucible_datasets.storage import filesystem as fs

COMPRESSIONS = {None: ".jsonl", "gzip": ".jsonl.gz", "zstd": ".jsonl.zst"}
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE


def _default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    raise TypeError(f"{type(value).__name__} values cannot be written as JSON")


def dumps_rows(rows: list[dict]) -> bytes:
    """Rows as JSON Lines bytes (each line ends with a newline)."""
    return b"".join(orjson.dumps(row, default=_default, option=_OPTIONS) for row in rows)


class JsonlFileWriter(FileWriter):
    """One JSON Lines temp file, through a gzip or zstd stream when asked."""

    def __init__(self, path: str, schema: pa.Schema, *, compression: str | None, level: int | None) -> None:
        super().__init__(path, schema)
        self._raw = fs.open_output(path)
        try:
            if compression == "gzip":
                self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=level or 6, mtime=0)
            elif compression == "zstd":
                import zstandard

                compressor = zstandard.ZstdCompressor(level=level or 3)
                self._out = compressor.stream_writer(self._raw, closefd=False)
            else:
                self._out = self._raw
        except BaseException:
            self._raw.close()
            raise

    def write(self, batch: Batch) -> None:
        if len(batch):
            self._out.write(dumps_rows(batch.rows))

    def write_lines(self, data: bytes) -> None:
        """Append JSON Lines already encoded (the finalize re-cut copies them as they are)."""
        self._out.write(data)

    def close(self) -> None:
        try:
            if self._out is not self._raw:
                self._out.close()
        finally:
            self._raw.close()


class JsonlFiles(FileFormat):
    """JSON Lines shards: ``compression`` ``None``, ``"gzip"`` or ``"zstd"``; ``level`` optional."""

    name = "json"
    rewrite_on_schema_change = False

    def __init__(self, *, compression: str | None = None, level: int | None = None) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression={compression!r} is not one of None, 'gzip', 'zstd'")
        self.compression = compression
        self.level = level

    @property
    def extension(self) -> str:
        return COMPRESSIONS[self.compression]

    def open(self, path: str, schema: pa.Schema) -> FileWriter:
        return JsonlFileWriter(path, schema, compression=self.compression, level=self.level)

    def copy_range(self, src: str, start: int, stop: int, writer: FileWriter) -> None:
        """Copy lines ``[start, stop)`` of the file ``src`` (one row a line) as they are."""
        with fs.open_input(src) as raw:
            if self.compression == "gzip":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            elif self.compression == "zstd":
                import zstandard

                stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=False))
            else:
                stream = raw
            for i, line in enumerate(stream):
                if i >= stop:
                    break
                if i >= start:
                    writer.write_lines(line)


class JsonlSink(Sink):
    """Writes a split as ``data/{split}-00000-of-0000N.jsonl`` (``.jsonl.gz``, ``.jsonl.zst``).

    ``compression``: ``None``, ``"gzip"`` or ``"zstd"``; ``compression_level`` optional.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compression: str | None = None,
        compression_level: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(path, files=JsonlFiles(compression=compression, level=compression_level), **kwargs)
