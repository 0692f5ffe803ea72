"""A pipeline: a source (a split's files read by a format) and a chain of stages.

The same :class:`Pipeline` runs in-process (``runners/local.py``) and on Beam
(``runners/beam/``). Both cut the input into :class:`ShardTask` units: a task reads some
file parts through the stages and writes one or more output shard slots, so a task is the
unit of parallel work and output shards do not need a shuffle of all rows.

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "x.jsonl")
>>> _ = open(p, "w").write('{"a": 1}\\n{"a": 2}\\n')
>>> from crucible_datasets.transforms.rows import RowFilter
>>> from crucible_datasets.sources import FileSource
>>> pipe = Pipeline(FileSource((p,))).then(RowFilter(lambda r: r["a"] > 1))
>>> tally = Tally()
>>> [r for b in pipe.run_parts(pipe.source.parts(), tally) for r in b.rows], tally.rows_read
([{'a': 2}], 2)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import FilePart
from crucible_datasets.progress import Progress, TaskProgressFile
from crucible_datasets.sources import DEFAULT_PART_BYTES, Reading, Source, naming_files, read_part
from crucible_datasets.transforms.base import Stage, StageCounter, apply_stages

DEFAULT_SHARD_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ShardTask:
    """Read ``parts`` through the stages; write the rows to output shard ``slots``."""

    index: int
    parts: tuple[FilePart, ...]
    slots: tuple[int, ...]


@dataclass
class Tally:
    """What one run (or one task of it) counted: rows read, per-stage in/out, bad records.

    ``bytes_read`` sums the input bytes of the file parts opened (``FilePart.nbytes``; 0 for an
    in-memory table), so it is the same however the runner groups the parts into tasks.
    """

    rows_read: int = 0
    bytes_read: int = 0
    files: set = field(default_factory=set)
    stages: list[StageCounter] = field(default_factory=list)
    # The stages of pipelines that the source reads (``combine.py``): (negative stage index, counter).
    nested: list[tuple[int, StageCounter]] = field(default_factory=list)
    nested_offset: int = 0  # where the source's nested stage indices start (a combination in one)
    errors: ErrorPolicy | None = None
    progress: Progress | TaskProgressFile | None = None

    def close(self) -> None:
        """Close what the run opened: the dead-letter file, the progress display."""
        if self.errors is not None:
            self.errors.close()
        if self.progress is not None:
            self.progress.close()


@dataclass(frozen=True)
class Pipeline:
    """A source and its stages; immutable: :meth:`then` returns a new pipeline."""

    source: Source
    stages: tuple[Stage, ...] = ()

    def then(self, stage: Stage) -> Pipeline:
        return replace(self, stages=(*self.stages, stage))

    @property
    def whole_stream(self) -> bool:
        """True when some stage must see every row in order (take, skip, shuffle, dedupe)."""
        return any(not s.kind.any_part for s in self.stages)

    def default_num_shards(self) -> int:
        return max(1, math.ceil(self.source.total_bytes() / DEFAULT_SHARD_BYTES))

    def plan_tasks(self, num_shards: int) -> list[ShardTask]:
        """Cut the input into tasks for ``num_shards`` output shards.

        With whole-stream stages, one task reads everything. Otherwise the input is cut into
        at least ``num_shards`` parts, grouped into at most ``num_shards`` tasks (with fewer
        parts, as a compressed file does not split, one task a part). ``slots`` says which
        shards a task's rows mostly land in; the sink's finalize cuts the rows of all tasks, in
        task order, into the shards (``Sink.finalize(num_shards=)``).
        """
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        total = self.source.total_bytes()
        parts = self.source.parts(min(DEFAULT_PART_BYTES, max(1, math.ceil(total / num_shards))))
        if self.whole_stream or not parts:
            return [ShardTask(0, tuple(parts), tuple(range(num_shards)))]
        if len(parts) >= num_shards:
            groups = _split_evenly(parts, num_shards)
            return [ShardTask(i, tuple(g), (i,)) for i, g in enumerate(groups)]
        slot_groups = _split_evenly(list(range(num_shards)), len(parts))
        return [ShardTask(i, (p,), tuple(s)) for i, (p, s) in enumerate(zip(parts, slot_groups, strict=True))]

    def run_parts(self, parts: Sequence[FilePart], tally: Tally) -> Iterator[Batch]:
        """Read ``parts`` in order and pass the batches through every stage."""
        if tally.errors is None:
            tally.errors = ErrorPolicy(self.source.on_error, self.source.errors_path)
        reading = Reading(self.source)  # a column error names the file(s) read
        stream = apply_stages(
            self._read(parts, tally, reading), self.stages, tally.stages, lambda: reading.where(False)
        )
        return naming_files(stream, reading)

    def _read(self, parts: Sequence[FilePart], tally: Tally, reading: Reading) -> Iterator[Batch]:
        progress = tally.progress
        for part in parts:
            reading.start(part.path)
            for batch in read_part(self.source, part, tally):
                if progress is not None:
                    progress.advance(rows=len(batch))
                yield batch
            if progress is not None:
                progress.advance(nbytes=part.nbytes or 0)


def _split_evenly(items: list, n: int) -> list[list]:
    """``items`` in ``n`` contiguous groups whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + q + (1 if i < r else 0)
        out.append(items[start:end])
        start = end
    return out
