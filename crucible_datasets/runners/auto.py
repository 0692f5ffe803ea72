"""``runner="auto"`` (the command line's default): in this process where Beam's start-up would
dominate, on Beam's FnApiRunner with one worker process per core where the work does.

The choice, in order (:meth:`AutoRunner.choose`):

1. Beam flags given (``--direct_num_workers=4``, ``--dry_run``...): ``direct`` with those flags;
2. input below ``local_below`` bytes (default :data:`LOCAL_BELOW_BYTES`, or the environment's
   ``CRUCIBLE_AUTO_LOCAL_BYTES``): ``local``;
3. the pipeline is one task (``take``/``skip``/``shuffle``/``dedupe``, a single unsplittable file,
   or one output shard, see :meth:`~crucible_datasets.pipeline.Pipeline.plan_tasks`): ``local``
   (two workers would share one task);
4. one core: ``local``;
5. else ``direct`` with ``--direct_num_workers=min(cores, tasks) --direct_running_mode=multi_processing``.

The threshold, measured on this project's 2-core machine when idle (``bench/run.py``, the
benchmark job ``bench/job.py``: filter + map of ~2.3 KB reasoning rows into 4 shards; median wall
seconds of 3, ``bench/results/results.jsonl``): 100k rows (221 MiB): local 1.27, direct with 2
workers 2.42; 1.2M rows (2,659 MiB): local 12.7, direct 8.5. As lines: local 0.23 s + 4.7 ms/MiB,
direct 1.87 s + 2.5 ms/MiB (Beam's start-up: importing Beam in the driver and the workers, the
graph, the finalize step), crossing at ~745 MiB; so :data:`LOCAL_BELOW_BYTES` is 768 MiB. On a
loaded machine Beam's start-up grows most (at load 10: 5,000 rows, local 4.2 s, direct 23 s).

The choice and its reason are printed on stderr (unless ``progress=False``) and kept in the
summary (``summary.runner``):

>>> import pyarrow as pa
>>> from crucible_datasets.pipeline import Pipeline
>>> from crucible_datasets.sources import TableSource
>>> print(AutoRunner().choose(Pipeline(TableSource(pa.table({"x": [1]}))), num_shards=2))
local (auto: 8 B of input, below 768.0 MiB)
>>> print(AutoRunner(local_below=0, cores=2).choose(Pipeline(TableSource(pa.table({"x": [1]}))), 2))
local (auto: 1 task)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners.base import Runner
from crucible_datasets.runners.beam import BeamRunner
from crucible_datasets.runners.beam.plan import only_builds
from crucible_datasets.runners.local import LocalRunner
from crucible_datasets.sinks import Sink, WriteSummary
from crucible_datasets.sinks.summary import human_bytes

LOCAL_BELOW_BYTES = 768 * 1024 * 1024
LOCAL_BELOW_ENV = "CRUCIBLE_AUTO_LOCAL_BYTES"


@dataclass(frozen=True)
class Choice:
    """The runner ``auto`` chose, the Beam flags it runs with, and why."""

    runner: str
    options: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        return f"{self.runner} (auto: {self.reason})"


class AutoRunner:
    """Picks ``local`` or ``direct`` for each write (``runner="auto"``); see the module docstring."""

    def __init__(self, local_below: int | None = None, cores: int | None = None) -> None:
        if local_below is None:
            local_below = _env_bytes(LOCAL_BELOW_ENV, LOCAL_BELOW_BYTES)
        self.local_below = local_below
        self.cores = cores if cores is not None else (os.cpu_count() or 1)

    def builds_only(self, options: Sequence[str]) -> bool:
        return only_builds(options)  # Beam flags given: ``direct`` runs (or only builds) the job

    def choose(
        self, pipeline: Pipeline, num_shards: int | None = None, options: Sequence[str] = ()
    ) -> Choice:
        """Where ``pipeline`` runs best, writing ``num_shards`` shards (None: the default)."""
        if options:
            return Choice("direct", tuple(options), "Beam flags given")
        total = pipeline.source.total_bytes()
        if total < self.local_below:
            below = human_bytes(self.local_below)
            return Choice("local", (), f"{human_bytes(total)} of input, below {below}")
        n = pipeline.default_num_shards() if num_shards is None else num_shards
        tasks = len(pipeline.plan_tasks(n))
        if tasks == 1:
            return Choice("local", (), "1 task")
        if self.cores < 2:
            return Choice("local", (), "1 core")
        workers = min(self.cores, tasks)
        flags = (f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing")
        reason = f"{human_bytes(total)} of input in {tasks} tasks, {workers} workers"
        return Choice("direct", flags, reason)

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
        """Write through the runner :meth:`choose` picks; the summary names it (``summary.runner``)."""
        choice = self.choose(pipeline, num_shards, options)
        if progress is not False:
            print(f"crucible: runner {choice}", file=sys.stderr)
        runner: Runner = LocalRunner() if choice.runner == "local" else BeamRunner("FnApiRunner")
        summary = runner.write(
            pipeline,
            sink,
            num_shards=num_shards,
            options=choice.options,
            progress=progress,
            allow_empty=allow_empty,
        )
        if summary is not None:
            summary.runner = str(choice)
        return summary


def _env_bytes(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} takes a number of bytes, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} takes a number of bytes >= 0, got {text!r}")
    return value
