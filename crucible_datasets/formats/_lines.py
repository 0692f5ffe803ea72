"""Reading a range of a line file: the lines a part owns, as a buffered stream.

A part ``[start, end)`` of an uncompressed file owns the lines that start in it: reading skips
to the first line start at or after ``start`` and stops at the first one at or after ``end``, so
the parts of a file read every line exactly once. A compressed file (or one read whole) is one
part. Used by the line formats (``jsonl.py``, ``text.py``).
"""

from __future__ import annotations

import io
from typing import BinaryIO

from crucible_datasets.errors import DataFileError
from crucible_datasets.formats._compressed import open_stream
from crucible_datasets.formats.base import BOUNDARY_SCAN_BYTES, FilePart, byte_read_range
from crucible_datasets.storage.filesystem import open_input

BOM = b"\xef\xbb\xbf"
# Bytes read from the file at a time. Lines come out of this buffer one by one; a bigger
# buffer only saves system calls (1 MiB measured as fast as 4-8 MiB on ~2 KB records).
READ_BUFFER_BYTES = 1 << 20


def open_lines(path: str, part: FilePart, *, whole: bool) -> tuple[io.BufferedReader | None, int]:
    """A buffered stream over the lines ``part`` owns (all of the file when ``whole``) and the
    byte offset it starts at, a BOM at the file's start skipped; ``(None, 0)`` if it owns none.

    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt"); _ = open(p, "wb").write(b"ab\\ncd\\nef\\n")
    >>> stream, first = open_lines(p, FilePart(p, 1, 5), whole=False)
    >>> stream.read(), first
    (b'cd\\n', 3)
    """
    if whole:
        if part.start != 0:  # a whole file is one part; its end is the end of the file
            raise ValueError(f"{path} is compressed or read whole and cannot be read from byte {part.start}")
        window = _Window(open_stream(path), 0, None, path)
        first = 0
    else:
        raw = open_input(path, read_range=byte_read_range(part))
        try:
            first = 0 if part.start <= 0 else _next_line_start(raw, part.start - 1, path)
            stop = None if part.end is None else _next_line_start(raw, part.end - 1, path)
            if first is None or (stop is not None and first >= stop):
                raw.close()
                return None, 0
            _seek(raw, first, path)
        except BaseException:
            raw.close()
            raise
        window = _Window(raw, first, stop, path)
    buf = io.BufferedReader(window, READ_BUFFER_BYTES)
    if first == 0 and buf.peek(len(BOM))[: len(BOM)] == BOM:
        buf.read(len(BOM))
        first = len(BOM)
    return buf, first


class _Window(io.RawIOBase):
    """Bytes ``[pos, stop)`` of a stream already positioned at ``pos``; ``tell()`` is absolute."""

    def __init__(self, src: BinaryIO, pos: int, stop: int | None, path: str) -> None:
        self._src = src
        self._pos = pos
        self._stop = stop
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = len(b)
        if self._stop is not None:
            n = min(n, self._stop - self._pos)
            if n <= 0:
                return 0
        k = _io(self._path, self._src.readinto, memoryview(b)[:n])  # into the caller's buffer: one copy
        self._pos += k
        return k

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._src.close()
        super().close()


def _io(path: str, fn, *args):
    """``fn(*args)``, an OS error raised as a :class:`DataFileError` naming ``path``."""
    try:
        return fn(*args)
    except DataFileError:
        raise
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {exc}") from exc


def _read(src: BinaryIO, n: int, path: str) -> bytes:
    return _io(path, src.read, n)


def _seek(src: BinaryIO, pos: int, path: str) -> None:
    try:
        src.seek(pos)
    except OSError as exc:
        raise DataFileError(f"cannot seek to byte {pos} of {path}: {exc}") from exc


def _next_line_start(src: BinaryIO, pos: int, path: str) -> int | None:
    """The offset just past the first ``\\n`` at or after ``pos``; None if there is none."""
    _seek(src, pos, path)
    while data := _read(src, BOUNDARY_SCAN_BYTES, path):
        i = data.find(b"\n")
        if i >= 0:
            return pos + i + 1
        pos += len(data)
    return None


def count_newlines(path: str, start: int) -> int:
    """Newlines in the uncompressed file before the first line starting at or after ``start``."""
    if start <= 0:
        return 0
    count = 0
    with open_input(path) as src:
        remaining = _next_line_start(src, start - 1, path)
        _seek(src, 0, path)
        while remaining and (data := _read(src, min(remaining, 8 << 20), path)):
            count += data.count(b"\n")
            remaining -= len(data)
    return count
