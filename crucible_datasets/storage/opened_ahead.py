"""Remote files opened ahead of their reader: the next part's file is opened, and the first
blocks of the range it will read are requested, while the part before it is read.

:func:`crucible_datasets.storage.filesystem.open_ahead` puts a file here;
:func:`~crucible_datasets.storage.filesystem.open_input` takes it (same path, same range) instead
of opening it again. Files are kept per thread (the one that reads them) and at most
:data:`MAX_OPENED_AHEAD` wait (the oldest is closed), each holding at most its read-ahead's blocks
(:mod:`.http.read_ahead`); a read closes what it left untaken when it ends (:meth:`clear`), so a
file pinned to a version never outlives the read that opened it. An error opening a file
ahead is raised by the :meth:`take` that asks for it, as opening it then would have.

>>> import io
>>> ahead = OpenedAhead()
>>> ahead.submit(("x", (0, 4)), lambda: io.BytesIO(b"data"))
>>> ahead.take(("x", (0, 4))).read(), ahead.take(("x", (0, 4)))
(b'data', None)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import BinaryIO

from crucible_datasets.storage.http.read_ahead import fetch_pool

MAX_OPENED_AHEAD = 2


def _close_when_done(future: Future) -> None:
    def close(done: Future) -> None:
        if not done.cancelled() and done.exception() is None:
            done.result().close()

    future.add_done_callback(close)


class OpenedAhead:
    """Files being opened in the background, by the reading thread and a key (path and range),
    oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[Hashable, Future] = OrderedDict()

    def submit(self, key: Hashable, opener: Callable[[], BinaryIO]) -> None:
        key = (threading.get_ident(), key)
        with self._lock:
            if key in self._files:
                return
            self._files[key] = fetch_pool().submit(opener)
            while len(self._files) > MAX_OPENED_AHEAD:  # over every thread: a memory bound
                _close_when_done(self._files.popitem(last=False)[1])

    def take(self, key: Hashable) -> BinaryIO | None:
        """The file this thread opened ahead under ``key`` (waiting for it), or None."""
        with self._lock:
            future = self._files.pop((threading.get_ident(), key), None)
        return None if future is None else future.result()

    def clear(self) -> None:
        """Close the files this thread opened ahead and did not take (its read ended)."""
        me = threading.get_ident()
        with self._lock:
            futures = [self._files.pop(key) for key in [key for key in self._files if key[0] == me]]
        for future in futures:
            _close_when_done(future)
