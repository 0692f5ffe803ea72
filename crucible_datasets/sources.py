"""Where a pipeline's rows come from: the files of a split, an in-memory Arrow table, a generator.

All implement :class:`Source`: they cut their input into :class:`FilePart` units and read a
part into batches, and declare what a runner needs to know about them, so every runner treats
them alike.

>>> import pyarrow as pa
>>> src = TableSource(pa.table({"x": list(range(5))}), batch_rows=2)
>>> [len(b) for part in src.parts() for b in src.read(part, None)]
[2, 2, 1]
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from crucible_datasets.bad_records import ErrorPolicy, check_on_error
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.formats import format_for_path, get_format
from crucible_datasets.formats.base import DEFAULT_BATCH_ROWS, FilePart, Format, ReadOptions, ReadReport
from crucible_datasets.storage import filesystem

DEFAULT_PART_BYTES = 64 * 1024 * 1024
SIZE_THREADS = 8  # remote files whose size is asked at once
TABLE_PATH = "<in-memory table>"


class Source(Protocol):
    """Where a pipeline's rows come from, as the runners see it.

    ``files``: the input files (empty for an in-memory table: a remote runner cannot reach it);
    ``batch_rows``: the rows of a batch as read, which a runner regrouping rows keeps;
    ``description``: what the manifest names as the source (through :func:`public_text`);
    ``on_error``/``errors_path``: the bad-record policy; ``shuffle_seed``: the seed the parts are
    shuffled with (or None).
    """

    files: tuple[str, ...]
    description: str
    on_error: str
    errors_path: str | None
    shuffle_seed: int | None

    @property
    def batch_rows(self) -> int: ...

    def total_bytes(self) -> int:
        """The input's size in bytes (for planning and progress)."""
        ...

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        """The input cut into parts of about ``part_bytes``, in reading order."""
        ...

    def read(self, part: FilePart, errors: ErrorPolicy | None) -> Iterator[Batch]:
        """The batches of one part."""
        ...

    # Optional: ``read_counted(part, tally) -> Iterator[Batch]``, for a source that reads other
    # pipelines (``combine.py``): it counts in ``tally`` (a ``pipeline.Tally``) the files, bytes
    # and rows those read and their stages (``Tally.nested``). :func:`read_part` uses it.
    # Optional: ``with_read_hints(declarative, used_columns, predicate) -> Source``: the source
    # reading with what its stages need (``ReadOptions``; ``Pipeline.run_parts`` asks for it).
    # Optional: ``open_ahead(part) -> None``: start opening the part read next while the one
    # before is read (remote files; ``Pipeline.run_parts`` calls it).


@dataclass(frozen=True)
class FileSource:
    """The files of one split and how to read them."""

    files: tuple[str, ...]
    format: str | None = None
    options: ReadOptions = field(default_factory=ReadOptions)
    on_error: str = "raise"
    errors_path: str | None = None
    shuffle_seed: int | None = None
    description: str = ""
    # True: a column of ``options.columns`` that a file lacks comes back as nulls. False (what
    # ``load(columns=)`` uses): it is left out, so the ``SelectColumns`` stage after the read can
    # tell a missing column from an all-null one; then only formats that store their schema
    # (Parquet), and have every column, are asked for them: the others give every column.
    fill_missing: bool = True
    # The dataset the files belong to (a folder, a file, an hf:// repo at its commit, a gs://
    # folder): where its card is, and what the manifest names input files relative to.
    root: str = ""

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if self.format is not None:
            get_format(self.format)
        for path in self.files:
            self.format_for(path)

    def format_for(self, path: str) -> Format:
        return get_format(self.format) if self.format else format_for_path(path)

    def with_read_hints(
        self, declarative: bool, used_columns: frozenset[str] | None, predicate: pc.Expression | None
    ) -> FileSource:
        """This source, its formats told what the stages need (``ReadOptions.declarative``...)."""
        hints = {"declarative": declarative, "used_columns": used_columns, "predicate": predicate}
        return replace(self, options=replace(self.options, **hints))

    def open_ahead(self, part: FilePart) -> None:
        """Start opening ``part``'s file, the bytes it will read requested ahead (remote files
        whose format reads a part front to back; :func:`~.storage.filesystem.open_ahead`)."""
        read_range = self.format_for(part.path).read_range(part, self.options)
        if read_range is not None:
            filesystem.open_ahead(part.path, read_range)

    @property
    def batch_rows(self) -> int:
        return self.options.batch_rows

    def sizes(self) -> list[int]:
        """Each file's size; remote files are asked side by side (a round trip each)."""
        if len(self.files) > 1 and any(filesystem.is_remote(p) for p in self.files):
            with ThreadPoolExecutor(SIZE_THREADS) as pool:
                return list(pool.map(filesystem.size, self.files))
        return [filesystem.size(p) for p in self.files]

    def total_bytes(self) -> int:
        return sum(self.sizes())

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        """Every file cut into parts of about ``part_bytes`` (shuffled when a seed is set)."""
        parts = [
            part
            for path, size in zip(self.files, self.sizes(), strict=True)
            for part in self.format_for(path).file_parts(path, size, max(1, part_bytes), self.options)
        ]
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(parts)
        return parts

    def read(self, part: FilePart, errors: ErrorPolicy) -> Iterator[Batch]:
        fmt = self.format_for(part.path)
        options = self.options
        if not self.fill_missing and options.columns is not None and options.schema is None:
            stored = fmt.stored_schema(part.path)
            if stored is None or any(stored.get_field_index(c) < 0 for c in options.columns):
                # every column of the file, whole rows: the stage then tells a missing column from
                # an all-null one, and names every column the file has
                options = replace(options, columns=None, declarative=False, used_columns=None)
        return fmt.read(part, options, errors)


@dataclass(frozen=True, eq=False)
class TableSource:
    """An in-memory Arrow table (an eager :class:`Dataset`); parts are row ranges."""

    table: pa.Table
    batch_rows: int = DEFAULT_BATCH_ROWS
    description: str = TABLE_PATH
    on_error: str = "raise"
    errors_path: str | None = None
    shuffle_seed: int | None = None
    files: tuple[str, ...] = ()

    def total_bytes(self) -> int:
        return self.table.nbytes

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        n = self.table.num_rows
        if n == 0:
            return [FilePart(TABLE_PATH, 0, 0)]
        rows_per_part = max(1, int(n * part_bytes / max(1, self.table.nbytes)))
        parts = [FilePart(TABLE_PATH, s, min(n, s + rows_per_part)) for s in range(0, n, rows_per_part)]
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(parts)
        return parts

    def read(self, part: FilePart, errors: ErrorPolicy | None) -> Iterator[Batch]:
        end = self.table.num_rows if part.end is None else part.end
        if self.table.num_rows == 0 and self.table.num_columns:  # no rows: its columns still go through
            yield Batch.from_arrow(self.table)
        for start in range(part.start, end, self.batch_rows):
            piece = self.table.slice(start, min(self.batch_rows, end - start))
            yield Batch.from_arrow(piece)


_LOCAL_ABSOLUTE = re.compile(r"(?<![\w:/.~-])/[^\s()\[\],;'\"]+")


def public_text(text: str) -> str:
    """``text`` (a source's description, a spec value) as a manifest or a card may show it: each
    local absolute path cut to its last part; URLs (``hf://``, ``gs://``) and Hub ids as they are.
    An output may be published where a local path means nothing, or tells too much.

    >>> public_text("/home/me/data/gsm8k/ (config main, split test)")
    'gsm8k (config main, split test)'
    >>> public_text("concatenate_datasets(/tmp/a.jsonl, gs://b/x.jsonl, openai/gsm8k)")
    'concatenate_datasets(a.jsonl, gs://b/x.jsonl, openai/gsm8k)'
    """
    return _LOCAL_ABSOLUTE.sub(lambda found: os.path.basename(found.group(0).rstrip("/")) or "/", text)


def opening_next(batches: Iterator[Batch], source: Source, parts: Sequence[FilePart], i: int) -> Generator:
    """``batches`` (part ``i`` of ``parts``), and its return value; once the reader asks for
    more than the first batch, part ``i + 1`` starts opening meanwhile, for a source that can
    (``open_ahead``: remote files). A ``take(5)`` or a peek opens nothing ahead. A read that
    uses it ends with :func:`~.storage.filesystem.close_opened_ahead`."""
    try:
        first = next(batches)
    except StopIteration as end:
        return end.value
    try:
        yield first
        open_ahead = getattr(source, "open_ahead", None)
        if open_ahead is not None and i + 1 < len(parts):
            open_ahead(parts[i + 1])
        return (yield from batches)
    finally:  # stopped after the first batch: the part's reader ends (and counts) now
        close = getattr(batches, "close", None)
        if close is not None:
            close()


def read_part(source: Source, part: FilePart, tally) -> Generator[Batch, None, int]:
    """The batches of one part of ``source``, counting in ``tally`` (a ``pipeline.Tally``) the
    file, bytes and rows read and advancing its progress; a source with ``read_counted`` counts
    its own reads.

    Returns the rows the reader skipped with a pushed-down predicate (its :class:`ReadReport`);
    they count as read, and the caller counts them as dropped by the stage they came from.
    """
    read_counted = getattr(source, "read_counted", None)
    if read_counted is not None:
        yield from _advancing(read_counted(part, tally), tally, count=False)
        return 0
    tally.files.add(part.path)
    report = None
    try:
        report = yield from _advancing(source.read(part, tally.errors), tally, count=True)
    finally:  # also when the reading stops early (take): the part was opened, count its bytes
        tally.bytes_read += report.bytes_read if isinstance(report, ReadReport) else part.nbytes or 0
    if not isinstance(report, ReadReport):
        return 0
    tally.rows_read += report.rows_skipped
    return report.rows_skipped


def _advancing(batches: Iterator[Batch], tally, count: bool) -> Generator[Batch, None, object]:
    """``batches``, counted as read (``count``) and advancing the progress; returns their return value."""
    progress = tally.progress
    while True:
        try:
            batch = next(batches)
        except StopIteration as end:
            return end.value
        if count:
            tally.rows_read += len(batch)
        if progress is not None:
            progress.advance(rows=len(batch))
        yield batch


@dataclass
class Reading:
    """The files one run has opened, and the one being read: what a column error names."""

    source: Source
    files: dict[str, None] = field(default_factory=dict)
    current: str | None = None

    def start(self, path: str) -> None:
        self.current = path
        self.files[path] = None

    def where(self, whole_stream: bool) -> str:
        """The file being read, or (``whole_stream``) every file read so far."""
        if not self.source.files:  # an in-memory table: what it was loaded from
            return self.source.description
        if not whole_stream:
            return self.current or self.source.description
        files = list(self.files) or list(self.source.files)
        if len(files) <= 3:
            return ", ".join(files)
        return f"{', '.join(files[:3])} and {len(files) - 3} more files"


def naming_files(stream: Iterator[Batch], reading: Reading) -> Iterator[Batch]:
    """``stream``, with the file(s) being read added to a :class:`ColumnNotFoundError`."""
    try:
        yield from stream
    except ColumnNotFoundError as exc:
        if exc.source is None:
            exc.with_source(reading.where(exc.at_end))
        raise


GENERATOR_PATH = "<generator>"


@dataclass(frozen=True, eq=False)
class GeneratorSource:
    """Rows from a Python generator function, read lazily (``from_generator``).

    As in ``datasets``, list values of ``gen_kwargs`` are shards: one part per item (every such
    list must have the same length), each part calling ``generator`` with a one-item list of
    it (so the generator iterates its lists, as ``datasets`` expects); other values pass to
    every call. ``schema`` casts the rows (``features=``). The generator must be
    picklable to run on Beam's workers.

    >>> def gen(names):
    ...     for n in names:
    ...         yield {"name": n}
    >>> src = GeneratorSource(gen, {"names": ["a", "b", "c"]})
    >>> src.n_shards, [r for part in src.parts() for b in src.read(part, None) for r in b.rows]
    (3, [{'name': 'a'}, {'name': 'b'}, {'name': 'c'}])
    """

    generator: Callable[..., Iterable[dict]]
    gen_kwargs: dict = field(default_factory=dict)
    schema: pa.Schema | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS
    description: str = GENERATOR_PATH
    on_error: str = "raise"
    errors_path: str | None = None
    shuffle_seed: int | None = None
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not callable(self.generator):
            raise TypeError(f"from_generator needs a generator function, got {type(self.generator).__name__}")
        _ = self.n_shards  # raises when the shard lists differ in length

    @property
    def n_shards(self) -> int:
        """How many shards the list values of ``gen_kwargs`` make (1 without lists)."""
        lengths = {k: len(v) for k, v in self.gen_kwargs.items() if isinstance(v, list)}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                "Sharding is ambiguous for this dataset: the lists in gen_kwargs must have the same "
                f"length, got {lengths}"
            )
        return next(iter(lengths.values()), 1)

    def shard_kwargs(self, index: int) -> dict:
        """The keyword arguments of shard ``index``: each list cut to its item ``index``."""
        return {k: (v[index : index + 1] if isinstance(v, list) else v) for k, v in self.gen_kwargs.items()}

    def total_bytes(self) -> int:
        return 0

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        parts = [FilePart(GENERATOR_PATH, i, i + 1) for i in range(self.n_shards)]
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(parts)
        return parts

    def read(self, part: FilePart, errors: ErrorPolicy | None) -> Iterator[Batch]:
        rows: list[dict] = []
        for row in self.generator(**self.shard_kwargs(part.start)):
            rows.append(row)
            if len(rows) >= self.batch_rows:
                yield self._batch(rows)
                rows = []
        if rows:
            yield self._batch(rows)

    def _batch(self, rows: list[dict]) -> Batch:
        if self.schema is None:
            return Batch.from_rows(rows)
        return Batch.from_arrow(Batch.from_rows(rows, schema=self.schema).arrow)  # rows typed by the schema
