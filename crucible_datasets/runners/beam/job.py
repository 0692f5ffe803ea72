"""The Beam job of ``runners/beam/``: its ``DoFn``s, the graph (:func:`build`) and the run.

Kept apart from ``runners/beam/__init__.py`` so that the runner can start worker processes
before this module (and Apache Beam) is imported. The design is described there; the plan
(which graph) comes from ``plan.py``.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from crucible_datasets.batch import Batch
from crucible_datasets.errors import UserFunctionError
from crucible_datasets.pipeline import Pipeline, ShardTask, Tally
from crucible_datasets.progress import FolderProgress, TaskProgressFile
from crucible_datasets.runners.base import (
    TaskReport,
    check_bad_budget,
    check_good_rows,
    merge_counts,
    run_task,
    stage_counts,
)
from crucible_datasets.runners.beam.plan import LOCAL_RUNNERS, BeamPlan, local_workers, plan_beam
from crucible_datasets.sinks import Sink, WriteSummary
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.transforms.base import StageCounter, apply_stages
from crucible_datasets.transforms.beam import KeyedRows, in_order, range_of

METRICS_NAMESPACE = "crucible"

# --- DoFns ---------------------------------------------------------------------------------------


class _ErrorCapture:
    """Keeps the original exception of a failed task where the driver can re-raise it."""

    def __init__(self, error_dir: str | None) -> None:
        self.error_dir = error_dir

    def save(self, exc: BaseException) -> None:
        if self.error_dir is None or not isinstance(exc, Exception):
            return
        try:
            if isinstance(exc, UserFunctionError):  # pickles itself, with its original as __cause__
                data = pickle.dumps(exc)
            else:
                data = pickle.dumps((type(exc), exc.args, _error_state(exc)))
            path = os.path.join(self.error_dir, f"error-{uuid.uuid4().hex}.pkl")
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        except Exception:  # noqa: BLE001 - an unpicklable error: Beam's own message must do
            pass


def _error_state(exc: BaseException) -> dict:
    state = dict(getattr(exc, "__dict__", {}))
    for name in list(state):
        try:
            pickle.dumps(state[name])
        except Exception:  # noqa: BLE001 - keep what pickles
            del state[name]
    return state


def _rebuild_error(cls: type, args: tuple, state: dict) -> BaseException:
    """The exception again, without calling its ``__init__`` (which may take other arguments)."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class RunShardTask(beam.DoFn):
    """Runs one :class:`ShardTask` (``runners.base.run_task``) and emits its :class:`TaskReport`."""

    def __init__(self, pipeline: Pipeline, sink: Sink, error_dir: str | None = None) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.capture = _ErrorCapture(error_dir)
        self.progress_dir = error_dir  # a local runner's scratch folder, shared with the driver

    def process(self, task: ShardTask) -> Iterator[TaskReport]:
        progress = None
        if self.progress_dir is not None:
            progress = TaskProgressFile(os.path.join(self.progress_dir, f"progress-{task.index:05d}.json"))
        tally = Tally(progress=progress)
        try:
            report = run_task(self.pipeline, task, self.sink, tally)
        except Exception as exc:
            self.capture.save(exc)
            raise
        finally:
            tally.close()
        yield report


class ReadRows(beam.DoFn):
    """A read task of the distributed plan: the stages before the keyed ones, then
    ``(position, row)`` pairs, the position being ``(task / tasks, batch, row)`` (input order).
    Its :class:`TaskReport` goes to the ``"report"`` output.
    """

    def __init__(self, pipeline: Pipeline, first: int, num_tasks: int, error_dir: str | None = None) -> None:
        self.pipeline = pipeline
        self.first = first
        self.num_tasks = num_tasks
        self.capture = _ErrorCapture(error_dir)

    def process(self, task: ShardTask) -> Iterator:
        prefix = Pipeline(self.pipeline.source, self.pipeline.stages[: self.first])
        where = task.index / self.num_tasks
        tally = Tally()
        emitted = 0
        try:
            for b, batch in enumerate(prefix.run_parts(task.parts, tally)):
                for j, row in enumerate(batch.rows):
                    yield (where, b, j), row
                emitted += len(batch)
        except Exception as exc:
            self.capture.save(exc)
            raise
        finally:
            tally.close()
        report = TaskReport.from_tally(tally, [])
        report.stages.append((self.first, emitted, 0))
        yield beam.pvalue.TaggedOutput("report", report)


def _batches(rows: Iterable[dict], batch_rows: int) -> Iterator[Batch]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch_rows:
            yield Batch.from_rows(chunk)
            chunk = []
    if chunk:
        yield Batch.from_rows(chunk)


class WriteSlot(beam.DoFn):
    """Writes one output slot of the distributed plan: a range of the survivors' positions.

    Input ``(slot, [(position, row), ...])``: the rows are put in position order (the slot is
    held in memory), regrouped into batches, passed through the per-batch stages after the
    keyed ones (from ``stop``), and written as the slot's shard task.
    """

    def __init__(self, pipeline: Pipeline, stop: int, sink: Sink, batch_rows: int, error_dir=None) -> None:
        self.pipeline = pipeline
        self.stop = stop
        self.sink = sink
        self.batch_rows = batch_rows
        self.capture = _ErrorCapture(error_dir)

    def process(self, element: tuple[int, Iterable]) -> Iterator[TaskReport]:
        slot, pairs = element
        received = StageCounter()

        def rows() -> Iterator[dict]:
            for _, row in in_order(pairs):
                received.rows_out += 1
                yield row

        counters: list[StageCounter] = []
        stream = apply_stages(_batches(rows(), self.batch_rows), self.pipeline.stages[self.stop :], counters)
        try:
            with self.sink.open_task(slot) as writer:
                for batch in stream:
                    writer.write(batch)
            result = writer.result
        except Exception as exc:
            self.capture.save(exc)
            raise
        stages = [(self.stop - 1, 0, received.rows_out), *stage_counts(counters, self.stop)]
        yield TaskReport(results=[result], stages=stages)


class Finalize(beam.DoFn):
    """The last step: merge the reports, ``sink.finalize``, metrics, and the summary for the driver."""

    def __init__(
        self,
        sink: Sink,
        source: str,
        expected_reports: int | None,
        per_stage: bool,
        summary_path: str | None,
        error_dir: str | None = None,
        started_at: float | None = None,
        num_shards: int | None = None,
        allow_empty: bool = False,
        errors_path: str | None = None,
    ) -> None:
        self.errors_path = errors_path  # the source's dead-letter folder (check_bad_budget)
        self.num_shards = num_shards
        self.allow_empty = allow_empty
        self.sink = sink
        self.source = source
        self.started_at = started_at
        self.expected_reports = expected_reports
        self.per_stage = per_stage
        self.summary_path = summary_path
        self.capture = _ErrorCapture(error_dir)

    def process(self, reports: list[TaskReport]) -> Iterator[WriteSummary]:
        try:
            if self.expected_reports is not None and len(reports) != self.expected_reports:
                raise RuntimeError(
                    f"finalize got {len(reports)} task reports, expected {self.expected_reports}: "
                    "a task's output was lost"
                )
            counts = merge_counts(reports, self.per_stage)
            check_good_rows(counts, self.sink, self.source, self.allow_empty)
            check_bad_budget(counts, self.sink, self.source, self.errors_path)
            results = [r for report in reports for r in report.results]
            wall = None if self.started_at is None else max(0.0, time.time() - self.started_at)
            summary = self.sink.finalize(
                results,
                counts=counts,
                source=self.source,
                wall_seconds=wall,
                num_shards=self.num_shards,
                task_aligned=not self.per_stage,  # the shard tasks of plan_tasks, as the local runner's
            )
        except Exception as exc:
            self.capture.save(exc)
            raise
        for name, value in counts.totals().items():
            Metrics.counter(METRICS_NAMESPACE, name).inc(value)
        if self.summary_path is not None:
            with fs.open_output(self.summary_path + ".tmp") as f:
                f.write(pickle.dumps(summary))
            fs.rename(self.summary_path + ".tmp", self.summary_path)
        yield summary


# --- building and running the job ----------------------------------------------------------------


class _Distribute(beam.PTransform):
    """One group per element: a GroupByKey on distinct ints spreads elements over the workers.

    (The FnApiRunner deals the groups of a GroupByKey round-robin to its workers; a plain
    ``Create`` would hand all elements to the first worker.)
    """

    def __init__(self, key) -> None:
        super().__init__()
        self.key = key

    def expand(self, pcoll):
        key = self.key
        return (
            pcoll
            | "Key" >> beam.Map(lambda x: (key(x), x))
            | "Group" >> beam.GroupByKey()
            | "Ungroup" >> beam.FlatMap(lambda kv: kv[1])
        )


def build(
    root: beam.Pipeline,
    pipeline: Pipeline,
    sink: Sink,
    num_shards: int,
    *,
    summary_path: str | None = None,
    error_dir: str | None = None,
    started_at: float | None = None,
    allow_empty: bool = False,
) -> beam.PCollection:
    """Add the write of ``pipeline`` to the Beam pipeline ``root``; a PCollection of one summary."""
    plan = plan_beam(pipeline, num_shards)
    tasks = (
        root
        | "Tasks" >> beam.Create(list(plan.tasks), reshuffle=False)
        | "Distribute" >> _Distribute(lambda t: t.index)
    )
    if plan.kind == "tasks":
        reports = tasks | "RunTasks" >> beam.ParDo(RunShardTask(pipeline, sink, error_dir))
        expected = len(plan.tasks)
    else:
        reports = _distributed(tasks, plan, pipeline, sink, num_shards, error_dir)
        expected = None
    finalize = Finalize(
        sink, pipeline.source.description, expected, plan.whole_stream, summary_path, error_dir, started_at,
        num_shards, allow_empty, pipeline.source.errors_path,
    )  # fmt: skip
    return reports | "CollectReports" >> beam.combiners.ToList() | "Finalize" >> beam.ParDo(finalize)


def _survivors_report(first: int):
    """The counts between two keyed stages: ``first`` kept ``n`` rows, the next one got them."""

    def report(n: int) -> TaskReport:
        return TaskReport(stages=[(first, 0, n), (first + 1, n, 0)])

    return report


def _distributed(
    tasks, plan: BeamPlan, pipeline: Pipeline, sink: Sink, num_shards: int, error_dir: str | None
):
    keyed = plan.keyed
    read = tasks | "ReadRows" >> beam.ParDo(
        ReadRows(pipeline, keyed.start, len(plan.tasks), error_dir)
    ).with_outputs("report", main="rows")
    outputs = [read.report]
    pairs = read.rows
    for i in keyed:
        pairs = pairs | f"Keyed{i}" >> KeyedRows(pipeline.stages[i])
        if i + 1 < keyed.stop:
            outputs.append(
                pairs
                | f"Count{i}" >> beam.combiners.Count.Globally()
                | f"Report{i}" >> beam.Map(_survivors_report(i))
            )
    slots = (
        pairs
        | "ToSlot" >> beam.Map(lambda pair: (range_of(pair[0], num_shards), pair))
        | "GroupBySlot" >> beam.GroupByKey()
        | "WriteSlots"
        >> beam.ParDo(WriteSlot(pipeline, keyed.stop, sink, pipeline.source.batch_rows, error_dir))
    )
    outputs.append(slots)
    return outputs | "Reports" >> beam.Flatten()


def _runner_and_options(runner: str, options: Sequence[str], fn_api_runner=None):
    """The runner object and options: the FnApiRunner by class (Beam's plain DirectRunner may try
    to fetch another runner first; ``fn_api_runner``: one set up by ``speedups.py``), every
    other runner by name with its flags.

    FnApiRunner: one worker runs in this process (``in_memory``); with more workers
    (``--direct_num_workers``, 0 = one per core) the default mode is ``multi_processing``.
    """
    flags = list(options)
    if runner != "FnApiRunner":
        return runner, PipelineOptions(flags, runner=runner)
    workers = local_workers(runner, flags)
    if not any(f.startswith("--direct_running_mode") for f in flags):
        flags.append(f"--direct_running_mode={'multi_processing' if workers > 1 else 'in_memory'}")
    if fn_api_runner is None:
        from apache_beam.runners.portability.fn_api_runner import FnApiRunner

        fn_api_runner = FnApiRunner()
    return fn_api_runner, PipelineOptions(flags)


def _check_reachable(pipeline: Pipeline, sink: Sink) -> None:
    """Dataflow workers run on other machines: local paths would not be there."""
    files = pipeline.source.files
    local = [p for p in (sink.path, *files) if not fs.is_remote(p)]
    if local or not files:
        what = f"local path {local[0]}" if local else "an in-memory dataset"
        raise ValueError(
            f"DataflowRunner workers cannot read or write {what}: put the input and the output "
            "on gs:// (or another remote store the workers can reach)"
        )


def _only_builds(options: PipelineOptions) -> bool:
    """True when the runner only builds/stages the job (``--dry_run``, ``--template_location``)."""
    every = options.get_all_options()
    return bool(every.get("dry_run") or every.get("template_location"))


def _read_summary(path: str) -> WriteSummary | None:
    if not fs.exists(path):
        return None
    with fs.open_input(path) as f:
        summary = pickle.loads(f.read())
    fs.delete(path)
    return summary


def _saved_error(scratch: str | None) -> BaseException | None:
    if scratch is None:
        return None
    for name in sorted(os.listdir(scratch)):
        if name.startswith("error-") and name.endswith(".pkl"):
            try:
                with open(os.path.join(scratch, name), "rb") as f:
                    saved = pickle.loads(f.read())
                return saved if isinstance(saved, BaseException) else _rebuild_error(*saved)
            except Exception:  # noqa: BLE001 - Beam's own error is raised instead
                continue
    return None


def run(
    pipeline: Pipeline,
    sink: Sink,
    *,
    runner: str,
    num_shards: int | None,
    options: Sequence[str],
    fn_api_runner=None,
    started: float | None = None,
    allow_empty: bool = False,
) -> WriteSummary | None:
    """Run the write on Beam (``BeamRunner.write``, which may bring a ``fn_api_runner``)."""
    started = time.monotonic() if started is None else started
    n = pipeline.default_num_shards() if num_shards is None else num_shards
    if n < 1:
        raise ValueError(f"num_shards must be at least 1, got {n}")
    runner_obj, beam_options = _runner_and_options(runner, options, fn_api_runner)
    if runner == "DataflowRunner" and not _only_builds(beam_options):
        _check_reachable(pipeline, sink)
    local_disk = runner in LOCAL_RUNNERS
    scratch = tempfile.mkdtemp(prefix="crucible-beam-") if local_disk else None
    if local_disk:
        summary_path = os.path.join(scratch, "summary.pkl")
    else:
        summary_path = fs.join(sink.path, ".crucible-tmp", "_summaries", f"{sink.run_id}.pkl")
    try:
        root = beam.Pipeline(runner=runner_obj, options=beam_options)
        started_at = time.time() - (time.monotonic() - started)
        build(
            root, pipeline, sink, n, summary_path=summary_path, error_dir=scratch, started_at=started_at,
            allow_empty=allow_empty,
        )  # fmt: skip
        try:
            with FolderProgress(scratch, pipeline.source.total_bytes()) if local_disk else nullcontext():
                result = root.run()
                state = result.wait_until_finish()
        except Exception as exc:
            original = _saved_error(scratch)
            if local_disk and sink.run_key is None:  # a resumable run keeps its finished tasks for a rerun
                sink.abort()
            if original is not None and original.__cause__ is not None:
                raise original from original.__cause__  # keeps its cause: the user's exception
            if original is not None:
                raise original from exc
            raise
        if _only_builds(beam_options):
            return None  # the job was built (and staged), not run: there is nothing to read
        summary = _read_summary(summary_path)
        if summary is None:
            if str(state) in ("DONE", "PipelineState.DONE"):
                raise RuntimeError(f"the Beam job finished but left no write summary at {summary_path}")
            return None
        summary.wall_seconds = time.monotonic() - started  # the whole call, as the local runner's
        return summary
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
