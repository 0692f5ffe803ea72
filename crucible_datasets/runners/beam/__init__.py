"""The Beam runner: one :class:`~crucible_datasets.pipeline.Pipeline` as an Apache Beam job.

``BeamRunner(name).write(pipeline, sink, num_shards=..., options=[...])`` writes the same rows,
to the same shard names, with the same manifest, card and counts as the local runner
(``runners/local.py``), on Beam's ``FnApiRunner`` (``"FnApiRunner"``, what ``runner="direct"``
means) or on any other Beam runner (``"DataflowRunner"``, ``"PortableRunner"``...) with its flags
in ``options``. This module does not import Beam: ``plan.py`` chooses the graph, ``job.py``
builds and runs it, ``speedups.py`` holds the local speed-ups (one switch,
``CRUCIBLE_BEAM_SPEEDUPS``); on the FnApiRunner, ``lifetime.py`` makes every worker process end
with its driver and ``supervision.py`` fails the job at once when a worker is lost.

The graph (no whole-stream stage)::

    Create(ShardTasks) -> key by task index -> GroupByKey -> ParDo(run task) -> ToList -> ParDo(finalize)

Each :class:`~crucible_datasets.pipeline.ShardTask` of ``pipeline.plan_tasks(num_shards)`` is
ONE element. A worker runs the task exactly as the local runner does (``runners.base.run_task``:
read its file parts, apply every stage, write its rows to temp files) and emits only a small
``TaskReport`` (temp file names, row counts). Rows never cross Beam's data channel, so there is
no per-row Beam cost and no shuffle of rows: memory stays flat. The reports are combined into
one element and ``sink.finalize`` runs in a final ``DoFn`` (on a worker, as Dataflow needs); the
driver gets the :class:`~crucible_datasets.sinks.WriteSummary` back through a small file (a
local temp file, or ``{output}/.crucible-tmp/_summaries/`` on remote runners).

Spreading the tasks: with ``--direct_num_workers=N`` the FnApiRunner runs each fused stage as N
bundles, one per worker, cutting the stage's input buffer in N (``ParallelBundleManager``,
``fn_api_runner/execution.py``). A plain buffer is cut by data-channel chunks, so the output of
``Create`` (one chunk) all lands on the first worker; a ``GroupByKey``'s buffer is dealt key by
key, round-robin. So the tasks are keyed by their index and grouped: each task is a group of
its own and the N workers get the same number of tasks (Dataflow spreads the keys likewise).

A retried task rewrites the same temp files (named by task index, see ``sinks/``), and
finalize uses only the reports of successful attempts, so retries never duplicate rows.

Whole-stream stages (``take``, ``skip``, ``shuffle``, ``dedupe``; see ``plan.py``):

- keyed stages (``dedupe``, ``shuffle``, one or more in a row) with only per-batch stages
  before and after them run distributed. Read tasks (one file part each) apply the stages
  before them in parallel and emit ``(position, row)`` pairs; each keyed stage runs as
  ``transforms.beam.KeyedRows`` (the same Beam form as ``cd.transforms.Dedupe``): dedupe keys
  each row by its digest and keeps the first in input order, the row the local runner keeps;
  shuffle gives each row a random 128-bit key from the seed and the row's position (a random
  one without a seed) and moves it there. The survivors are cut into ``num_shards`` ranges of
  positions (``GroupByKey`` on the range); one worker per range sorts it (the range is held in
  memory), runs the stages after the keyed ones and writes its temp files. So dedupe writes
  the local runner's rows in its order, and a seeded shuffle the same files on every run.
- every other whole-stream pipeline (``take``/``skip``, a regrouping stage such as a batched
  ``map`` next to a keyed one) runs as the single task the local runner plans: the input
  order, early stop for ``take``, flat memory, the same counts, but no parallelism.

Limits: a distributed ``dedupe``/``shuffle`` moves its rows through ``GroupByKey``s (the rows,
not only digests): on the FnApiRunner the runner process holds them in memory, as Beam's own
``GroupByKey`` does; on Dataflow the shuffle service holds them, but each output range is
sorted in one worker's memory.

Shards: whatever the plan, ``sink.finalize(num_shards=...)`` cuts the rows of all temp files,
in task order, into ``num_shards`` shards of balanced row counts (one a row when fewer rows),
so a Beam run writes the same shard names, with the same row counts, as the local runner, and
for every plan but a shuffle the same rows in each shard. The cut runs in the finalize step:
a temp file that is not exactly one shard is read and written once more there, in one process
(the cost of balanced shards; see ``Sink.finalize``).

Counts come back in the reports, are merged in the finalize step (``runners.base.merge_counts``),
written into the manifest/summary and reported as Beam metrics (namespace ``"crucible"``:
``rows_read``, ``rows_written``, ``rows_filtered``, ``rows_bad``, ``rows_added``, ``files_read``,
``bytes_read``). Dead letters (``on_error="dead_letter"``) are written by the workers to the
errors folder, one file per task; their count is ``rows_bad``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext

from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners.beam.plan import local_workers, multi_processing, only_builds
from crucible_datasets.sinks import Sink, WriteSummary


class BeamRunner:
    """Runs on the Beam runner ``name`` (``"FnApiRunner"``, ``"DataflowRunner"``...)."""

    def __init__(self, name: str = "FnApiRunner") -> None:
        self.name = name

    def builds_only(self, options: Sequence[str]) -> bool:
        return only_builds(options)

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
        """Run ``pipeline`` on Beam and write its rows through ``sink``; the summary of the write.

        Returns None when the runner only builds or stages the job (``--dry_run``,
        ``--template_location``): nothing was written. ``progress`` is not used: a run on this
        machine's disk always draws its bar from the tasks' progress files.

        On the FnApiRunner the local speed-ups (``speedups.py``) are used unless switched off:
        with several worker processes, those are started first, so that they import Beam and
        this package while this process does the same. Its worker processes, warm or Beam's own,
        end with this process (``lifetime.py``), and one lost while the job runs fails the job
        at once with :class:`~crucible_datasets.runners.beam.supervision.WorkerLostError`
        (``supervision.py``).
        """
        started = time.monotonic()
        flags = list(options)
        # imported here, not at the top: worker processes run it as ``python -m ...speedups``
        from crucible_datasets.runners.beam import lifetime, speedups

        fast = self.name == "FnApiRunner" and speedups.enabled()
        pool = None
        if fast and multi_processing(self.name, flags):
            pool = speedups.WarmPool.start(local_workers(self.name, flags))
        try:
            from crucible_datasets.runners.beam import job, supervision

            fn_api_runner = None
            if self.name == "FnApiRunner":
                command = pool.worker_command if pool is not None else lifetime.harness_command()
                fn_api_runner = supervision.fn_api_runner(command)
            with speedups.frozen_heap() if fast else nullcontext():
                return job.run(
                    pipeline, sink, runner=self.name, num_shards=num_shards, options=flags,
                    fn_api_runner=fn_api_runner, started=started, allow_empty=allow_empty,
                )  # fmt: skip
        finally:
            if pool is not None:
                pool.close()
