"""Blocks of a remote byte range fetched ahead of a sequential reader, several at a time.

A reader that knows it will read ``[start, stop)`` of a remote file front to back (a JSON Lines
part, the row groups of a Parquet part) says so (:meth:`RemoteFile.advise
<.range_file.RemoteFile.advise>`); the range is cut into blocks, and blocks after the one being
read are fetched on a shared pool of threads (:data:`FETCH_THREADS`) while the reader works.
With 50 ms of latency a block costs a round trip; requests in flight side by side hide it.

How far ahead: at most ``depth`` blocks of at most ``block_size``. A ``ramp`` read starts small
(:data:`FIRST_BLOCK`, each block 4x the one before up to ``block_size``) and fetches ahead at
most twice what it has read so far, so a ``take(5)`` costs about a megabyte, not ``depth``
blocks; a read known to go on (the next part of a read, opened ahead) starts at full size.
The range's last :data:`FIRST_BLOCK` is fetched at once too: a reader often looks there first
(the scan for a part's last line). Memory: at most ``depth + 2`` blocks (those ahead, the one
being read, and the latest behind it: readers step back) and that last piece.

Fetch errors are raised to the reader when it reaches the block, after the fetch's own retries.

>>> fetched = []
>>> def fetch(start, length):
...     fetched.append(start)
...     return bytes(range(start, start + length))
>>> ahead = ReadAhead(fetch, 0, 10, block_size=4, depth=2, ramp=False)
>>> ahead.block_at(5), ahead.block_at(9)
((4, b'\\x04\\x05\\x06\\x07'), (8, b'\\x08\\t'))
>>> ahead.close(); sorted(fetched)
[0, 4, 8]
>>> [at >> 10 for at in ramped(0, 30 << 20, 8 << 20)]  # KiB: 256 KiB, 1, 4, then 8 MiB blocks
[0, 256, 1280, 5376, 13568, 21760, 29952]
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

FETCH_THREADS = 8  # requests in flight per process, over every file being read ahead
DEFAULT_DEPTH = 4  # blocks ahead of the reader, per file
FIRST_BLOCK = 256 * 1024  # a ramp's first block

_pool_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def fetch_pool() -> ThreadPoolExecutor:
    """The process's fetch threads (a new pool after a fork: threads do not survive one)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="crucible-fetch"))
        return _pool[1]


def _done(data: bytes) -> Future:
    future: Future = Future()
    future.set_result(data)
    return future


def ramped(start: int, stop: int, block_size: int) -> list[int]:
    """The block starts of a ramp over ``[start, stop)`` (:data:`FIRST_BLOCK`, then 4x each)."""
    starts, at, size = [], start, min(FIRST_BLOCK, block_size)
    while at < stop:
        starts.append(at)
        at, size = at + size, min(block_size, size * 4)
    return starts


class ReadAhead:
    """The blocks of ``[start, stop)``, fetched by ``fetch(offset, length) -> bytes``.

    :meth:`block_at` gives the block holding an offset (waiting for its fetch, or fetching it
    now) and schedules the blocks after it (see the module docstring for how many).
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        start: int,
        stop: int,
        *,
        block_size: int,
        depth: int = DEFAULT_DEPTH,
        ramp: bool = True,
        first: bytes | None = None,
    ) -> None:
        self.start, self.stop = start, stop
        self._fetch = fetch
        self._depth = depth
        self._ramp = ramp
        if ramp:
            self._starts = ramped(start, stop, block_size)
        else:
            self._starts = list(range(start, stop, block_size))
        # ``first``: the first block, already fetched (its length says where the next one starts)
        if first is not None and (len(self._starts) < 2 or self._starts[1] != start + len(first)):
            self._starts = [start, *(at for at in self._starts if at >= start + len(first))]
        self._blocks: dict[int, Future] = {} if first is None else {0: _done(first)}
        self._schedule(0)
        # the range's end is often read first (a line scan for the part's last line): its last
        # FIRST_BLOCK is a block of its own, fetched at once and kept
        self._tail = None
        if stop - start > 4 * FIRST_BLOCK:
            if stop - FIRST_BLOCK not in self._starts:
                bisect.insort(self._starts, stop - FIRST_BLOCK)
            self._tail = len(self._starts) - 1
            self._blocks[self._tail] = fetch_pool().submit(self._fetch, *self._span(self._tail))

    def covers(self, pos: int) -> bool:
        return self.start <= pos < self.stop

    def _span(self, k: int) -> tuple[int, int]:
        end = self._starts[k + 1] if k + 1 < len(self._starts) else self.stop
        return self._starts[k], end - self._starts[k]

    def _schedule(self, k: int) -> None:
        """Fetch (in the background) blocks ``k``, ``k + 1``... as far ahead as allowed."""
        if k >= len(self._starts):
            return
        pool = fetch_pool()
        read = self._starts[k] - self.start  # bytes before block k: read already
        ahead = 0
        for j in range(k, min(k + self._depth, len(self._starts))):
            if self._ramp and j > k and ahead >= 2 * read:
                break
            if j not in self._blocks:
                self._blocks[j] = pool.submit(self._fetch, *self._span(j))
            ahead += self._span(j)[1]

    def block_at(self, pos: int) -> tuple[int, bytes]:
        """``(block start, block bytes)`` of the block holding ``pos`` (inside the range)."""
        k = bisect.bisect_right(self._starts, pos) - 1
        future = self._blocks.get(k)
        if future is None:
            future = self._blocks[k] = _done(self._fetch(*self._span(k)))
        data = future.result()
        self._schedule(k + 1)
        # blocks behind stay while there is room: readers step back (a Parquet row group's
        # columns decoded side by side, a line scan at the range's end); the farthest go first
        while len(self._blocks) > self._depth + 3:
            evictable = [j for j in self._blocks if j != self._tail]
            self._blocks.pop(min(evictable, key=lambda j: (j >= k, -abs(j - k)))).cancel()
        return self._starts[k], data
    def close(self) -> None:
        """Drop every block; fetches not started are cancelled, running ones end unread."""
        for future in self._blocks.values():
            future.cancel()
        self._blocks.clear()
