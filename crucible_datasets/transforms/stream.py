"""Stages over the whole stream: ``take``, ``skip``, ``shuffle``, ``dedupe``; and ``sample``.

``take``/``skip`` need every row in order in one stream (``StageKind.WHOLE_STREAM``);
``shuffle``/``dedupe`` too when run locally, but they are :class:`KeyedStage` s, which a runner
may distribute by key: dedupe keeps the first row of each key in input order everywhere.
``sample`` decides per row from a hash of the row and the seed, so it runs on any part and
keeps the same rows on every runner.

>>> from crucible_datasets.batch import Batch
>>> from crucible_datasets.transforms.base import StageCounter
>>> rows = lambda: iter([Batch.from_rows([{"x": i % 3} for i in range(6)])])
>>> [r for b in Take(2).apply(rows(), StageCounter()) for r in b.rows]
[{'x': 0}, {'x': 1}]
>>> [r for b in Dedupe().apply(rows(), StageCounter()) for r in b.rows]
[{'x': 0}, {'x': 1}, {'x': 2}]
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from typing import ClassVar

import orjson

from crucible_datasets.batch import Batch, Position
from crucible_datasets.transforms.base import KeyedStage, Stage, StageCounter, StageKind

_HASH_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_CANONICAL_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
Pair = tuple[Position | None, dict]


def row_digest(row: dict, key: Sequence[str] | None = None, salt: bytes = b"") -> bytes:
    """A 16-byte digest of a row (or of its ``key`` columns), stable across processes."""
    value = row if key is None else [row.get(k) for k in key]
    return hashlib.blake2b(salt + orjson.dumps(value, option=_HASH_OPTS), digest_size=16).digest()


def canonical(row: dict) -> bytes:
    """The row as canonical JSON (sorted keys): equal rows give equal bytes."""
    return orjson.dumps(row, option=_CANONICAL_OPTS, default=str)


def first_in_input(a: Pair, b: Pair) -> Pair:
    """Of two ``(position, row)`` pairs, the first in input order; associative and commutative.

    Pairs with a position come before those without; of two without, the one whose canonical
    JSON is smaller (a repeatable choice when the input says nothing about order).

    >>> first_in_input(((0.5, 1, 0), {"x": 1}), ((0.0, 7, 3), {"x": 2}))
    ((0.0, 7, 3), {'x': 2})
    >>> first_in_input((None, {"x": 2}), (None, {"x": 1}))
    (None, {'x': 1})
    """
    (pa, ra), (pb, rb) = a, b
    if pa is not None and pb is not None:
        return a if pa <= pb else b
    if pa is None and pb is None:
        return a if canonical(ra) <= canonical(rb) else b
    return a if pa is not None else b


def _non_negative(n: int, what: str) -> int:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} takes a non-negative integer, got {n!r}")
    return n


def _up(state: dict | None) -> dict | None:
    return state["up"] if state else None


class Take(Stage):
    """The first ``n`` rows; stops reading upstream once it has them."""

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM

    def __init__(self, n: int) -> None:
        self.n = _non_negative(n, "take")

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        left = self.n
        if left == 0:
            return
        for batch in stream:
            counter.rows_in += len(batch)
            if len(batch) >= left:
                out = Batch.from_rows(batch.rows[:left]) if len(batch) > left else batch
                counter.rows_out += left
                yield out
                return
            left -= len(batch)
            counter.rows_out += len(batch)
            yield batch

    def resume_node(self, below, state):
        from crucible_datasets.resume import TakeNode

        return TakeNode(self.n, below(_up(state)), state)


class Skip(Stage):
    """Every row after the first ``n``."""

    kind: ClassVar[StageKind] = StageKind.WHOLE_STREAM

    def __init__(self, n: int) -> None:
        self.n = _non_negative(n, "skip")

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        left = self.n
        for batch in stream:
            counter.rows_in += len(batch)
            if left >= len(batch):
                left -= len(batch)
                continue
            out = Batch.from_rows(batch.rows[left:]) if left else batch
            left = 0
            counter.rows_out += len(out)
            yield out

    def resume_node(self, below, state):
        from crucible_datasets.resume import SkipNode

        return SkipNode(self.n, below(_up(state)), state)


class Shuffle(KeyedStage):
    """Buffer shuffling as in ``datasets``: fill a buffer, emit a random element, refill.

    Memory is bounded by ``buffer_size`` rows; the runner also shuffles the order of the
    input parts with the same seed. The slots are drawn from PCG64 (``resume.Draws``), so an
    interrupted shuffle resumes exactly (``resume.ShuffleNode``). Distributed, each row gets a
    random 128-bit key (from the seed and its position, so repeatable; a random one without a
    seed or a position) and the rows come out in key order.

    >>> s = Shuffle(seed=1)
    >>> s.key({}, (0.0, 0, 0)) == s.key({"other": "row"}, (0.0, 0, 0)) != s.key({}, (0.0, 0, 1))
    True
    """

    reorders_parts: ClassVar[bool] = True

    def __init__(self, seed: int | None = None, buffer_size: int = 1000, out_batch_rows: int = 1000) -> None:
        self.seed = seed
        self.buffer_size = max(1, _non_negative(buffer_size, "shuffle buffer_size"))
        self.out_batch_rows = out_batch_rows

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        from crucible_datasets.resume import ShuffleNode  # the one buffer shuffle, also resumable

        stage = self
        if self.seed is None:
            stage = Shuffle(random.getrandbits(63), self.buffer_size, self.out_batch_rows)
        yield from ShuffleNode(stage, stream, None, counter)

    def resume_node(self, below, state):
        from crucible_datasets.resume import ShuffleNode

        return ShuffleNode(self, below(_up(state)), state)

    def key(self, row: dict, position: Position | None) -> int:
        if self.seed is None or position is None:
            return random.getrandbits(128)
        data = f"{self.seed!r}:{position!r}".encode()
        return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")

    def choose(self, a: Pair, b: Pair) -> Pair:
        return first_in_input(a, b)  # two rows with one key: 128 random bits make it very unlikely

    def order(self, key: int, position: Position | None) -> Position:
        return (key / 2**128, key)


class Dedupe(KeyedStage):
    """Drop exact duplicates: of whole rows, or of the ``key`` columns. Keeps the first in input order.

    Holds one 16-byte digest per distinct row seen. Distributed, rows are keyed by that digest
    and :func:`first_in_input` chooses among them.
    """

    def __init__(self, key: str | Sequence[str] | None = None) -> None:
        self.columns = (key,) if isinstance(key, str) else (tuple(key) if key is not None else None)

    def key(self, row: dict, position: Position | None) -> bytes:
        return row_digest(row, self.columns)

    def choose(self, a: Pair, b: Pair) -> Pair:
        return first_in_input(a, b)

    def order(self, key: bytes, position: Position | None) -> Position | None:
        return position

    def apply(self, stream: Iterator[Batch], counter: StageCounter) -> Iterator[Batch]:
        seen: set[bytes] = set()
        for batch in stream:
            counter.rows_in += len(batch)
            kept = []
            for row in batch.rows:
                digest = row_digest(row, self.columns)
                if digest not in seen:
                    seen.add(digest)
                    kept.append(row)
            if kept:
                counter.rows_out += len(kept)
                yield Batch.from_rows(kept) if len(kept) < len(batch) else batch


class Sample(Stage):
    """Keep about ``fraction`` of rows, chosen by a hash of each row and ``seed``."""

    def __init__(self, fraction: float, seed: int = 0) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"sample fraction must be between 0 and 1, got {fraction!r}")
        self.fraction = fraction
        self.salt = str(seed).encode()
        self._cut = int(fraction * 2**64)

    def process(self, batch: Batch) -> Batch | None:
        cut, salt = self._cut, self.salt
        kept = [r for r in batch.rows if int.from_bytes(row_digest(r, salt=salt)[:8], "big") < cut]
        return Batch.from_rows(kept) if kept else None
