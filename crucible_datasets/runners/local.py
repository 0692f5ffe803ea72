"""The local runner: the stage graph as a chain of Python generators, no Beam machinery.

Writes run task by task (see :meth:`Pipeline.plan_tasks`) and the sink's finalize cuts the
rows into ``num_shards`` balanced shards, so a local run and a Beam run of one pipeline write
the same shards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from crucible_datasets.batch import Batch
from crucible_datasets.pipeline import Pipeline, ShardTask, Tally
from crucible_datasets.progress import Progress
from crucible_datasets.sinks import Sink, TaskResult, WriteSummary


def iter_batches(pipeline: Pipeline) -> Iterator[Batch]:
    """Every output batch of ``pipeline``, streamed in constant memory."""
    tally = Tally()
    try:
        yield from pipeline.run_parts(pipeline.source.parts(), tally)
    finally:
        tally.close()


def write_task(pipeline: Pipeline, task: ShardTask, sink: Sink, tally: Tally) -> list[TaskResult]:
    """Run one task and write its rows, in order, to the temp files of sink task ``task.index``.

    The task's rows are not dealt to its slots here: ``sink.finalize(num_shards=...)`` cuts the
    rows of all tasks into the shards, so the shards do not depend on how the tasks split them.
    """
    with sink.open_task(task.index) as writer:
        for batch in pipeline.run_parts(task.parts, tally):
            writer.write(batch)
    return [writer.result]


def write(
    pipeline: Pipeline, sink: Sink, num_shards: int | None = None, progress: bool | None = None
) -> WriteSummary:
    """Run ``pipeline`` in this process and write its rows through ``sink``.

    ``num_shards`` (default: :meth:`Pipeline.default_num_shards`) shards are written when there
    are that many rows, one a row when fewer (see :meth:`Sink.finalize`).
    """
    started = time.monotonic()
    n = pipeline.default_num_shards() if num_shards is None else num_shards
    tasks = pipeline.plan_tasks(n)
    tally = Tally(progress=Progress(pipeline.source.total_bytes(), "writing", enabled=progress))
    results: list[TaskResult] = []
    try:
        for task in tasks:
            results.extend(write_task(pipeline, task, sink, tally))
    finally:
        tally.close()
    rows_written = sum(r.rows for r in results)
    summary = sink.finalize(
        results,
        counts=tally.counts(rows_written),
        source=pipeline.source.description,
        wall_seconds=time.monotonic() - started,
        num_shards=n,
        task_aligned=not pipeline.whole_stream,
    )
    summary.wall_seconds = time.monotonic() - started
    return summary

