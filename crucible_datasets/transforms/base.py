"""The stage: one step of a pipeline, batches in, batches out.

Like a datatrove ``PipelineStep``, a stage is one small class with one hook:

- a per-batch stage overrides :meth:`Stage.process` (one batch in, a batch or None out);
- a stage that regroups rows (``batch``, a batched ``map``) overrides :meth:`Stage.apply`
  and keeps its buffer in the generator, so it still runs on any part of the data;
- both kinds run on any part of the data independently: Beam fuses a chain of them into one
  ``DoFn`` per input part;
- a stage that needs the whole stream (``take``, ``skip``, ``shuffle``, ``dedupe``) sets
  ``whole_stream = True`` and overrides :meth:`Stage.apply`.

Stages hold configuration only, never run state: the same stage object serves every
iteration and every worker.

>>> from crucible_datasets.batch import Batch
>>> class Double(Stage):
...     def process(self, batch):
...         return Batch.from_rows([{"x": r["x"] * 2} for r in batch.rows])
>>> [b.rows for b in Double().apply(iter([Batch.from_rows([{"x": 1}])]), StageCounter())]
[[{'x': 2}]]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from crucible_datasets.batch import Batch

if TYPE_CHECKING:
    from crucible_datasets.transforms.columns import ColumnCheck


@dataclass
class StageCounter:
    """Rows into and out of one stage, for the run summary."""

    rows_in: int = 0
    rows_out: int = 0

    @property
    def dropped(self) -> int:
        return max(0, self.rows_in - self.rows_out)

    @property
    def added(self) -> int:
        return max(0, self.rows_out - self.rows_in)


class Stage:
    """Base class of all stages. Override :meth:`process` (per batch) or :meth:`apply` (stream)."""

    whole_stream: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def process(self, batch: Batch) -> Batch | None:
        """Transform one batch; return None (or an empty batch) to drop all its rows."""
        raise NotImplementedError

    def column_check(self) -> ColumnCheck | None:
        """A fresh check of the columns the stage names (``transforms/columns.py``), or None."""
        return None

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        """Run the stage over a stream of batches, counting rows in and out (and checking columns)."""
        check = self.column_check()
        for batch in stream:
            counter.rows_in += len(batch)
            if check is not None:
                check.see(batch)
            out = self.process(batch)
            if out is not None and len(out):
                counter.rows_out += len(out)
                yield out
        if check is not None:
            check.finish()


def apply_stages(
    stream: Iterator[Batch], stages: Iterable[Stage], counters: list[StageCounter]
) -> Iterator[Batch]:
    """Chain ``stages`` over ``stream``; appends one counter per stage to ``counters``."""
    for stage in stages:
        counter = StageCounter()
        counters.append(counter)
        stream = stage.apply(stream, counter)
    return stream
