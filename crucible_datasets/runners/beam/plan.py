"""How a pipeline runs on Beam, decided without importing Beam: :func:`plan_beam`, and the flags.

Two plans (``BeamPlan.kind``):

- ``"tasks"``: the shard tasks of ``Pipeline.plan_tasks``, one Beam element each, run like the
  local runner's (``runners.base.run_task``). A pipeline with a whole-stream stage that cannot
  be distributed has one task.
- ``"distributed"``: the stages are per-batch stages, then one or more consecutive keyed stages
  (``StageKind.KEYED``, e.g. ``dedupe``, ``shuffle``, one keyed stage per MinHash band), then
  per-batch stages. Read tasks (one file part each) run the stages before the keyed ones and
  give every row its position (task / tasks, batch, row); each keyed stage runs on the
  survivors of the one before (``transforms.beam.KeyedRows``); the survivors are cut into
  ``num_shards`` ranges of their positions, and one writer per range runs the stages after and
  writes them in position order.

Anything else (``take``/``skip``, a regrouping stage such as a batched ``map`` before or after
a keyed stage, a per-batch stage between two keyed ones) runs as the single task.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from crucible_datasets.pipeline import Pipeline, ShardTask
from crucible_datasets.sources import DEFAULT_PART_BYTES
from crucible_datasets.transforms.base import StageKind

# Runners whose workers share this machine's disk: the summary comes back through a local file.
LOCAL_RUNNERS = frozenset(
    {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner", "PrismRunner"}
)
# Distributed plan: read tasks of at most this many bytes, at least this many tasks.
READ_TASKS = 8
MIN_READ_PART_BYTES = 1 << 20


@dataclass(frozen=True)
class BeamPlan:
    """How a pipeline runs on Beam (see the module docstring).

    ``keyed``: the indices of the consecutive keyed stages of a ``"distributed"`` plan.
    """

    kind: str
    tasks: tuple[ShardTask, ...] = ()
    keyed: range = range(0)
    whole_stream: bool = False


def plan_beam(pipeline: Pipeline, num_shards: int) -> BeamPlan:
    """Choose how ``pipeline`` runs on Beam.

    >>> import pyarrow as pa
    >>> from crucible_datasets.sources import TableSource
    >>> from crucible_datasets.transforms.stream import Dedupe, Take
    >>> pipe = Pipeline(TableSource(pa.table({"x": [1, 1, 2]})))
    >>> plan_beam(pipe.then(Dedupe()).then(Dedupe("x")), 2).keyed, plan_beam(pipe.then(Take(1)), 2).kind
    (range(0, 2), 'tasks')
    """
    stages = pipeline.stages
    if not pipeline.whole_stream:
        return BeamPlan("tasks", tuple(pipeline.plan_tasks(num_shards)))
    kinds = [s.kind for s in stages]
    first = next(i for i, k in enumerate(kinds) if k is not StageKind.PER_BATCH)
    stop = first
    while stop < len(kinds) and kinds[stop] is StageKind.KEYED:
        stop += 1
    if stop == first or any(k is not StageKind.PER_BATCH for k in kinds[stop:]):
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
    return BeamPlan("distributed", tasks, range(first, stop), whole_stream=True)


def only_builds(flags: Sequence[str]) -> bool:
    """True when Beam flags make the runner build or stage the job without running it.

    Beam reads ``--dry_run`` as a string and its runners test its truth, so any non-empty value
    (``--dry_run=False`` too) builds only, as ``job._only_builds`` sees it after parsing.

    >>> only_builds(["--dry_run=True"]), only_builds(["--template_location", "gs://b/t"]), only_builds([])
    (True, True, False)
    >>> only_builds(["--dry_run=False"]), only_builds(["--dry_run="])
    (True, False)
    """
    return bool(flag(flags, "dry_run")) or bool(flag(flags, "template_location"))


def flag(flags: Sequence[str], name: str) -> str | None:
    """The value of ``--name=value`` / ``--name value`` in Beam-style flags (the last one wins).

    >>> flag(["--a=1", "--b", "2", "--a=3"], "a"), flag(["--b", "2"], "b"), flag([], "c")
    ('3', '2', None)
    """
    value = None
    for i, item in enumerate(flags):
        if item == f"--{name}" and i + 1 < len(flags):
            value = flags[i + 1]
        elif item.startswith(f"--{name}="):
            value = item.split("=", 1)[1]
    return value


def local_workers(runner: str, flags: Sequence[str]) -> int:
    """How many worker processes the FnApiRunner runs with ``flags`` (1: in this process)."""
    if runner != "FnApiRunner":
        return 0
    value = flag(flags, "direct_num_workers")
    try:
        workers = int(value) if value is not None else 1
    except ValueError:
        raise ValueError(f"--direct_num_workers takes an integer, got {shlex.quote(value)}") from None
    return (os.cpu_count() or 1) if workers == 0 else workers


def multi_processing(runner: str, flags: Sequence[str]) -> bool:
    """True when the FnApiRunner will run its workers as processes (several, default mode)."""
    mode = flag(flags, "direct_running_mode")
    return local_workers(runner, flags) > 1 and mode in (None, "multi_processing")
