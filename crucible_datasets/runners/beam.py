"""The Beam runner: one :class:`~crucible_datasets.pipeline.Pipeline` as an Apache Beam job.

``write(pipeline, sink, runner=..., num_shards=..., options=[...])`` writes the same rows, to the
same shard names, with the same manifest, card and counts as the local runner
(``runners/local.py``), on Beam's ``FnApiRunner`` (``runner="FnApiRunner"``, what
``runner="direct"`` means) or on any other Beam runner (``"DataflowRunner"``,
``"PortableRunner"``...) with its flags in ``options``.

The graph (no whole-stream stage)::

    Create(ShardTasks) -> key by task index -> GroupByKey -> ParDo(run task) -> ToList -> ParDo(finalize)

Each :class:`~crucible_datasets.pipeline.ShardTask` of ``pipeline.plan_tasks(num_shards)`` is
ONE element. A worker runs the task exactly as the local runner does (``local.write_task``:
read its file parts, apply every stage, write its shard slots to temp files) and emits only a
small :class:`TaskReport` (temp file names, row counts). Rows never cross Beam's data channel,
so there is no per-row Beam cost and no shuffle of rows: memory stays flat. The reports are
combined into one element and ``sink.finalize`` runs in a final ``DoFn`` (on a worker, as
Dataflow needs); the driver gets the :class:`~crucible_datasets.sinks.WriteSummary` back through
a small file (a local temp file, or ``{output}/.crucible-tmp/_summaries/`` on remote runners).

Spreading the tasks: with ``--direct_num_workers=N`` the FnApiRunner runs each fused stage as N
bundles, one per worker, cutting the stage's input buffer in N (``ParallelBundleManager``,
``fn_api_runner/execution.py``). A plain buffer is cut by data-channel chunks, so the output of
``Create`` (one chunk) all lands on the first worker; a ``GroupByKey``'s buffer is dealt key by
key, round-robin. So the tasks are keyed by their index and grouped: each task is a group of
its own and the N workers get the same number of tasks (Dataflow spreads the keys likewise).

Local worker processes (``--direct_num_workers`` > 1; ``multi_processing`` is the default
then): each runs ``runners/_beam_worker.py`` (Beam's worker, plus ``gc.freeze`` after the imports
and no interpreter teardown), and they are started before this process imports Beam, so both
import at the same time (``runners/_beam_pool.py``). One worker runs in this process
(``in_memory``).

A retried task rewrites the same temp files (named by task index, see ``sinks/base.py``), and
finalize uses only the reports of successful attempts, so retries never duplicate rows.

Whole-stream stages (``take``, ``skip``, ``shuffle``, ``dedupe``; see :func:`plan_beam`):

- ``dedupe`` and ``shuffle`` with only per-batch stages before and after them run distributed.
  Read tasks (one file part each) apply the stages before them in parallel and emit
  ``(key, row)`` pairs: dedupe keys each row by its digest (``transforms.stream.row_digest``)
  and keeps, per digest, the row with the smallest position in the input
  (``CombinePerKey(min)``), i.e. the row the local runner keeps; shuffle gives each row a
  random 64-bit key made from the seed (a per-run salt without one) and the row's position.
  The surviving rows go to ``num_shards`` slots (``GroupByKey`` on the slot); one worker per
  slot runs the stages after the whole-stream one and writes the slot's temp files. Dedupe
  gives each slot a contiguous range of read tasks and writes it in position order, so the
  rows come out in the local runner's order (the slot is held in memory). A seeded shuffle
  writes each slot in key order (the same files on every run; the slot is held in memory);
  without a seed the slot's rows pass through the shuffle's bounded buffer.
- every other whole-stream pipeline (``take``/``skip``, anything after ``dedupe``/``shuffle``
  that is not per-batch, such as ``take`` or a batched ``map``) runs as the single task the
  local runner plans: the input order, early stop for ``take``, flat memory, the same counts,
  but no parallelism.

Limits: a distributed ``dedupe``/``shuffle`` moves its rows through ``GroupByKey``s (the rows,
not only digests): on the FnApiRunner the runner process holds them in memory, as Beam's own
``GroupByKey`` does; on Dataflow the shuffle service holds them and a slot's rows stream to its
writer (except where a slot is sorted, above).

Shards: whatever the plan, ``sink.finalize(num_shards=...)`` cuts the rows of all temp files,
in task order, into ``num_shards`` shards of balanced row counts (one a row when fewer rows),
so a Beam run writes the same shard names, with the same row counts, as the local runner, and
for every plan but a shuffle the same rows in each shard. The cut runs in the finalize step:
a temp file that is not exactly one shard is read and written once more there, in one process
(the cost of balanced shards; see ``Sink.finalize``).

Counts come back in the reports, are summed in the finalize step, written into the
manifest/summary and reported as Beam metrics (namespace ``"crucible"``: ``rows_read``,
``rows_written``, ``rows_filtered``, ``rows_bad``, ``rows_added``, ``files_read``,
``bytes_read``). Dead
letters (``on_error="dead_letter"``) are written by the workers to the errors folder, one file
per task; their count is ``rows_bad``.
"""

from __future__ import annotations

import math
import os
import shlex
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from crucible_datasets.counts import RunCounts
from crucible_datasets.pipeline import Pipeline, ShardTask, Tally
from crucible_datasets.sinks import Sink, TaskResult, WriteSummary
from crucible_datasets.sources import DEFAULT_PART_BYTES
from crucible_datasets.transforms.base import Stage
from crucible_datasets.transforms.stream import Dedupe, Shuffle

METRICS_NAMESPACE = "crucible"
# Runners whose workers share this machine's disk: the summary comes back through a local file.
LOCAL_RUNNERS = frozenset(
    {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner", "PrismRunner"}
)
# Distributed dedupe/shuffle: read tasks of at most this many bytes, at least this many tasks.
READ_TASKS = 8
MIN_READ_PART_BYTES = 1 << 20


# --- what a task hands back ----------------------------------------------------------------------


@dataclass
class TaskReport:
    """What one Beam task hands back: its temp shards and what it counted.

    ``stages`` holds ``(stage index, rows in, rows out)`` triples, one per stage counter.
    """

    results: list[TaskResult] = field(default_factory=list)
    rows_read: int = 0
    rows_bad: int = 0
    files: frozenset[str] = frozenset()
    bytes_read: int = 0
    stages: list[tuple[int, int, int]] = field(default_factory=list)

    @classmethod
    def from_tally(cls, tally: Tally, results: list[TaskResult], first_stage: int = 0) -> TaskReport:
        return cls(
            results=list(results),
            rows_read=tally.rows_read,
            rows_bad=tally.errors.bad if tally.errors is not None else 0,
            files=frozenset(tally.files),
            bytes_read=tally.bytes_read,
            stages=[(first_stage + i, c.rows_in, c.rows_out) for i, c in enumerate(tally.stages)],
        )


def merge_counts(reports: Iterable[TaskReport], per_stage: bool) -> RunCounts:
    """Sum the reports' counts into one :class:`RunCounts`, as the local runner counts them.

    The local runner computes rows filtered/added per stage counter: one counter per stage and
    task for a parallel pipeline (``per_stage=False``), one per stage for a whole-stream one
    (``per_stage=True``: the counters of one stage are summed before).
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


# --- planning ------------------------------------------------------------------------------------


def _per_batch(stage: Stage) -> bool:
    """True for a stage whose output depends on each batch alone (it overrides only ``process``)."""
    return not stage.whole_stream and type(stage).apply is Stage.apply


@dataclass(frozen=True)
class BeamPlan:
    """How a pipeline runs on Beam.

    ``kind`` is ``"tasks"`` (the shard tasks of ``plan_tasks``, each one element; a
    whole-stream pipeline has one) or ``"distributed"`` (read tasks of one file part each up to
    the whole-stream stage ``stages[split]``, a Dedupe or Shuffle, then one writer per slot).
    """

    kind: str
    tasks: tuple[ShardTask, ...] = ()
    split: int = 0
    whole_stream: bool = False


def plan_beam(pipeline: Pipeline, num_shards: int) -> BeamPlan:
    """Choose how ``pipeline`` runs on Beam (see the module docstring)."""
    stages = pipeline.stages
    if not pipeline.whole_stream:
        return BeamPlan("tasks", tuple(pipeline.plan_tasks(num_shards)))
    split = next(i for i, s in enumerate(stages) if not _per_batch(s))
    after = stages[split + 1 :]
    if not (isinstance(stages[split], Dedupe | Shuffle) and all(_per_batch(s) for s in after)):
        return BeamPlan("tasks", tuple(pipeline.plan_tasks(num_shards)), whole_stream=True)
    source = pipeline.source
    total = source.total_bytes()
    if source.shuffle_seed is not None:  # the local runner's parts, in its (shuffled) order
        part_bytes = max(1, math.ceil(total / num_shards)) if total else DEFAULT_PART_BYTES
    else:  # any parts: the rows keep the files' order
        wanted = max(1, math.ceil(total / max(num_shards, READ_TASKS)))
        part_bytes = min(DEFAULT_PART_BYTES, max(MIN_READ_PART_BYTES, wanted))
    parts = source.parts(part_bytes)
    tasks = tuple(ShardTask(i, (p,), ()) for i, p in enumerate(parts))
    return BeamPlan("distributed", tasks, split, whole_stream=True)


# --- running ------------------------------------------------------------------------------------


def write(
    pipeline: Pipeline,
    sink: Sink,
    *,
    runner: str = "FnApiRunner",
    num_shards: int | None = None,
    options: Sequence[str] = (),
) -> WriteSummary | None:
    """Run ``pipeline`` on Beam and write its rows through ``sink``; the summary of the write.

    Returns None when the runner only builds or stages the job (``--dry_run``,
    ``--template_location``): nothing was written.

    For the FnApiRunner with several worker processes, the workers are started first, so that
    they import Beam and this package while this process does the same (see ``_beam_pool.py``).
    """
    started = time.monotonic()
    flags = list(options)
    pool = None
    workers = local_workers(runner, flags)
    if workers > 1 and _flag(flags, "direct_running_mode") in (None, "multi_processing"):
        from crucible_datasets.runners import _beam_pool

        pool = _beam_pool.WarmPool.start(workers)
    try:
        from crucible_datasets.runners import _beam_job

        return _beam_job.run(
            pipeline, sink, runner=runner, num_shards=num_shards, options=flags, pool=pool, started=started
        )
    finally:
        if pool is not None:
            pool.close()


def _flag(flags: Sequence[str], name: str) -> str | None:
    """The value of ``--name=value`` / ``--name value`` in Beam-style flags (the last one wins)."""
    value = None
    for i, flag in enumerate(flags):
        if flag == f"--{name}" and i + 1 < len(flags):
            value = flags[i + 1]
        elif flag.startswith(f"--{name}="):
            value = flag.split("=", 1)[1]
    return value


def local_workers(runner: str, flags: Sequence[str]) -> int:
    """How many worker processes the FnApiRunner runs with ``flags`` (1: in this process)."""
    if runner != "FnApiRunner":
        return 0
    value = _flag(flags, "direct_num_workers")
    try:
        workers = int(value) if value is not None else 1
    except ValueError:
        raise ValueError(f"--direct_num_workers takes an integer, got {shlex.quote(value)}") from None
    return (os.cpu_count() or 1) if workers == 0 else workers


_JOB_NAMES = ("RunShardTask", "ReadRows", "WriteSlot", "Finalize", "build")


def __getattr__(name: str):
    """The Beam parts (``DoFn``s, ``build``) live in ``_beam_job`` (importing it imports Beam)."""
    if name in _JOB_NAMES:
        from crucible_datasets.runners import _beam_job

        return getattr(_beam_job, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "METRICS_NAMESPACE",
    "BeamPlan",
    "TaskReport",
    "local_workers",
    "merge_counts",
    "plan_beam",
    "write",
    *_JOB_NAMES,
]
