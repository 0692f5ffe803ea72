"""Combining datasets: ``concatenate_datasets`` and ``interleave_datasets``, as in ``datasets`` 5.x.

Eager datasets (:class:`Dataset`) combine their tables at once. Streaming ones
(:class:`IterableDataset`) combine lazily through a source that reads the inputs' pipelines
(each its own source and stages): :class:`ConcatSource`, whose parts are the union of the
inputs' parts (so a concatenation still splits across Beam tasks, rows in order), and
:class:`InterleaveSource`, read as one ordered stream (one part, so one task). Both count what
their inputs read and filtered in the run's counts (``read_counted``, ``Tally.nested``).

The columns must align, as ``datasets`` checks them: a column shared by several inputs has one
type (or is null in some); a column an input lacks comes back as nulls, in first-seen order.

>>> import crucible_datasets as cd
>>> a = cd.Dataset.from_dict({"a": [0, 1, 2]})
>>> b = cd.Dataset.from_dict({"a": [10, 11, 12, 13]})
>>> cd.concatenate_datasets([a, b])["a"]
[0, 1, 2, 10, 11, 12, 13]
>>> cd.interleave_datasets([a, b])["a"]
[0, 10, 1, 11, 2, 12]
>>> cd.interleave_datasets([a, b], stopping_strategy="all_exhausted")["a"]
[0, 10, 1, 11, 2, 12, 0, 13]
>>> cd.interleave_datasets([a, b], probabilities=[0.7, 0.3], seed=42)["a"]
[10, 0, 11, 1, 2]
>>> list(cd.interleave_datasets([a.to_iterable_dataset(), b.to_iterable_dataset()]))
[{'a': 0}, {'a': 10}, {'a': 1}, {'a': 11}, {'a': 2}]
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import pyarrow as pa

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.dataset import Dataset
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.formats.base import DEFAULT_BATCH_ROWS, FilePart
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipeline import Pipeline, Tally
from crucible_datasets.runners import local
from crucible_datasets.sources import DEFAULT_PART_BYTES
from crucible_datasets.transforms.base import StageCounter

DatasetType = TypeVar("DatasetType", Dataset, IterableDataset)
StoppingStrategy = Literal["first_exhausted", "all_exhausted", "all_exhausted_without_replacement"]
STOPPING_STRATEGIES = ("first_exhausted", "all_exhausted", "all_exhausted_without_replacement")
RANDOM_BATCH_SIZE = 1000  # datasets draws the sources in blocks of this many (numpy's choice)


# --- checks and column alignment -----------------------------------------------------------------


def _check_datasets(datasets: Sequence, verb: str) -> type:
    """The class shared by ``datasets`` (Dataset or IterableDataset); datasets' errors otherwise."""
    if not datasets:
        raise ValueError(f"Unable to {verb} an empty list of datasets.")
    kind = None
    for i, dataset in enumerate(datasets):
        if not isinstance(dataset, (Dataset, IterableDataset)):
            if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
                if not dataset:
                    raise ValueError(
                        "Expected a list of Dataset objects or a list of IterableDataset objects, but "
                        f"element at position {i} is an empty dataset dictionary."
                    )
                raise ValueError(
                    f"Dataset at position {i} has at least one split: {list(dataset)}\n"
                    f"Please pick one to {verb} with the other datasets, for example: "
                    f"dataset['{next(iter(dataset))}']"
                )
            raise ValueError(
                "Expected a list of Dataset objects or a list of IterableDataset objects, but element "
                f"at position {i} is a {type(dataset).__name__}."
            )
        this = Dataset if isinstance(dataset, Dataset) else IterableDataset
        if kind is None:
            kind = this
        elif this is not kind:
            raise ValueError(
                f"Unable to {verb} a {kind.__name__} (at position 0) with a {this.__name__} (at position "
                f"{i}). Expected a list of Dataset objects or a list of IterableDataset objects."
            )
    return kind


def _is_null(t: pa.DataType) -> bool:
    """Null, or a list of nulls (datasets' ``_is_null_feature``)."""
    if pa.types.is_null(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _is_null(t.value_type)
    return False


def _merge(first: dict[str, pa.DataType], fields: Sequence[pa.Field]) -> None:
    """Record in ``first`` each name's type: the first non-null one, structs merged field-wise."""
    for f in fields:
        known = first.get(f.name)
        if known is not None and pa.types.is_struct(known) and pa.types.is_struct(f.type):
            first[f.name] = pa.struct(_aligned_fields([list(known), list(f.type)]))
        elif known is None or _is_null(known):
            first[f.name] = f.type


def _aligned_fields(field_lists: Sequence[Sequence[pa.Field]]) -> list[pa.Field]:
    first: dict[str, pa.DataType] = {}
    for fields in field_lists:
        _merge(first, fields)
    return [pa.field(name, t) for name, t in first.items()]


def _check_alignable(field_lists: Sequence[Sequence[pa.Field]], where: Sequence[int], path: str = "") -> None:
    first: dict[str, pa.DataType] = {}
    for fields in field_lists:
        _merge(first, fields)
    for fields, position in zip(field_lists, where, strict=True):
        for f in fields:
            expected = first[f.name]
            if pa.types.is_struct(f.type) and pa.types.is_struct(expected):
                _check_alignable([list(expected), list(f.type)], [position, position], f"{path}{f.name}.")
            elif not _is_null(f.type) and not f.type.equals(expected):
                raise ValueError(
                    f"The features can't be aligned because the key {path}{f.name!r} of the dataset at "
                    f"position {position} has unexpected type - {f.type} (expected either {expected} or "
                    "null): cast the column (or rename it) in one of the datasets first."
                )


def align_schemas(schemas: Sequence[pa.Schema], positions: Sequence[int] | None = None) -> pa.Schema:
    """The columns of the combined datasets (first-seen order; nulls for the ones an input lacks).

    A column shared by several inputs must have one type, or be null in some (as ``datasets``
    checks features): else ValueError naming the column, the dataset and both types.

    >>> align_schemas([pa.schema({"a": pa.int64()}), pa.schema({"b": pa.string(), "a": pa.null()})])
    a: int64
    b: string
    >>> align_schemas([pa.schema({"a": pa.int64()}), pa.schema({"a": pa.string()})])
    Traceback (most recent call last):
    ...
    ValueError: The features can't be aligned because the key 'a' of the dataset at position 1 has \
unexpected type - string (expected either int64 or null): cast the column (or rename it) in one of \
the datasets first.
    """
    where = list(range(len(schemas))) if positions is None else list(positions)
    lists = [list(s) for s in schemas]
    _check_alignable(lists, where)
    return pa.schema(_aligned_fields(lists))


def _conform_columns(columns: dict[str, pa.Array], n: int, schema: pa.Schema) -> tuple[list, list]:
    arrays, names = [], []
    for f in schema:
        column = columns.pop(f.name, None)
        if column is None:
            column = pa.nulls(n, f.type)
        elif not column.type.equals(f.type):
            column = column.cast(f.type)  # null (or a struct missing fields) to the aligned type
        arrays.append(column)
        names.append(f.name)
    for name, column in columns.items():  # not in the aligned columns (drift after the first batch)
        arrays.append(column)
        names.append(name)
    return arrays, names


def conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the aligned columns of ``schema``, in its order; nulls for the missing ones."""
    columns = {name: table.column(name) for name in table.schema.names}
    arrays, names = _conform_columns(columns, table.num_rows, schema)
    return pa.Table.from_arrays(arrays, names=names)


def conform_batch(batch: Batch, schema: pa.Schema) -> Batch:
    """``batch`` with the aligned columns of ``schema`` (unchanged when it has them, in order)."""
    names = list(batch.column_names)
    if names == schema.names:
        return batch
    if batch.has_arrow:
        arrow = batch.arrow
        columns = {name: arrow.column(i) for i, name in enumerate(arrow.schema.names)}
        arrays, names = _conform_columns(columns, arrow.num_rows, schema)
        out = Batch.from_arrow(pa.RecordBatch.from_arrays(arrays, names=names))
    else:
        out = Batch.from_rows([conform_row(row, schema.names) for row in batch.rows])
    out.position = batch.position
    return out


def conform_row(row: dict, names: Sequence[str]) -> dict:
    """``row`` with the columns ``names`` first (None when missing), then any others it has."""
    if list(row) == list(names):
        return row
    out = {name: row.get(name) for name in names}
    out.update((k, v) for k, v in row.items() if k not in out)
    return out


def _head_schema(pipeline: Pipeline) -> pa.Schema:
    """The columns of a streaming input, from its first batch (``datasets`` resolves features so)."""
    first = None
    for batch in local.iter_batches(pipeline):
        first = first or batch
        if len(batch):
            return batch.arrow.schema
    return first.arrow.schema if first is not None else pa.schema([])


# --- the order of an interleave ------------------------------------------------------------------


def source_order(num_sources: int, probabilities: Sequence[float] | None, seed: int | None) -> Iterator[int]:
    """Which source each next example comes from, forever: cycling, or drawn as ``datasets`` draws
    (``numpy.random.default_rng(seed).choice(num_sources, size=1000, p=probabilities)``, in blocks).

    >>> cycling, drawn = source_order(3, None, None), source_order(2, [0.5, 0.5], 0)
    >>> list(itertools.islice(cycling, 5)), list(itertools.islice(drawn, 5))
    ([0, 1, 2, 0, 1], [1, 0, 0, 0, 1])
    """
    if probabilities is None:
        yield from itertools.cycle(range(num_sources))
        return
    import numpy as np  # only for random draws: importing the package does not load numpy

    rng = np.random.default_rng(seed)
    while True:
        yield from (int(i) for i in rng.choice(num_sources, size=RANDOM_BATCH_SIZE, p=probabilities))


def _check_probabilities(num_sources: int, probabilities: Sequence[float] | None, strategy: str) -> None:
    if probabilities is None:
        return
    if len(probabilities) != num_sources:
        raise ValueError(f"probabilities has {len(probabilities)} values for {num_sources} datasets")
    never = [i for i, p in enumerate(probabilities) if not p > 0]
    if strategy == "all_exhausted" and never:
        raise ValueError(
            'interleave_datasets with stopping_strategy="all_exhausted" cannot exhaust a dataset that is '
            f"never sampled; datasets at indices {never} have probability 0."
        )


def interleave_indices(
    lengths: Sequence[int],
    probabilities: Sequence[float] | None = None,
    seed: int | None = None,
    stopping_strategy: StoppingStrategy = "first_exhausted",
) -> list[int]:
    """The rows of the concatenation of datasets of ``lengths`` that an eager interleave takes, in
    order: ``datasets``' ``_interleave_map_style_datasets``, draw for draw.

    >>> interleave_indices([3, 4, 5]), interleave_indices([3, 4, 5], stopping_strategy="all_exhausted")
    ([0, 3, 7, 1, 4, 8, 2, 5, 9], [0, 3, 7, 1, 4, 8, 2, 5, 9, 0, 6, 10, 1, 3, 11])
    """
    import numpy as np

    lengths = [int(n) for n in lengths]
    offsets = np.cumsum([0] + lengths[:-1])
    oversampling = stopping_strategy == "all_exhausted"
    if probabilities is None and stopping_strategy == "all_exhausted_without_replacement":
        bounds = [0, *sorted(set(lengths))]
        left, chunks = list(lengths), []
        for start, end in itertools.pairwise(bounds):
            chunks.append((np.array(offsets).reshape(1, -1) + np.arange(start, end).reshape(-1, 1)).flatten())
            done = [i for i in range(len(left)) if left[i] == end]
            left = np.delete(left, done).tolist()
            offsets = np.delete(offsets, done)
        return np.concatenate(chunks).tolist() if chunks else []
    if probabilities is None and not oversampling:
        return (offsets.reshape(1, -1) + np.arange(min(lengths)).reshape(-1, 1)).flatten().tolist()
    if probabilities is None:
        cycled = np.mod(np.arange(max(lengths)).reshape(-1, 1), np.array(lengths).reshape(1, -1))
        return (cycled + offsets).flatten().tolist()
    n = len(lengths)
    if stopping_strategy == "all_exhausted_without_replacement":
        exhausted, current, out = [False] * n, [0] * n, []
        for i in source_order(n, probabilities, seed):
            if all(exhausted):
                break
            if not exhausted[i]:
                out.append(current[i] + int(offsets[i]))
                current[i] += 1
            if current[i] >= lengths[i]:
                exhausted[i] = True
        return out
    drawable = np.asarray(probabilities, dtype=np.float64) > 0
    empty = [i for i in range(n) if lengths[i] == 0 and drawable[i]]
    if empty:
        raise ValueError(
            "interleave_datasets with probabilities requires every dataset that can be sampled "
            f"(probability > 0) to be non-empty; datasets at indices {empty} are empty."
        )
    _check_probabilities(n, probabilities, stopping_strategy)
    rng = np.random.default_rng(seed)
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    blocks, counts = [], np.zeros(n, dtype=np.int64)
    reached = np.zeros(n, dtype=bool)
    while not (reached[drawable].all() if oversampling else reached[drawable].any()):
        block = rng.choice(n, size=RANDOM_BATCH_SIZE, p=probabilities)
        blocks.append(block)
        counts += np.bincount(block, minlength=n)
        reached = counts >= lengths_arr
    draws = np.concatenate(blocks)
    exhausted_at = [  # the draw that takes a source's last example
        int(np.flatnonzero(draws == s)[lengths[s] - 1]) for s in range(n) if reached[s] and drawable[s]
    ]
    used = draws[: (max(exhausted_at) if oversampling else min(exhausted_at)) + 1]
    out = np.empty(len(used), dtype=np.int64)
    for s in range(n):
        where = np.flatnonzero(used == s)
        if len(where):
            out[where] = (np.arange(len(where)) % lengths[s]) + offsets[s]
    return out.tolist()


# --- the sources of a streaming combination ------------------------------------------------------


@dataclass(frozen=True)
class CombinedPart(FilePart):
    """A part of a combination: parts ``inner`` of input ``input`` (read through its stages)."""

    input: int = 0
    inner: tuple[FilePart, ...] = ()


def _slots(pipeline: Pipeline) -> int:
    """How many nested stage counters a pipeline read by a combination reports."""
    return len(pipeline.stages) + getattr(pipeline.source, "nested_slots", 0)


@dataclass(frozen=True, eq=False)
class _CombinedSource:
    """What both combinations share: the inputs, their aligned columns, counting their reads."""

    inputs: tuple[Pipeline, ...]
    schema: pa.Schema
    description: str = ""
    on_error: str = "raise"
    errors_path: str | None = None
    shuffle_seed: int | None = None
    files: tuple[str, ...] = ()
    bases: tuple[int, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        bases = itertools.accumulate((_slots(p) for p in self.inputs), initial=0)
        object.__setattr__(self, "bases", tuple(bases))

    @property
    def nested_slots(self) -> int:
        return self.bases[-1]

    @property
    def batch_rows(self) -> int:
        return self.inputs[0].source.batch_rows if self.inputs else DEFAULT_BATCH_ROWS

    def total_bytes(self) -> int:
        return sum(p.source.total_bytes() for p in self.inputs)

    def read(self, part: FilePart, errors: ErrorPolicy | None) -> Iterator[Batch]:
        """The batches of one part (uncounted: pipelines read through ``read_counted``)."""
        tally = Tally(errors=errors if errors is not None else ErrorPolicy(self.on_error, self.errors_path))
        return self.read_counted(part, tally)

    def read_counted(self, part: FilePart, tally: Tally) -> Iterator[Batch]:
        raise NotImplementedError

    def _run_input(self, i: int, parts: Sequence[FilePart], tally: Tally) -> Iterator[Batch]:
        """Input ``i``'s batches of ``parts``, its reads and stages counted in ``tally`` as they go."""
        pipeline = self.inputs[i]
        own = pipeline.source
        shared = own.on_error == self.on_error and own.errors_path in (None, self.errors_path)
        errors = tally.errors if shared else ErrorPolicy(own.on_error, own.errors_path or self.errors_path)
        offset = tally.nested_offset + self.bases[i]
        sub = Tally(errors=errors, nested=tally.nested, nested_offset=offset + len(pipeline.stages))
        stream = pipeline.run_parts(parts, sub)
        tally.nested.extend((-(1 + offset + j), counter) for j, counter in enumerate(sub.stages))
        synced = [0, 0, 0]

        def sync() -> None:
            tally.rows_read += sub.rows_read - synced[0]
            tally.bytes_read += sub.bytes_read - synced[1]
            tally.files |= sub.files
            if not shared and tally.errors is not None:
                tally.errors.bad += errors.bad - synced[2]
            synced[:] = [sub.rows_read, sub.bytes_read, errors.bad]

        try:
            for batch in stream:
                sync()
                yield batch
        finally:
            sync()
            if not shared:
                errors.close()


@dataclass(frozen=True, eq=False)
class ConcatSource(_CombinedSource):
    """The inputs one after the other; its parts are the inputs' parts (an input whose stages
    need its whole stream, such as ``take``, is one part), so it splits across tasks, in order.

    >>> import pyarrow as pa
    >>> from crucible_datasets.sources import TableSource
    >>> a, b = (Pipeline(TableSource(pa.table({"x": v}))) for v in ([1, 2], [3]))
    >>> src = ConcatSource((a, b), pa.schema({"x": pa.int64()}))
    >>> [r["x"] for part in src.parts() for batch in src.read(part, None) for r in batch.rows]
    [1, 2, 3]
    """

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        parts: list[FilePart] = []
        for i, pipeline in enumerate(self.inputs):
            inner = pipeline.source.parts(part_bytes)
            groups = [tuple(inner)] if pipeline.whole_stream else [(p,) for p in inner]
            for group in groups:
                nbytes = sum(p.nbytes or 0 for p in group)
                path = group[0].path if group else pipeline.source.description
                parts.append(CombinedPart(path, nbytes=nbytes, input=i, inner=group))
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(parts)
        return parts

    def read_counted(self, part: FilePart, tally: Tally) -> Iterator[Batch]:
        for batch in self._run_input(part.input, part.inner, tally):
            yield conform_batch(batch, self.schema)


@dataclass(frozen=True, eq=False)
class InterleaveSource(_CombinedSource):
    """One example from each input in turn, or from inputs drawn with ``probabilities`` and
    ``seed``, until ``stopping_strategy`` says stop: ``datasets``' streaming interleave
    (``CyclingMultiSourcesExamplesIterable`` / ``RandomlyCyclingMultiSourcesExamplesIterable``),
    example for example. Read as one ordered stream: its one part makes one task.

    An exhausted input is read again from its start while the strategy wants more of it, and
    its reads are counted again; rows read but not taken (the rest of the last batches) count
    as filtered by the interleave.
    """

    probabilities: tuple[float, ...] | None = None
    seed: int | None = None
    stopping_strategy: str = "first_exhausted"

    @property
    def nested_slots(self) -> int:
        return self.bases[-1] + 1  # and the interleave's own counter

    def parts(self, part_bytes: int = DEFAULT_PART_BYTES) -> list[FilePart]:
        return [CombinedPart(self.description, nbytes=self.total_bytes(), input=-1)]

    def read_counted(self, part: FilePart, tally: Tally) -> Iterator[Batch]:
        counter = StageCounter()
        tally.nested.append((-(1 + tally.nested_offset + self.bases[-1]), counter))
        names = self.schema.names
        replace_exhausted = self.stopping_strategy != "all_exhausted_without_replacement"
        stop = any if self.stopping_strategy == "first_exhausted" else all
        end = object()
        open_streams: list[Iterator] = []

        def rows_of(i: int) -> Iterator[dict]:
            stream = self._run_input(i, self.inputs[i].source.parts(), tally)
            open_streams.append(stream)
            for batch in stream:
                counter.rows_in += len(batch)
                yield from batch.rows

        n = len(self.inputs)
        iterators = [rows_of(i) for i in range(n)]
        nexts: list = [None] * n
        exhausted = [False] * n
        out: list[dict] = []
        try:
            for i in source_order(n, self.probabilities, self.seed):
                if stop(exhausted):
                    break
                if exhausted[i] and not replace_exhausted:
                    continue
                if nexts[i] is None:
                    nexts[i] = next(iterators[i], end)
                result = nexts[i]
                nexts[i] = next(iterators[i], end)
                if nexts[i] is end:
                    exhausted[i] = True
                    if replace_exhausted:  # read it again, in case the strategy wants more
                        iterators[i] = rows_of(i)
                        nexts[i] = None
                if result is not end:
                    out.append(conform_row(result, names))
                    if len(out) >= self.batch_rows:
                        counter.rows_out += len(out)
                        yield Batch.from_rows(out)
                        out = []
            if out:
                counter.rows_out += len(out)
                yield Batch.from_rows(out)
        finally:
            for stream in open_streams:
                stream.close()


# --- the functions -------------------------------------------------------------------------------


def _describe(verb: str, datasets: Sequence) -> str:
    names = [d.description if isinstance(d, Dataset) else d.pipeline.source.description for d in datasets]
    return f"{verb}({', '.join(n or '<in-memory table>' for n in names)})"


def _combined_options(pipelines: Sequence[Pipeline]) -> dict:
    """The bad-record policy of a combination: the strictest handling any input asks for."""
    policies = [p.source.on_error for p in pipelines]
    on_error = next((c for c in ("dead_letter", "skip") if c in policies), "raise")
    paths = {p.source.errors_path for p in pipelines if p.source.on_error == on_error} - {None}
    files = [f for p in pipelines for f in p.source.files]
    reachable = all(p.source.files for p in pipelines)  # an in-memory input: no file to name
    return {
        "on_error": on_error,
        "errors_path": next(iter(paths)) if len(paths) == 1 else None,
        "files": tuple(dict.fromkeys(files)) if reachable else (),
    }


def _streaming_schema(datasets: Sequence[IterableDataset]) -> pa.Schema:
    return align_schemas([_head_schema(d.pipeline) for d in datasets])


def concatenate_datasets(dsets: list[DatasetType], split: str | None = None, axis: int = 0) -> DatasetType:
    """The rows of ``dsets`` one dataset after the other (``datasets.concatenate_datasets``).

    A list of ``Dataset`` gives a ``Dataset``, a list of ``IterableDataset`` an ``IterableDataset``
    (lazy; written in parallel, in order). Columns must align (see :func:`align_schemas`); a
    column some inputs lack is null in their rows. Only ``axis=0`` (rows) is supported.

    >>> import crucible_datasets as cd
    >>> a = cd.Dataset.from_dict({"x": [1, 2]})
    >>> b = cd.Dataset.from_dict({"x": [3], "y": ["c"]})
    >>> cd.concatenate_datasets([a, b]).to_pylist()
    [{'x': 1, 'y': None}, {'x': 2, 'y': None}, {'x': 3, 'y': 'c'}]
    >>> tens = a.to_iterable_dataset().map(lambda r: {"x": r["x"] * 10})
    >>> ab = cd.concatenate_datasets([tens, b.to_iterable_dataset()])
    >>> [r["x"] for r in ab]
    [10, 20, 3]
    """
    kind = _check_datasets(dsets, "concatenate")
    if axis != 0:
        raise NotImplementedError("concatenate_datasets supports axis=0 (rows) only")
    if kind is Dataset:
        nonempty = [(i, d) for i, d in enumerate(dsets) if d.num_rows > 0]
        if not nonempty:
            first = dsets[0]
            return Dataset(first.to_arrow(), split if split is not None else first.split, first.description)
        schema = align_schemas([d.schema for _, d in nonempty], [i for i, _ in nonempty])
        table = pa.concat_tables([conform_table(d.to_arrow(), schema) for _, d in nonempty])
        return Dataset(table, split, _describe("concatenate_datasets", dsets))
    pipelines = tuple(d.pipeline for d in dsets)
    description = _describe("concatenate_datasets", dsets)
    source = ConcatSource(pipelines, _streaming_schema(dsets), description, **_combined_options(pipelines))
    return IterableDataset(Pipeline(source), split)


def interleave_datasets(
    datasets: list[DatasetType],
    probabilities: list[float] | None = None,
    seed: int | None = None,
    split: str | None = None,
    stopping_strategy: StoppingStrategy = "first_exhausted",
) -> DatasetType:
    """Examples from ``datasets`` in turn (``datasets.interleave_datasets``): one from each in
    order, or (``probabilities``) from a source drawn at random, the draws repeatable with
    ``seed`` and the same as ``datasets``' for that seed.

    ``stopping_strategy``: ``"first_exhausted"`` stops when one source runs out;
    ``"all_exhausted"`` when every source has given every example once (a source that ran out
    starts again); ``"all_exhausted_without_replacement"`` when every example was given once.
    As in ``datasets``, an eager interleave without probabilities takes whole rounds (one
    example of each source), a streaming one stops right after the example that exhausted a
    source.

    >>> import crucible_datasets as cd
    >>> d1, d2, d3 = (cd.Dataset.from_dict({"a": [*range(s, s + n)]}) for s, n in [(0, 3), (10, 4), (20, 5)])
    >>> cd.interleave_datasets([d1, d2, d3], stopping_strategy="all_exhausted")["a"]
    [0, 10, 20, 1, 11, 21, 2, 12, 22, 0, 13, 23, 1, 10, 24]
    >>> cd.interleave_datasets([d1, d2, d3], probabilities=[0.7, 0.2, 0.1], seed=42)["a"]
    [10, 0, 11, 1, 2]
    """
    kind = _check_datasets(datasets, "interleave")
    if stopping_strategy not in STOPPING_STRATEGIES:
        raise ValueError(f"{stopping_strategy} is not supported. Please enter a valid stopping_strategy.")
    probs = None if probabilities is None else tuple(float(p) for p in probabilities)
    if kind is Dataset:
        concatenated = concatenate_datasets(datasets)
        indices = interleave_indices([len(d) for d in datasets], probs, seed, stopping_strategy)
        table = concatenated.to_arrow().take(pa.array(indices, pa.int64()))
        return Dataset(table, split, _describe("interleave_datasets", datasets))
    _check_probabilities(len(datasets), probs, stopping_strategy)
    if probs is not None and seed is None:  # one draw for the dataset: every read gives the same order
        import numpy as np

        seed = int(np.random.SeedSequence().entropy)
    pipelines = tuple(d.pipeline for d in datasets)
    source = InterleaveSource(
        pipelines,
        _streaming_schema(datasets),
        _describe("interleave_datasets", datasets),
        **_combined_options(pipelines),
        probabilities=probs,
        seed=seed,
        stopping_strategy=stopping_strategy,
    )
    return IterableDataset(Pipeline(source), split)
