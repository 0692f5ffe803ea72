"""Split expressions: ``"train[:10%]"``, ``"train[100:200]"``, ``"train[-500:]"``, ``"test[:50%]+train"``.

The grammar and arithmetic are those of ``datasets``' ``arrow_reader.py`` (``ReadInstruction``):
sub-splits joined by ``+``, each ``split[from:to]`` with absolute or percent (``%``) bounds,
negative bounds counting from the end, an optional rounding ``(closest)`` (the default) or
``(pct1_dropremainder)``; bounds past the end are clipped. :func:`parse_split` parses, and
:meth:`SubSplit.bounds` turns one sub-split into a row range given the split's row count.

:class:`SplitSource` reads the rows of an expression, in file order, without reading what it
skips where the format allows: for Parquet, the row counts of every row group come from the
footers (any format with row groups: Arrow IPC files too), and a row group wholly outside
the slice is never opened. Other formats (JSON lines,
CSV...) are read from the start of the split and dropped until ``from``, and reading stops at
``to``. A negative or percent bound needs the split's row count: free for Parquet (footers),
else one full pass over the split's files counts the rows first (the cost of reading it once).
Where a record is skipped as bad (``on_error="skip"``), positions count the rows read, not the
records stored.

>>> [(s.split, s.from_, s.to, s.unit) for s in parse_split("test[:50%]+train[10:-5]")]
[('test', None, 50, '%'), ('train', 10, -5, 'abs')]
>>> [s.bounds(1000) for s in parse_split("train[:33%]+train[-500:]+train[995:2000]")]
[(0, 330), (500, 1000), (995, 1000)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import GROUPED_UNITS, FilePart
from crucible_datasets.naming import SPLIT_NAME
from crucible_datasets.sources import DEFAULT_PART_BYTES, FileSource
from crucible_datasets.storage import filesystem

# datasets/arrow_reader.py: _SUB_SPEC_RE and _ADDITION_SEP_RE
_SUB_SPEC = re.compile(
    rf"""^(?P<split>{SPLIT_NAME.pattern[1:-1]})
    (\[((?P<from>-?[\d_]+)(?P<from_pct>%)?)?:((?P<to>-?[\d_]+)(?P<to_pct>%)?)?\])?
    (\((?P<rounding>[^\)]*)\))?$""",
    re.X,
)
_PLUS = re.compile(r"\s*\+\s*")
ROUNDINGS = ("closest", "pct1_dropremainder")
SYNTAX = "split, split[from:to], split[from%:to%] (bounds may be negative), joined with +"


class SplitExpressionError(ValueError):
    """A split expression that does not parse, or that names a split that does not exist."""


@dataclass(frozen=True)
class SubSplit:
    """One ``split[from:to]`` of an expression (``datasets``' ``_RelativeInstruction``)."""

    split: str
    from_: int | None = None
    to: int | None = None
    unit: str = "abs"  # "abs" (rows) or "%"
    rounding: str | None = None  # percent only: "closest" (the default) or "pct1_dropremainder"

    def __post_init__(self) -> None:
        if self.unit not in ("abs", "%"):
            raise SplitExpressionError(f"unit must be 'abs' or '%', got {self.unit!r}")
        if self.rounding is not None and self.rounding not in ROUNDINGS:
            choices = ", ".join(ROUNDINGS)
            raise SplitExpressionError(f"rounding must be one of {choices}, got {self.rounding!r}")
        if self.unit != "%" and self.rounding is not None:
            raise SplitExpressionError("a rounding applies to percent slices only")
        for bound in (self.from_, self.to):
            if self.unit == "%" and bound is not None and abs(bound) > 100:
                raise SplitExpressionError(f"percent bounds must be within -100..100, got {bound}")
        if self.unit == "%" and self.rounding is None:
            object.__setattr__(self, "rounding", "closest")

    @property
    def whole(self) -> bool:
        return self.from_ is None and self.to is None

    @property
    def needs_total(self) -> bool:
        """True when the bounds depend on the split's row count (percent or negative bounds)."""
        return self.unit == "%" or any(b is not None and b < 0 for b in (self.from_, self.to))

    def bounds(self, num_rows: int) -> tuple[int, int]:
        """``[start, stop)`` in a split of ``num_rows`` rows (``datasets``' ``_rel_to_abs_instr``).

        >>> SubSplit("train", 10, None, "%").bounds(15), SubSplit("train", -3, None).bounds(2)
        ((2, 15), (0, 2))
        """
        start, stop = self.from_, self.to
        if self.unit == "%":
            to_rows = _pct_closest if self.rounding == "closest" else _pct1_dropremainder
            start = 0 if start is None else to_rows(start, num_rows)
            stop = num_rows if stop is None else to_rows(stop, num_rows)
        else:
            start = 0 if start is None else start
            stop = num_rows if stop is None else stop
        if start < 0:
            start = max(num_rows + start, 0)
        if stop < 0:
            stop = max(num_rows + stop, 0)
        return min(start, num_rows), min(stop, num_rows)

    def bounds_unknown_total(self) -> tuple[int, int | None]:
        """``[start, stop)`` without the row count (``stop`` None: to the end); not if :attr:`needs_total`."""
        assert not self.needs_total
        return self.from_ or 0, self.to


def _pct_closest(boundary: int, num_rows: int) -> int:
    return int(round(boundary * num_rows / 100.0))


def _pct1_dropremainder(boundary: int, num_rows: int) -> int:
    if num_rows < 100:
        raise SplitExpressionError(
            'rounding "pct1_dropremainder" on a split of fewer than 100 rows always gives no rows'
        )
    return boundary * math.trunc(num_rows / 100.0)


def parse_split(expression: str) -> list[SubSplit]:
    """The sub-splits of ``expression``; a :class:`SplitExpressionError` naming it if it does not parse."""
    if not isinstance(expression, str) or not expression.strip():
        raise SplitExpressionError(f"split must be a non-empty string, got {expression!r}")
    out = []
    for spec in _PLUS.split(expression.strip()):
        found = _SUB_SPEC.match(spec)
        if not found:
            raise SplitExpressionError(f"split={expression!r}: {spec!r} is not a split expression ({SYNTAX})")
        unit = "%" if found["from_pct"] or found["to_pct"] else "abs"
        try:
            out.append(
                SubSplit(
                    found["split"],
                    int(found["from"]) if found["from"] else None,
                    int(found["to"]) if found["to"] else None,
                    unit,
                    found["rounding"],
                )
            )
        except SplitExpressionError as exc:
            raise SplitExpressionError(f"split={expression!r}: {exc}") from None
    return out


def is_expression(split: str) -> bool:
    """True for anything but a plain split name (``"train"``): slices, roundings, ``+``.

    >>> [is_expression(s) for s in ("train", "train.clean", "train[:10]", "a+b")]
    [False, False, True, True]
    """
    return not SPLIT_NAME.match(split)


# ---------------------------------------------------------------------------------------------
# Reading a planned expression


@dataclass(frozen=True)
class Segment:
    """The files of one sub-split, and the sub-split."""

    files: tuple[str, ...]
    sub: SubSplit


@dataclass(frozen=True)
class SlicePart(FilePart):
    """A part of a :class:`SplitSource`: ``skip`` rows dropped, then ``take`` kept (None: all).

    A part with ``files`` reads those files in order (formats without stored row counts); one
    without reads ``[start, end)`` of ``path`` in its format's unit: one row group's rows (Parquet)
    or the group (Arrow IPC).
    """

    skip: int = 0
    take: int | None = None
    files: tuple[str, ...] = ()
    segment: int = 0


@dataclass(frozen=True)
class SplitSource:
    """The rows of a split expression: its segments read by ``reader`` (a :class:`FileSource`)."""

    reader: FileSource
    segments: tuple[Segment, ...]
    shuffle_seed: int | None = None
    _plan: list = field(default_factory=list, compare=False, repr=False)  # parts, computed once

    @property
    def files(self) -> tuple[str, ...]:
        return self.reader.files

    @property
    def description(self) -> str:
        return self.reader.description

    @property
    def root(self) -> str:
        return self.reader.root

    @property
    def on_error(self) -> str:
        return self.reader.on_error

    @property
    def errors_path(self) -> str | None:
        return self.reader.errors_path

    @property
    def options(self):
        return self.reader.options

    @property
    def format(self) -> str | None:
        return self.reader.format

    @property
    def fill_missing(self) -> bool:
        return self.reader.fill_missing

    @property
    def batch_rows(self) -> int:
        return self.reader.batch_rows

    def total_bytes(self) -> int:
        return sum(p.nbytes or 0 for p in self._parts())

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        """The planned parts (``part_bytes`` does not change them), shuffled when a seed is set."""
        parts = list(self._parts())
        if self.shuffle_seed is not None:
            import random

            random.Random(self.shuffle_seed).shuffle(parts)
        return parts

    def _parts(self) -> list[SlicePart]:
        if not self._plan:
            planned = [p for i, seg in enumerate(self.segments) for p in self._plan_segment(i, seg)]
            self._plan.append(planned)
        return self._plan[0]

    def _plan_segment(self, index: int, segment: Segment) -> list[SlicePart]:
        files = segment.files
        if files and all(self.reader.format_for(f).split_unit in GROUPED_UNITS for f in files):
            return _plan_row_groups(index, segment, self.reader)
        if segment.sub.needs_total:
            start, stop = segment.sub.bounds(self._count(files))
        else:
            start, stop = segment.sub.bounds_unknown_total()
        take = None if stop is None else max(0, stop - start)
        nbytes = sum(filesystem.size(f) for f in files)
        part = SlicePart(files[0], 0, None, nbytes=nbytes, skip=start, take=take, files=files, segment=index)
        return [part]

    def _count(self, files: tuple[str, ...]) -> int:
        """The rows of ``files``: read them all once (bad records, when not raised, are not rows)."""
        errors = ErrorPolicy("raise" if self.on_error == "raise" else "skip")
        return sum(len(b) for part in self._whole_parts(files) for b in self.reader.read(part, errors))

    def _whole_parts(self, files: tuple[str, ...]) -> list[FilePart]:
        """Every file as one part (its row groups, for a ``"row_groups"`` format), in order."""
        out = []
        for f in files:
            fmt = self.reader.format_for(f)
            out += fmt.file_parts(f, filesystem.size(f), 1 << 62, self.reader.options)
        return out

    def read(self, part: FilePart, errors: ErrorPolicy) -> Iterator[Batch]:
        if not isinstance(part, SlicePart):
            raise TypeError(f"{part!r} is not a part of this split expression")
        if part.files:
            inner = (b for p in self._whole_parts(part.files) for b in self.reader.read(p, errors))
        else:
            inner = self.reader.read(FilePart(part.path, part.start, part.end, part.nbytes), errors)
        return _trim(inner, part.skip, part.take)


def _trim(batches: Iterator[Batch], skip: int, take: int | None) -> Iterator[Batch]:
    """``batches`` less their first ``skip`` rows, up to ``take`` rows; with no rows to give,
    one empty batch that keeps the columns. Stops reading once ``take`` rows are given."""
    try:
        for batch in batches:
            if take == 0:
                yield Batch.from_arrow(batch.arrow.slice(0, 0))
                return
            n = len(batch)
            if skip >= n:
                skip -= n
                continue
            keep = n - skip if take is None else min(n - skip, take)
            if skip or keep < n:
                batch = Batch.from_arrow(batch.arrow.slice(skip, keep))
            skip = 0
            yield batch
            if take is not None:
                take -= keep
                if take <= 0:
                    return
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def _plan_row_groups(index: int, segment: Segment, reader: FileSource) -> list[SlicePart]:
    """Parts for the row groups the slice overlaps (the others are never opened)."""
    groups = {f: reader.format_for(f).row_groups(f) for f in segment.files}
    total = sum(rows for counts in groups.values() for rows, _ in counts)
    start, stop = segment.sub.bounds(total)
    parts, row = [], 0
    for path, counts in groups.items():
        by_rows, first = reader.format_for(path).split_unit == "rows", row
        for g, (count, nbytes) in enumerate(counts):
            lo, hi = max(start, row), min(stop, row + count)
            if lo < hi:
                at, end = (row - first, row - first + count) if by_rows else (g, g + 1)
                part = SlicePart(path, at, end, nbytes=nbytes, skip=lo - row, take=hi - lo, segment=index)
                parts.append(part)
            row += count
    if not parts and segment.files:  # no rows: the first file still gives the columns
        parts.append(SlicePart(segment.files[0], 0, 1, nbytes=0, skip=0, take=0, segment=index))
    return parts


def plan(expression: str, files_of, reader: FileSource) -> SplitSource:
    """The :class:`SplitSource` of ``expression``; ``files_of(split)`` lists a split's files (or raises)."""
    segments = tuple(Segment(tuple(files_of(sub.split)), sub) for sub in parse_split(expression))
    all_files = tuple(dict.fromkeys(f for s in segments for f in s.files))
    return SplitSource(replace(reader, files=all_files), segments)


__all__ = [
    "SlicePart",
    "SplitExpressionError",
    "SplitSource",
    "SubSplit",
    "is_expression",
    "parse_split",
    "plan",
]
