"""``IterableDataset``: a lazy pipeline over a split, iterated in constant memory.

>>> import crucible_datasets as cd, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "train.jsonl")
>>> _ = open(p, "w").write("".join(f'{{"x": {i}}}\\n' for i in range(10)))
>>> ds = cd.load(p, split="train", streaming=True)
>>> list(ds.filter(lambda r: r["x"] % 2).map(lambda r: {"y": r["x"] * 10}).take(2))
[{'x': 1, 'y': 10}, {'x': 3, 'y': 30}]
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, Literal

import pyarrow as pa

from crucible_datasets import torch_bridge
from crucible_datasets.batch import Batch
from crucible_datasets.features import Features
from crucible_datasets.formatting import Formatting, format_rows, format_rows_list
from crucible_datasets.operations import Exports, Operations, collect, named_operation
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.resume import STATE_VERSION, Run, ShardLevel, StateError, derive_seed, plan_parts
from crucible_datasets.runners import local
from crucible_datasets.sources import FileSource, GeneratorSource, TableSource
from crucible_datasets.transforms.batching import to_columns
from crucible_datasets.transforms.casting import CastColumns, arrow_types
from crucible_datasets.transforms.columns import RemoveColumns, RenameColumns, SelectColumns
from crucible_datasets.transforms.rows import IndexedRowMap, RowMap
from crucible_datasets.transforms.stream import Shuffle, Skip, Take
from crucible_datasets.writing import Writable

# Stages after which a stream has as many rows as before (``IterableDataset.num_rows``).
ROW_PRESERVING = (RowMap, IndexedRowMap, CastColumns, SelectColumns, RemoveColumns, RenameColumns, Shuffle)


class IterableDataset(Operations, Exports, Writable):
    """A split read lazily: every operation returns a new dataset; nothing runs until iterated."""

    def __init__(self, pipeline: Pipeline, split: str | None = None) -> None:
        self.pipeline = pipeline
        self.split = split
        # Training (shard/split_dataset_by_node, set_epoch, with_format, state_dict): config kept
        # by every derived dataset, and the iteration under way (what state_dict reports).
        self._levels: tuple[ShardLevel, ...] = ()
        self._epoch = 0
        self._formatting = Formatting()
        self._unseeded_shuffle = False
        self._resume: dict | None = None
        self._run: Run | None = None

    def __repr__(self) -> str:
        names = [s.name for s in self.pipeline.stages]
        source = self.pipeline.source.description
        return f"IterableDataset(split={self.split!r}, source={source!r}, stages={names})"

    def _from_pipeline(self, pipeline: Pipeline) -> IterableDataset:
        return self._derive(pipeline)

    def _pipeline(self) -> Pipeline:
        return self.pipeline

    def __iter__(self) -> Iterator[dict]:
        run, fmt = self._start(), self._formatting
        if fmt.plain:
            for batch in run.batches():
                for row in batch.rows:
                    run.consumed += 1
                    yield row
            return
        for batch in run.batches():
            for row in format_rows(batch, fmt):
                run.consumed += 1
                yield row

    def iter_batches(self) -> Iterator[Batch]:
        """The underlying batches, as the stages produce them."""
        run = self._start()
        for batch in run.batches():
            run.consumed += len(batch)
            yield batch

    def iter(
        self,
        batch_size: int,
        drop_last_batch: bool = False,
        format: Literal["python", "numpy", "torch", "arrow", "pandas"] | None = None,
    ) -> Iterator[object]:
        """Batches of ``batch_size`` rows in the dataset's format (or ``format``): dicts of lists,
        of arrays or of tensors, ``pyarrow.Table``s or DataFrames."""
        fmt = self._formatting if format is None else replace(self._formatting, type=format)
        rows: list[dict] = []
        for row in self._raw_rows():
            rows.append(row)
            if len(rows) == batch_size:
                yield to_columns(rows) if fmt.plain else format_rows_list(rows, fmt)
                rows = []
        if rows and not drop_last_batch:
            yield to_columns(rows) if fmt.plain else format_rows_list(rows, fmt)

    def _raw_rows(self) -> Iterator[dict]:
        run = self._start()
        for batch in run.batches():
            for row in batch.rows:
                run.consumed += 1
                yield row

    @named_operation
    def shuffle(self, seed: int | None = None, buffer_size: int = 1000) -> IterableDataset:
        """Shuffle the order of input parts with ``seed``, then rows through a buffer.

        Without a seed one is drawn now, so every iteration (and DataLoader worker) agrees;
        :meth:`set_epoch` reshuffles deterministically.
        """
        unseeded = seed is None
        if unseeded:
            seed = random.getrandbits(63)
        source = replace(self.pipeline.source, shuffle_seed=seed if not unseeded else 0)
        ds = self._derive(replace(self.pipeline, source=source).then(Shuffle(seed, buffer_size)))
        ds._unseeded_shuffle = ds._unseeded_shuffle or unseeded
        return ds

    # --- training: sharding, epochs, formats, exact resume (resume.py, distributed.py, torch_bridge.py) ---

    def _derive(self, pipeline: Pipeline) -> IterableDataset:
        ds = IterableDataset(pipeline, self.split)
        ds._levels, ds._epoch, ds._formatting = self._levels, self._epoch, self._formatting
        ds._unseeded_shuffle = self._unseeded_shuffle
        return ds

    def _copy(self) -> IterableDataset:
        return self._derive(self.pipeline)

    def shard(self, num_shards: int, index: int, contiguous: bool = True) -> IterableDataset:
        """Shard ``index`` of ``num_shards``: whole input parts when there are at least
        ``num_shards`` (contiguous runs of them, or every ``num_shards``-th with
        ``contiguous=False``), else every ``num_shards``-th row. The shards together hold every row once.

        >>> import crucible_datasets as cd
        >>> ds = cd.Dataset.from_list([{"i": i} for i in range(5)]).to_iterable_dataset()
        >>> [[r["i"] for r in ds.shard(2, k)] for k in range(2)]
        [[0, 2, 4], [1, 3]]
        """
        return self._shard_level(num_shards, index, contiguous=contiguous)

    def _shard_level(
        self, num: int, index: int, contiguous: bool = False, mode: str = "auto"
    ) -> IterableDataset:
        ds = self._copy()
        level = ShardLevel(num, index, len(self.pipeline.stages), contiguous, mode)
        ds._levels = (*self._levels, level)
        if mode == "shards":
            Run(ds._epoch_pipeline(), levels=ds._levels)  # fewer parts than shards: the error now
        return ds

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch``: the part order and the shuffle buffer get seeds derived from
        the shuffle's seed and the epoch (epoch 0 is the seed itself), the same in every worker."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._epoch = epoch

    @property
    def epoch(self) -> int:
        return self._epoch

    def with_format(
        self,
        type: Literal["python", "numpy", "torch", "arrow", "pandas"] | None = None,
        columns: list[str] | None = None,
        output_all_columns: bool = False,
    ) -> IterableDataset:
        """Rows (and ``iter`` batches) as ``type``: numbers and lists of numbers as numpy arrays
        or torch tensors, strings as ``str``; ``columns`` keeps only those (``output_all_columns``
        adds the others unformatted).

        >>> import crucible_datasets as cd
        >>> ds = cd.Dataset.from_list([{"x": 1, "s": "a"}]).to_iterable_dataset()
        >>> {k: type(v).__name__ for k, v in next(iter(ds.with_format("numpy"))).items()}
        {'x': 'int64', 's': 'str'}
        """
        ds = self._copy()
        ds._formatting = Formatting(type, columns, output_all_columns)
        return ds

    @property
    def format(self) -> dict:
        f = self._formatting
        return {"type": f.type, "columns": list(f.columns) if f.columns else None,
                "output_all_columns": f.output_all_columns}

    def _epoch_pipeline(self) -> Pipeline:
        if self._epoch == 0:
            return self.pipeline
        source = self.pipeline.source
        if source.shuffle_seed is not None:
            source = replace(source, shuffle_seed=derive_seed(source.shuffle_seed, self._epoch))
        stages = tuple(
            Shuffle(derive_seed(s.seed, self._epoch), s.buffer_size, s.out_batch_rows)
            if isinstance(s, Shuffle) and s.seed is not None
            else s
            for s in self.pipeline.stages
        )
        return Pipeline(source, stages)

    def _start(self) -> Run:
        levels = self._levels
        worker = torch_bridge.worker_split()
        if worker is not None:  # in a DataLoader worker: split again between the workers
            levels = (*levels, ShardLevel(worker[0], worker[1], len(self.pipeline.stages)))
        start, self._resume = self._resume, None
        self._run = Run(self._epoch_pipeline(), start, levels)
        return self._run

    def state_dict(self) -> dict:
        """Where the current (or last) iteration stands, as a small JSON-serialisable dict.

        Load it with :meth:`load_state_dict` (in any process) and the next iteration yields
        exactly the rows this one has not yet yielded, in the same order (shuffle buffer
        included). Positions and seeds only: a shuffle's buffer is stored as the place from
        which it is re-read.

        >>> import crucible_datasets as cd, json
        >>> ds = cd.Dataset.from_list([{"i": i} for i in range(20)]).to_iterable_dataset()
        >>> ds = ds.shuffle(seed=0, buffer_size=5)
        >>> it = iter(ds); head = [next(it)["i"] for _ in range(7)]
        >>> state = json.loads(json.dumps(ds.state_dict())); tail = [r["i"] for r in it]
        >>> ds.load_state_dict(state); [r["i"] for r in ds] == tail
        True
        """
        if self._run is not None:
            state = self._run.state()
        elif self._resume is not None:
            return copy.deepcopy(self._resume)
        else:
            state = Run(self._epoch_pipeline(), levels=self._levels).state()
        return copy.deepcopy({**state, "epoch": self._epoch})

    def load_state_dict(self, state_dict: dict) -> None:
        """The next iteration resumes from ``state_dict`` (from :meth:`state_dict`); the epoch too.

        A state saved by another shard (another ``world_size``, rank or ``num_workers``), or over
        other stages or input, raises :class:`~crucible_datasets.resume.StateError`.
        """
        if not isinstance(state_dict, dict) or state_dict.get("version") != STATE_VERSION:
            raise StateError(f"not a crucible_datasets iteration state: {state_dict!r:.200}")
        self._epoch = int(state_dict.get("epoch", 0))
        self._resume = copy.deepcopy(state_dict)
        self._run = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_run"] = None  # a live iteration does not cross processes; its state_dict does
        return state

    @property
    def column_names(self) -> list[str] | None:
        """Column names of the first batch (reads it), or None for an empty dataset."""
        for batch in local.iter_batches(self.pipeline):
            return list(batch.column_names)
        return None

    # --- sources and what is known without reading (datasets parity: from_generator, n_shards...) ---

    @classmethod
    def from_generator(
        cls,
        generator: Callable[..., Iterable[dict]],
        features: Any = None,
        gen_kwargs: dict | None = None,
        split: str = "train",
    ) -> IterableDataset:
        """A stream of the rows ``generator(**gen_kwargs)`` yields, called when iterated.

        As in ``datasets``, list values of ``gen_kwargs`` are shards (:attr:`n_shards`; each call
        gets a one-item list of each); ``features`` (as ``cast`` takes them) types the rows.

        >>> def gen(files):
        ...     for f in files:
        ...         yield {"file": f}
        >>> ds = IterableDataset.from_generator(gen, gen_kwargs={"files": ["a", "b"]})
        >>> ds.n_shards, list(ds)
        (2, [{'file': 'a'}, {'file': 'b'}])
        """
        schema = None
        if features is not None:
            schema = pa.schema([pa.field(n, t) for n, t in arrow_types(features).items()])
        source = GeneratorSource(generator, dict(gen_kwargs or {}), schema=schema)
        return cls(Pipeline(source), split)

    @property
    def n_shards(self) -> int:
        """How many parts the stream reads: file parts (a file, or a Parquet row group range), a
        table's row ranges, or a generator's shards."""
        if not self._levels:
            return len(self.pipeline.source.parts())
        return len(plan_parts(self.pipeline, self._levels)[0])  # this shard's parts

    @property
    def num_rows(self) -> int | None:
        """The row count when known without reading the rows (a table, Parquet files' metadata,
        through stages that keep every row, ``take``/``skip``), else None.

        ``datasets``' ``IterableDataset`` has no ``num_rows``; this is ``Dataset.num_rows`` where
        a stream can tell it.
        """
        source = self.pipeline.source
        if self._levels:  # a shard: its rows are not counted without reading
            return None
        if isinstance(source, TableSource):
            n: int | None = source.table.num_rows
        elif isinstance(source, FileSource) and source.on_error == "raise":
            counts = [source.format_for(path).num_rows(path) for path in source.files]
            n = None if any(c is None for c in counts) else sum(counts)
        else:
            n = None
        for stage in self.pipeline.stages:
            if n is None:
                return None
            if isinstance(stage, Take):
                n = min(n, stage.n)
            elif isinstance(stage, Skip):
                n = max(0, n - stage.n)
            elif not isinstance(stage, ROW_PRESERVING):
                return None
        return n

    def _arrow_table(self) -> pa.Table:
        """Every row this dataset yields (its shard, epoch), as one table: ``to_list`` and the others."""
        return collect(self.iter_batches())

    @property
    def features(self) -> Features | None:
        """The column types (as ``Dataset.features``) of the first batch (reads it), or None for an
        empty stream. ``datasets`` gives None where it does not know them; this reads to know."""
        for batch in local.iter_batches(self.pipeline):
            return Features.from_arrow_schema(batch.arrow.schema)
        return None


torch_bridge.register_with_torch(IterableDataset)  # a torch IterableDataset once torch is imported
