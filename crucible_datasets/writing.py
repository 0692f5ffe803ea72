"""``write_parquet`` / ``write_jsonl``: pick the sink, the runner, and the dead-letter folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import get_runner
from crucible_datasets.sinks import JsonlSink, ParquetSink, Sink, WriteSummary
from crucible_datasets.sinks.base import ERRORS_DIR
from crucible_datasets.storage import filesystem


def errors_folder(path: str, split: str, config: str | None) -> str:
    """Where a write's dead letters are published by default: ``{output}/_errors/[{config}/]{split}``.

    A run writes them in its temp folder (``Sink.temp_errors_dir``, hidden from every reader) and
    its publish replaces the folder's files with them, so the folder holds the dead letters of
    the last published run of the split only (their count is its ``rows_bad``).
    """
    return filesystem.join(path, ERRORS_DIR, *([config] if config else []), split)


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
) -> WriteSummary | None:
    """Run ``pipeline`` into ``sink`` on ``runner`` ("local", "direct", or any Beam runner name;
    see ``runners/__init__.py``); None when a Beam runner only built the job.

    The run holds the output folder's lease (``Sink.lease``) from start to publish: a second
    run into the same folder fails at once with :class:`~crucible_datasets.sinks.lease.LeaseHeldError`.

    ``num_shards`` shards are written (default: one per 256 MiB of input), with balanced row
    counts, the same on every runner; see ``Sink.finalize`` for fewer rows than shards.

    A run whose every row was bad (rows read, none good) fails with
    :class:`~crucible_datasets.errors.NoGoodRowsError` instead of replacing the output with an empty
    split, unless ``allow_empty``; rows all dropped by filters still write the empty split.
    """
    check_shard_options(num_shards)
    source = pipeline.source
    if source.on_error == "dead_letter" and source.errors_path is None:
        pipeline = replace(pipeline, source=replace(source, errors_path=sink.temp_errors_dir))
    chosen, flags = get_runner(runner), list(options or ())
    if chosen.builds_only(flags):  # a job built or staged, not run (--dry_run): nothing is written
        return chosen.write(pipeline, sink, num_shards=num_shards, options=flags, progress=progress)
    with sink.lease() as lease:  # one writer per output folder (LeaseHeldError names the other run)
        summary = chosen.write(
            pipeline, sink, num_shards=num_shards, options=flags, progress=progress, allow_empty=allow_empty
        )
    if summary is not None:
        summary.warnings += [note for note in lease.notes if note not in summary.warnings]
    return summary


class Writable:
    """Mixin for datasets: the two write methods, over ``self._pipeline()``."""

    def _pipeline(self) -> Pipeline:
        raise NotImplementedError

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
    ) -> WriteSummary:
        """Write Hub-style Parquet shards (``{path}/data/{split}-00000-of-0000N.parquet``).

        ``num_shards`` (default: one per 256 MiB of input) shards of balanced row counts, or one
        per row when there are fewer rows; ``max_rows_per_shard`` / ``max_bytes_per_shard``
        (Arrow size, approximate) add shards where they are needed. Balanced shards cost a
        second pass over rows whose temp file is not exactly one shard (``Sink.finalize``).
        Returns a :class:`WriteSummary` with rows read, written, filtered and bad, and the files.
        A run whose every row was bad fails unless ``allow_empty=True`` (see :func:`run_write`).
        """
        check_shard_options(num_shards, max_rows_per_shard, max_bytes_per_shard)
        sink = ParquetSink(
            path,
            split=split,
            config=config,
            max_rows_per_shard=max_rows_per_shard,
            max_bytes_per_shard=max_bytes_per_shard,
            compression=compression,
        )
        return run_write(
            self._pipeline(), sink, runner=runner, num_shards=num_shards, options=options, progress=progress,
            allow_empty=allow_empty,
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
    ) -> WriteSummary:
        """Write Hub-style JSON Lines shards; ``compression`` is None, "gzip" or "zstd".

        The shard options are those of :meth:`write_parquet`.
        """
        check_shard_options(num_shards, max_rows_per_shard, max_bytes_per_shard)
        sink = JsonlSink(
            path,
            split=split,
            config=config,
            max_rows_per_shard=max_rows_per_shard,
            max_bytes_per_shard=max_bytes_per_shard,
            compression=compression,
        )
        return run_write(
            self._pipeline(), sink, runner=runner, num_shards=num_shards, options=options, progress=progress,
            allow_empty=allow_empty,
        )  # fmt: skip
