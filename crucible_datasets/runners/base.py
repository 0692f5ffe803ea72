"""What every runner shares: the :class:`Runner` protocol, running one task, merging counts.

A runner only hands out the tasks of a write (``Pipeline.plan_tasks``, or its own plan) and
collects what they report; the work of a task is always :func:`run_task`, and the run's
counts are always :func:`merge_counts` of the reports (as in datatrove, where the executor
base runs a rank's task and a subclass only hands out ranks).

>>> import pyarrow as pa, tempfile
>>> from crucible_datasets.pipeline import Pipeline, Tally
>>> from crucible_datasets.sinks import JsonlSink
>>> from crucible_datasets.sources import TableSource
>>> pipe = Pipeline(TableSource(pa.table({"x": [1, 2, 3]})))
>>> report = run_task(pipe, pipe.plan_tasks(1)[0], JsonlSink(tempfile.mkdtemp()), Tally())
>>> report.rows_read, merge_counts([report], per_stage=False).rows_written
(3, 3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crucible_datasets.counts import RunCounts
from crucible_datasets.errors import NoGoodRowsError
from crucible_datasets.pipeline import Pipeline, ShardTask, Tally
from crucible_datasets.sinks import Sink, TaskResult, WriteSummary
from crucible_datasets.transforms.base import StageCounter


class Runner(Protocol):
    """Runs a pipeline into a sink (``runners.get_runner(name)`` gives one)."""

    def write(
        self,
        pipeline: Pipeline,
        sink: Sink,
        *,
        num_shards: int | None = None,
        options: Sequence[str] = (),
        progress: bool | None = None,
        allow_empty: bool = False,
    ) -> WriteSummary | None:
        """Write ``pipeline``'s rows through ``sink``; None when the job was only built.

        ``allow_empty``: publish an empty split even when every row read was bad
        (:func:`check_good_rows`)."""
        ...

    def builds_only(self, options: Sequence[str]) -> bool:
        """True when ``options`` make the runner build (or stage) the job without running it."""
        ...


@dataclass
class TaskReport:
    """What one task hands back: its temp shards and what it counted.

    ``stages`` holds ``(stage index, rows in, rows out)`` triples, one per stage counter.
    """

    results: list[TaskResult] = field(default_factory=list)
    rows_read: int = 0
    rows_bad: int = 0
    files: frozenset[str] = frozenset()
    bytes_read: int = 0
    stages: list[tuple[int, int, int]] = field(default_factory=list)

    @classmethod
    def from_tally(
        cls, tally: Tally, results: Sequence[TaskResult], *, first_stage: int = 0, bad_before: int = 0
    ) -> TaskReport:
        """The report of a task counted by ``tally`` (``bad_before``: bad records its error
        policy had counted before the task, when it is shared by several tasks)."""
        return cls(
            results=list(results),
            rows_read=tally.rows_read,
            rows_bad=(tally.errors.bad if tally.errors is not None else 0) - bad_before,
            files=frozenset(tally.files),
            bytes_read=tally.bytes_read,
            stages=[
                *stage_counts(tally.stages, first_stage),
                *((i, c.rows_in, c.rows_out) for i, c in tally.nested),  # a combination's inputs
            ],
        )


def stage_counts(counters: Sequence[StageCounter], first_stage: int = 0) -> list[tuple[int, int, int]]:
    """The ``(stage index, rows in, rows out)`` triples of counters for stages from ``first_stage``."""
    return [(first_stage + i, c.rows_in, c.rows_out) for i, c in enumerate(counters)]


def run_task(pipeline: Pipeline, task: ShardTask, sink: Sink, tally: Tally) -> TaskReport:
    """Run one task: read its parts through the stages and write the rows, in order, to sink
    task ``task.index``; its report. ``tally`` counts this task only (it may carry the run's
    progress display and error policy, which the caller closes).

    The task's rows are not dealt to its slots here: ``sink.finalize(num_shards=...)`` cuts the
    rows of all tasks into the shards, so the shards do not depend on how the tasks split them.
    """
    bad_before = tally.errors.bad if tally.errors is not None else 0
    with sink.open_task(task.index) as writer:
        for batch in pipeline.run_parts(task.parts, tally):
            writer.write(batch)
    return TaskReport.from_tally(tally, [writer.result], bad_before=bad_before)


def check_good_rows(counts: RunCounts, sink: Sink, source: str, allow_empty: bool = False) -> None:
    """:class:`NoGoodRowsError` when every row the run read was bad (``rows_bad == rows_read > 0``),
    unless ``allow_empty``: a broken input must not replace a good output with an empty split.

    Checked by every runner just before ``sink.finalize``. A run whose rows were all dropped by
    filters (none bad) writes its empty split, as ``datasets`` would.
    """
    if allow_empty or counts.rows_bad == 0 or counts.rows_read > counts.rows_bad or counts.rows_written:
        return
    raise NoGoodRowsError(
        f"all {counts.rows_read} rows read from {source} were bad records (so on_error skipped or "
        f"dead-lettered every one): refusing to replace split {sink.split!r} of {sink.path} with an empty "
        "split; fix the input (on_error='raise' stops at the first bad record and names it), or pass "
        "allow_empty=True (--allow-empty) to write the empty split"
    )


def merge_counts(reports: Iterable[TaskReport], per_stage: bool) -> RunCounts:
    """Sum the reports' counts into one :class:`RunCounts`.

    Rows filtered/added are computed per stage counter: one counter per stage and task for a
    parallel pipeline (``per_stage=False``), one per stage for a whole-stream one
    (``per_stage=True``: the counters of one stage are summed first, as if one task ran it).
    """
    reports = list(reports)
    triples = [t for r in reports for t in r.stages]
    if per_stage:
        summed: dict[int, list[int]] = {}
        for index, rows_in, rows_out in triples:
            acc = summed.setdefault(index, [0, 0])
            acc[0] += rows_in
            acc[1] += rows_out
        pairs = list(summed.values())
    else:
        pairs = [[rows_in, rows_out] for _, rows_in, rows_out in triples]
    bad = sum(r.rows_bad for r in reports)
    files: set[str] = set()
    for r in reports:
        files |= r.files
    return RunCounts(
        rows_read=sum(r.rows_read for r in reports) + bad,
        rows_written=sum(res.rows for r in reports for res in r.results),
        rows_filtered=sum(max(0, i - o) for i, o in pairs),
        rows_bad=bad,
        rows_added=sum(max(0, o - i) for i, o in pairs),
        files_read=len(files),
        bytes_read=sum(r.bytes_read for r in reports),
    )
