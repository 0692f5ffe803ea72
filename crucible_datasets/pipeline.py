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

import dataclasses
import hashlib
import math
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, ClassVar

import orjson
import pyarrow as pa

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import FilePart
from crucible_datasets.progress import Progress, TaskProgressFile
from crucible_datasets.sources import (
    DEFAULT_PART_BYTES,
    Reading,
    Source,
    naming_files,
    opening_next,
    read_part,
)
from crucible_datasets.storage import filesystem
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
class Origin:
    """How ``load()`` made a pipeline, for its spec (``Pipeline.to_spec``): the keyword arguments
    given that name the source (the split's name, not a list) and how many stages ``load`` itself
    added (a cast to ``features``, the ``columns`` check), which the spec's source makes again."""

    load_arguments: Mapping[str, Any]
    stages: int = 0


@dataclass(frozen=True)
class Pipeline:
    """A source and its stages; immutable: :meth:`then` returns a new pipeline.

    ``origin`` (set by ``load()``) is what a spec names as the source; see :meth:`to_spec`.
    """

    source: Source
    stages: tuple[Stage, ...] = ()
    # An incremental write's plan: one task per listed input file, in this order (see per_file).
    task_files: tuple[str, ...] | None = None

    origin: Origin | None = field(default=None, compare=False)
    # Reads a spec into a pipeline: ``crucible_datasets.spec`` sets it on import (it reads the
    # source with ``load()``, a layer above this one).
    spec_reader: ClassVar[Callable[[Any, Sequence[str]], Pipeline] | None] = None

    def then(self, stage: Stage) -> Pipeline:
        return replace(self, stages=(*self.stages, stage))

    @classmethod
    def from_spec(cls, spec: Any, overrides: Sequence[str] = ()) -> Pipeline:
        """The source and stages of a pipeline spec (a path to YAML/JSON, or a mapping), with
        ``--set``-style ``overrides``; see ``docs/SPEC.md`` and ``crucible_datasets.spec``."""
        if cls.spec_reader is None:
            raise RuntimeError("Pipeline.from_spec reads specs with crucible_datasets.spec: import it first")
        return cls.spec_reader(spec, overrides)

    def to_spec(self, sink: Mapping | None = None, runner: Mapping | None = None) -> dict:
        """This pipeline as a spec (``source``, ``stages``, and the ``sink``/``runner`` given):
        plain data that :meth:`from_spec` reads back to an equal spec. ValueError naming the stage
        when one cannot be named (a lambda, a stage with no ``spec_args``), or when the source was
        not made by ``load()``."""
        from crucible_datasets.spec.export import pipeline_spec

        return pipeline_spec(self, sink=sink, runner=runner)

    @property
    def whole_stream(self) -> bool:
        """True when some stage must see every row in order (take, skip, shuffle, dedupe)."""
        return any(not s.kind.any_part for s in self.stages)

    def per_file(self, files: Sequence[str]) -> Pipeline:
        """This pipeline over ``files`` only (some of its source's files), planned as one task per
        file in that order (an incremental write: each shard comes from one input file).

        >>> import os, tempfile
        >>> from crucible_datasets.sources import FileSource
        >>> d = tempfile.mkdtemp(); paths = [os.path.join(d, n) for n in ("a.jsonl", "b.jsonl")]
        >>> for p in paths:
        ...     _ = open(p, "w").write('{"a": 1}\\n')
        >>> tasks = Pipeline(FileSource(tuple(paths))).per_file(paths[1:]).plan_tasks(4)
        >>> [[part.path[-7:] for part in t.parts] for t in tasks]
        [['b.jsonl']]
        """
        source = self.source
        if not dataclasses.is_dataclass(source) or "files" not in {
            f.name for f in dataclasses.fields(source)
        }:
            raise ValueError(
                f"the source {source.description or type(source).__name__} cannot be read file by file"
            )
        unknown = [f for f in files if f not in source.files]
        if unknown:
            raise ValueError(f"{unknown[:3]} are not files of the source {source.description}")
        return replace(self, source=replace(source, files=tuple(files)), task_files=tuple(files))

    def identity(self, fingerprints: Mapping[str, str]) -> str | None:
        """A digest of what this pipeline's output depends on: its source (files, their
        ``fingerprints``, format and options), its stages (their classes, settings, and the code
        of the functions they hold). None when that cannot be told: a source without files (an
        in-memory table, a generator) or a stage holding an object that has no stable
        description (its ``repr`` is a memory address).

        >>> import os, tempfile
        >>> from crucible_datasets.sources import FileSource
        >>> from crucible_datasets.transforms.rows import RowFilter
        >>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl"); _ = open(p, "w").write('{"a": 1}\\n')
        >>> pipe = Pipeline(FileSource((p,)))
        >>> a = pipe.then(RowFilter(lambda r: r["a"] > 1)).identity({p: "1"})
        >>> a == pipe.then(RowFilter(lambda r: r["a"] > 1)).identity({p: "1"})
        True
        >>> a == pipe.then(RowFilter(lambda r: r["a"] > 2)).identity({p: "1"}), a == pipe.identity({p: "2"})
        (False, False)
        """
        if not self.source.files:
            return None
        source = self.source
        settings = (
            vars(source)
            if not dataclasses.is_dataclass(source)
            else {f.name: getattr(source, f.name) for f in dataclasses.fields(source)}
        )
        settings = {k: v for k, v in settings.items() if k != "errors_path"}  # the run's own folder
        try:
            described = _describe(
                {
                    "source": [type(source).__qualname__, settings],
                    "fingerprints": {f: fingerprints.get(f) for f in source.files},
                    "stages": list(self.stages),
                    "task_files": self.task_files,
                },
                set(),
                0,
            )
        except _NoStableDescription:
            return None
        return hashlib.blake2b(orjson.dumps(described), digest_size=12).hexdigest()

    def default_num_shards(self) -> int:
        return max(1, math.ceil(self.source.total_bytes() / DEFAULT_SHARD_BYTES))

    def plan_tasks(self, num_shards: int) -> list[ShardTask]:
        """Cut the input into tasks for ``num_shards`` output shards.

        With whole-stream stages, one task reads everything. Otherwise the input is cut into
        at least ``num_shards`` parts, grouped into at most ``num_shards`` tasks (with fewer
        parts, as a compressed file does not split, one task a part); the part size makes the
        parts of a splittable file an equal number per task (:func:`_part_bytes`). ``slots`` says which
        shards a task's rows mostly land in; the sink's finalize cuts the rows of all tasks, in
        task order, into the shards (``Sink.finalize(num_shards=)``).
        """
        if num_shards < 1:
            raise ValueError(f"num_shards must be at least 1, got {num_shards}")
        if self.task_files is not None:
            return self._plan_per_file()
        parts = self.source.parts(_part_bytes(self.source.total_bytes(), num_shards))
        if self.whole_stream or not parts:
            return [ShardTask(0, tuple(parts), tuple(range(num_shards)))]
        if len(parts) >= num_shards:
            groups = _split_evenly(parts, num_shards)
            return [ShardTask(i, tuple(g), (i,)) for i, g in enumerate(groups)]
        slot_groups = _split_evenly(list(range(num_shards)), len(parts))
        return [ShardTask(i, (p,), tuple(s)) for i, (p, s) in enumerate(zip(parts, slot_groups, strict=True))]

    def _plan_per_file(self) -> list[ShardTask]:
        by_file: dict[str, list[FilePart]] = {f: [] for f in self.task_files or ()}
        for part in self.source.parts(DEFAULT_PART_BYTES):
            if part.path not in by_file:
                raise ValueError(
                    f"the source {self.source.description} reads {part.path}, which is not one of its "
                    "files: it cannot be planned file by file"
                )
            by_file[part.path].append(part)
        return [ShardTask(i, tuple(parts), (i,)) for i, parts in enumerate(by_file.values())]

    def run_parts(self, parts: Sequence[FilePart], tally: Tally) -> Iterator[Batch]:
        """Read ``parts`` in order and pass the batches through every stage."""
        if tally.errors is None:
            tally.errors = ErrorPolicy(self.source.on_error, self.source.errors_path)
        reading = Reading(self.source)  # a column error names the file(s) read
        first = len(tally.stages)  # the counter of the first stage, made by apply_stages below
        stream = apply_stages(
            self._read(parts, tally, reading, first), self.stages, tally.stages, lambda: reading.where(False)
        )
        return naming_files(stream, reading)

    def read_hints(self) -> dict:
        """What the stages need of the read, asked of each stage (``ReadOptions.declarative``,
        ``used_columns``, ``predicate``; docs/PERFORMANCE.md).

        >>> from crucible_datasets.sources import FileSource
        >>> from crucible_datasets.transforms.expression import ExpressionFilter
        >>> from crucible_datasets.transforms.columns import SelectColumns
        >>> hints = Pipeline(FileSource(()), (ExpressionFilter("x > 1"), SelectColumns(["id"]))).read_hints()
        >>> hints["declarative"], sorted(hints["used_columns"]), str(hints["predicate"])
        (True, ['id', 'x'], '(x > 1)')
        """
        needed: frozenset[str] | None = None  # the columns used after the stage (None: every one)
        for stage in reversed(self.stages):
            needed = stage.input_columns(needed) if stage.declarative else None
        return {
            "declarative": bool(self.stages) and all(s.declarative for s in self.stages),
            "used_columns": needed,
            "predicate": self.stages[0].pushdown_predicate() if self.stages else None,
        }

    def _read(self, parts: Sequence[FilePart], tally: Tally, reading: Reading, first: int) -> Iterator[Batch]:
        progress = tally.progress
        with_hints = getattr(self.source, "with_read_hints", None)
        source = self.source if with_hints is None else with_hints(**self.read_hints())
        try:
            for i, part in enumerate(parts):
                reading.start(part.path)
                skipped = yield from opening_next(read_part(source, part, tally), source, parts, i)
                if skipped:  # rows the reader left out for the first stage's predicate: it dropped them
                    tally.stages[first].rows_in += skipped
                if progress is not None:
                    progress.advance(nbytes=part.nbytes or 0)
        finally:
            filesystem.close_opened_ahead()


def _part_bytes(total: int, num_shards: int) -> int:
    """The part size that cuts ``total`` bytes into parts of at most ``DEFAULT_PART_BYTES`` whose
    number is a multiple of ``num_shards``: each task then reads as many bytes as the others, so
    the tasks' outputs are balanced shards that finalize publishes as they are, without
    re-cutting (rewriting) the output.

    >>> _part_bytes(100, 4)
    25
    >>> math.ceil((700 << 20) / _part_bytes(700 << 20, 4))  # 175 MiB a task: 3 parts of 58.3 MiB
    12
    """
    per_task = max(1, math.ceil(total / num_shards))
    return math.ceil(per_task / math.ceil(per_task / DEFAULT_PART_BYTES))


def _split_evenly(items: list, n: int) -> list[list]:
    """``items`` in ``n`` contiguous groups whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + q + (1 if i < r else 0)
        out.append(items[start:end])
        start = end
    return out


class _NoStableDescription(Exception):
    """A value whose description would differ between two processes (a memory address)."""


_MAX_DEPTH = 24


def _describe(value: object, seen: set[int], depth: int) -> object:
    """A JSON-ready description of ``value`` that is the same in every process for the same
    configuration and code: functions by their code, constants, defaults, closures and the
    globals they name; objects by their class and attributes."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > _MAX_DEPTH:
        raise _NoStableDescription(f"nested too deep: {type(value).__qualname__}")
    nested = depth + 1
    if isinstance(value, bytes):
        return ["bytes", hashlib.blake2b(value, digest_size=12).hexdigest()]
    if isinstance(value, Enum):
        return ["enum", type(value).__qualname__, str(value.value)]
    if isinstance(value, (pa.Schema, pa.DataType)):
        return ["arrow", str(value)]
    if isinstance(value, (list, tuple)):
        return [_describe(v, seen, nested) for v in value]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted(orjson.dumps(_describe(v, seen, nested)).decode() for v in value)]
    if isinstance(value, Mapping):
        items = [[_describe(k, seen, nested), _describe(v, seen, nested)] for k, v in value.items()]
        return ["map", sorted(items, key=lambda kv: orjson.dumps(kv[0]))]
    if isinstance(value, (type, types.ModuleType, types.BuiltinFunctionType)):
        return ["name", getattr(value, "__module__", None), getattr(value, "__qualname__", value.__name__)]
    if isinstance(value, types.CodeType):
        consts = [_describe(c, seen, nested) for c in value.co_consts]
        return ["code", value.co_code.hex(), consts, list(value.co_names)]
    if id(value) in seen:
        return ["cycle", type(value).__qualname__]
    seen.add(id(value))
    if isinstance(value, types.MethodType):
        return ["method", _describe(value.__func__, seen, nested), _describe(value.__self__, seen, nested)]
    if isinstance(value, types.FunctionType):
        code = value.__code__
        names = {
            n: value.__globals__[n]
            for n in code.co_names
            if n in value.__globals__ and not isinstance(value.__globals__[n], types.ModuleType)
        }
        cells = [c.cell_contents for c in value.__closure__ or () if c.cell_contents is not value]
        parts = [
            value.__module__,
            value.__qualname__,
            code,
            value.__defaults__,
            value.__kwdefaults__,
            cells,
            names,
        ]
        return ["function", _describe(parts, seen, nested)]
    state = getattr(value, "__dict__", None)
    slots = [s for c in type(value).__mro__ for s in getattr(c, "__slots__", ())]
    if state is not None or slots:
        attrs = dict(state or {})
        attrs.update({s: getattr(value, s) for s in slots if hasattr(value, s)})
        return ["object", type(value).__module__, type(value).__qualname__, _describe(attrs, seen, nested)]
    text = repr(value)
    if " at 0x" in text:
        raise _NoStableDescription(text)
    return ["repr", type(value).__qualname__, text]
