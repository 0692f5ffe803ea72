"""What every file format provides: split a file into parts, read a part into batches.

A format is one small class (see ``jsonl.py``, ``parquet.py``, ``csv.py``, ``json.py``) with
one hook to override, :meth:`Format.read`, and two declarations: ``extensions`` (how discovery
and the registry in :mod:`crucible_datasets.formats` recognise its files) and ``split_unit``
(how a file is split, one of :data:`SPLIT_UNITS`). A :class:`FilePart` names a file and a range
in that unit: bytes for line formats, row groups for Parquet. Reading every part of a file
returns every record of the file exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.compression import compression_of

# How a format splits a file: newline-aligned byte ranges, runs of row groups, or not at all.
SPLIT_UNITS = ("bytes", "row_groups", "whole")
DEFAULT_BATCH_ROWS = 2048
# Rows parsed into Python objects stay in the CPU cache when a batch is small: measured on
# ~2.3 KB reasoning rows, 2048-row batches made the local runner 1.24x the plain loop, 256 1.12x.
DEFAULT_BATCH_BYTES = 512 * 1024


@dataclass(frozen=True)
class FilePart:
    """A range of one file: ``[start, end)`` in the format's unit; ``end=None`` is the end."""

    path: str
    start: int = 0
    end: int | None = None
    nbytes: int | None = field(default=None, compare=False)  # input bytes it covers, for progress


@dataclass(frozen=True)
class ReadOptions:
    """How to read: column projection, a declared schema, rows per batch, format extras."""

    columns: tuple[str, ...] | None = None
    schema: pa.Schema | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_bytes: int = DEFAULT_BATCH_BYTES  # line formats also end a batch at this much input
    field: str | None = None  # json: the key of the list of records in a top-level object
    delimiter: str | None = None  # csv: None sniffs one of , ; tab | (always a tab for .tsv)
    quotechar: str = '"'  # csv
    header: int | None = 0  # csv: 0 = the first row names the columns; None = no header row
    column_names: tuple[str, ...] | None = None  # csv: names of the columns (replace a header row)

    def __post_init__(self) -> None:
        for name in ("batch_rows", "batch_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("delimiter", "quotechar"):
            value = getattr(self, name)
            if value is None and name == "delimiter":
                continue
            if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
                raise ValueError(f"{name} must be one character (not a newline), got {value!r}")
        if self.delimiter is not None and self.delimiter == self.quotechar:
            raise ValueError(f"delimiter and quotechar must differ, both are {self.delimiter!r}")
        if self.header is not None and (isinstance(self.header, bool) or self.header != 0):
            raise ValueError(
                f"header must be 0 (the first row names the columns) or None (no header row), "
                f"got {self.header!r}"
            )
        if self.column_names is not None:
            names = self.column_names
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"column_names must be a list of strings, got {names!r}")
            names = tuple(names)
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if not names or duplicates:
                raise ValueError(
                    f"column_names must name each column once, got {list(names)!r}"
                    + (f" (repeated: {', '.join(duplicates)})" if duplicates else "")
                )
            object.__setattr__(self, "column_names", names)


class Format:
    """Base class of the file formats. Override :meth:`read`; splittable formats also :meth:`parts`.

    A subclass declares ``name``, ``extensions`` and ``split_unit``: a format that does not say
    how it splits is refused when its class is defined, so no reader ever reads it whole by
    default.
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    split_unit: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        unit = getattr(cls, "split_unit", None)
        if unit not in SPLIT_UNITS:
            units = ", ".join(SPLIT_UNITS)
            raise TypeError(f"{cls.__name__}.split_unit must be one of {units}, got {unit!r}")

    def split_unit_of(self, path: str) -> str:
        """How ``path`` is split: the format's ``split_unit``, but a compressed file's bytes are
        read whole (a decompressor cannot start mid-stream).

        >>> from crucible_datasets.formats import get_format
        >>> get_format("jsonl").split_unit_of("a.jsonl"), get_format("jsonl").split_unit_of("a.jsonl.gz")
        ('bytes', 'whole')
        """
        if self.split_unit == "bytes" and compression_of(path) is not None:
            return "whole"
        return self.split_unit

    def parts(self, path: str, size: int, part_bytes: int) -> list[FilePart]:
        """Split ``path`` (``size`` bytes) into parts of about ``part_bytes``; default: one part."""
        return [FilePart(path, nbytes=size)]

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """Yield the records of ``part`` as batches of at most ``options.batch_rows`` rows.

        Bad records go to ``errors.handle``; a file that cannot be read at all raises
        :class:`~crucible_datasets.errors.DataFileError` naming it.
        """
        raise NotImplementedError

    def num_rows(self, path: str) -> int | None:
        """The row count when the format stores it (Parquet), else None."""
        return None

    def stored_schema(self, path: str) -> pa.Schema | None:
        """The schema when the format stores it (Parquet), else None."""
        return None
