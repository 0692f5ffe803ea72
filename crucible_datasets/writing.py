"""``write_parquet`` / ``write_jsonl``: pick the sink, the runner, and the dead-letter folder."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace

import orjson

from crucible_datasets.bad_records import BadBudget
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import get_runner
from crucible_datasets.sinks import JsonlSink, ParquetSink, Sink, WriteSummary
from crucible_datasets.sinks import incremental as incremental_plans
from crucible_datasets.sinks.base import ERRORS_DIR
from crucible_datasets.sinks.provenance import Provenance
from crucible_datasets.storage import filesystem
from crucible_datasets.storage.fingerprints import fingerprints


def errors_folder(path: str, split: str, config: str | None) -> str:
    """Where a write's dead letters are published by default: ``{output}/_errors/[{config}/]{split}``.

    A run writes them in its temp folder (``Sink.temp_errors_dir``, hidden from every reader) and
    its publish replaces the folder's files with them, so the folder holds the dead letters of
    the last published run of the split only (their count is its ``rows_bad``).
    """
    return filesystem.join(path, ERRORS_DIR, *([config] if config else []), split)


def bad_budget(max_bad_records: int | None = None, max_bad_fraction: float | None = None) -> BadBudget | None:
    """The :class:`BadBudget` of a write's options (None without a limit); ValueError for a bad value.

    >>> bad_budget(), bad_budget(max_bad_records=3)
    (None, BadBudget(max_records=3, max_fraction=None))
    """
    budget = BadBudget(max_records=max_bad_records, max_fraction=max_bad_fraction)
    return budget if budget.limited else None


def check_shard_options(
    num_shards: int | None = None,
    max_rows_per_shard: int | None = None,
    max_bytes_per_shard: int | None = None,
) -> None:
    """Raise ValueError unless each option is None or a positive int (checked before any work)."""
    given = {
        "num_shards": num_shards,
        "max_rows_per_shard": max_rows_per_shard,
        "max_bytes_per_shard": max_bytes_per_shard,
    }
    for name, value in given.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


def run_write(
    pipeline: Pipeline,
    sink: Sink,
    *,
    runner: str = "local",
    num_shards: int | None = None,
    options: Sequence[str] | None = None,
    progress: bool | None = None,
    allow_empty: bool = False,
    incremental: bool = False,
    spec: dict | None = None,
) -> WriteSummary | None:
    """Run ``pipeline`` into ``sink`` on ``runner`` ("local", "direct", or any Beam runner name;
    see ``runners/__init__.py``); None when a Beam runner only built the job.

    A run over files is resumable: killed at any point and started again with the same pipeline,
    inputs and options, it reuses every task the killed run finished and publishes the shard
    names the killed run would have (:func:`resume_key`, docs/INCREMENTAL.md). ``incremental``:
    read only the input files that are new or changed since the published split, keep the
    shards of the others, drop those of files that are gone (one task and shard per file).

    The run holds the output folder's lease (``Sink.lease``) from start to publish: a second
    run into the same folder fails at once with :class:`~crucible_datasets.sinks.lease.LeaseHeldError`.

    ``num_shards`` shards are written (default: one per 256 MiB of input), with balanced row
    counts, the same on every runner; see ``Sink.finalize`` for fewer rows than shards.

    A run whose every row was bad (rows read, none good) fails with
    :class:`~crucible_datasets.errors.NoGoodRowsError` instead of replacing the output with an empty
    split, unless ``allow_empty``; rows all dropped by filters still write the empty split. A run
    over the sink's bad-record budget (``Sink.bad_budget``) fails with
    :class:`~crucible_datasets.errors.BadRecordBudgetError` and publishes nothing.

    The manifest and the card record the run's provenance (``Sink.provenance``, by default
    :meth:`Provenance.of <crucible_datasets.sinks.provenance.Provenance.of>` the pipeline, with
    ``spec``: the pipeline spec the run came from).
    """
    check_shard_options(num_shards)
    if sink.provenance is None:
        sink.provenance = Provenance.of(pipeline, spec)
    if incremental:
        check_incremental(pipeline, num_shards)
    chosen, flags = get_runner(runner), list(options or ())
    if chosen.builds_only(flags):  # a job built or staged, not run (--dry_run): nothing is written
        pipeline = _prepare(pipeline, sink, runner, num_shards, incremental, resumable=False)
        return chosen.write(pipeline, sink, num_shards=num_shards, options=flags, progress=progress)
    with sink.lease() as lease:  # one writer per output folder (LeaseHeldError names the other run)
        pipeline = _prepare(pipeline, sink, runner, num_shards, incremental)
        summary = chosen.write(
            pipeline, sink, num_shards=num_shards, options=flags, progress=progress, allow_empty=allow_empty
        )
    if summary is not None:
        notes = [*lease.notes, *sink.provenance.warnings]
        summary.warnings += [note for note in notes if note not in summary.warnings]
    return summary


def check_destination(path: str, runner: str, options: Sequence[str] = ()) -> None:
    """Before a command reads anything: a ``gs://`` output's bucket must exist (one clear error
    instead of one at the first upload, after the reading); a job that is only built (``--dry_run``)
    writes nothing, so it is not checked."""
    if path.startswith("gs://") and not get_runner(runner).builds_only(list(options)):
        from crucible_datasets.storage import gcs

        gcs.check_bucket(path)


def check_incremental(pipeline: Pipeline, num_shards: int | None) -> None:
    """ValueError, before any work, when ``pipeline`` cannot be written incrementally: a stage
    that needs the whole stream (take, skip, shuffle, dedupe: its output for one file depends on
    the others), input that is not files, shuffled input, or a ``num_shards`` (an incremental
    split has one shard per input file, more with ``max_rows_per_shard``)."""
    whole = [type(s).__name__ for s in pipeline.stages if not s.kind.any_part]
    source = pipeline.source
    what = source.description or "the input"
    if whole:
        raise ValueError(
            f"cannot write {what} incrementally: the stages {', '.join(whole)} need the whole stream "
            "(their output for one file depends on the other files); write it in full (without incremental)"
        )
    if not source.files:
        raise ValueError(
            f"cannot write {what} incrementally: it is not read from files (an in-memory dataset); "
            "load the input with streaming=True so the write reads its files"
        )
    if source.shuffle_seed is not None:
        raise ValueError(f"cannot write {what} incrementally: its files are read in a shuffled order")
    if num_shards is not None:
        raise ValueError(
            f"num_shards={num_shards} cannot be combined with incremental: an incremental split has one "
            "shard per input file (more with max_rows_per_shard / max_bytes_per_shard)"
        )


def resume_key(pipeline: Pipeline, sink: Sink, runner: str, num_shards: int | None) -> str | None:
    """The key a resumable run's temp folder is named by: a digest of what its output depends on
    (the source's files and their fingerprints, the stages, the sink's settings, ``num_shards``,
    the runner, an incremental plan); None when the pipeline has no stable identity (in-memory
    input, a stage holding an object without a stable description), or its bad records are
    dead-lettered (a killed run's dead-letter file mixes finished and unfinished tasks)."""
    if pipeline.source.on_error == "dead_letter":
        return None
    identity = pipeline.identity(fingerprints(pipeline.source.files)) if pipeline.source.files else None
    if identity is None:
        return None
    plan = sink.incremental
    kept = sorted(k["file"] for k in plan.kept) if plan is not None else None
    what = [identity, sink.settings(), runner, num_shards, kept]
    return hashlib.blake2b(orjson.dumps(what), digest_size=12).hexdigest()


def _prepare(
    pipeline: Pipeline,
    sink: Sink,
    runner: str,
    num_shards: int | None,
    incremental: bool,
    resumable: bool = True,
) -> Pipeline:
    """The pipeline to run and the sink set up for it: the incremental plan (which files to read),
    the resumable run's key (``Sink.begin``; not for a job that is only built: it writes
    nothing), the dead-letter folder."""
    if incremental:
        plan = incremental_plans.plan(
            sink.published_split(),
            fingerprints(pipeline.source.files),
            sink.published_names(),
            root=getattr(pipeline.source, "root", ""),
        )
        sink.incremental = plan
        pipeline = pipeline.per_file(plan.files)
    key = resume_key(pipeline, sink, runner, num_shards) if resumable else None
    if key is not None:
        sink.begin(key)
    source = pipeline.source
    if source.on_error == "dead_letter" and source.errors_path is None:
        pipeline = replace(pipeline, source=replace(source, errors_path=sink.temp_errors_dir))
    return pipeline


class Writable:
    """Mixin for datasets: the two write methods, over ``self._pipeline()``, and the spec of a write."""

    def _pipeline(self) -> Pipeline:
        raise NotImplementedError

    def to_spec(self, sink: Mapping | None = None, runner: Mapping | None = None) -> dict:
        """This dataset's pipeline as a spec (``docs/SPEC.md``), with the ``sink`` (``{"path": ...,
        "format": "jsonl", ...}``, the write's arguments) and ``runner`` given: see ``Pipeline.to_spec``.

        >>> import crucible_datasets as cd, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "train.jsonl")
        >>> _ = open(p, "w").write('{"x": 1}\\n')
        >>> spec = cd.load(p, split="train", streaming=True).select_columns("x").to_spec(sink={"path": "out"})
        >>> spec["stages"], spec["sink"], cd.Pipeline.from_spec(spec).to_spec(sink={"path": "out"}) == spec
        ([{'op': 'select_columns', 'column_names': 'x'}], {'path': 'out'}, True)
        """
        return self._pipeline().to_spec(sink=sink, runner=runner)

    def write_parquet(
        self,
        path: str,
        *,
        split: str = "train",
        config: str | None = None,
        num_shards: int | None = None,
        max_rows_per_shard: int | None = None,
        max_bytes_per_shard: int | None = None,
        compression: str = "snappy",
        runner: str = "local",
        options: Sequence[str] | None = None,
        progress: bool | None = None,
        allow_empty: bool = False,
        incremental: bool = False,
        max_bad_records: int | None = None,
        max_bad_fraction: float | None = None,
        spec: dict | None = None,
    ) -> WriteSummary:
        """Write Hub-style Parquet shards (``{path}/data/{split}-00000-of-0000N.parquet``).

        ``num_shards`` (default: one per 256 MiB of input) shards of balanced row counts, or one
        per row when there are fewer rows; ``max_rows_per_shard`` / ``max_bytes_per_shard``
        (Arrow size, approximate) add shards where they are needed. Balanced shards cost a
        second pass over rows whose temp file is not exactly one shard (``Sink.finalize``).
        Returns a :class:`WriteSummary` with rows read, written, filtered and bad, and the files.
        A run whose every row was bad fails unless ``allow_empty=True`` (see :func:`run_write`).
        ``incremental=True`` reads only the input files that are new or changed since the
        published split and keeps the shards of the others (docs/INCREMENTAL.md).

        ``max_bad_records=N`` / ``max_bad_fraction=f``: with ``on_error="skip"`` or
        ``"dead_letter"``, a run with more than N bad records, or more than ``f`` of the rows
        read, fails naming the files with the most bad records, publishes nothing and keeps its
        dead letters (:class:`~crucible_datasets.bad_records.BadBudget`). ``spec``: the pipeline
        spec this write came from, recorded in the manifest (see :func:`run_write`).
        """
        check_shard_options(num_shards, max_rows_per_shard, max_bytes_per_shard)
        sink = ParquetSink(
            path,
            split=split,
            config=config,
            max_rows_per_shard=max_rows_per_shard,
            max_bytes_per_shard=max_bytes_per_shard,
            compression=compression,
            bad_budget=bad_budget(max_bad_records, max_bad_fraction),
        )
        return run_write(
            self._pipeline(), sink, runner=runner, num_shards=num_shards, options=options, progress=progress,
            allow_empty=allow_empty, incremental=incremental, spec=spec,
        )  # fmt: skip

    def write_jsonl(
        self,
        path: str,
        *,
        split: str = "train",
        config: str | None = None,
        num_shards: int | None = None,
        max_rows_per_shard: int | None = None,
        max_bytes_per_shard: int | None = None,
        compression: str | None = None,
        runner: str = "local",
        options: Sequence[str] | None = None,
        progress: bool | None = None,
        allow_empty: bool = False,
        incremental: bool = False,
        max_bad_records: int | None = None,
        max_bad_fraction: float | None = None,
        spec: dict | None = None,
    ) -> WriteSummary:
        """Write Hub-style JSON Lines shards; ``compression`` is None, "gzip" or "zstd".

        The shard, budget and ``spec`` options are those of :meth:`write_parquet`.
        """
        check_shard_options(num_shards, max_rows_per_shard, max_bytes_per_shard)
        sink = JsonlSink(
            path,
            split=split,
            config=config,
            max_rows_per_shard=max_rows_per_shard,
            max_bytes_per_shard=max_bytes_per_shard,
            compression=compression,
            bad_budget=bad_budget(max_bad_records, max_bad_fraction),
        )
        return run_write(
            self._pipeline(), sink, runner=runner, num_shards=num_shards, options=options, progress=progress,
            allow_empty=allow_empty, incremental=incremental, spec=spec,
        )  # fmt: skip
