"""The local runner: the stage graph as a chain of Python generators, no Beam machinery.

Writes run task by task (see :meth:`Pipeline.plan_tasks`), each with ``base.run_task``, and the
sink's finalize cuts the rows into ``num_shards`` balanced shards, so a local run and a Beam run
of one pipeline write the same shards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import BadRecordBudgetError, NoGoodRowsError
from crucible_datasets.pipeline import Pipeline, Tally
from crucible_datasets.progress import Progress
from crucible_datasets.runners.base import (
    TaskReport,
    check_bad_budget,
    check_good_rows,
    merge_counts,
    run_task,
)
from crucible_datasets.sinks import Sink, WriteSummary


def iter_batches(pipeline: Pipeline) -> Iterator[Batch]:
    """Every output batch of ``pipeline``, streamed in constant memory."""
    tally = Tally()
    try:
        yield from pipeline.run_parts(pipeline.source.parts(), tally)
    finally:
        tally.close()


class LocalRunner:
    """Runs in this process (``runner="local"``)."""

    def builds_only(self, options: Sequence[str]) -> bool:
        return False

    def write(
        self,
        pipeline: Pipeline,
        sink: Sink,
        *,
        num_shards: int | None = None,
        options: Sequence[str] = (),
        progress: bool | None = None,
        allow_empty: bool = False,
    ) -> WriteSummary:
        """Run ``pipeline`` in this process and write its rows through ``sink``.

        ``num_shards`` (default: :meth:`Pipeline.default_num_shards`) shards are written when
        there are that many rows, one a row when fewer (see :meth:`Sink.finalize`). A run whose
        every row was bad fails unless ``allow_empty``
        (:func:`~crucible_datasets.runners.base.check_good_rows`), one over the sink's bad-record
        budget fails too (:func:`~crucible_datasets.runners.base.check_bad_budget`).
        """
        if options:
            raise ValueError("options= holds Beam flags; pass a Beam runner too (runner='direct')")
        started = time.monotonic()
        n = pipeline.default_num_shards() if num_shards is None else num_shards
        tasks = pipeline.plan_tasks(n)
        source = pipeline.source
        run = Tally(  # one dead-letter file and one progress bar for the run
            errors=ErrorPolicy(source.on_error, source.errors_path),
            progress=Progress(source.total_bytes(), "writing", enabled=progress),
        )
        reports: list[TaskReport] = []
        try:
            for task in tasks:
                tally = Tally(errors=run.errors, progress=run.progress)
                reports.append(run_task(pipeline, task, sink, tally))
        finally:
            run.close()
        counts = merge_counts(reports, per_stage=pipeline.whole_stream)
        try:
            check_good_rows(counts, sink, source.description, allow_empty)
            check_bad_budget(counts, sink, source.description, source.errors_path)
        except (NoGoodRowsError, BadRecordBudgetError):
            sink.abort()
            raise
        summary = sink.finalize(
            [r for report in reports for r in report.results],
            counts=counts,
            source=source.description,
            wall_seconds=time.monotonic() - started,
            num_shards=n,
            task_aligned=not pipeline.whole_stream,
        )
        summary.wall_seconds = time.monotonic() - started
        return summary
