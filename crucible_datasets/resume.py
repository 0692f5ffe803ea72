"""Resumable iteration: a pipeline run as a chain of nodes whose state is a small JSON dict.

Each node yields batches and can say, between two batches, where it stands (:meth:`Node.state`):
the source as ``(part, batches read of it)``; ``take``/``skip`` as rows left; a regrouping stage
(``batch``, batched ``map``/``filter``) as the upstream state before the batch holding its first
buffered row and how many rows of that batch it had used; a shuffle as its seed, how many random
draws it made, and, for its buffer, the upstream state from which the buffer can be rebuilt by
re-reading plus the offset of each buffered row. Per-batch stages (``map``, ``filter``,
``select_columns``...) hold nothing: their state is their upstream's. A stage the engine does not
know (``dedupe``, a user's whole-stream stage) is resumed by replaying it from its start.

Re-reading is exact because the readers cut a part into the same batches every time and the
stages are deterministic functions of their input (a user's ``map`` must be too).

>>> import pyarrow as pa
>>> from crucible_datasets.pipeline import Pipeline
>>> from crucible_datasets.sources import TableSource
>>> from crucible_datasets.transforms.stream import Shuffle
>>> pipe = Pipeline(TableSource(pa.table({"x": list(range(50))}), batch_rows=7)).then(Shuffle(3, 10))
>>> run = Run(pipe); rows = run.rows(); first = [next(rows)["x"] for _ in range(12)]
>>> state = run.state(); rest = [r["x"] for r in rows]
>>> [r["x"] for r in Run(pipe, state).rows()] == rest
True
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import FilePart
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.sources import Reading, naming_files, opening_next
from crucible_datasets.storage import filesystem
from crucible_datasets.transforms.base import Stage, StageCounter, StageKind, apply_stages

STATE_VERSION = 1


class StateError(ValueError):
    """A saved state does not fit the dataset it is loaded into."""


@dataclass(frozen=True)
class ShardLevel:
    """Keep shard ``index`` of ``num``, applied after the first ``at`` stages of the pipeline."""

    num: int
    index: int
    at: int
    contiguous: bool = False
    mode: str = "auto"  # "shards": whole parts or an error; "examples": every num-th row

    def __post_init__(self) -> None:
        if not isinstance(self.num, int) or self.num < 1:
            raise ValueError(f"num_shards must be a positive integer, got {self.num!r}")
        if not isinstance(self.index, int) or not 0 <= self.index < self.num:
            raise ValueError(f"shard index must be in [0, {self.num}), got {self.index!r}")


def derive_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch``: ``seed`` itself for epoch 0, else a hash of both.

    >>> derive_seed(7, 0), derive_seed(7, 1) == derive_seed(7, 1) != derive_seed(7, 2)
    (7, True)
    """
    if epoch == 0:
        return seed
    digest = hashlib.blake2b(f"{seed}:{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class Draws:
    """The slot indices a buffer shuffle draws, from PCG64: ``advance`` makes a resume O(1).

    >>> a = Draws(1, 10); xs = [a.next() for _ in range(5)]
    >>> b = Draws(1, 10, start=3); xs[3:] == [b.next(), b.next()]
    True
    """

    CHUNK = 4096

    def __init__(self, seed: int, buffer_size: int, start: int = 0) -> None:
        import numpy as np  # only a shuffle draws: importing the package does not load numpy

        self.seed, self.buffer_size, self.count = seed, buffer_size, start
        self._bits = np.random.PCG64(seed % 2**128)
        self._bits.advance(start)
        self._chunk: list[int] = []
        self._i = 0

    def next(self) -> int:
        if self._i == len(self._chunk):
            self._chunk = self._bits.random_raw(self.CHUNK).tolist()
            self._i = 0
        x = self._chunk[self._i]
        self._i += 1
        self.count += 1
        return (x * self.buffer_size) >> 64

    def permutation(self, n: int) -> list[int]:
        """A permutation of ``range(n)`` drawn from the position ``count`` (the final drain)."""
        import numpy as np

        bits = np.random.PCG64(self.seed % 2**128)
        bits.advance(self.count)
        return np.random.Generator(bits).permutation(n).tolist()


class Node:
    """A resumable stream of batches."""

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        return next(self._gen)

    def state(self) -> dict:
        raise NotImplementedError


class PartsNode(Node):
    """The batches of ``parts`` in order; state: the part and how many of its batches were read."""

    def __init__(self, pipeline: Pipeline, parts: Sequence[FilePart], reading: Reading, start: dict | None):
        self.source, self.parts, self.reading = pipeline.source, list(parts), reading
        self.part, self.batch = (start["part"], start["batch"]) if start else (0, 0)
        self.errors = ErrorPolicy(self.source.on_error, self.source.errors_path)
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        try:
            while self.part < len(self.parts):
                part, skip = self.parts[self.part], self.batch
                self.reading.start(part.path)
                read = self.source.read(part, self.errors)
                batches = opening_next(read, self.source, self.parts, self.part)
                for k, batch in enumerate(batches):
                    if k >= skip:
                        self.batch = k + 1
                        yield batch
                self.part, self.batch = self.part + 1, 0
        finally:
            self.errors.close()
            filesystem.close_opened_ahead()

    def state(self) -> dict:
        return {"part": self.part, "batch": self.batch}


class StageNode(Node):
    """A stage that holds nothing between batches (per-batch, or a regrouping stage over exact groups)."""

    def __init__(self, stage: Stage, up: Node) -> None:
        self.up = up
        self._gen = apply_stages(up, [stage], [])  # a user function's error names its stage

    def state(self) -> dict:
        return self.up.state()


class RegroupNode(Node):
    """Rows in batches of exactly ``size`` (the last may be shorter)."""

    def __init__(self, size: int, up: Node, start: dict | None) -> None:
        self.size, self.up = size, up
        self.skip = start["skip"] if start else 0
        self._state = start or {"up": up.state(), "skip": 0}
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        buf: list[dict] = []
        segs: deque[list] = deque()  # [upstream state before a batch, rows of it used, rows of it buffered]
        skip = self.skip
        while True:
            before = self.up.state()
            batch = next(self.up, None)
            if batch is None:
                break
            rows = batch.rows[skip:] if skip else batch.rows
            segs.append([before, skip, len(rows)])
            skip = 0
            buf.extend(rows)
            while len(buf) >= self.size:
                group, n = buf[: self.size], self.size
                del buf[: self.size]
                while n:
                    seg = segs[0]
                    used = min(n, seg[2])
                    seg[1], seg[2], n = seg[1] + used, seg[2] - used, n - used
                    if not seg[2]:
                        segs.popleft()
                self._state = {"up": segs[0][0], "skip": segs[0][1]} if segs else None
                yield Batch.from_rows(group)
        self._state = None
        if buf:
            yield Batch.from_rows(buf)

    def state(self) -> dict:
        return self._state or {"up": self.up.state(), "skip": 0}


class TakeNode(Node):
    def __init__(self, n: int, up: Node, start: dict | None) -> None:
        self.up, self.left = up, start["left"] if start else n
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        while self.left > 0:
            batch = next(self.up, None)
            if batch is None:
                return
            if len(batch) >= self.left:
                out = Batch.from_rows(batch.rows[: self.left]) if len(batch) > self.left else batch
                self.left = 0
                yield out
                return
            self.left -= len(batch)
            yield batch

    def state(self) -> dict:
        return {"up": self.up.state(), "left": self.left}


class SkipNode(Node):
    def __init__(self, n: int, up: Node, start: dict | None) -> None:
        self.up, self.left = up, start["left"] if start else n
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        for batch in self.up:
            if self.left >= len(batch):
                self.left -= len(batch)
                continue
            out = Batch.from_rows(batch.rows[self.left :]) if self.left else batch
            self.left = 0
            yield out

    def state(self) -> dict:
        return {"up": self.up.state(), "left": self.left}


class StepNode(Node):
    """Every ``num``-th row from row ``index``: a shard of the rows when there are too few parts."""

    def __init__(self, num: int, index: int, up: Node, start: dict | None) -> None:
        self.num, self.index, self.up = num, index, up
        self.seen = start["seen"] if start else 0
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        for batch in self.up:
            first = (self.index - self.seen) % self.num
            self.seen = (self.seen + len(batch)) % self.num
            kept = batch.rows[first :: self.num]
            if kept:
                yield Batch.from_rows(kept)

    def state(self) -> dict:
        return {"up": self.up.state(), "seen": self.seen}


class ShuffleNode(Node):
    """Buffer shuffling, resumable: see :class:`~crucible_datasets.transforms.stream.Shuffle`.

    State: ``draws`` made, and the buffer as the upstream state from which it is rebuilt
    (``up``: before the batch holding the oldest buffered row), the rows read from there
    (``read``) and each slot's offset among them (``slots``); in the final drain, the rows of
    it emitted (``drained``). Over a plain iterator (no upstream states) it only streams.
    """

    def __init__(
        self, stage: Stage, up: Iterator[Batch], start: dict | None, counter: StageCounter | None = None
    ) -> None:
        self.stage, self.up, self.start, self.counter = stage, up, start, counter or StageCounter()
        self.tracked = isinstance(up, Node)
        self._state = start or (
            {"up": up.state(), "read": 0, "slots": [], "draws": 0} if self.tracked else None
        )
        self._gen = self._run()

    def _run(self) -> Iterator[Batch]:
        size, out_rows, start = self.stage.buffer_size, self.stage.out_batch_rows, self.start or {}
        draws = Draws(self.stage.seed, size, start.get("draws", 0))
        index: list[int] = list(start.get("slots", ()))  # the input row number of each slot
        buffer: list = [None] * len(index)
        slot_of = {off: i for i, off in enumerate(index)}
        replay = start.get("read", 0)  # rows re-read to rebuild the buffer
        checkpoints: deque[tuple[int, dict]] = deque()  # (row number at a batch's start, state before it)
        n_in, out = 0, []
        if self.tracked:
            origin = self.up.state()
        while True:
            before = self.up.state() if self.tracked else None
            batch = next(self.up, None)
            if batch is None:
                break
            if self.tracked:
                checkpoints.append((n_in, before))
            self.counter.rows_in += len(batch)
            for row in batch.rows:
                n_in += 1
                if n_in <= replay:
                    slot = slot_of.get(n_in - 1)
                    if slot is not None:
                        buffer[slot] = row
                    continue
                if len(buffer) < size:
                    buffer.append(row)
                    index.append(n_in - 1)
                    continue
                i = draws.next()
                out.append(buffer[i])
                buffer[i], index[i] = row, n_in - 1
                if len(out) >= out_rows:
                    yield self._emit(out, checkpoints, index, n_in, draws.count)
                    out = []
        if out:
            yield self._emit(out, checkpoints, index, n_in, draws.count)
        if self.tracked and not checkpoints:
            checkpoints.append((0, origin))
        end = self._snapshot(checkpoints, index, n_in, draws.count) if self.tracked else None
        order = draws.permutation(len(buffer))
        for k in range(start.get("drained", 0), len(order), out_rows):
            piece = [buffer[i] for i in order[k : k + out_rows]]
            if self.tracked:
                self._state = {**end, "drained": k + len(piece)}
            self.counter.rows_out += len(piece)
            yield Batch.from_rows(piece)

    def _emit(self, out: list, checkpoints: deque, index: list[int], n_in: int, count: int) -> Batch:
        if self.tracked:
            self._state = self._snapshot(checkpoints, index, n_in, count)
        self.counter.rows_out += len(out)
        return Batch.from_rows(out)

    @staticmethod
    def _snapshot(checkpoints: deque, index: list[int], n_in: int, count: int) -> dict:
        oldest = min(index) if index else n_in
        while len(checkpoints) > 1 and checkpoints[1][0] <= oldest:
            checkpoints.popleft()
        base, up = checkpoints[0]
        return {"up": up, "read": n_in - base, "slots": [x - base for x in index], "draws": count}

    def state(self) -> dict:
        return self._state


class ReplayNode(Node):
    """A stage the engine cannot stop mid-way: resumed by replaying it from its start."""

    def __init__(self, stage: Stage, make_up: Callable[[dict | None], Node], start: dict | None) -> None:
        self.up = make_up(start["start"] if start else None)
        self.origin = self.up.state()
        self.done = 0
        skip = start["batches"] if start else 0
        self._gen = self._run(stage, skip)

    def _run(self, stage: Stage, skip: int) -> Iterator[Batch]:
        for k, batch in enumerate(apply_stages(self.up, [stage], [])):
            self.done = k + 1
            if k >= skip:
                yield batch

    def state(self) -> dict:
        return {"start": self.origin, "batches": self.done}


def plan_parts(pipeline: Pipeline, levels: Sequence[ShardLevel]) -> tuple[list[FilePart], list[ShardLevel]]:
    """The parts this shard reads, and the levels left to apply to rows (too few parts, or after
    a stage that needs the whole stream).

    The parts are cut in file order; the first shuffle stage's seed reorders those left at its place.
    """
    source = pipeline.source
    seed = source.shuffle_seed
    parts = _canonical_parts(pipeline)
    first_shuffle = next((i for i, s in enumerate(pipeline.stages) if s.reorders_parts), None)
    if first_shuffle is None and seed is not None:
        first_shuffle = 0
    shuffled, rows_levels = False, []
    safe_until = next(
        (i for i, s in enumerate(pipeline.stages) if not (s.kind.any_part or s.reorders_parts)),
        len(pipeline.stages),
    )
    for level in levels:
        if not shuffled and seed is not None and first_shuffle is not None and level.at > first_shuffle:
            _shuffle(parts, seed)
            shuffled = True
        whole_parts = not rows_levels and level.at <= safe_until and len(parts) >= level.num
        if level.mode == "shards" and not whole_parts:
            raise ValueError(
                f"cannot give {level.num} shards whole input parts: {len(parts)} parts"
                + (
                    ""
                    if level.at <= safe_until
                    else f", after the whole-stream stage {pipeline.stages[safe_until].name}"
                )
                + "; use strategy='examples' (every n-th row)"
            )
        if level.mode == "examples" or not whole_parts:
            rows_levels.append(level)
            continue
        if level.contiguous:
            q, r = divmod(len(parts), level.num)
            start = level.index * q + min(level.index, r)
            parts = parts[start : start + q + (1 if level.index < r else 0)]
        else:
            parts = parts[level.index :: level.num]
    if not shuffled and seed is not None:
        _shuffle(parts, seed)
    return parts, rows_levels


def _canonical_parts(pipeline: Pipeline) -> list[FilePart]:
    from dataclasses import replace

    source = pipeline.source
    if source.shuffle_seed is None:
        return list(source.parts())
    return list(replace(source, shuffle_seed=None).parts())


def _shuffle(parts: list, seed: int) -> None:
    import random

    random.Random(seed).shuffle(parts)


def fingerprint(parts: Sequence[FilePart]) -> str:
    """A short digest of the part list: a state names the parts it counts in."""
    text = "\n".join(f"{p.path}:{p.start}:{p.end}" for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Run:
    """One iteration of a pipeline: its rows, and at any point its state (JSON-serialisable).

    ``levels`` shard it (:class:`ShardLevel`); ``start`` is a state from :meth:`state`.
    """

    def __init__(
        self, pipeline: Pipeline, start: dict | None = None, levels: Sequence[ShardLevel] = ()
    ) -> None:
        self.pipeline, self.levels = pipeline, tuple(levels)
        self.parts, row_levels = plan_parts(pipeline, self.levels)
        self.signature = [s.name for s in pipeline.stages]
        self.shards = [[lv.num, lv.index, lv.at] for lv in self.levels]
        if start is not None:
            self._check(start)
        self.reading = Reading(pipeline.source)
        node_state = start["node"] if start else None
        self.node = self._build(len(pipeline.stages), node_state, sorted(row_levels, key=lambda lv: lv.at))
        self.skip = start["rows"] if start else 0
        self.before = self.node.state()
        self.consumed = 0

    def _check(self, state: dict) -> None:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise StateError(
                f"not a crucible_datasets iteration state (version {STATE_VERSION}): {state!r:.200}"
            )
        if state["stages"] != self.signature:
            raise StateError(
                f"the state was saved for the stages {state['stages']}, this dataset has {self.signature}"
            )
        if state["shards"] != self.shards:
            raise StateError(
                f"the state was saved by shard {_shards_text(state['shards'])}, this dataset is shard "
                f"{_shards_text(self.shards)}: resume with the same world_size, rank and num_workers"
            )
        if state["parts"] != fingerprint(self.parts):
            raise StateError(
                "the state was saved over other input parts (files changed, or another seed/epoch)"
            )

    def _build(self, k: int, state: dict | None, row_levels: list[ShardLevel]) -> Node:
        if row_levels and row_levels[-1].at == k:
            level = row_levels[-1]
            up = self._build(k, state["up"] if state else None, row_levels[:-1])
            return StepNode(level.num, level.index, up, state)
        if k == 0:
            return PartsNode(self.pipeline, self.parts, self.reading, state)
        stage = self.pipeline.stages[k - 1]

        def below(s: dict | None) -> Node:
            return self._build(k - 1, s, row_levels)

        node = stage.resume_node(below, state)  # take, skip, shuffle, regrouping stages
        if node is not None:
            return node
        if stage.kind is StageKind.PER_BATCH:
            return StageNode(stage, below(state))
        return ReplayNode(stage, below, state)

    def batches(self) -> Iterator[Batch]:
        """The output batches; the first one resumed mid-way starts after the rows already yielded."""
        return naming_files(self._batches(), self.reading)

    def _batches(self) -> Iterator[Batch]:
        skip = self.skip
        while True:
            self.before, self.consumed = self.node.state(), skip
            batch = next(self.node, None)
            if batch is None:
                self.before, self.consumed = self.node.state(), 0
                return
            if skip:
                batch, skip = Batch.from_rows(batch.rows[skip:]), 0
            yield batch

    def rows(self) -> Iterator[dict]:
        for batch in self.batches():
            for row in batch.rows:
                self.consumed += 1
                yield row

    def state(self) -> dict:
        """Where the run stands: resuming from it yields exactly the rows not yet yielded."""
        return {
            "version": STATE_VERSION,
            "stages": self.signature,
            "shards": self.shards,
            "parts": fingerprint(self.parts),
            "node": self.before,
            "rows": self.consumed,
        }


def _shards_text(shards: list) -> str:
    return " of ".join(f"{i}/{n}" for n, i, _ in shards) if shards else "none (the whole dataset)"
