"""The cut of a split's rows into shards: which rows of which temp files make each shard.

The tasks' temp files (in task, then roll-over order) are one sequence of rows; with
``num_shards`` it is cut into :func:`shard_counts` contiguous runs of balanced row counts, which
depend only on the rows, never on how the tasks happened to split them. :func:`cuts` decides
when a temp file can be published as it is instead.

>>> from crucible_datasets.sinks.task import TempShard
>>> a, b = (TempShard(f"t{i}", i, 0, n, 0, 0, None) for i, n in enumerate([5, 3]))
>>> [[(s.path, start, stop) for s, start, stop in pieces] for pieces in cuts([a, b], 2)]
[[('t0', 0, 4)], [('t0', 4, 5), ('t1', 0, 3)]]
"""

from __future__ import annotations

from collections.abc import Sequence

from crucible_datasets.sinks.task import TempShard

WRITE_BATCH_ROWS = 2048  # the readers' batch (formats.base.DEFAULT_BATCH_ROWS): shards may differ by one

Piece = tuple[TempShard, int, int]  # rows [start, stop) of one temp file


def cuts(
    shards: Sequence[TempShard], wanted: int | None, *, task_aligned: bool = False
) -> list[tuple[Piece, ...]]:
    """The pieces of each shard: one whole temp file each when ``wanted`` is ``None``, or when
    ``task_aligned`` files are already ``wanted`` shards within :func:`balance_tolerance` of
    each other; else the rows re-cut into ``wanted`` balanced shards (:func:`cut_rows`)."""
    whole = [((s, 0, s.rows),) for s in shards]
    if wanted is None:
        return whole
    rows = sum(s.rows for s in shards)
    counts = [s.rows for s in shards]
    if task_aligned and len(shards) == wanted and _even(counts, balance_tolerance(rows, wanted)):
        return whole
    return cut_rows(shards, shard_counts(rows, wanted))


def shard_counts(rows: int, num_shards: int) -> list[int]:
    """``rows`` cut into ``num_shards`` balanced counts (the larger ones first).

    >>> shard_counts(499, 4)
    [125, 125, 125, 124]
    """
    q, r = divmod(rows, num_shards) if num_shards else (0, 0)
    return [q + (1 if i < r else 0) for i in range(num_shards)]


def balance_tolerance(rows: int, num_shards: int) -> int:
    """How many rows the shards of a task-aligned write may differ by: one write batch
    (:data:`WRITE_BATCH_ROWS`), and at most a tenth of a shard.

    >>> balance_tolerance(480_000, 10), balance_tolerance(499, 4)
    (2048, 12)
    """
    return min(WRITE_BATCH_ROWS, rows // (10 * max(1, num_shards)))


def _even(counts: Sequence[int], tolerance: int) -> bool:
    return bool(counts) and max(counts) - min(counts) <= tolerance


def cut_rows(shards: Sequence[TempShard], counts: Sequence[int]) -> list[tuple[Piece, ...]]:
    """The rows of ``shards`` (in order) cut into contiguous runs of ``counts`` rows: for each run,
    its ``(temp shard, start row, stop row)`` pieces."""
    result, i, offset = [], 0, 0
    for count in counts:
        pieces = []
        while count > 0:
            shard = shards[i]
            take = min(count, shard.rows - offset)
            pieces.append((shard, offset, offset + take))
            offset += take
            count -= take
            if offset == shard.rows:
                i, offset = i + 1, 0
        result.append(tuple(pieces))
    return result
