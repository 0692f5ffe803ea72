"""File formats of shards: how a temp file is written, and read back when finalize rewrites it.

A :class:`FileFormat` is everything about one format that a sink needs, and nothing about where
the files go (that is a :class:`~crucible_datasets.sinks.publish.Publisher`): the shards' file
name ending, the ``datasets`` builder that reads them, a :class:`FileWriter` for one open file,
and the read-back of a closed file (a row range of it, for a re-cut; all of it, for a schema
change). Implementations: :class:`~crucible_datasets.sinks.parquet.ParquetFiles`,
:class:`~crucible_datasets.sinks.jsonl.JsonlFiles`.

>>> import tempfile, os
>>> from crucible_datasets.batch import Batch
>>> from crucible_datasets.sinks.jsonl import JsonlFiles
>>> files = JsonlFiles()
>>> path = os.path.join(tempfile.mkdtemp(), "part" + files.extension)
>>> writer = files.open(path, Batch.from_rows([{"a": 1}]).arrow.schema)
>>> writer.write(Batch.from_rows([{"a": 1}, {"a": 2}]))
>>> writer.close()
>>> open(path, "rb").read()
b'{"a":1}\\n{"a":2}\\n'
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa

from crucible_datasets.batch import Batch


class FileWriter:
    """One open temp file: the only per-format part of writing.

    ``schema`` is the Arrow schema of the file; a format whose files carry their schema
    (Parquet) casts every batch to it.
    """

    def __init__(self, path: str, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema

    def write(self, batch: Batch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Stop writing after an error (the caller deletes the file)."""
        try:
            self.close()
        except Exception:  # noqa: BLE001 - the file is being thrown away
            pass


class FileFormat:
    """The file format of a split's shards (picklable: it travels with the sink to workers)."""

    name: ClassVar[str] = ""  # the ``datasets`` builder that reads the shards: "parquet", "json"
    rewrite_on_schema_change: ClassVar[bool] = True  # files carry their schema

    @property
    def extension(self) -> str:
        """File name ending of the shards, e.g. ``.parquet``, ``.jsonl.gz``."""
        raise NotImplementedError

    def open(self, path: str, schema: pa.Schema) -> FileWriter:
        """A new file at ``path`` holding rows of ``schema``."""
        raise NotImplementedError

    def file_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema a file is opened with for rows of ``schema`` (a format that cannot store
        some type changes it here, e.g. to JSON text)."""
        return schema

    def iter_file(self, path: str) -> Iterator[pa.Table]:
        """The rows of a closed file, a row group at a time (formats that rewrite only)."""
        raise NotImplementedError

    def copy_range(self, src: str, start: int, stop: int, writer: FileWriter) -> None:
        """Stream rows ``[start, stop)`` of the closed file ``src`` into ``writer`` (a format
        without :meth:`iter_file` overrides this)."""
        position = 0
        for table in self.iter_file(src):
            end = position + table.num_rows
            if end > start:
                a, b = max(start, position) - position, min(stop, end) - position
                piece = table if (a, b) == (0, table.num_rows) else table.slice(a, b - a)
                writer.write(Batch.from_arrow(piece))
            position = end
            if position >= stop:
                break

    def copy_into(self, src: str, writer: FileWriter) -> None:
        """Stream the rows of the closed file ``src`` into ``writer`` (cast to its schema)."""
        for table in self.iter_file(src):
            writer.write(Batch.from_arrow(table))
