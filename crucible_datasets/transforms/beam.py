"""The stages as Apache Beam transforms, for users who write Beam pipelines themselves.

Elements between these transforms are :class:`~crucible_datasets.batch.Batch` objects (a chunk
of rows as Arrow or dicts), never single rows, so a user's per-row function runs in a tight
loop inside one ``DoFn`` call instead of paying Beam's per-element cost for every row.

>>> import apache_beam as beam, glob, tempfile, os
>>> from apache_beam.runners.portability.fn_api_runner import FnApiRunner
>>> import crucible_datasets.transforms as ct
>>> from crucible_datasets.sinks import JsonlSink
>>> d = tempfile.mkdtemp(); path = os.path.join(d, "in.jsonl")
>>> _ = open(path, "w").write("".join(f'{{"x": {i}}}\\n' for i in range(10)))
>>> with beam.Pipeline(runner=FnApiRunner()) as p:
...     _ = (p | ct.ReadSplit(path) | ct.Filter(lambda r: r["x"] % 2 == 0)
...            | ct.Map(lambda r: {"y": r["x"] * 10}) | ct.WriteSplit(JsonlSink(os.path.join(d, "out"))))
>>> [shard] = glob.glob(os.path.join(d, "out", "data", "train-00000-of-00001-*.jsonl"))  # + generation
>>> sorted(open(shard).read().split())[:2]
['{"x":0,"y":0}', '{"x":2,"y":20}']

The transforms:

- :class:`ReadSplit` reads files (JSON Lines, Parquet, CSV, JSON; local or remote) as a
  splittable bounded source: newline-aligned byte ranges of uncompressed JSON Lines, row groups
  of Parquet, whole files otherwise; runners may split a range further while it is read
  (dynamic work rebalancing) at chunk boundaries (``chunk_bytes`` of JSON Lines, one row group
  of Parquet); a gzip/zstd file, CSV or JSON is one unsplittable chunk. ``rows=True`` yields
  plain dicts (they compare by value, for ``assert_that``) instead of batches.
- :class:`ApplyStages` applies per-batch stages (``transforms/``) to each batch; :class:`Map`,
  :class:`Filter`, :class:`Where`, :class:`FlatMap`, :class:`MapBatches`, :class:`SelectColumns`,
  :class:`RenameColumns`, :class:`Sample` are one stage each.
- :class:`Dedupe`, :class:`Shuffle` (and :class:`Keyed` for any keyed stage) group rows by key
  through :class:`KeyedRows`, the one Beam form of a keyed stage (``transforms/base.py``),
  which the Beam runner's distributed plan uses too; :class:`Take` needs the whole collection.
- :class:`WriteSplit` writes Hub-style shards through a :class:`~crucible_datasets.sinks.Sink`
  with atomic finalize and emits one :class:`~crucible_datasets.sinks.WriteSummary`.

Bad records: ``ReadSplit(on_error="dead_letter", errors_path=...)`` writes each bad record
(file, line, byte offset, reason, raw text) as a JSON line to a file under ``errors_path`` (one
file per reader, so parallel workers never share one) and goes on; ``"skip"`` only counts them;
``"raise"`` fails the bundle naming the file and line. Counts are Beam metrics in the namespace
``"crucible"`` (``rows_read``, ``rows_bad``, ``rows_filtered``, ``rows_written``).

Positions: every batch :class:`ReadSplit` reads carries its position in the input
(``Batch.position``: the chunk's start as a fraction of the input, then the batch's index in the
chunk), per-batch stages keep it, and :class:`Dedupe` keeps the first row of each group of
duplicates in input order, the row the local and Beam runners keep. Rows without a position (a
user's ``beam.Create`` of batches, the output of a regrouping stage) come after those with one,
and among themselves the one with the smallest canonical JSON is kept, so the choice is still
repeatable (``transforms.stream.first_in_input``). :class:`Take` keeps *some* ``n`` rows (a
``PCollection`` has no first rows); pipelines that need the first ``n`` use
``Dataset.write_parquet(runner="direct")`` (``runners/beam/``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import apache_beam as beam
import orjson
from apache_beam.io import iobase
from apache_beam.io.range_trackers import OffsetRangeTracker
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from crucible_datasets.bad_records import ErrorPolicy, check_on_error
from crucible_datasets.batch import Batch, Position
from crucible_datasets.counts import RunCounts
from crucible_datasets.formats.base import DEFAULT_BATCH_ROWS, GROUPED_UNITS, FilePart, Format, ReadOptions
from crucible_datasets.formats.compression import compression_of
from crucible_datasets.sinks import Sink, TaskResult, WriteSummary
from crucible_datasets.sources import FileSource
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.transforms import stream as stream_stages
from crucible_datasets.transforms.base import KeyedStage, Stage, StageCounter, StageKind, apply_stages
from crucible_datasets.transforms.batching import MapBatches as MapBatchesStage
from crucible_datasets.transforms.columns import RenameColumns as RenameStage
from crucible_datasets.transforms.columns import SelectColumns as SelectStage
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.rows import FlatMap as FlatMapStage
from crucible_datasets.transforms.rows import RowFilter, RowMap

NAMESPACE = "crucible"
DEFAULT_CHUNK_BYTES = 8 << 20


# --- reading: a splittable bounded source ---------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """One file in the source's position space: ``[start, start + extent)``.

    Positions are bytes in every unit, so a fraction of the range is about that fraction of
    the input. ``unit`` is ``"bytes"`` (uncompressed JSON Lines: byte offsets, a chunk starts
    every ``chunk_bytes``), ``"rows"`` or ``"row_groups"`` (Parquet, Arrow: the compressed bytes
    of its non-empty row groups end to end, a chunk is one group; ``bounds`` holds each group's
    first position, ``groups`` its index and ``rows`` its row count; a ``"rows"`` format's parts
    count rows, a ``"row_groups"`` one's groups) or ``"whole"`` (a file read in one piece: its
    bytes, one chunk).
    """

    path: str
    start: int
    extent: int
    unit: str
    size: int
    bounds: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    rows: tuple[int, ...] = ()

    @property
    def stop(self) -> int:
        return self.start + self.extent

    @functools.cached_property
    def firsts(self) -> tuple[int, ...]:
        """The row (in the file) of each non-empty group's first row."""
        return tuple(itertools.accumulate(self.rows[:-1], initial=0)) if self.rows else ()


def _span_unit(source: FileSource, path: str) -> str:
    """How ``path`` is split: its format says (``Format.split_unit_of``), never a default here."""
    return source.format_for(path).split_unit_of(path, source.options)


def _row_groups(fmt: Format, path: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Each non-empty row group's (record batch's) first position (stored bytes before it), index
    and rows, from ``Format.row_groups`` (the format's own reader: errors name the file)."""
    bounds, groups, rows, at = [], [], [], 0
    for i, (num_rows, nbytes) in enumerate(fmt.row_groups(path)):
        if num_rows:
            bounds.append(at)
            groups.append(i)
            rows.append(num_rows)
            at += max(1, nbytes)
    bounds.append(at)  # the end
    return tuple(bounds), tuple(groups), tuple(rows)


def _bundle_bytes(desired_bundle_size: float, size: int) -> int:
    """``desired_bundle_size`` as a positive ``part_bytes`` (``inf`` or more than the file: one part)."""
    if not desired_bundle_size > 0:  # also refuses NaN
        raise ValueError(f"desired_bundle_size must be a positive number, got {desired_bundle_size!r}")
    if desired_bundle_size > size:
        return size + 1
    return max(1, math.ceil(desired_bundle_size))


def _text_bytes(batch: Batch, sample: int = 8) -> int:
    """About how many bytes of JSON text ``batch`` came from (a few rows measured)."""
    n = len(batch)
    if not n:
        return 0
    if batch.has_arrow:
        return batch.arrow.nbytes
    rows = batch.rows[:sample]
    measured = sum(len(orjson.dumps(r, default=str)) + 1 for r in rows)
    return measured * n // len(rows)


class _ChunkRangeTracker(OffsetRangeTracker):
    """An offset range tracker whose splits land on chunk boundaries only.

    A reader claims a chunk's first position (its split point) and then reads the whole chunk,
    moving the position on inside it (``set_current_position``) so that progress advances;
    rounding every split up to the next boundary keeps a split from cutting a chunk that is
    being read. A range holding one chunk (a compressed file, CSV, JSON) cannot be split.
    ``split_points()`` counts chunk starts: (claimed - 1, unclaimed + 1) while reading, as
    Beam's trackers do, and (claimed, 0) once the read is over.
    """

    def __init__(self, source: SplitSource, start: int, stop: int) -> None:
        super().__init__(start, stop)
        self._source = source
        self._claimed = 0
        self._done = False

    def try_claim(self, position) -> bool:
        claimed = super().try_claim(position)
        with self._lock:
            if claimed:
                self._claimed += 1
            else:
                self._done = True
        return claimed

    def try_split(self, position):
        return super().try_split(self._source.align(int(position)))

    def split_points(self) -> tuple[int, int]:
        with self._lock:
            if self._done:
                return self._claimed, 0
            if not self._claimed:
                first = self._source.first_position(self.start_position())
                if first >= self._stop_offset:
                    return 0, 0
                return 0, 1 + self._source.chunks_in(first + 1, self._stop_offset)
            after = self._source.chunks_in(self._offset_of_last_split_point + 1, self._stop_offset)
            return self._claimed - 1, after + 1

    def finish(self) -> None:
        """The read is over: no split points remain."""
        with self._lock:
            self._done = True

    def advance(self, position: int, chunk_stop: int) -> None:
        """Move the position on inside the chunk being read (never onto its end)."""
        position = min(position, chunk_stop - 1)
        if position > self.last_record_start:
            self.set_current_position(position)


class SplitSource(iobase.BoundedSource):
    """The files of a :class:`~crucible_datasets.sources.FileSource` as a Beam bounded source.

    Positions: the files laid end to end, each as bytes (of an uncompressed JSON Lines file, of
    a Parquet file's row groups, compressed, or of a file read whole). ``split`` uses each
    format's own ``parts`` (newline-aligned byte ranges, runs of row groups); ``read`` claims
    and reads one chunk at a time (``chunk_bytes`` of JSON Lines, one row group, one whole
    file) and yields :class:`Batch` elements, each with its position (``(chunk start / total,
    batch index in the chunk)``), or with ``rows=True`` plain dicts (one element per row, which
    compare by value: for ``assert_that`` and ``source_test_utils``).
    """

    def __init__(
        self, source: FileSource, chunk_bytes: int = DEFAULT_CHUNK_BYTES, rows: bool = False
    ) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be at least 1, got {chunk_bytes}")
        self.source = source
        self.chunk_bytes = chunk_bytes
        self.rows = rows
        spans, start = [], 0
        for path, size in zip(source.files, source.sizes(), strict=True):
            unit = _span_unit(source, path)
            bounds: tuple[int, ...] = ()
            groups: tuple[int, ...] = ()
            rows_in: tuple[int, ...] = ()
            if unit == "bytes":
                extent = size
            elif unit in GROUPED_UNITS:
                bounds, groups, rows_in = _row_groups(source.format_for(path), path)
                bounds, extent = bounds[:-1], bounds[-1]
                if not groups:  # no rows: read whole (one empty batch that carries the columns)
                    unit, extent = "whole", 1
            else:
                extent = max(size, 1)  # an empty file is still read (the format says if that is an error)
            if extent > 0:
                spans.append(_Span(path, start, extent, unit, size, bounds, groups, rows_in))
                start += extent
        self.spans: tuple[_Span, ...] = tuple(spans)
        self.total = start
        self._starts = [s.start for s in spans]

    # -- positions --

    def _span_at(self, position: int) -> _Span:
        return self.spans[bisect.bisect_right(self._starts, position) - 1]

    def align(self, position: int) -> int:
        """The first chunk boundary at or after ``position``."""
        if position >= self.total:
            return self.total
        if position <= 0:
            return 0
        span = self._span_at(position)
        offset = position - span.start
        if span.unit == "bytes":
            k = -(-offset // self.chunk_bytes)
            return min(span.start + k * self.chunk_bytes, span.stop)
        if span.unit in GROUPED_UNITS:
            i = bisect.bisect_left(span.bounds, offset)
            return span.start + span.bounds[i] if i < len(span.bounds) else span.stop
        return span.start if offset == 0 else span.stop

    def first_position(self, start: int) -> int:
        """Where a read of a range from ``start`` begins: a JSON Lines byte range at ``start``
        (lines belong to the range of their first byte), else at the next chunk (a row group or
        a whole file belongs to the range of its first position)."""
        if start < self.total and self._span_at(start).unit != "bytes":
            return self.align(start)
        return start

    def chunks_in(self, lo: int, hi: int) -> int:
        """How many chunks start in ``[lo, hi)`` (the split points of that range)."""
        count = 0
        for span in self.spans[max(0, bisect.bisect_right(self._starts, lo) - 1) :]:
            if span.start >= hi:
                break
            a, b = max(lo, span.start) - span.start, min(hi, span.stop) - span.start
            if a >= b:
                continue
            if span.unit == "bytes":
                count += -(-b // self.chunk_bytes) - -(-a // self.chunk_bytes)
            elif span.unit in GROUPED_UNITS:
                count += bisect.bisect_left(span.bounds, b) - bisect.bisect_left(span.bounds, a)
            else:
                count += a == 0
        return count

    # -- BoundedSource --

    def estimate_size(self) -> int:
        return sum(s.size for s in self.spans)

    def split(self, desired_bundle_size, start_position=None, stop_position=None):
        """Bundles of about ``desired_bundle_size`` bytes (any positive number, ``inf`` too)."""
        if not desired_bundle_size > 0:
            raise ValueError(f"desired_bundle_size must be a positive number, got {desired_bundle_size!r}")
        start = 0 if start_position is None else start_position
        stop = self.total if stop_position is None else stop_position
        for span in self.spans:
            if span.stop <= start or span.start >= stop:
                continue
            if span.unit == "whole":
                ranges = [(span.start, span.stop)]
            else:
                fmt = self.source.format_for(span.path)
                parts = fmt.parts(span.path, span.size, _bundle_bytes(desired_bundle_size, span.size))
                at = self._part_position
                ranges = [(at(span, p.start), at(span, p.end)) for p in parts]
            for a, b in ranges:
                a, b = max(a, start), min(b, stop)
                if a < b:
                    weight = span.size * (b - a) / span.extent
                    yield iobase.SourceBundle(weight, self, a, b)

    @staticmethod
    def _part_position(span: _Span, at: int | None) -> int:
        """The position of a part's start or end (bytes; a row group index, or a row for Parquet:
        the first group starting at or after it)."""
        if at is None:
            return span.stop
        if span.unit in GROUPED_UNITS:
            i = bisect.bisect_left(span.groups if span.unit == "row_groups" else span.firsts, at)
            return span.start + span.bounds[i] if i < len(span.bounds) else span.stop
        return span.start + at

    def get_range_tracker(self, start_position, stop_position) -> _ChunkRangeTracker:
        start = 0 if start_position is None else start_position
        stop = self.total if stop_position is None else stop_position
        return _ChunkRangeTracker(self, start, stop)

    def read(self, range_tracker) -> Iterator[Batch | dict]:
        errors = ErrorPolicy(self.source.on_error, self.source.errors_path)
        rows_read = Metrics.counter(NAMESPACE, "rows_read")
        rows_bad = Metrics.counter(NAMESPACE, "rows_bad")
        ours = isinstance(range_tracker, _ChunkRangeTracker)
        position = self.first_position(range_tracker.start_position())
        try:
            while position < range_tracker.stop_position():
                if not range_tracker.try_claim(position):
                    return
                end = self._chunk_end(position, range_tracker.stop_position())
                span = self._span_at(position)
                bad_before, done = errors.bad, 0
                group_rows = self._group_rows(span, position)
                where = position / self.total
                for k, batch in enumerate(self._read_chunk(span, position, end, errors)):
                    batch.position = (where, k)
                    rows_read.inc(len(batch))
                    if ours:
                        if group_rows:  # exact: the rows of the group read so far
                            done += len(batch)
                            range_tracker.advance(position + (end - position) * done // group_rows, end)
                        elif span.unit == "bytes" or compression_of(span.path) is None:
                            done += _text_bytes(batch)  # an estimate of the text read so far
                            range_tracker.advance(position + done, end)
                    if self.rows:
                        yield from batch.rows
                    else:
                        yield batch
                if errors.bad != bad_before:
                    rows_bad.inc(errors.bad - bad_before)
                position = end
            if ours:
                range_tracker.finish()
        finally:
            errors.close()

    @staticmethod
    def _group_rows(span: _Span, position: int) -> int:
        """The rows of the row group starting at ``position`` (0 for other units)."""
        if span.unit not in GROUPED_UNITS:
            return 0
        return span.rows[bisect.bisect_left(span.bounds, position - span.start)]

    def _chunk_end(self, position: int, stop: int) -> int:
        """Where the chunk starting at ``position`` ends: a byte chunk is cut at the range's stop
        (JSON Lines owns lines by their first byte), a row group or a whole file never is."""
        span = self._span_at(position)
        end = self.align(position + 1)
        return min(end, stop) if span.unit == "bytes" else end

    def _read_chunk(self, span: _Span, start: int, stop: int, errors: ErrorPolicy) -> Iterator[Batch]:
        if span.unit == "whole":
            part = FilePart(span.path)
        elif span.unit == "bytes":
            part = FilePart(span.path, start - span.start, None if stop >= span.stop else stop - span.start)
        else:
            first = bisect.bisect_left(span.bounds, start - span.start)
            last = bisect.bisect_left(span.bounds, stop - span.start)
            starts = span.groups if span.unit == "row_groups" else span.firsts
            part = FilePart(span.path, starts[first], starts[last] if last < len(starts) else None)
        return self.source.read(part, errors)

    def default_output_coder(self):
        return beam.coders.PickleCoder()

    def display_data(self):
        return {"files": ", ".join(s.path for s in self.spans[:5]) + (" ..." if len(self.spans) > 5 else "")}


def _expand_files(files: str | Sequence[str]) -> tuple[str, ...]:
    patterns = [files] if isinstance(files, str) else list(files)
    if not patterns:
        raise ValueError("ReadSplit needs at least one file")
    found: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matched = sorted(fs.glob(pattern))
            if not matched:
                raise FileNotFoundError(f"no file matches {pattern}")
            found.extend(matched)
        elif fs.is_dir(pattern):
            matched = sorted(fs.list_files(pattern))
            if not matched:
                raise FileNotFoundError(f"folder {pattern} holds no files")
            found.extend(matched)
        else:
            if not fs.exists(pattern):
                raise FileNotFoundError(f"{pattern} does not exist")
            found.append(pattern)
    return tuple(found)


class ReadSplit(beam.PTransform):
    """Read files as :class:`Batch` elements, split in parallel (see :class:`SplitSource`).

    ``files``: a path, a glob, a folder, a list of them, or a ready ``FileSource``. The other
    arguments are those of ``cd.load``: ``format`` (else from the extension), ``columns``,
    ``schema`` (a declared ``pyarrow.Schema``), ``batch_rows``, ``on_error`` (``"raise"``,
    ``"skip"``, ``"dead_letter"`` with ``errors_path``). Everything is checked here, when the
    pipeline is built, not on the workers.

    ``rows=True`` yields each row as a plain ``dict`` instead of :class:`Batch` elements: rows
    compare by value, so ``assert_that(rows, equal_to([...]))`` works, and plain Beam transforms
    (``beam.Map``) take them; the stages here (``Map``, ``Filter``, ``WriteSplit``) take batches.
    """

    def __init__(
        self,
        files: str | Sequence[str] | FileSource,
        *,
        format: str | None = None,
        columns: Sequence[str] | None = None,
        schema=None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        on_error: str = "raise",
        errors_path: str | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        rows: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(files, FileSource):
            source = files
        else:
            check_on_error(on_error)
            if on_error == "dead_letter" and not errors_path:
                raise ValueError("on_error='dead_letter' needs errors_path= (a folder for the bad records)")
            options = ReadOptions(
                columns=tuple(columns) if columns is not None else None, schema=schema, batch_rows=batch_rows
            )
            source = FileSource(_expand_files(files), format, options, on_error, errors_path)
        self.source = SplitSource(source, chunk_bytes, rows=rows)

    def expand(self, pbegin):
        return pbegin | beam.io.Read(self.source)


# --- per-batch stages ----------------------------------------------------------------------------


def _check_stages(stages: Iterable[Stage]) -> tuple[Stage, ...]:
    stages = tuple(stages)
    for stage in stages:
        if not isinstance(stage, Stage):
            raise TypeError(f"ApplyStages takes stages (crucible_datasets.transforms), not {stage!r}")
        if not stage.kind.any_part:
            raise ValueError(
                f"{stage.name} needs the whole collection: use its own transform "
                "(crucible_datasets.transforms.Take / Dedupe / Shuffle) instead of ApplyStages"
            )
    return stages


class _ApplyStagesFn(beam.DoFn):
    def __init__(self, stages: tuple[Stage, ...]) -> None:
        self.stages = stages

    def setup(self) -> None:
        self._filtered = Metrics.counter(NAMESPACE, "rows_filtered")
        self._added = Metrics.counter(NAMESPACE, "rows_added")

    def process(self, batch: Batch) -> Iterator[Batch]:
        counters: list[StageCounter] = []
        yield from apply_stages(iter((batch,)), self.stages, counters)
        dropped = sum(c.dropped for c in counters)
        added = sum(c.added for c in counters)
        if dropped:
            self._filtered.inc(dropped)
        if added:
            self._added.inc(added)


class ApplyStages(beam.PTransform):
    """Apply per-batch ``stages`` to every :class:`Batch` (one fused ``DoFn``).

    A regrouping stage (``Batcher``, a batched map) regroups the rows of each element on its
    own. Stages that need the whole collection are refused (use :class:`Take` and the others).
    """

    def __init__(self, stages: Stage | Iterable[Stage]) -> None:
        super().__init__()
        self.stages = _check_stages([stages] if isinstance(stages, Stage) else stages)

    def expand(self, pcoll):
        return pcoll | beam.ParDo(_ApplyStagesFn(self.stages))


class Map(ApplyStages):
    """``fn(row) -> dict | None`` updates each row (as ``Dataset.map``); then ``remove_columns``."""

    def __init__(self, fn: Callable[[dict], dict | None], remove_columns: Sequence[str] = ()) -> None:
        super().__init__(RowMap(fn, remove_columns))


class Filter(ApplyStages):
    """Keep the rows for which ``fn(row)`` is true."""

    def __init__(self, fn: Callable[[dict], object]) -> None:
        super().__init__(RowFilter(fn))


class Where(ApplyStages):
    """Keep the rows where a safe column expression is true (``"score > 0.5"``)."""

    def __init__(self, expression: str) -> None:
        super().__init__(ExpressionFilter(expression))


class FlatMap(ApplyStages):
    """Each row becomes the rows that ``fn(row)`` returns."""

    def __init__(self, fn: Callable[[dict], Iterable[dict]]) -> None:
        super().__init__(FlatMapStage(fn))


class MapBatches(ApplyStages):
    """A vectorised ``fn(pyarrow.RecordBatch) -> RecordBatch | Table`` on each batch."""

    def __init__(self, fn) -> None:
        super().__init__(MapBatchesStage(fn))


class SelectColumns(ApplyStages):
    """Keep only ``columns``, in that order."""

    def __init__(self, columns: str | Sequence[str]) -> None:
        super().__init__(SelectStage(columns))


class RenameColumns(ApplyStages):
    """Rename columns by ``{old: new}``."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        super().__init__(RenameStage(mapping))


class Sample(ApplyStages):
    """Keep about ``fraction`` of the rows, chosen by a hash of each row and ``seed``."""

    def __init__(self, fraction: float, seed: int = 0) -> None:
        super().__init__(stream_stages.Sample(fraction, seed))


# --- whole-collection transforms -----------------------------------------------------------------


class _Rebatch(beam.DoFn):
    """Rows in, :class:`Batch` elements of up to ``batch_rows`` rows out (per bundle)."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows

    def start_bundle(self) -> None:
        self._rows: list[dict] = []

    def process(self, row: dict) -> Iterator[Batch]:
        self._rows.append(row)
        if len(self._rows) >= self.batch_rows:
            yield Batch.from_rows(self._rows)
            self._rows = []

    def finish_bundle(self):
        if self._rows:
            yield GlobalWindows.windowed_value(Batch.from_rows(self._rows))
            self._rows = []


class _FirstRows(beam.DoFn):
    """At most ``n`` rows per bundle (the rest cannot be needed)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def start_bundle(self) -> None:
        self._left = self.n

    def process(self, batch: Batch) -> Iterator[list[dict]]:
        if self._left <= 0:
            return
        rows = batch.rows[: self._left]
        self._left -= len(rows)
        yield rows


class _TakeRows(beam.CombineFn):
    def __init__(self, n: int) -> None:
        self.n = n

    def create_accumulator(self):
        return []

    def add_input(self, acc, rows):
        if len(acc) < self.n:
            acc.extend(rows[: self.n - len(acc)])
        return acc

    def merge_accumulators(self, accs):
        out: list = []
        for acc in accs:
            out.extend(acc[: self.n - len(out)])
        return out

    def extract_output(self, acc):
        return acc


def _chunks(rows: list[dict], batch_rows: int) -> Iterator[Batch]:
    for i in range(0, len(rows), batch_rows):
        yield Batch.from_rows(rows[i : i + batch_rows])


class Take(beam.PTransform):
    """Some ``n`` rows of the collection (a ``PCollection`` has no first rows), in one batch
    of up to ``batch_rows`` rows each. Memory: ``n`` rows per bundle at most."""

    def __init__(self, n: int, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        super().__init__()
        self.n = stream_stages.Take(n).n
        self.batch_rows = batch_rows

    def expand(self, pcoll):
        batch_rows = self.batch_rows
        return (
            pcoll
            | "FirstPerBundle" >> beam.ParDo(_FirstRows(self.n))
            | "TakeN" >> beam.CombineGlobally(_TakeRows(self.n))
            | "Batches" >> beam.FlatMap(lambda rows: _chunks(rows, batch_rows))
        )


def positioned_rows(batch: Batch) -> Iterator[tuple[Position | None, dict]]:
    """The ``(position, row)`` pairs of a batch: row ``j`` of a batch at ``p`` is at ``(*p, j)``."""
    at = batch.position
    if at is None:
        for row in batch.rows:
            yield None, row
    else:
        for j, row in enumerate(batch.rows):
            yield (*at, j), row


class _Choose(beam.CombineFn):
    """One ``(position, row)`` pair per key, by the stage's ``choose``."""

    def __init__(self, stage: KeyedStage) -> None:
        self.stage = stage

    def create_accumulator(self):
        return None

    def add_input(self, acc, pair):
        return pair if acc is None else self.stage.choose(acc, pair)

    def merge_accumulators(self, accs):
        out = None
        for acc in accs:
            if acc is not None:
                out = acc if out is None else self.stage.choose(out, acc)
        return out

    def extract_output(self, acc):
        return acc


class KeyedRows(beam.PTransform):
    """The Beam form of a :class:`~crucible_datasets.transforms.base.KeyedStage`.

    ``(position, row)`` pairs in; the pairs that survive the stage out, each at its new
    position (``stage.order``): keyed by ``stage.key``, one pair per key kept by
    ``stage.choose`` (a ``CombinePerKey``). Chaining two is running two keyed stages. Used by
    :class:`Keyed` (so :class:`Dedupe`, :class:`Shuffle`) and by the Beam runner's distributed plan.
    """

    def __init__(self, stage: KeyedStage) -> None:
        super().__init__()
        if stage.kind is not StageKind.KEYED:
            raise TypeError(f"KeyedRows takes a keyed stage, not {stage.name} ({stage.kind.value})")
        self.stage = stage

    def expand(self, pairs):
        stage = self.stage
        return (
            pairs
            | "Key" >> beam.Map(lambda pair: (stage.key(pair[1], pair[0]), pair))
            | "Choose" >> beam.CombinePerKey(_Choose(stage))
            | "Order" >> beam.Map(lambda kv: (stage.order(kv[0], kv[1][0]), kv[1][1]))
        )


def range_of(position: Position, ranges: int) -> int:
    """Which of ``ranges`` equal ranges of the input order ``position`` falls in (its first element)."""
    return min(ranges - 1, max(0, int(position[0] * ranges)))


def in_order(pairs: Iterable[tuple[Position, dict]]) -> list[tuple[Position, dict]]:
    """``(position, row)`` pairs sorted by position."""
    return sorted(pairs, key=lambda pair: pair[0])


class _OrderedBatches(beam.DoFn):
    """One range of positions: its rows in order, as batches that carry their position."""

    def __init__(self, batch_rows: int) -> None:
        self.batch_rows = batch_rows

    def process(self, element) -> Iterator[Batch]:
        _, pairs = element
        pairs = in_order(pairs)
        for i in range(0, len(pairs), self.batch_rows):
            chunk = pairs[i : i + self.batch_rows]
            yield Batch(rows=[p[1] for p in chunk], position=chunk[0][0])


class Keyed(beam.PTransform):
    """Any keyed stage on a ``PCollection`` of batches (see :class:`KeyedRows`).

    With ``ranges`` (Shuffle), the survivors are cut into that many ranges of their positions,
    and each range comes out in order, as batches carrying their position (a range is held in
    one worker's memory: use more for big data); without (Dedupe), they are regrouped into
    batches of ``batch_rows`` per bundle, without positions (the survivors stream).
    """

    def __init__(
        self, stage: KeyedStage, ranges: int | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> None:
        super().__init__()
        if ranges is not None and (not isinstance(ranges, int) or ranges < 1):
            raise ValueError(f"buckets must be a positive integer, got {ranges!r}")
        self.stage = stage
        self.ranges = ranges
        self.batch_rows = batch_rows

    def expand(self, pcoll):
        survivors = (
            pcoll | "Positions" >> beam.FlatMap(positioned_rows) | "Keyed" >> KeyedRows(self.stage)
        )
        if self.ranges is None:
            return survivors | "Rows" >> beam.Values() | "Rebatch" >> beam.ParDo(_Rebatch(self.batch_rows))
        ranges = self.ranges
        return (
            survivors
            | "ToRange" >> beam.Map(lambda pair: (range_of(pair[0], ranges), pair))
            | "GroupByRange" >> beam.GroupByKey()
            | "InOrder" >> beam.ParDo(_OrderedBatches(self.batch_rows))
        )


class Dedupe(Keyed):
    """Drop duplicate rows (whole rows, or rows with the same ``key`` columns).

    Rows are keyed by a digest (``transforms.stream.row_digest``) and, of the rows with one
    key, the first in input order is kept (``transforms.stream.first_in_input``; see the module
    docstring for rows without a position). The rows go through a shuffle.
    """

    def __init__(self, key: str | Sequence[str] | None = None, batch_rows: int = DEFAULT_BATCH_ROWS) -> None:
        super().__init__(stream_stages.Dedupe(key), batch_rows=batch_rows)


class Shuffle(Keyed):
    """Rows in a random order: each row gets a random key (from ``seed`` and its position, so
    repeatable; see ``transforms.stream.Shuffle``), and the rows are cut into ``buckets`` ranges
    of keys, each sorted by key. A bucket's rows are held in one worker's memory: use more
    ``buckets`` for big data."""

    def __init__(
        self, seed: int | None = None, buckets: int = 1024, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> None:
        super().__init__(stream_stages.Shuffle(seed), buckets, batch_rows)
        self.seed = seed
        self.buckets = buckets


# The Beam forms of whole-stream stages, declared by stage class (``register_beam_form``); any
# other keyed stage runs as :class:`Keyed`.
_BEAM_FORMS: dict[type, Callable[[Stage], beam.PTransform]] = {}


def register_beam_form(stage_class: type, form: Callable[[Stage], beam.PTransform]) -> None:
    """Declare the Beam transform of a whole-stream stage class (used by :func:`for_stage`)."""
    _BEAM_FORMS[stage_class] = form


register_beam_form(stream_stages.Take, lambda stage: Take(stage.n))
register_beam_form(stream_stages.Dedupe, lambda stage: Dedupe(stage.columns))
register_beam_form(stream_stages.Shuffle, lambda stage: Shuffle(stage.seed))


def for_stage(stage: Stage) -> beam.PTransform:
    """The Beam transform of any stage: ApplyStages for one that runs on any part, the declared
    form of a whole-stream one (:func:`register_beam_form`), :class:`Keyed` for a keyed one."""
    if stage.kind.any_part:
        return ApplyStages([stage])
    form = next((_BEAM_FORMS[c] for c in type(stage).__mro__ if c in _BEAM_FORMS), None)
    if form is not None:
        return form(stage)
    if stage.kind is StageKind.KEYED:
        return Keyed(stage)
    raise ValueError(
        f"{stage.name} has no Beam form: a PCollection has no first rows to {stage.name.lower()}"
    )


# --- writing -------------------------------------------------------------------------------------


class _WriteBundles(beam.DoFn):
    """One shard task per bundle: a retried bundle gets a new task index, and only the results
    of bundles that succeeded reach finalize, so nothing is written twice."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def start_bundle(self) -> None:
        self._writer = None

    def process(self, batch: Batch):
        if self._writer is None:
            self._writer = self.sink.open_task(random.SystemRandom().randrange(1 << 31))
        try:
            self._writer.write(batch)
        except BaseException:
            self._writer.abort()
            self._writer = None
            raise

    def finish_bundle(self):
        if self._writer is not None:
            result = self._writer.close()
            self._writer = None
            yield GlobalWindows.windowed_value(result)


class _KeyBySlot(beam.DoFn):
    def __init__(self, num_shards: int) -> None:
        self.num_shards = num_shards

    def start_bundle(self) -> None:
        self._next = random.randrange(self.num_shards)

    def process(self, batch: Batch):
        slot = self._next
        self._next = (slot + 1) % self.num_shards
        yield slot, batch


class _WriteSlot(beam.DoFn):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def process(self, element) -> Iterator[TaskResult]:
        slot, batches = element
        with self.sink.open_task(slot) as writer:
            for batch in batches:
                writer.write(batch)
        yield writer.result


class _FinalizeWrite(beam.DoFn):
    def __init__(self, sink: Sink, source: str) -> None:
        self.sink = sink
        self.source = source

    def process(self, results: list[TaskResult]) -> Iterator[WriteSummary]:
        written = sum(r.rows for r in results)
        summary = self.sink.finalize(results, counts=RunCounts(rows_written=written), source=self.source)
        Metrics.counter(NAMESPACE, "rows_written").inc(written)
        yield summary


class WriteSplit(beam.PTransform):
    """Write :class:`Batch` elements as one split's Hub-style shards; emits one WriteSummary.

    ``num_shards=None`` writes one shard per bundle (no shuffle: the fastest, and memory stays
    flat); ``num_shards=N`` writes exactly N shards (at most N when there are fewer batches),
    which groups the batches by shard (a shuffle of the rows). Shards go to temp files and are
    renamed into place in one final step (``Sink.finalize``), with ``manifest.json`` and the card.
    """

    def __init__(self, sink: Sink, num_shards: int | None = None, source: str = "") -> None:
        super().__init__()
        if not isinstance(sink, Sink):
            raise TypeError(f"WriteSplit needs a crucible_datasets.sinks.Sink, not {sink!r}")
        if num_shards is not None and (not isinstance(num_shards, int) or num_shards < 1):
            raise ValueError(f"num_shards must be a positive integer or None, got {num_shards!r}")
        self.sink = sink
        self.num_shards = num_shards
        self.source = source

    def expand(self, pcoll):
        if self.num_shards is None:
            results = pcoll | "WriteBundles" >> beam.ParDo(_WriteBundles(self.sink))
        else:
            results = (
                pcoll
                | "KeyBySlot" >> beam.ParDo(_KeyBySlot(self.num_shards))
                | "GroupBySlot" >> beam.GroupByKey()
                | "WriteSlots" >> beam.ParDo(_WriteSlot(self.sink))
            )
        return (
            results
            | "CollectResults" >> beam.combiners.ToList()
            | "Finalize" >> beam.ParDo(_FinalizeWrite(self.sink, self.source))
        )
