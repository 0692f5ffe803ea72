"""The local runner: the stage graph as a chain of Python generators, no Beam machinery.

Writes run task by task (see :meth:`Pipeline.plan_tasks`), so a local run and a Beam run of
one pipeline write the same rows to the same shards.
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
    """Run one task and write its rows, each batch to the slot that has the fewest rows so far."""
    writers = [sink.open_task(slot) for slot in task.slots]
    written = [0] * len(writers)
    try:
        for batch in pipeline.run_parts(task.parts, tally):
            i = written.index(min(written))
            writers[i].write(batch)
            written[i] += len(batch)
        return [w.close() for w in writers]
    except BaseException:
        for w in writers:
            w.abort()
        raise


def write(
    pipeline: Pipeline, sink: Sink, num_shards: int | None = None, progress: bool | None = None
) -> WriteSummary:
    """Run ``pipeline`` in this process and write its rows through ``sink``."""
    started = time.monotonic()
    tasks = pipeline.plan_tasks(num_shards or pipeline.default_num_shards())
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
    )
    summary.wall_seconds = time.monotonic() - started
    return summary

