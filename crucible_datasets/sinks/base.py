"""Writing one split as Hub-style shards, in phases (Beam's ``FileBasedSink`` model).

A run writes a split in phases, possibly spread over processes and machines:

1. open (``initialize_write``): ``sink = ParquetSink(path, ...)`` names the run; nothing is
   written. The :class:`Sink` pickles to workers.
2. write (``open_writer``, :mod:`~crucible_datasets.sinks.task`): ``writer = sink.open_task(i)``
   for each shard task ``i``, ``writer.write(batch)`` many times, ``writer.close()`` ->
   :class:`~crucible_datasets.sinks.task.TaskResult` (pickles back). Tasks write only temp files
   in the sink's :class:`~crucible_datasets.sinks.files.FileFormat`, under
   ``{path}/.crucible-tmp/{config}/{split}/{run_id}/``.
3. stage (the first half of ``finalize_write``), once, in :meth:`Sink.finalize`: unify the
   schemas of all tasks, cut the rows into the split's shards (:mod:`~crucible_datasets.sinks.shards`;
   a temp file that is exactly one shard is kept, any other shard is written anew beside the
   temp files), render the new ``manifest.json`` and card ``README.md`` from the published ones,
   and record all of that in the temp folder (``staged.json``).
4. publish (the second half): the sink's :class:`~crucible_datasets.sinks.publish.Publisher`
   makes the staged shards, manifest and card the split's published state: a new generation
   (``data/{split}-00000-of-00004-g000002-3fa9c2d1.parquet``, ``{config}/...`` for a named config)
   switched to by one write of the card, the split's previous shards gone afterwards (see
   docs/PUBLISHING.md); then the temp folder is removed.

Nothing is visible in the destination before phase 4. A run that fails before it (or calls
:meth:`Sink.abort`) leaves only temp files, which the next ``finalize`` or ``abort`` of the same
split removes. A ``finalize`` that failed in phase 4 can be called again, with the same results:
it publishes what phase 3 recorded, and the publisher skips what is already in place.

>>> import re, tempfile
>>> from crucible_datasets.batch import Batch
>>> from crucible_datasets.sinks.parquet import ParquetSink
>>> out = tempfile.mkdtemp()
>>> sink = ParquetSink(out, max_rows_per_shard=2)
>>> writer = sink.open_task(0)
>>> writer.write(Batch.from_rows([{"a": 1}, {"a": 2}, {"a": 3}]))
>>> summary = sink.finalize([writer.close()], source="example")
>>> [re.sub("-g000001-[0-9a-f]{8}", "-g000001-<hex>", f.rsplit("/", 1)[-1]) for f in summary.files]
['train-00000-of-00002-g000001-<hex>.parquet', 'train-00001-of-00002-g000001-<hex>.parquet']
>>> summary.file_rows
[2, 1]
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa

from crucible_datasets import naming
from crucible_datasets import schema as schemas
from crucible_datasets.counts import RunCounts
from crucible_datasets.errors import OutputEscapeError
from crucible_datasets.formats import EXTENSION_PATTERN
from crucible_datasets.naming import CONFIG_NAME, DEFAULT_CONFIG, SPLIT_NAME
from crucible_datasets.sinks import card as cards
from crucible_datasets.sinks import manifest as manifests
from crucible_datasets.sinks import shards as cutting
from crucible_datasets.sinks.files import FileFormat
from crucible_datasets.sinks.incremental import IncrementalPlan
from crucible_datasets.sinks.lease import Lease
from crucible_datasets.sinks.publish import Publisher, StagedShard, digest, publisher_for, write_atomically
from crucible_datasets.sinks.summary import WriteSummary
from crucible_datasets.sinks.task import TaskResult, TaskWriter, TempShard
from crucible_datasets.storage import filesystem as fs

if TYPE_CHECKING:
    from crucible_datasets.bad_records import BadBudget
    from crucible_datasets.sinks.provenance import Provenance

TEMP_DIR = ".crucible-tmp"
ERRORS_DIR = "_errors"
REJECTED_DIR = ".crucible-rejected"  # dead letters of runs over their bad-record budget
GENERATION_SUFFIX = r"-g\d{6,}-[0-9a-f]{8}"  # after a shard's count: the publish that wrote it


STAGED_NAME = "staged.json"  # the record of phase 3, in the run's temp folder
RUN_NAME = "run.json"  # a resumable run's key and generation, written before its first task
DONE_DIR = "done"  # a resumable run's done markers, one per finished task (docs/INCREMENTAL.md)


class Sink:
    """Writes one split of one config as Hub-style shards under ``path``, in ``files``' format.

    ``max_rows_per_shard`` / ``max_bytes_per_shard`` (Arrow in-memory size, approximate) make a
    task roll over to a new shard; ``schema`` declares the output schema (every batch is cast to
    it; a column not in it is an error). ``run_id`` names the temp folder; a new one per Sink.
    ``bad_budget`` (a :class:`~crucible_datasets.bad_records.BadBudget`) is checked by the
    runners before finalize; ``provenance`` (a :class:`~crucible_datasets.sinks.provenance.Provenance`)
    is recorded in the manifest and the card.

    A resumable run (:meth:`begin`) names its temp folder by its key instead, so that a rerun of
    a killed run finds the tasks it finished; ``incremental`` (an
    :class:`~crucible_datasets.sinks.incremental.IncrementalPlan`) makes the finalize publish one
    shard per temp file beside the published shards it keeps (docs/INCREMENTAL.md).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        files: FileFormat,
        split: str = "train",
        config: str | None = None,
        max_rows_per_shard: int | None = None,
        max_bytes_per_shard: int | None = None,
        schema: pa.Schema | None = None,
        run_id: str | None = None,
        bad_budget: BadBudget | None = None,
        provenance: Provenance | None = None,
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
        self.files = files
        self.split = split
        self.config = config
        self.max_rows_per_shard = max_rows_per_shard
        self.max_bytes_per_shard = max_bytes_per_shard
        self.schema = schema.remove_metadata() if schema is not None else None
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        self.bad_budget = bad_budget
        self.provenance = provenance
        self.run_key: str | None = None  # set by begin(): the temp folder of a resumable run
        self.generation: str | None = None  # set by begin(): the generation this run publishes
        self.incremental: IncrementalPlan | None = None

    # -- names --

    @property
    def format(self) -> str:
        """The ``datasets`` builder that reads the shards: ``parquet``, ``json``."""
        return self.files.name

    @property
    def extension(self) -> str:
        """File name ending of the shards, e.g. ``.parquet``, ``.jsonl.gz``."""
        return self.files.extension

    @property
    def config_name(self) -> str:
        return self.config or DEFAULT_CONFIG

    @property
    def data_dir(self) -> str:
        """Folder of the shards inside ``path``: ``data`` for the default config, else the config."""
        return naming.data_dir(self.config)

    @property
    def split_temp_dir(self) -> str:
        return fs.join(self.path, TEMP_DIR, self.config_name, self.split)

    @property
    def run_dir(self) -> str:
        return fs.join(self.split_temp_dir, self.run_key or self.run_id)

    def temp_path(self, task_index: int, roll: int, version: int = 0) -> str:
        suffix = f".v{version}" if version else ""
        return fs.join(self.run_dir, f"task-{task_index:05d}-{roll:05d}{suffix}{self.extension}")

    def shard_name(self, index: int, count: int, generation: str | None = None) -> str:
        """Shard path relative to ``path``: ``data/train-00000-of-00002-g000001-3fa9c2d1.parquet``
        (without ``generation``: ``data/train-00000-of-00002.parquet``)."""
        name = naming.shard_name(self.config, self.split, index, count, "")
        return f"{name}-{generation}{self.extension}" if generation else f"{name}{self.extension}"

    def data_files(self, generation: str) -> str:
        """The card's data_files pattern of one generation: ``data/train-*-g000001-3fa9c2d1.parquet``."""
        return f"{self.data_dir}/{self.split}-*-{generation}{self.extension}"

    @property
    def errors_dir(self) -> str:
        """Where the split's dead letters are published, relative to ``path``:
        ``_errors/[{config}/]{split}`` (replaced by each run that publishes the split)."""
        return "/".join([ERRORS_DIR, *([self.config] if self.config else []), self.split])

    @property
    def temp_errors_dir(self) -> str:
        """Where this run's dead letters are written until the publish moves them to :attr:`errors_dir`
        (hidden, so no reader's split inference sees a killed run's dead letters)."""
        return fs.join(self.run_dir, "errors")

    @property
    def rejected_errors_dir(self) -> str:
        """Where the dead letters of a run that failed its bad-record budget are kept:
        ``{path}/.crucible-rejected/[{config}/]{split}/{run_id}`` (hidden from readers, and not
        removed by later runs of the split)."""
        where = [REJECTED_DIR, *([self.config] if self.config else []), self.split, self.run_id]
        return fs.join(self.path, *where)

    def lease(self) -> Lease:
        """The output folder's lease for this run (see :mod:`~crucible_datasets.sinks.lease`)."""
        return Lease(self.path, self.run_id)

    @property
    def publisher(self) -> Publisher:
        """Where phase 4 publishes: the folder ``path`` (local or ``gs://``). The split's shards
        are ours (any generation, or none: an older layout), or ``push_to_hub``'s (a hash after
        the count)."""
        shard = re.compile(
            rf"\d{{5,}}-of-\d{{5,}}(-[0-9a-f]{{8,}}|{GENERATION_SUFFIX})?\.{EXTENSION_PATTERN}$"
        )
        prefix = f"{self.data_dir}/{self.split}-"
        return publisher_for(self.path, work_dir=self.run_dir, prefix=prefix, shard=shard)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, split={self.split!r}, config={self.config!r})"

    # -- resumable runs: a temp folder named by what the output depends on, done markers --

    def settings(self) -> dict:
        """What of this sink the written files depend on (for a run's key), as JSON.

        >>> ParquetSink = __import__("crucible_datasets.sinks.parquet", fromlist=["x"]).ParquetSink
        >>> ParquetSink("out", max_rows_per_shard=10).settings()["max_rows_per_shard"]
        10
        """
        return {
            "sink": type(self).__qualname__,
            "path": self.path,
            "split": self.split,
            "config": self.config,
            "format": self.format,
            "extension": self.extension,
            "files": {k: repr(v) for k, v in sorted(vars(self.files).items())},
            "max_rows_per_shard": self.max_rows_per_shard,
            "max_bytes_per_shard": self.max_bytes_per_shard,
            "schema": None if self.schema is None else str(self.schema),
        }

    def begin(self, key: str) -> None:
        """Make this run resumable under ``key`` (a digest of everything its output depends on):
        its temp folder is named by the key, and the generation it will publish is fixed now and
        recorded there (``run.json``), so that a rerun of a killed run with the same key finds
        the finished tasks (:meth:`load_done`) and publishes the same shard names."""
        self.run_key = key
        path = fs.join(self.run_dir, RUN_NAME)
        if fs.exists(path):
            with fs.open_input(path) as f:
                record = orjson.loads(f.read())
            if record.get("key") == key and isinstance(record.get("generation"), str):
                self.generation = record["generation"]
                return
        previous = (self.published_split() or {}).get("generation")
        self.generation = _next_generation(previous)
        _write_durably(path, orjson.dumps({"key": key, "generation": self.generation}))

    def done_marker(self, task_index: int) -> str:
        """Where a resumable run records that task ``task_index`` is finished."""
        return fs.join(self.run_dir, DONE_DIR, f"task-{task_index:05d}.pkl")

    def save_done(self, result: TaskResult, data: bytes) -> None:
        """Record task ``result.task_index`` as finished (``data``: its report, for a rerun): after
        its temp files are on disk (fsynced), one atomic write of the marker."""
        if self.run_key is None:
            return
        for shard in result.shards:
            _sync(shard.path)
        _write_durably(self.done_marker(result.task_index), data)

    def load_done(self, task_index: int) -> bytes | None:
        """The report a finished task of this resumable run recorded (None: run it)."""
        if self.run_key is None:
            return None
        path = self.done_marker(task_index)
        if not fs.exists(path):
            return None
        with fs.open_input(path) as f:
            return f.read()

    def intact(self, result: TaskResult) -> bool:
        """True when every temp file of ``result`` is in place, whole (its recorded size)."""
        try:
            return all(fs.exists(s.path) and fs.size(s.path) == s.bytes for s in result.shards)
        except OSError:
            return False

    def clear_task(self, task_index: int) -> None:
        """Delete what an unfinished attempt of task ``task_index`` left (marker, partial files)."""
        if self.run_key is None:
            return
        fs.delete(self.done_marker(task_index))
        for path in fs.glob(fs.join(self.run_dir, f"task-{task_index:05d}-*")):
            fs.delete(path)

    # -- the published split --

    def published(self) -> tuple[bytes | None, dict]:
        """The published card (its bytes) and the manifest that describes it."""
        publisher = self.publisher
        base_card = publisher.read(cards.README_NAME)
        base_text = base_card.decode("utf-8", errors="replace") if base_card is not None else None
        manifest = cards.embedded_manifest(base_text)
        if manifest is None:  # an older layout's card: its manifest.json is the one that matches it
            manifest = manifests.loads(publisher.read(manifests.MANIFEST_NAME))
        return base_card, manifest

    def published_split(self) -> dict | None:
        """This split's entry in the published manifest (None when it was never published)."""
        entry = self.published()[1]["configs"].get(self.config_name, {}).get("splits", {}).get(self.split)
        return entry if isinstance(entry, dict) else None

    def published_names(self) -> set[str]:
        """The files in the shards' folder, relative to ``path`` (what the destination holds)."""
        return set(self.publisher.names_under(self.data_dir))

    # -- the run --

    def open_task(self, task_index: int) -> TaskWriter:
        """A writer for shard task ``task_index``; creates nothing until the first row."""
        if not isinstance(task_index, int) or task_index < 0:
            raise ValueError(f"task_index must be an int >= 0, not {task_index!r}")
        self.check_inside()
        return TaskWriter(self, task_index)

    def abort(self) -> None:
        """Throw away this split's temp files (this run's and any earlier failed run's)."""
        self._remove_temp()

    def check_inside(self) -> None:
        """:class:`OutputEscapeError` when a place this sink writes, overwrites or deletes (the temp
        folder, the shards' folder, the dead letters, the manifest and card) resolves outside
        the (local) output folder through a symlink; checked before anything is touched."""
        if fs.is_remote(self.path):
            return
        root = os.path.realpath(self.path)
        places = (
            self.run_dir, fs.join(self.path, self.data_dir), fs.join(self.path, self.errors_dir),
            fs.join(self.path, manifests.MANIFEST_NAME), fs.join(self.path, cards.README_NAME),
        )  # fmt: skip
        for place in places:
            real = os.path.realpath(place)
            if os.path.commonpath([root, real]) != root:
                raise OutputEscapeError(
                    f"refusing to write {self.path}: {place} leads to {real} through a symlink, outside "
                    "the output folder; nothing was written or deleted (remove the symlink, or write "
                    "the dataset where it leads)"
                )

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
        """Stage the tasks' temp files as the split's shards, then publish them with the new
        manifest and card (phases 3 and 4 of the module docstring).

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

        Called again after it failed while publishing, with the same results, it completes that
        publish (what was staged, with the counts, source and time of the first call).
        """
        results = self._check_results(results)
        self.check_inside()
        inputs = _inputs(results, num_shards, task_aligned)
        with self.lease() as lease:
            record = self._read_record()
            if record is None:
                record = self._stage(results, inputs, counts, source, wall_seconds, num_shards, task_aligned)
            elif record["inputs"] != inputs:
                raise ValueError(
                    f"a finalize of run {self.run_id} with other results or num_shards was started and did "
                    f"not finish; call finalize with the same arguments to complete it, or abort() the split"
                )
            staged = [StagedShard(**s) for s in record["staged"]]
            lease.check()
            published = self.publisher.publish(
                staged,
                record["manifest"].encode(),
                record["card"].encode(),
                base_digest=record["base_card"],
                pinned_card=_encoded(record["pinned_card"]),
                dead_letters=record["dead_letters"],
                errors_dir=self.errors_dir,
                kept=record.get("kept", ()),
            )
            self._remove_temp()
        shards = record.get("shards") or [[s.name, s.rows, s.bytes] for s in staged]
        summary = WriteSummary(
            path=self.path,
            split=self.split,
            config=self.config,
            format=self.format,
            files=[fs.join(self.path, name) for name, _, _ in shards],
            file_rows=[rows for _, rows, _ in shards],
            file_bytes=[size for _, _, size in shards],
            schema=manifests.decode_schema(record["schema"]),
            counts=RunCounts(**record["counts"]),
            source=record["source"],
            created=record["created"],
            wall_seconds=record["wall_seconds"],
            run_id=self.run_id,
            warnings=published.warnings + record["warnings"] + lease.notes,
        )
        if counts is not None:  # a rerun completing a staged publish: the tasks it reused itself
            summary.counts.tasks_reused = counts.tasks_reused
        return summary

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

    # -- phase 3: stage --

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

    def _read_record(self) -> dict | None:
        path = fs.join(self.run_dir, STAGED_NAME)
        if not fs.exists(path):
            return None
        with fs.open_input(path) as f:
            return orjson.loads(f.read())

    def _stage(
        self,
        results: list[TaskResult],
        inputs: dict,
        counts: RunCounts | None,
        source: str,
        wall_seconds: float | None,
        num_shards: int | None,
        task_aligned: bool,
    ) -> dict:
        """Cut and write the staged shards, render manifest and card; record them (``staged.json``)."""
        shards = sorted(
            (s for r in results for s in r.shards if s.rows > 0), key=lambda s: (s.task_index, s.roll)
        )
        plan = self.incremental
        base_card, published = self.published()
        previous = published["configs"].get(self.config_name, {}).get("splits", {}).get(self.split, {})
        kept = list(plan.kept) if plan is not None else []
        kept_schema = manifests.decode_schema(previous["arrow_schema"]) if kept else None
        target = self.schema
        if target is None:
            target = schemas.unify(
                [s.schema for s in shards] + [r.schema for r in results] + ([kept_schema] if kept else [])
            )
            target = self.files.file_schema(target)
        missing = [s.path for s in shards if not fs.exists(s.path)]
        if missing:  # check before touching the destination: the old split stays as it was
            raise FileNotFoundError(
                f"temp files of this run are gone (another run of split {self.split!r} finalized or "
                f"aborted meanwhile?): {missing[:3]}"
            )
        wanted = None
        if num_shards is not None and plan is None:  # incremental: one shard per temp file
            rows, num_bytes = sum(s.rows for s in shards), sum(s.num_bytes for s in shards)
            wanted = self.shards_for(rows, num_bytes, num_shards)
        files: list[tuple[str, int, int, int]] = []  # staged path, rows, bytes, num_bytes
        file_inputs: list[list[dict]] = []  # incremental: the inputs of each staged file
        for i, pieces in enumerate(cutting.cuts(shards, wanted, task_aligned=task_aligned)):
            shard, start, stop = pieces[0]
            if plan is not None:
                file_inputs.append(plan.inputs_of(shard.task_index))
            whole = len(pieces) == 1 and start == 0 and stop == shard.rows
            if whole and not (
                self.files.rewrite_on_schema_change and not shard.schema.equals(target, check_metadata=True)
            ):
                files.append((shard.path, shard.rows, shard.bytes, shard.num_bytes))
                continue
            dst = fs.join(self.run_dir, f"final-{i:05d}{self.extension}")
            size = self._write_pieces(pieces, dst, target)
            num_bytes = sum(s.num_bytes * (b - a) // max(s.rows, 1) for s, a, b in pieces)
            files.append((dst, sum(b - a for _, a, b in pieces), size, num_bytes))
        if kept and self.files.rewrite_on_schema_change and not kept_schema.equals(target):
            for j, entry in enumerate(kept):  # the new rows widened the schema: the kept shards follow
                old = TempShard(
                    fs.join(self.path, entry["file"]), -1, j, entry["rows"], entry["bytes"], 0, kept_schema
                )
                dst = fs.join(self.run_dir, f"kept-{j:05d}{self.extension}")
                size = self._write_pieces([(old, 0, old.rows)], dst, target)
                files.append((dst, old.rows, size, int(entry.get("num_bytes", 0))))
                file_inputs.append(entry["inputs"])
            kept = []
        if not files and not kept and len(target) > 0:
            dst = fs.join(self.run_dir, f"empty{self.extension}")
            self.files.open(dst, target).close()
            files.append((dst, 0, fs.size(dst), 0))
        base_text = base_card.decode("utf-8", errors="replace") if base_card is not None else None
        generation = self.generation or _next_generation(previous.get("generation"))
        staged = [
            StagedShard(path, self.shard_name(i, len(files), generation), rows, size, num_bytes)
            for i, (path, rows, size, num_bytes) in enumerate(files)
        ]
        # every shard of the split after this publish, in name order: (name, rows, bytes, num_bytes, inputs)
        every = sorted(
            [
                (s.name, s.rows, s.bytes, s.num_bytes, file_inputs[i] if plan else None)
                for i, s in enumerate(staged)
            ]
            + [(k["file"], k["rows"], k["bytes"], int(k.get("num_bytes", 0)), k["inputs"]) for k in kept]
        )
        dead_letters = fs.list_files(self.temp_errors_dir) if fs.is_dir(self.temp_errors_dir) else []

        counts = counts if counts is not None else RunCounts(rows_written=sum(s.rows for s in staged))
        summary = WriteSummary(
            path=self.path,
            split=self.split,
            config=self.config,
            format=self.format,
            files=[fs.join(self.path, name) for name, *_ in every],
            file_rows=[rows for _, rows, *_ in every],
            file_bytes=[size for _, _, size, *_ in every],
            schema=target,
            counts=counts,
            source=source,
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            wall_seconds=wall_seconds,
            run_id=self.run_id,
        )
        written = sum(s.rows for s in shards) if plan is not None else summary.rows
        if counts.rows_written != written:
            summary.warnings.append(
                f"counts.rows_written is {counts.rows_written}; {written} rows were written"
            )
        names, num_bytes = [name for name, *_ in every], sum(n for _, _, _, n, _ in every)
        entry = manifests.split_entry(
            summary, names, data_dir=self.data_dir, num_bytes=num_bytes, provenance=self.provenance,
            previous=previous,
        )  # fmt: skip
        entry["generation"] = entry["history"][-1]["generation"] = generation
        entry["data_files"] = self.data_files(generation) if plan is None else names
        entry["dead_letters"] = [f"{self.errors_dir}/{p.rsplit('/', 1)[-1]}" for p in dead_letters]
        if plan is not None:
            for shard, (*_, shard_bytes, shard_inputs) in zip(entry["shards"], every, strict=True):
                shard["num_bytes"], shard["inputs"] = shard_bytes, shard_inputs
            entry["incremental"] = True
            entry["inputs"] = plan.current_inputs()
            entry["history"][-1].update(plan.changes())
        manifest = manifests.merge(published, self.config_name, self.split, entry)
        pinned_text = None
        if base_text is not None:
            root = self.path.rstrip("/") + "/"
            listed = [
                p[len(root) :] if p.startswith(root) else os.path.relpath(p, self.path).replace(os.sep, "/")
                for p in fs.list_files(self.path)
            ]
            pinned_text = cards.pinned(base_text, [s.name for s in staged], listed)
        else:  # a first publish: no card yet, and split inference would find the new shards
            unpublished = f"{self.data_dir}/{self.split}-unpublished-{generation}{self.extension}"
            title = _title(self.path)
            pinned_text = cards.placeholder(self.config_name, self.split, unpublished, title=title)
        card_text, card_warnings = cards.render(
            manifest, pinned_text if pinned_text is not None else base_text, title=_title(self.path)
        )
        record = {
            "inputs": inputs,
            "base_card": digest(base_card),
            "pinned_card": pinned_text,
            "dead_letters": dead_letters,
            "staged": [dataclasses.asdict(s) for s in staged],
            "kept": [k["file"] for k in kept],
            "shards": [[name, rows, size] for name, rows, size, *_ in every],
            "manifest": manifests.dumps(manifest).decode("utf-8"),
            "card": card_text,
            "schema": manifests.encode_schema(target),
            "counts": counts.as_dict(),
            "source": source,
            "created": summary.created,
            "wall_seconds": wall_seconds,
            "warnings": summary.warnings + card_warnings,
        }
        write_atomically(fs.join(self.run_dir, STAGED_NAME), orjson.dumps(record, option=orjson.OPT_INDENT_2))
        return record

    def _write_pieces(self, pieces: Sequence[cutting.Piece], dst: str, schema: pa.Schema) -> int:
        """Write rows ``[start, stop)`` of each temp file of ``pieces`` into a new file ``dst``."""
        writer = self.files.open(dst, schema)
        try:
            for shard, start, stop in pieces:
                self.files.copy_range(shard.path, start, stop, writer)
        except BaseException:
            writer.abort()
            fs.delete(dst)
            raise
        writer.close()
        return fs.size(dst)

    def _remove_temp(self) -> None:
        self.check_inside()
        fs.delete(fs.join(self.run_dir, DONE_DIR))  # first: a half-removed run is never taken as done
        fs.delete(self.split_temp_dir)
        if not fs.is_remote(self.path):  # remove the folders left empty (others may be in use)
            for folder in (fs.join(self.path, TEMP_DIR, self.config_name), fs.join(self.path, TEMP_DIR)):
                try:
                    os.rmdir(folder)
                except OSError:
                    break


def _next_generation(previous: object) -> str:
    """``g000001-3fa9c2d1`` after no generation, ``g000005-...`` after ``g000004-...``: the count
    for people, the random part so that no two publishes (a crashed one included) share names."""
    number = 0
    if isinstance(previous, str) and re.fullmatch(GENERATION_SUFFIX[1:], previous):
        number = int(previous[1:].split("-", 1)[0])
    return f"g{number + 1:06d}-{uuid.uuid4().hex[:8]}"


def _sync(path: str) -> None:
    """Flush a closed local file to the disk (a ``gs://`` object is durable once closed)."""
    if fs.is_remote(path):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: str, data: bytes) -> None:
    """Write ``path`` atomically (a reader sees all of ``data`` or no file), fsynced on local disk."""
    if fs.is_remote(path):
        write_atomically(path, data)
        return
    partial = f"{path}.partial"
    with fs.open_output(partial) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    _sync(os.path.dirname(path))


def _encoded(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def _inputs(results: Sequence[TaskResult], num_shards: int | None, task_aligned: bool) -> dict:
    """What a finalize's outcome depends on, as JSON (compared with the record of a re-run)."""
    return {
        "shards": [[s.path, s.rows] for r in results for s in r.shards],
        "num_shards": num_shards,
        "task_aligned": task_aligned,
    }


def _title(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return os.path.basename(os.path.abspath(path)) if not fs.is_remote(path) else name
