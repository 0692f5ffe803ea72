"""``IterableDataset``: a lazy pipeline over a split, iterated in constant memory.

>>> import crucible_datasets as cd, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "train.jsonl")
>>> _ = open(p, "w").write("".join(f'{{"x": {i}}}\\n' for i in range(10)))
>>> ds = cd.load(p, split="train", streaming=True)
>>> list(ds.filter(lambda r: r["x"] % 2).map(lambda r: {"y": r["x"] * 10}).take(2))
[{'x': 1, 'y': 10}, {'x': 3, 'y': 30}]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

import pyarrow as pa

from crucible_datasets.batch import Batch
from crucible_datasets.operations import Operations
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import local
from crucible_datasets.transforms.base import StageCounter
from crucible_datasets.transforms.batching import regroup, to_columns
from crucible_datasets.transforms.stream import Shuffle
from crucible_datasets.writing import Writable


class IterableDataset(Operations, Writable):
    """A split read lazily: every operation returns a new dataset; nothing runs until iterated."""

    def __init__(self, pipeline: Pipeline, split: str | None = None) -> None:
        self.pipeline = pipeline
        self.split = split

    def __repr__(self) -> str:
        names = [s.name for s in self.pipeline.stages]
        source = self.pipeline.source.description
        return f"IterableDataset(split={self.split!r}, source={source!r}, stages={names})"

    def _from_pipeline(self, pipeline: Pipeline) -> IterableDataset:
        return IterableDataset(pipeline, self.split)

    def _pipeline(self) -> Pipeline:
        return self.pipeline

    def __iter__(self) -> Iterator[dict]:
        for batch in local.iter_batches(self.pipeline):
            yield from batch.rows

    def iter_batches(self) -> Iterator[Batch]:
        """The underlying batches, as the stages produce them."""
        return local.iter_batches(self.pipeline)

    def iter(
        self, batch_size: int, drop_last_batch: bool = False, format: Literal["python", "arrow"] = "python"
    ) -> Iterator[dict | pa.Table]:
        """Batches of ``batch_size`` rows: dicts of lists (``"python"``) or ``pyarrow.Table``s."""
        if format not in ("python", "arrow"):
            raise ValueError(f"format must be 'python' or 'arrow', got {format!r}")
        for rows in regroup(local.iter_batches(self.pipeline), batch_size, StageCounter()):
            if drop_last_batch and len(rows) < batch_size:
                return
            if format == "arrow":
                yield pa.Table.from_batches([Batch.from_rows(rows).arrow])
            else:
                yield to_columns(rows)

    def shuffle(self, seed: int | None = None, buffer_size: int = 1000) -> IterableDataset:
        """Shuffle the order of input parts with ``seed``, then rows through a buffer."""
        source = replace(self.pipeline.source, shuffle_seed=seed if seed is not None else 0)
        pipeline = replace(self.pipeline, source=source).then(Shuffle(seed, buffer_size))
        return IterableDataset(pipeline, self.split)

    @property
    def column_names(self) -> list[str] | None:
        """Column names of the first batch (reads it), or None for an empty dataset."""
        for batch in local.iter_batches(self.pipeline):
            return list(batch.column_names)
        return None
