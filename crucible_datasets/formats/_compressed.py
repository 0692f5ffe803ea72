"""Byte streams over data files: plain, gzip, zstd, bzip2 or xz, decompressed as they are read.

:func:`open_stream` hides the compression: it returns an object with ``read(n)`` and
``close()`` that yields the uncompressed bytes a chunk at a time, so a 50 GB ``.jsonl.zst``
never sits in memory. A truncated or corrupt stream raises
:class:`~crucible_datasets.errors.DataFileError` naming the file, never returns short data.

>>> import gzip, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.jsonl.gz")
>>> with open(path, "wb") as f:
...     _ = f.write(gzip.compress(b'{"a": 1}\\n'))
>>> with open_stream(path) as s:
...     s.read(100)
b'{"a": 1}\\n'
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO

import zstandard

from crucible_datasets.errors import DataFileError
from crucible_datasets.formats.compression import compression_of
from crucible_datasets.storage.filesystem import open_input

# Compressed bytes fed to the zstd decoder at a time: bounds the output of one step.
ZSTD_INPUT_BYTES = 128 * 1024


def open_stream(path: str) -> BinaryIO:
    """The uncompressed bytes of ``path`` (``.gz``/``.zst``/``.bz2``/``.xz`` decompressed on the fly)."""
    compression = compression_of(path)
    raw = open_input(path)
    if compression is None:
        return raw
    try:
        if compression == "gzip":
            return _Checked(gzip.GzipFile(fileobj=raw, mode="rb"), raw, path, "gzip")
        if compression == "bz2":  # concatenated streams (pbzip2, lbzip2) are read one after another
            return _Checked(bz2.BZ2File(raw, mode="rb"), raw, path, "bzip2")
        if compression == "xz":
            return _Checked(lzma.LZMAFile(raw, mode="rb"), raw, path, "xz")
        return _Checked(_ZstdReader(raw), raw, path, "zstd")
    except BaseException:
        raw.close()
        raise


class _Checked(io.RawIOBase):
    """A decompressing reader whose decoder errors become :class:`DataFileError`."""

    def __init__(self, inner, raw: BinaryIO, path: str, kind: str) -> None:
        self._inner = inner
        self._raw = raw
        self._path = path
        self._kind = kind

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except DataFileError:
            raise
        except (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as exc:
            raise DataFileError(
                f"cannot read {self._path}: truncated or corrupt {self._kind} data ({exc})"
            ) from exc

    def readinto(self, b) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._raw.close()
        super().close()


class _ZstdReader:
    """Streaming zstd decoding that notices a truncated last frame.

    ``zstandard``'s own ``stream_reader`` returns short data without complaint when the input
    stops mid-frame; here each frame has its own decoder and ``eof`` is checked at the end.
    Concatenated frames (as written by ``zstd`` on several inputs) are read one after another.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None  # decoder of the frame in progress
        self._out = b""
        self._at = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        while self._at >= len(self._out):
            if not self._fill():
                return b""
        out = self._out[self._at : self._at + n]
        self._at += len(out)
        return out

    def _fill(self) -> bool:
        data = self._raw.read(ZSTD_INPUT_BYTES)
        if not data:
            if self._frame is not None:
                raise EOFError("the last zstd frame is incomplete")
            return False
        pieces = []
        while data:
            if self._frame is None:
                self._frame = self._dctx.decompressobj()
            pieces.append(self._frame.decompress(data))
            if self._frame.eof:
                data = self._frame.unused_data
                self._frame = None
            else:
                data = b""
        self._out = b"".join(pieces)
        self._at = 0
        return True

    def close(self) -> None:
        self._out = b""
