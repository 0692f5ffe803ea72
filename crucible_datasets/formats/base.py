"""What every file format provides: split a file into parts, read a part into batches.

A format is one small class (see ``jsonl.py``, ``parquet.py``, ``csv.py``, ``json.py``,
``text.py``, ``arrow.py``) with one hook to override, :meth:`Format.read`, and two
declarations: ``extensions`` (how discovery and the registry in :mod:`crucible_datasets.formats`
recognise its files) and ``split_unit`` (how a file is split, one of :data:`SPLIT_UNITS`). A
:class:`FilePart` names a file and a range in that unit: bytes for line formats, rows for
``"rows"`` formats (Parquet), record batches (Arrow) for ``"row_groups"`` formats; both of
the latter implement :meth:`Format.row_groups`. Reading every part of a file returns every record of the file
exactly once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.compression import compression_of
from crucible_datasets.storage.filesystem import ReadRange

# How a format splits a file: newline-aligned byte ranges, row ranges (Parquet: any row, read
# from the row groups holding it), runs of row groups or record batches (Arrow IPC), or not at all.
SPLIT_UNITS = ("bytes", "rows", "row_groups", "whole")
GROUPED_UNITS = ("rows", "row_groups")  # the units of formats with row groups (Format.row_groups)
SAMPLE_BY = ("line", "paragraph", "document")  # text: what one row is
DEFAULT_BATCH_ROWS = 2048
# Rows parsed into Python objects stay in the CPU cache when a batch is small: measured on
# ~2.3 KB reasoning rows, 2048-row batches made the local runner 1.24x the plain loop, 256 1.12x.
DEFAULT_BATCH_BYTES = 512 * 1024
# Bytes past a "bytes" part's end its reader may read: the scan for the line that ends the part.
BOUNDARY_SCAN_BYTES = 64 * 1024


@dataclass(frozen=True)
class FilePart:
    """A range of one file: ``[start, end)`` in the format's unit; ``end=None`` is the end."""

    path: str
    start: int = 0
    end: int | None = None
    nbytes: int | None = field(default=None, compare=False)  # input bytes it covers, for progress


def byte_read_range(part: FilePart) -> ReadRange:
    """What the reader of ``part`` of a line file reads: from the byte before it (is a line
    starting there?) to :data:`BOUNDARY_SCAN_BYTES` past its end (the line that ends it)."""
    return max(0, part.start - 1), None if part.end is None else part.end + BOUNDARY_SCAN_BYTES


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
    sample_by: str = "line"  # text: one row per line, per paragraph (blank-line separated), per file
    keep_linebreaks: bool = False  # text, sample_by="line": keep each line's "\n"
    # What the stages after the read need (``Pipeline.read_hints``; docs/PERFORMANCE.md). Hints,
    # never a change of the rows the stages see: ``declarative``: no stage needs Python rows, so
    # JSON Lines may be parsed straight to Arrow; ``used_columns``: the stages read only these
    # (a reader may leave the others out, never adds one); ``predicate``: the first stage keeps
    # only the rows where it is true, so a reader may skip the others and report them
    # (:class:`ReadReport`).
    declarative: bool = False
    used_columns: frozenset[str] | None = None
    predicate: pc.Expression | None = dataclasses.field(default=None, compare=False)  # (`field` is csv's)

    def __post_init__(self) -> None:
        if self.sample_by not in SAMPLE_BY:
            raise ValueError(f"sample_by must be one of {', '.join(SAMPLE_BY)}, got {self.sample_by!r}")
        if not isinstance(self.keep_linebreaks, bool):
            raise ValueError(f"keep_linebreaks must be True or False, got {self.keep_linebreaks!r}")
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


@dataclass(frozen=True)
class ReadReport:
    """What a reader that used ``ReadOptions.predicate`` or ``used_columns`` tells the run, as
    its generator's return value: the rows of the part it skipped (the predicate is not true
    for them; the first stage counts them as dropped) and the stored bytes it read."""

    rows_skipped: int
    bytes_read: int


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

    def split_unit_of(self, path: str, options: ReadOptions | None = None) -> str:
        """How ``path`` is split: the format's ``split_unit``, but a compressed file's bytes are
        read whole (a decompressor cannot start mid-stream). ``options`` are the read's (a text
        file read by paragraph or as one document is read whole).

        >>> from crucible_datasets.formats import get_format
        >>> get_format("jsonl").split_unit_of("a.jsonl"), get_format("jsonl").split_unit_of("a.jsonl.gz")
        ('bytes', 'whole')
        """
        if self.split_unit == "bytes" and compression_of(path) is not None:
            return "whole"
        return self.split_unit

    def parts(self, path: str, size: int, part_bytes: int) -> list[FilePart]:
        """Split ``path`` (``size`` bytes) into parts of about ``part_bytes``.

        Default: byte ranges for a ``"bytes"`` format (one part when compressed or small: a
        reader owns the lines whose first byte is in its range), runs of consecutive row groups
        (see :meth:`row_groups`) holding about ``part_bytes`` of stored data each for a
        ``"row_groups"`` format, else one part.
        """
        unit = self.split_unit_of(path)
        if unit == "bytes" and size > part_bytes > 0:
            count = -(-size // part_bytes)
            step = -(-size // count)
            return [
                FilePart(path, s, s + step if s + step < size else None, nbytes=min(step, size - s))
                for s in range(0, size, step)
            ]
        if unit != "row_groups":
            return [FilePart(path, nbytes=size)]
        groups = self.row_groups(path)
        if not groups:
            return [FilePart(path, 0, 0)]
        parts, start, acc = [], 0, 0
        for i, (_, nbytes) in enumerate(groups):
            acc += nbytes
            if acc >= part_bytes and i + 1 < len(groups):
                parts.append(FilePart(path, start, i + 1, nbytes=acc))
                start, acc = i + 1, 0
        parts.append(FilePart(path, start, len(groups), nbytes=acc))
        return parts

    def file_parts(
        self, path: str, size: int, part_bytes: int, options: ReadOptions | None = None
    ) -> list[FilePart]:
        """The parts a read with ``options`` uses: :meth:`parts`, or one part when
        :meth:`split_unit_of` says the file is read whole with those options."""
        if self.split_unit_of(path, options) == "whole":
            return [FilePart(path, nbytes=size)]
        return self.parts(path, size, part_bytes)

    def read_range(self, part: FilePart, options: ReadOptions | None = None) -> ReadRange | None:
        """The bytes a read of ``part`` goes through front to back, or None when its reads jump
        (a footer, then column chunks) or a decompressor reads the file whole. A remote file
        fetches them ahead of the reader, and the next part's file is opened ahead with them.

        >>> from crucible_datasets.formats import get_format
        >>> jsonl, parquet = get_format("jsonl"), get_format("parquet")
        >>> jsonl.read_range(FilePart("a.jsonl", 100, 200)), parquet.read_range(FilePart("a.parquet"))
        ((99, 65736), None)
        """
        if self.split_unit_of(part.path, options) != "bytes":
            return None
        return byte_read_range(part)

    def row_groups(self, path: str) -> list[tuple[int, int]]:
        """``(rows, stored bytes)`` of each row group (record batch) in file order.

        Only ``"rows"`` and ``"row_groups"`` formats have them; the split planners use them to cut and weigh
        parts without reading data.
        """
        raise TypeError(f"{self.name} files have no row groups (split unit {self.split_unit!r})")

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
