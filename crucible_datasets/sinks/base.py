"""Writing one split as Hub-style shards: temp files per task, then one finalize.

A run writes a split in three steps, possibly spread over processes and machines:

1. ``writer = sink.open_task(i)`` for each shard task ``i`` (the :class:`Sink` pickles to workers);
2. ``writer.write(batch)`` many times, then ``writer.close()`` -> :class:`TaskResult` (pickles back);
3. once, ``sink.finalize(results, counts=..., source=...)`` -> :class:`WriteSummary`.

Tasks write only temp files, under ``{path}/.crucible-tmp/{config}/{split}/{run_id}/``, named by
task index and roll-over index (``task-00003-00001.parquet``), so a retried task overwrites its
own files. Nothing is visible in the destination until ``finalize``: it unifies the schemas of
all tasks (rewriting a temp file whose schema differs, so every shard of the split has the same
schema), with ``num_shards=`` re-cuts the rows into that many shards of balanced row counts
(:func:`shard_counts`; the runners always pass it), replaces the split's previous shards,
renames the temp files to ``data/{split}-00000-of-00004.parquet`` (``{config}/...`` for a
named config), updates ``manifest.json`` and the dataset card ``README.md``, and removes the
temp folder. A run that fails before ``finalize`` (or calls :meth:`Sink.abort`) leaves only
temp files, which the next ``finalize`` or ``abort`` of the same split removes.

Format subclasses (:class:`~crucible_datasets.sinks.parquet.ParquetSink`,
:class:`~crucible_datasets.sinks.jsonl.JsonlSink`) supply only :meth:`Sink._open_file` (a small
:class:`FileWriter`) and, when their files carry a schema, :meth:`Sink._iter_file`.

>>> import tempfile
>>> from crucible_datasets.batch import Batch
>>> from crucible_datasets.sinks.parquet import ParquetSink
>>> out = tempfile.mkdtemp()
>>> sink = ParquetSink(out, max_rows_per_shard=2)
>>> writer = sink.open_task(0)
>>> writer.write(Batch.from_rows([{"a": 1}, {"a": 2}, {"a": 3}]))
>>> summary = sink.finalize([writer.close()], source="example")
>>> [f.rsplit("/", 1)[-1] for f in summary.files], summary.file_rows
(['train-00000-of-00002.parquet', 'train-00001-of-00002.parquet'], [2, 1])
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import card as cards
from crucible_datasets.sinks import manifest as manifests
from crucible_datasets.sinks.summary import WriteSummary
from crucible_datasets.storage import filesystem as fs

TEMP_DIR = ".crucible-tmp"
WRITE_BATCH_ROWS = 2048  # the readers' batch (formats.base.DEFAULT_BATCH_ROWS): shards may differ by one
DEFAULT_CONFIG = "default"
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")  # the Hub's rule for split names
CONFIG_NAME = re.compile(r"^[\w][\w.\-]*$")
DATA_EXTENSIONS = r"(parquet|arrow|jsonl|json|csv|tsv)(\.(gz|zst|bz2|xz|lz4))?"


# --- what a task hands back ---------------------------------------------------------------------


@dataclass(frozen=True)
class TempShard:
    """One closed temp file written by a task."""

    path: str
    task_index: int
    roll: int
    rows: int
    bytes: int  # size of the file
    num_bytes: int  # Arrow (in-memory) size of its rows, for the card's ``num_bytes``
    schema: pa.Schema


@dataclass(frozen=True)
class TaskResult:
    """What :meth:`TaskWriter.close` returns: picklable, handed to :meth:`Sink.finalize`."""

    run_id: str
    task_index: int
    shards: tuple[TempShard, ...]
    schema: pa.Schema | None  # every batch the task saw, empty ones included

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards)


# --- one open temp file of one format ------------------------------------------------------------


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


# --- the sink ------------------------------------------------------------------------------------


class Sink:
    """Writes one split of one config as Hub-style shards under ``path``.

    ``max_rows_per_shard`` / ``max_bytes_per_shard`` (Arrow in-memory size, approximate) make a
    task roll over to a new shard; ``schema`` declares the output schema (every batch is cast to
    it; a column not in it is an error). ``run_id`` names the temp folder; a new one per Sink.
    """

    format: ClassVar[str] = ""  # the ``datasets`` builder that reads the shards: "parquet", "json"
    rewrite_on_schema_change: ClassVar[bool] = True  # files carry their schema

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str = "train",
        config: str | None = None,
        max_rows_per_shard: int | None = None,
        max_bytes_per_shard: int | None = None,
        schema: pa.Schema | None = None,
        run_id: str | None = None,
    ) -> None:
        path = os.fspath(path)
        if not SPLIT_NAME.match(split):
            raise ValueError(f"split name {split!r} must match {SPLIT_NAME.pattern} (letters, digits, _, .)")
        if config is not None and not CONFIG_NAME.match(config):
            raise ValueError(f"config name {config!r} must match {CONFIG_NAME.pattern}")
        caps = {"max_rows_per_shard": max_rows_per_shard, "max_bytes_per_shard": max_bytes_per_shard}
        for name, value in caps.items():
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, not {value!r}")
        self.path = path.rstrip("/") if fs.is_remote(path) else path
        self.split = split
        self.config = config
        self.max_rows_per_shard = max_rows_per_shard
        self.max_bytes_per_shard = max_bytes_per_shard
        self.schema = schema.remove_metadata() if schema is not None else None
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"

    # -- format hooks --

    @property
    def extension(self) -> str:
        """File name ending of the shards, e.g. ``.parquet``, ``.jsonl.gz``."""
        raise NotImplementedError

    def _open_file(self, path: str, schema: pa.Schema) -> FileWriter:
        """A new temp file at ``path`` holding rows of ``schema``."""
        raise NotImplementedError

    def _file_schema(self, schema: pa.Schema) -> pa.Schema:
        """The schema a file of this format is opened with for rows of ``schema`` (a format that
        cannot store some type changes it here, e.g. to JSON text)."""
        return schema

    def _iter_file(self, path: str) -> Iterator[pa.Table]:
        """The rows of a closed temp file, a row group at a time (formats that rewrite only)."""
        raise NotImplementedError

    # -- names --

    @property
    def config_name(self) -> str:
        return self.config or DEFAULT_CONFIG

    @property
    def data_dir(self) -> str:
        """Folder of the shards inside ``path``: ``data`` for the default config, else the config."""
        return "data" if self.config_name == DEFAULT_CONFIG else self.config_name

    @property
    def split_temp_dir(self) -> str:
        return fs.join(self.path, TEMP_DIR, self.config_name, self.split)

    @property
    def run_dir(self) -> str:
        return fs.join(self.split_temp_dir, self.run_id)

    def temp_path(self, task_index: int, roll: int, version: int = 0) -> str:
        suffix = f".v{version}" if version else ""
        return fs.join(self.run_dir, f"task-{task_index:05d}-{roll:05d}{suffix}{self.extension}")

    def shard_name(self, index: int, count: int) -> str:
        """Shard path relative to ``path``: ``data/train-00000-of-00002.parquet``."""
        return f"{self.data_dir}/{self.split}-{index:05d}-of-{count:05d}{self.extension}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, split={self.split!r}, config={self.config!r})"

    # -- the run --

    def open_task(self, task_index: int) -> TaskWriter:
        """A writer for shard task ``task_index``; creates nothing until the first row."""
        if not isinstance(task_index, int) or task_index < 0:
            raise ValueError(f"task_index must be an int >= 0, not {task_index!r}")
        return TaskWriter(self, task_index)

    def abort(self) -> None:
        """Throw away this split's temp files (this run's and any earlier failed run's)."""
        self._remove_temp()

    def finalize(
        self,
        results: Sequence[TaskResult],
        *,
        counts: RunCounts | None = None,
        source: str = "",
        wall_seconds: float | None = None,
        num_shards: int | None = None,
        task_aligned: bool = False,
    ) -> WriteSummary:
        """Publish the tasks' temp files as the split's shards; update manifest and card.

        ``num_shards=None`` publishes each non-empty temp file as one shard. With ``num_shards``
        the rows (in task, then roll-over order) are re-cut into :func:`shard_counts` contiguous
        shards of balanced row counts: exactly ``num_shards`` when there are at least that many
        rows, one shard per row when fewer, more when ``max_rows_per_shard`` /
        ``max_bytes_per_shard`` need more. The cut depends only on the rows, never on how the
        tasks happened to split them, so every runner writes the same shards.

        ``task_aligned=True`` says the temp files are the same on every runner (one per shard
        task of :meth:`Pipeline.plan_tasks`): when there is one file per shard and their row
        counts differ by at most :func:`balance_tolerance` (one write batch, and a tenth of a
        shard), the files are published as they are, since re-cutting them would cost a pass
        over the output for a difference a reader cannot see.

        Cost: a temp file that is exactly one shard (its rows and place) is renamed; every other
        shard is written anew in this process, streaming its temp files a row group (JSON Lines:
        a line) at a time, so memory stays flat but those rows are read and written once more.
        """
        results = self._check_results(results)
        shards = sorted(
            (s for r in results for s in r.shards if s.rows > 0), key=lambda s: (s.task_index, s.roll)
        )
        target = self.schema
        if target is None:
            target = schemas.unify([s.schema for s in shards] + [r.schema for r in results])
            target = self._file_schema(target)
        warnings: list[str] = []

        missing = [s.path for s in shards if not fs.exists(s.path)]
        if missing:  # check before touching the destination: the old split stays as it was
            raise FileNotFoundError(
                f"temp files of this run are gone (another run of split {self.split!r} finalized or "
                f"aborted meanwhile?): {missing[:3]}"
            )
        if num_shards is None:
            cuts = [((s, 0, s.rows),) for s in shards]
        else:
            rows = sum(s.rows for s in shards)
            wanted = self.shards_for(rows, sum(s.num_bytes for s in shards), num_shards)
            per_file = [s.rows for s in shards]
            if task_aligned and len(shards) == wanted and _even(per_file, balance_tolerance(rows, wanted)):
                cuts = [((s, 0, s.rows),) for s in shards]
            else:
                cuts = cut_rows(shards, shard_counts(rows, wanted))
        staged: list[tuple[str, int, int, int]] = []  # temp path, rows, bytes, num_bytes
        for i, pieces in enumerate(cuts):
            shard, start, stop = pieces[0]
            whole = len(pieces) == 1 and start == 0 and stop == shard.rows
            if whole and not (
                self.rewrite_on_schema_change and not shard.schema.equals(target, check_metadata=True)
            ):
                staged.append((shard.path, shard.rows, shard.bytes, shard.num_bytes))
                continue
            dst = fs.join(self.run_dir, f"final-{i:05d}{self.extension}")
            size = self._write_pieces(pieces, dst, target)
            num_bytes = sum(s.num_bytes * (b - a) // max(s.rows, 1) for s, a, b in pieces)
            staged.append((dst, sum(b - a for _, a, b in pieces), size, num_bytes))
        if not staged and len(target) > 0:
            dst = fs.join(self.run_dir, f"empty{self.extension}")
            self._open_file(dst, target).close()
            staged.append((dst, 0, fs.size(dst), 0))

        names = [self.shard_name(i, len(staged)) for i in range(len(staged))]
        warnings += self._remove_previous_shards(keep={n.rsplit("/", 1)[-1] for n in names})
        files = []
        for (src, *_), name in zip(staged, names, strict=True):
            dst = fs.join(self.path, name)
            fs.rename(src, dst)
            files.append(dst)

        counts = counts if counts is not None else RunCounts(rows_written=sum(s[1] for s in staged))
        summary = WriteSummary(
            path=self.path,
            split=self.split,
            config=self.config,
            format=self.format,
            files=files,
            file_rows=[s[1] for s in staged],
            file_bytes=[s[2] for s in staged],
            schema=target,
            counts=counts,
            source=source,
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            wall_seconds=wall_seconds,
            run_id=self.run_id,
            warnings=warnings,
        )
        if counts.rows_written != summary.rows:
            warnings.append(f"counts.rows_written is {counts.rows_written}; {summary.rows} rows were written")
        self._publish_metadata(summary, names, num_bytes=sum(s[3] for s in staged))
        self._remove_temp()
        return summary

    # -- finalize helpers --

    def _check_results(self, results: Sequence[TaskResult]) -> list[TaskResult]:
        by_task: dict[int, TaskResult] = {}
        for result in results:
            if not isinstance(result, TaskResult):
                raise TypeError(f"finalize() takes the TaskResults of TaskWriter.close(), not {result!r}")
            if result.run_id != self.run_id:
                raise ValueError(
                    f"task {result.task_index} was written by run {result.run_id}, not by this sink's run "
                    f"{self.run_id}: open every task from the sink that finalizes"
                )
            by_task[result.task_index] = result  # a retried task: its last result wins
        return [by_task[i] for i in sorted(by_task)]

    def shards_for(self, rows: int, num_bytes: int, num_shards: int) -> int:
        """How many shards ``rows`` rows (``num_bytes`` Arrow bytes) are cut into for ``num_shards``:
        ``num_shards``, at most one per row, at least what the caps need (0 without rows)."""
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        if rows == 0:
            return 0
        wanted = min(num_shards, rows)
        if self.max_rows_per_shard is not None:
            wanted = max(wanted, -(-rows // self.max_rows_per_shard))
        if self.max_bytes_per_shard is not None:
            wanted = max(wanted, min(rows, -(-num_bytes // self.max_bytes_per_shard)))
        return wanted

    def _write_pieces(self, pieces: Sequence[Piece], dst: str, schema: pa.Schema) -> int:
        """Write rows ``[start, stop)`` of each temp file of ``pieces`` into a new file ``dst``."""
        writer = self._open_file(dst, schema)
        try:
            for shard, start, stop in pieces:
                self._copy_range(shard.path, start, stop, writer)
        except BaseException:
            writer.abort()
            fs.delete(dst)
            raise
        writer.close()
        return fs.size(dst)

    def _copy_range(self, src: str, start: int, stop: int, writer: FileWriter) -> None:
        """Stream rows ``[start, stop)`` of the closed temp file ``src`` into ``writer`` (a format
        without :meth:`_iter_file` overrides this)."""
        position = 0
        for table in self._iter_file(src):
            end = position + table.num_rows
            if end > start:
                a, b = max(start, position) - position, min(stop, end) - position
                piece = table if (a, b) == (0, table.num_rows) else table.slice(a, b - a)
                writer.write(Batch.from_arrow(piece))
            position = end
            if position >= stop:
                break

    def _copy_into(self, src: str, writer: FileWriter) -> None:
        """Stream the rows of the closed temp file ``src`` into ``writer`` (cast to its schema)."""
        for table in self._iter_file(src):
            writer.write(Batch.from_arrow(table))

    def _remove_previous_shards(self, keep: set[str]) -> list[str]:
        """Delete the split's shards from an earlier run; warn about other files the glob matches."""
        folder = fs.join(self.path, self.data_dir)
        if not fs.is_remote(folder) and not os.path.isdir(folder):
            return []
        shard = rf"-\d{{5,}}-of-\d{{5,}}(-[0-9a-f]{{8,}})?\.{DATA_EXTENSIONS}$"  # ours, or push_to_hub's
        ours = re.compile(f"^{re.escape(self.split)}{shard}")
        prefix = folder.rstrip("/") + "/"
        warnings = []
        for path in fs.list_files(folder):
            relative = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, folder)
            if "/" in relative or os.sep in relative or not relative.startswith(f"{self.split}-"):
                continue
            if ours.match(relative):
                if relative not in keep:
                    fs.delete(path)
            else:
                warnings.append(
                    f"{path} also matches the card's data_files pattern {self.data_dir}/{self.split}-* "
                    "and will be read as part of the split by datasets"
                )
        return warnings

    def _publish_metadata(self, summary: WriteSummary, names: list[str], num_bytes: int) -> None:
        manifest_path = fs.join(self.path, manifests.MANIFEST_NAME)
        readme_path = fs.join(self.path, cards.README_NAME)
        manifest = manifests.read(manifest_path)
        entry = manifests.split_entry(summary, names, data_dir=self.data_dir, num_bytes=num_bytes)
        manifest = manifests.merge(manifest, self.config_name, self.split, entry)
        existing_card = _read_text(readme_path)
        card_text, card_warnings = cards.render(manifest, existing_card, title=_title(self.path))
        summary.warnings.extend(card_warnings)
        staged_manifest = fs.join(self.run_dir, manifests.MANIFEST_NAME)
        staged_readme = fs.join(self.run_dir, cards.README_NAME)
        with fs.open_output(staged_manifest) as f:
            f.write(manifests.dumps(manifest))
        with fs.open_output(staged_readme) as f:
            f.write(card_text.encode("utf-8"))
        fs.rename(staged_manifest, manifest_path)
        fs.rename(staged_readme, readme_path)

    def _remove_temp(self) -> None:
        fs.delete(self.split_temp_dir)
        if not fs.is_remote(self.path):  # remove the folders left empty (others may be in use)
            for folder in (fs.join(self.path, TEMP_DIR, self.config_name), fs.join(self.path, TEMP_DIR)):
                try:
                    os.rmdir(folder)
                except OSError:
                    break


def _read_text(path: str) -> str | None:
    if not fs.exists(path):
        return None
    with fs.open_input(path) as f:
        return f.read().decode("utf-8", errors="replace")


def _title(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return os.path.basename(os.path.abspath(path)) if not fs.is_remote(path) else name


def shard_counts(rows: int, num_shards: int) -> list[int]:
    """``rows`` cut into ``num_shards`` balanced counts (the larger ones first).

    >>> shard_counts(499, 4)
    [125, 125, 125, 124]
    """
    q, r = divmod(rows, num_shards) if num_shards else (0, 0)
    return [q + (1 if i < r else 0) for i in range(num_shards)]


def balance_tolerance(rows: int, num_shards: int) -> int:
    """How many rows the shards of a task-aligned write may differ by: one write batch
    (:data:`WRITE_BATCH_ROWS`), and at most a tenth of a shard.

    >>> balance_tolerance(480_000, 10), balance_tolerance(499, 4)
    (2048, 12)
    """
    return min(WRITE_BATCH_ROWS, rows // (10 * max(1, num_shards)))


def _even(counts: Sequence[int], tolerance: int) -> bool:
    return bool(counts) and max(counts) - min(counts) <= tolerance


Piece = tuple[TempShard, int, int]  # rows [start, stop) of one temp file


def cut_rows(shards: Sequence[TempShard], counts: Sequence[int]) -> list[tuple[Piece, ...]]:
    """The rows of ``shards`` (in order) cut into contiguous runs of ``counts`` rows: for each run,
    its ``(temp shard, start row, stop row)`` pieces."""
    cuts, i, offset = [], 0, 0
    for count in counts:
        pieces = []
        while count > 0:
            shard = shards[i]
            take = min(count, shard.rows - offset)
            pieces.append((shard, offset, offset + take))
            offset += take
            count -= take
            if offset == shard.rows:
                i, offset = i + 1, 0
        cuts.append(tuple(pieces))
    return cuts


# --- the task writer -----------------------------------------------------------------------------


class TaskWriter:
    """Writes one task's rows to temp files; rolls over at the sink's caps.

    A batch whose schema does not fit the open file is unified with it (``schema.unify``); when
    the file's schema must change and the format stores one (Parquet), what was written so far
    is rewritten, a row group at a time, into a new temp file of the wider schema.

    Use as a context manager to abort on an exception (``.result`` holds the TaskResult).
    """

    def __init__(self, sink: Sink, task_index: int) -> None:
        self.sink = sink
        self.task_index = task_index
        self.result: TaskResult | None = None
        self._shards: list[TempShard] = []
        self._seen: pa.Schema | None = None  # every batch's schema, unified
        self._file: FileWriter | None = None
        self._file_rows = 0
        self._file_num_bytes = 0
        self._roll = 0
        self._version = 0
        self._done = False

    def __getstate__(self) -> dict:
        if self._file is not None:
            raise TypeError("a TaskWriter with an open file cannot be pickled: pickle it before writing")
        return self.__dict__.copy()

    def __enter__(self) -> TaskWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self._done:
            self.close()

    def write(self, batch: Batch) -> None:
        if self._done:
            raise ValueError(f"task {self.task_index}: write() after close() or abort()")
        rows_given = not batch.has_arrow
        arrow = batch.arrow
        if arrow.num_rows != len(batch):  # rows without any key: Arrow cannot count them
            batch, arrow, rows_given = self._rows_without_columns(batch)
        batch_schema = arrow.schema.remove_metadata()
        self._check_declared(batch_schema)
        if self._seen is None:
            self._seen = batch_schema
        elif not self._seen.equals(batch_schema, check_metadata=True):
            self._seen = schemas.unify([self._seen, batch_schema])
        total = len(batch)
        cap = self.sink.max_rows_per_shard
        start = 0
        while start < total:
            if self._file is None:
                self._open_next()
            stop = total if cap is None else min(total, start + cap - self._file_rows)
            if start == 0 and stop == total:
                part = batch
            else:
                rows = batch.rows[start:stop] if rows_given else None
                part = Batch(arrow=arrow.slice(start, stop - start), rows=rows)
            self._fit(batch_schema)
            self._file.write(part)
            self._file_rows += stop - start
            self._file_num_bytes += arrow.nbytes * (stop - start) // max(arrow.num_rows, 1)
            start = stop
            full_rows = cap is not None and self._file_rows >= cap
            max_bytes = self.sink.max_bytes_per_shard
            if full_rows or (max_bytes is not None and self._file_num_bytes >= max_bytes):
                self._finish_file()

    def close(self) -> TaskResult:
        """Close the open temp file; the task's :class:`TaskResult` (also kept as ``.result``)."""
        if self.result is not None:
            return self.result
        if self._done:
            raise ValueError(f"task {self.task_index} was aborted")
        try:
            self._finish_file()
        except BaseException:
            self.abort()
            raise
        self._done = True
        self.result = TaskResult(self.sink.run_id, self.task_index, tuple(self._shards), self._seen)
        return self.result

    def abort(self) -> None:
        """Stop and delete this task's temp files (also after ``close``: its result is void)."""
        self._done = True
        self.result = None
        if self._file is not None:
            path = self._file.path
            self._file.abort()
            self._file = None
            fs.delete(path)
        for shard in self._shards:
            fs.delete(shard.path)
        self._shards = []

    # -- internals --

    def _check_declared(self, batch_schema: pa.Schema) -> None:
        declared = self.sink.schema
        if declared is None:
            return
        extra = [name for name in batch_schema.names if declared.get_field_index(name) < 0]
        if extra:
            raise ValueError(
                f"task {self.task_index}: columns {extra} are not in the sink's declared schema "
                f"(columns {declared.names})"
            )

    def _rows_without_columns(self, batch: Batch) -> tuple[Batch, pa.RecordBatch, bool]:
        """Rows like ``{}``: all-null rows of the columns seen so far (Parquet cannot hold rows
        without columns); kept as they are by formats without a schema (JSON Lines)."""
        if not self.sink.rewrite_on_schema_change:
            return batch, batch.arrow, True
        target = self.sink.schema or self._seen
        if target is None or len(target) == 0:
            raise ValueError(
                f"task {self.task_index}: {len(batch)} rows have no columns at all, and a Parquet file "
                "cannot hold rows without columns (did a map function return empty dicts?)"
            )
        arrow = pa.RecordBatch.from_pylist([{}] * len(batch), schema=target)
        return Batch.from_arrow(arrow), arrow, False

    def _open_next(self) -> None:
        self._version = 0
        target = self.sink.schema or self.sink._file_schema(self._seen)
        path = self.sink.temp_path(self.task_index, self._roll)
        self._file = self.sink._open_file(path, target)
        self._file_rows = 0
        self._file_num_bytes = 0

    def _fit(self, batch_schema: pa.Schema) -> None:
        """Make the open file's schema able to hold ``batch_schema``."""
        current = self._file.schema
        if self.sink.schema is not None or current.equals(batch_schema, check_metadata=True):
            return
        wider = self.sink._file_schema(schemas.unify([current, batch_schema]))
        if wider.equals(current, check_metadata=True):
            return
        if not self.sink.rewrite_on_schema_change:
            self._file.schema = wider
            return
        old = self._file
        self._file = None
        old.close()
        self._version += 1
        path = self.sink.temp_path(self.task_index, self._roll, self._version)
        wide = self.sink._open_file(path, wider)
        try:
            self.sink._copy_into(old.path, wide)
        except BaseException:
            wide.abort()
            fs.delete(path)
            fs.delete(old.path)
            raise
        fs.delete(old.path)
        self._file = wide  # stays open: the rest of the task appends to it

    def _finish_file(self) -> None:
        if self._file is None:
            return
        writer = self._file
        self._file = None
        writer.close()
        if self._file_rows == 0:
            fs.delete(writer.path)
            return
        self._shards.append(
            TempShard(
                path=writer.path,
                task_index=self.task_index,
                roll=self._roll,
                rows=self._file_rows,
                bytes=fs.size(writer.path),
                num_bytes=self._file_num_bytes,
                schema=writer.schema,
            )
        )
        self._roll += 1
