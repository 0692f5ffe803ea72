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

import dataclasses
import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crucible_datasets.counts import RunCounts
from crucible_datasets.errors import BadRecordBudgetError, NoGoodRowsError
from crucible_datasets.pipeline import Pipeline, ShardTask, Tally
from crucible_datasets.sinks import Sink, TaskResult, WriteSummary
from crucible_datasets.storage import filesystem as fs
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

    ``stages`` holds ``(stage index, rows in, rows out)`` triples, one per stage counter;
    ``bad_files`` the task's bad records per input file; ``reused``: the task was finished by an
    earlier attempt of a resumable run (:func:`run_task`).
    """

    results: list[TaskResult] = field(default_factory=list)
    rows_read: int = 0
    rows_bad: int = 0
    files: frozenset[str] = frozenset()
    bytes_read: int = 0
    stages: list[tuple[int, int, int]] = field(default_factory=list)
    bad_files: dict[str, int] = field(default_factory=dict)
    reused: bool = False

    @classmethod
    def from_tally(
        cls,
        tally: Tally,
        results: Sequence[TaskResult],
        *,
        first_stage: int = 0,
        bad_before: int = 0,
        bad_files_before: Mapping[str, int] | None = None,
    ) -> TaskReport:
        """The report of a task counted by ``tally`` (``bad_before``, ``bad_files_before``: bad
        records its error policy had counted before the task, in all and per file, when it is
        shared by several tasks)."""
        before = bad_files_before or {}
        by_file = tally.errors.bad_by_file if tally.errors is not None else {}
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
            bad_files={f: n - before.get(f, 0) for f, n in by_file.items() if n > before.get(f, 0)},
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

    In a resumable run (``sink.begin(key)``, see docs/INCREMENTAL.md) a task that an earlier
    attempt finished (its done marker, its temp files whole) is not run again: its recorded
    report comes back, marked ``reused``. Otherwise what an unfinished attempt left is deleted,
    the task runs, and its marker is written once its temp files are complete.
    """
    reused = _reused_report(sink, task)
    if reused is not None:
        if tally.progress is not None:
            tally.progress.advance(nbytes=sum(p.nbytes or 0 for p in task.parts))
        return reused
    sink.clear_task(task.index)
    bad_before = tally.errors.bad if tally.errors is not None else 0
    files_before = dict(tally.errors.bad_by_file) if tally.errors is not None else {}
    with sink.open_task(task.index) as writer:
        for batch in pipeline.run_parts(task.parts, tally):
            writer.write(batch)
    report = TaskReport.from_tally(
        tally, [writer.result], bad_before=bad_before, bad_files_before=files_before
    )
    sink.save_done(writer.result, pickle.dumps(report))
    return report


def _reused_report(sink: Sink, task: ShardTask) -> TaskReport | None:
    """The report an earlier attempt recorded for ``task``, if its temp files are all there."""
    data = sink.load_done(task.index)
    if data is None:
        return None
    try:
        report = pickle.loads(data)
    except Exception:  # noqa: BLE001 - a marker that does not load is no marker
        return None
    if not isinstance(report, TaskReport) or not all(sink.intact(r) for r in report.results):
        return None
    results = [dataclasses.replace(r, run_id=sink.run_id) for r in report.results]
    return dataclasses.replace(report, results=results, reused=True)


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


def check_bad_budget(counts: RunCounts, sink: Sink, source: str, errors_path: str | None = None) -> None:
    """:class:`BadRecordBudgetError` when the run's bad records exceed ``sink.bad_budget``
    (``max_bad_records=`` / ``max_bad_fraction=``); nothing is published then.

    Checked by every runner beside :func:`check_good_rows`, before ``sink.finalize``. The
    error names the budget, the counts and the five files with the most bad records. This
    run's dead letters (``on_error="dead_letter"``) are kept for inspection: those in the run's
    temp folder are moved to :attr:`Sink.rejected_errors_dir` (hidden from every reader, and
    left there by later runs), those in an ``errors_path`` of the user's stay where they are.
    """
    budget = sink.bad_budget
    broken = budget.exceeded(counts.rows_bad, counts.rows_read) if budget is not None else None
    if broken is None:
        return
    worst = counts.worst_files(5)
    named = sum(n for _, n in worst)
    files = "; ".join(f"{path}: {n:,} bad" for path, n in worst)
    if counts.rows_bad > named:
        others = len(counts.bad_by_file) - len(worst)
        rest = f"{others:,} other file{'' if others == 1 else 's'}" if others else "files not broken down"
        files += f"{'; ' if files else ''}{counts.rows_bad - named:,} more in {rest}"
    kept_at = _keep_dead_letters(sink, errors_path)
    if kept_at is not None:
        letters = f"this run's dead letters are kept in {kept_at}"
    else:
        letters = "no dead letters were written (on_error='dead_letter' keeps the bad records to inspect)"
    share = counts.rows_bad / counts.rows_read if counts.rows_read else 0.0
    raise BadRecordBudgetError(
        f"{counts.rows_bad:,} of the {counts.rows_read:,} rows read from {source} were bad records "
        f"({share:.2%}), over the budget {broken}: nothing was published, split {sink.split!r} of "
        f"{sink.path} is as it was. Most bad records: {files}. {letters}",
        worst=worst,
        kept_at=kept_at,
    )


def _keep_dead_letters(sink: Sink, errors_path: str | None) -> str | None:
    """Where this run's dead letters can be inspected after it failed: the run's temp ones
    moved out of the temp folder (which the abort removes); None when there are none."""
    if errors_path is not None and errors_path != sink.temp_errors_dir:
        return errors_path if fs.is_dir(errors_path) and fs.list_files(errors_path) else None
    if not fs.is_dir(sink.temp_errors_dir):
        return None
    letters = fs.list_files(sink.temp_errors_dir)
    if not letters:
        return None
    for path in letters:
        fs.rename(path, fs.join(sink.rejected_errors_dir, os.path.basename(path)))
    return sink.rejected_errors_dir


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
    bad_by_file: dict[str, int] = {}
    for r in reports:
        files |= r.files
        for path, n in r.bad_files.items():
            bad_by_file[path] = bad_by_file.get(path, 0) + n
    by_stage: dict[int, list[int]] = {}  # the pipeline's own stages (a combination's inputs are < 0)
    for index, rows_in, rows_out in triples:
        if index >= 0:
            acc = by_stage.setdefault(index, [0, 0])
            acc[0] += rows_in
            acc[1] += rows_out
    return RunCounts(
        rows_read=sum(r.rows_read for r in reports) + bad,
        rows_written=sum(res.rows for r in reports for res in r.results),
        rows_filtered=sum(max(0, i - o) for i, o in pairs),
        rows_bad=bad,
        rows_added=sum(max(0, o - i) for i, o in pairs),
        files_read=len(files),
        bytes_read=sum(r.bytes_read for r in reports),
        tasks_reused=sum(r.reused for r in reports),
        bad_by_file=bad_by_file,
        stages=tuple(tuple(by_stage.get(i, (0, 0))) for i in range(max(by_stage, default=-1) + 1)),
    )
