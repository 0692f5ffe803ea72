"""The stage: one step of a pipeline, batches in, batches out; and what kind of step it is.

Like a datatrove ``PipelineStep``, a stage is one small class with one hook, and it declares
its :class:`StageKind`, which is all a runner asks about it:

- ``PER_BATCH`` (the default): overrides :meth:`Stage.process`, one batch in, a batch or None
  out; the batch's ``position`` is carried to the output;
- ``REGROUPING`` (``batch``, a batched ``map``): overrides :meth:`Stage.apply` and keeps its
  buffer in the generator, so it still runs on any part of the data;
- ``WHOLE_STREAM`` (``take``, ``skip``): overrides :meth:`Stage.apply` and needs every row, in
  order, in one stream;
- ``KEYED`` (``dedupe``, ``shuffle``): a whole-stream stage that a runner can distribute by a
  key per row (:class:`KeyedStage`).

Per-batch and regrouping stages run on any part of the data independently: Beam fuses a chain
of them into one ``DoFn`` per input part.

A per-batch stage that works row by row (``map``, ``filter``, ``flat_map``) also declares a
:meth:`Stage.row_step`; :func:`apply_stages` runs consecutive row steps as one loop over each
batch's rows (:class:`RowRun`): a row goes through every step before the next row starts, no
list or batch is built between the steps, and each stage's counts and errors stay its own.

Stages hold configuration only, never run state: the same stage object serves every
iteration and every worker.

>>> from crucible_datasets.batch import Batch
>>> class Double(Stage):
...     def process(self, batch):
...         return Batch.from_rows([{"x": r["x"] * 2} for r in batch.rows])
>>> stream = iter([Batch.from_rows([{"x": 1}], position=(0.0, 0))])
>>> Double.kind.any_part, [(b.rows, b.position) for b in Double().apply(stream, StageCounter())]
(True, [([{'x': 2}], (0.0, 0))])
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from operator import is_
from typing import TYPE_CHECKING, ClassVar

from crucible_datasets.batch import Batch, Position
from crucible_datasets.errors import CrucibleError, user_function_error

if TYPE_CHECKING:
    import pyarrow.compute as pc

    from crucible_datasets.resume import Node
    from crucible_datasets.transforms.columns import ColumnCheck

# One row in, what it becomes out: a row, None (dropped) or a list of zero or more rows.
RowStep = Callable[[dict], "dict | list[dict] | None"]


class StageKind(Enum):
    """What a stage needs to see, which decides where a runner may run it."""

    PER_BATCH = "per_batch"
    REGROUPING = "regrouping"
    WHOLE_STREAM = "whole_stream"
    KEYED = "keyed"

    @property
    def any_part(self) -> bool:
        """True when the stage runs on any part of the data independently."""
        return self in (StageKind.PER_BATCH, StageKind.REGROUPING)


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
    """Base class of all stages. Override :meth:`process` (per batch) or :meth:`apply` (stream),
    and declare ``kind`` when it is not ``PER_BATCH``."""

    kind: ClassVar[StageKind] = StageKind.PER_BATCH
    reorders_parts: ClassVar[bool] = False  # a shuffle: the runner also shuffles the input parts
    # What the columns this stage writes hold, for the dataset card (column -> one sentence).
    column_descriptions: ClassVar[Mapping[str, str]] = {}
    # The named operation that made the stage and the arguments it was given, ``(op, {name: value})``,
    # recorded by ``operations.named_operation`` for a pipeline spec (``to_spec``); None: not made by one.
    operation: tuple[str, dict] | None = None
    # Works on Arrow columns alone, never on Python rows (where, select, rename, cast, sql): when
    # every stage is, a reader may parse straight to Arrow (``Pipeline.read_hints``).
    declarative: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def process(self, batch: Batch) -> Batch | None:
        """Transform one batch; return None (or an empty batch) to drop all its rows.

        A row stage (one with a :meth:`row_step`) needs no ``process`` of its own."""
        if self.row_step() is None:
            raise NotImplementedError
        return RowRun((self,)).batch(batch)

    def row_step(self) -> RowStep | None:
        """For a per-batch stage that works row by row, the function of one row it applies
        (:data:`RowStep`); :func:`apply_stages` fuses consecutive ones into one loop. None: the
        stage works on whole batches."""
        return None

    def resume_node(self, below: Callable[[dict | None], Node], state: dict | None) -> Node | None:
        """The node that runs this stage in a resumable stream (``resume.py``), over ``below(s)``
        (the node under it, restored from state ``s``), restored from ``state``; None: the engine
        runs a per-batch stage as it is and replays any other from its start."""
        return None

    def input_columns(self, needed_after: frozenset[str] | None) -> frozenset[str] | None:
        """The input columns a declarative stage reads, given the columns the steps after it use
        (None: all of them); None: every column. A reader may leave the others out."""
        return None

    def pushdown_predicate(self) -> pc.Expression | None:
        """An Arrow expression true for exactly the rows the stage keeps (a ``where``), so that a
        reader of the first stage's input may skip the others; None: the stage filters nothing so."""
        return None

    def spec_args(self) -> dict | None:
        """The keyword arguments that make this stage again, ``type(self)(**stage.spec_args())``, so a
        spec can name a stage of your own (``op: apply``); None (the default): it cannot."""
        return None

    def column_check(self) -> ColumnCheck | None:
        """A fresh check of the columns the stage names (``transforms/columns.py``), or None."""
        return None

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        """Run the stage over a stream of batches, counting rows in and out (and checking columns).

        Each output batch keeps the ``position`` of its input batch.
        """
        check = self.column_check()
        for batch in stream:
            counter.rows_in += len(batch)
            if check is not None:
                check.see(batch)
            out = self.process(batch)
            if out is not None and len(out):
                counter.rows_out += len(out)
                out.position = batch.position
                yield out
        if check is not None:
            check.finish()


class KeyedStage(Stage):
    """A whole-stream stage that can be distributed: a key per row, and a rule among the rows
    of one key.

    A runner that distributes it gives every row its :data:`~crucible_datasets.batch.Position`
    (where it stands in the input), groups the ``(position, row)`` pairs by :meth:`key`, keeps
    one pair per key with :meth:`choose`, and puts each survivor at :meth:`order`: its position
    for the next keyed stage, and (after the last) the output order. Run locally,
    :meth:`Stage.apply` must keep the same rows (for :class:`~crucible_datasets.transforms.stream.Dedupe`,
    the first of each key). ``transforms/beam.py`` has the one Beam realisation (``KeyedRows``),
    used by ``cd.transforms.Dedupe``/``Shuffle`` and by the Beam runner's distributed plan.

    A near-duplicate filter needs nothing but new stage classes: a per-batch stage adding the
    MinHash band columns, then one keyed stage per band, each keeping the first row of its band
    bucket, so a row survives iff it is first in every bucket it falls in (the Beam plan runs
    consecutive keyed stages one after the other, each on the survivors of the one before):

    >>> class FirstInBand(KeyedStage):
    ...     def __init__(self, band):
    ...         self.band = band
    ...     def key(self, row, position):
    ...         return row[self.band]
    ...     def choose(self, a, b):
    ...         return min(a, b, key=lambda pair: pair[0])
    ...     def order(self, key, position):
    ...         return position
    ...     def apply(self, stream, counter):
    ...         seen = set()
    ...         for batch in stream:
    ...             counter.rows_in += len(batch)
    ...             kept = [r for r in batch.rows if r[self.band] not in seen and not seen.add(r[self.band])]
    ...             counter.rows_out += len(kept)
    ...             yield Batch.from_rows(kept)
    >>> rows = [{"id": 0, "b0": 1, "b1": 7}, {"id": 1, "b0": 2, "b1": 7}, {"id": 2, "b0": 3, "b1": 8}]
    >>> out = apply_stages(iter([Batch.from_rows(rows)]), [FirstInBand("b0"), FirstInBand("b1")], [])
    >>> [r["id"] for b in out for r in b.rows]
    [0, 2]
    """

    kind: ClassVar[StageKind] = StageKind.KEYED

    def key(self, row: dict, position: Position | None) -> Hashable:
        """The row's key (bytes, an int or a tuple of them); ``position`` is None when the input
        carries none (a user's ``beam.Create`` of batches)."""
        raise NotImplementedError

    def choose(
        self, a: tuple[Position | None, dict], b: tuple[Position | None, dict]
    ) -> tuple[Position | None, dict]:
        """The pair kept of two with the same key; associative and commutative."""
        raise NotImplementedError

    def order(self, key: Hashable, position: Position | None) -> Position | None:
        """Where a survivor stands afterwards: a position (None only for a row that had none)."""
        raise NotImplementedError


def apply_stages(
    stream: Iterator[Batch],
    stages: Iterable[Stage],
    counters: list[StageCounter],
    where: Callable[[], str] | None = None,
) -> Iterator[Batch]:
    """Chain ``stages`` over ``stream``; appends one counter per stage to ``counters``.

    Consecutive per-batch stages with a :meth:`~Stage.row_step` run as one :class:`RowRun`.
    An exception a stage's own code raises (not one from its input, nor one of the package's
    :class:`~crucible_datasets.errors.CrucibleError`) comes out as a
    :class:`~crucible_datasets.errors.UserFunctionError` naming the stage, its function, the
    file being read (``where()``) and the rows that had entered the stage, ``from`` the original.

    >>> from crucible_datasets.transforms.rows import RowFilter, RowMap
    >>> stages = [RowFilter(lambda r: r["x"] > 1), RowMap(lambda r: {"y": -r["x"]})]
    >>> counters = []
    >>> out = apply_stages(iter([Batch.from_rows([{"x": 1}, {"x": 2}, {"x": 3}])]), stages, counters)
    >>> [b.rows for b in out], [(c.rows_in, c.rows_out) for c in counters]
    ([[{'x': 2, 'y': -2}, {'x': 3, 'y': -3}]], [(3, 2), (2, 2)])
    """
    run: list[Stage] = []
    for stage in [*stages, None]:
        if stage is not None and stage.kind is StageKind.PER_BATCH and stage.row_step() is not None:
            run.append(stage)
            continue
        if run:
            run_counters = [StageCounter() for _ in run]
            counters.extend(run_counters)
            stream = RowRun(tuple(run), where).apply(stream, run_counters)
            run = []
        if stage is not None:
            counter = StageCounter()
            counters.append(counter)
            upstream = _Upstream(stream)
            stream = _naming_errors(stage, stage.apply(upstream, counter), upstream, counter, where)
    return stream


class RowRun:
    """Consecutive row stages as one loop over the rows of each batch.

    Each row goes through every stage's :meth:`~Stage.row_step` before the next row starts,
    so no list or :class:`Batch` exists between the stages; a batch meets Arrow again only
    where a later stage or the sink asks for it. ``entered[i]`` counts the rows that have
    entered stage ``i`` (the rows out of a stage are the rows into the next; out of the last,
    ``kept``), so every stage keeps exact counts, and a stage's error names that stage.

    >>> from crucible_datasets.transforms.rows import FlatMap, RowFilter
    >>> run = RowRun((FlatMap(lambda r: [r, r]), RowFilter(lambda r: r["x"] > 1)))
    >>> run.rows([{"x": 1}, {"x": 2}]), run.entered, run.kept
    ([{'x': 2}, {'x': 2}], [2, 4], 2)
    """

    def __init__(self, stages: tuple[Stage, ...], where: Callable[[], str] | None = None) -> None:
        self.stages = stages
        self.steps = [stage.row_step() for stage in stages]
        self.where = where
        self.entered = [0] * len(stages)
        self.kept = 0

    def rows(self, rows: Iterable[dict]) -> list[dict]:
        """The rows that come out of the last stage, in order."""
        out: list[dict] = []
        self._run(rows, 0, out)
        self.kept += len(out)
        return out

    def _run(self, rows: Iterable[dict], first: int, out: list[dict]) -> None:
        """``rows`` into stage ``first`` and on; what leaves the last stage is appended to ``out``."""
        append, steps, entered, last = out.append, self.steps, self.entered, len(self.steps)
        for row in rows:
            i = first
            while i < last:
                entered[i] += 1
                try:
                    row = steps[i](row)
                except CrucibleError:
                    raise
                except Exception as exc:
                    raise self._named(i, exc) from exc
                if row is None:
                    break
                i += 1
                if type(row) is list:  # several rows (flat_map): each goes on through the next stages
                    self._run(row, i, out)
                    break
            else:
                append(row)

    def batch(self, batch: Batch) -> Batch | None:
        """``batch`` through the stages: None when no row is left, the batch itself (with its
        Arrow form, if any) when every row came out unchanged, as a filter keeping all does."""
        rows = batch.rows
        out = self.rows(rows)
        if not out:
            return None
        if len(out) == len(rows) and all(map(is_, out, rows)):
            return batch
        return Batch.from_rows(out, position=batch.position)

    def apply(self, stream: Iterator[Batch], counters: list[StageCounter]) -> Iterator[Batch]:
        """Every batch of ``stream`` through the stages; ``counters``, one a stage, kept up to date."""
        for batch in stream:
            out = self.batch(batch)
            for counter, rows_in, rows_out in zip(
                counters, self.entered, [*self.entered[1:], self.kept], strict=True
            ):
                counter.rows_in, counter.rows_out = rows_in, rows_out
            if out is not None:
                yield out

    def _named(self, i: int, exc: Exception) -> Exception:
        where = self.where() if self.where else None
        return user_function_error(_label(self.stages[i]), where, self.entered[i], exc)


def _label(stage: Stage) -> str:
    """How an error names ``stage``: its function too when it runs one."""
    fn = getattr(stage, "fn", None)
    what = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return f"function {what} (stage {stage.name})" if what else f"stage {stage.name}"


class _Upstream:
    """A stage's input; remembers the exception its input raised (that one is not the stage's)."""

    def __init__(self, stream: Iterator[Batch]) -> None:
        self._stream = iter(stream)
        self.error: BaseException | None = None

    def __iter__(self) -> _Upstream:
        return self

    def __next__(self) -> Batch:
        try:
            return next(self._stream)
        except StopIteration:
            raise
        except BaseException as exc:
            self.error = exc
            raise


def _naming_errors(
    stage: Stage,
    out: Iterator[Batch],
    upstream: _Upstream,
    counter: StageCounter,
    where: Callable[[], str] | None,
) -> Iterator[Batch]:
    try:
        yield from out
    except Exception as exc:
        if exc is upstream.error or isinstance(exc, CrucibleError):
            raise
        raise user_function_error(_label(stage), where() if where else None, counter.rows_in, exc) from exc
