"""Read ahead: the next item of a read made on a background thread while the caller works on
the one before.

A reader whose work releases the GIL (pyarrow's JSON parser, its Parquet decoder) runs it here
one item ahead, while the caller's stages and sink (DuckDB, the Parquet writer: they release
it too) work on the item before, so the two overlap on two cores. The threads are a pool made
on first use in each process and kept (:data:`THREADS`): a thread a part made memory grow with
the parts read, each new thread's allocator arena.

>>> items = iter([1, 2, 3])
>>> with OneAhead(lambda: next(items, None)) as ahead:
...     [item * 10 for item in ahead]
[10, 20, 30]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Generic, TypeVar

THREADS = 2
_pool: ThreadPoolExecutor | None = None

T = TypeVar("T")


def ahead_pool() -> ThreadPoolExecutor:
    """The process's read-ahead threads (made on first use)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="crucible-read-ahead")
    return _pool


def _forget_pool() -> None:  # a forked child has none of its parent's threads
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool)


class OneAhead(Generic[T]):
    """The items ``produce()`` returns until it returns None, each made on a read-ahead thread
    while the caller works on the one before: at most one item is ahead (memory: two items).

    ``produce`` is called by one thread at a time, in order. An exception it raises is raised
    by the iteration at the item it was making, on the caller's thread, as calling it there
    would have. Use as a context manager: leaving waits for the item ahead, also when the
    caller stops early, so what ``produce`` reads may then be closed; nothing runs after it.

    >>> def failing():
    ...     raise ValueError("corrupt")
    >>> with OneAhead(failing) as ahead:
    ...     next(iter(ahead))
    Traceback (most recent call last):
    ValueError: corrupt
    """

    def __init__(self, produce: Callable[[], T | None]) -> None:
        self._produce = produce
        self._ahead = ahead_pool().submit(produce)

    def __iter__(self) -> Iterator[T]:
        while (item := self._ahead.result()) is not None:
            self._ahead = ahead_pool().submit(self._produce)
            yield item

    def __enter__(self) -> OneAhead[T]:
        return self

    def __exit__(self, *exc_info) -> None:
        wait([self._ahead])
