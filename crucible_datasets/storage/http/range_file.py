"""A seekable binary file over HTTP range requests, for ``https://`` and ``hf://`` reads.

Small random reads (a Parquet footer, one column chunk) fetch little more than what is asked;
sequential reads (JSONL lines) ramp the read-ahead up to ``block_size``. A reader that knows the
range it will read front to back says so (:meth:`RemoteFile.advise`): its blocks are then
fetched several at a time ahead of it (:mod:`.read_ahead`). A redirect (the Hub's to its CDN)
is followed once: later ranges go straight to where it led. Servers that ignore
``Range`` still work: the body is streamed once front to back (a backward seek starts it again).
Every answer must come from the version seen when the file was opened (same ETag, or same
``Last-Modified`` without one; same commit; same total size): otherwise
:class:`~.retry.RemoteChangedError`, never a mix of two versions. A file whose server names no
version at all is read whole in one answer (:func:`read_whole`).

Example (any server)::

    f = RemoteFile("https://example.org/data.parquet", what="example.org/data.parquet", size=123456)
    f.seek(-8, 2); f.read(8)   # one small range request
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping

import requests

from crucible_datasets.storage.http.client import normalize_etag, read_body, send, session
from crucible_datasets.storage.http.read_ahead import FIRST_BLOCK, ReadAhead
from crucible_datasets.storage.http.retry import (
    RemoteAccessError,
    RemoteChangedError,
    RemoteError,
    RemoteNotFoundError,
    RetryPolicy,
    TransientError,
    call_with_retry,
)

MIN_READAHEAD = 256 * 1024
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024


def version_of(headers: Mapping[str, str]) -> str | None:
    """The version an answer's headers name: the ETag, else ``Last-Modified`` (None: neither).

    The size is checked on its own (every range answer's ``Content-Range`` total).

    >>> version_of({"ETag": 'W/"abc"', "Last-Modified": "x"}), version_of({"Last-Modified": "Mon"})
    ('abc', 'modified Mon')
    """
    etag = normalize_etag(headers.get("ETag"))
    if etag is not None:
        return etag
    modified = headers.get("Last-Modified")
    return f"modified {modified.strip()}" if modified and modified.strip() else None


def etag_identity(response: requests.Response) -> str | None:
    """The default version of an answer: :func:`version_of` its headers."""
    return version_of(response.headers)


class RemoteFile(io.BufferedIOBase):
    """Read-only, seekable view of a remote file of ``size`` bytes (None: unknown, no ranges).

    ``identity`` is the version seen at open time (an ETag, or an ETag and commit);
    ``identity_of(response)`` computes it for each answer (None: the answer does not say).
    ``ranges`` is True/False when known, None to find out from the first answer; ``etag`` is
    the file's ETag seen at open, kept for the caller (the HF cache names blobs by it).
    """

    def __init__(
        self,
        url: str,
        *,
        what: str,
        size: int | None,
        identity: str | None = None,
        identity_of: Callable[[requests.Response], str | None] = etag_identity,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str | None] = (),
        policy: RetryPolicy | None = None,
        ranges: bool | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        name: str | None = None,
        etag: str | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.what = what
        self.size = size
        self.name = name or what
        self.mode = "rb"
        self.etag = etag
        self._identity = identity
        self._identity_of = identity_of
        self._headers = {**(headers or {}), "Accept-Encoding": "identity"}
        self._secrets = tuple(secrets)
        self._policy = policy
        self._ranges = ranges if size is not None else False
        self._block_size = max(MIN_READAHEAD, block_size)
        self._pos = 0
        self._buf = b""
        self._buf_start = 0
        self._readahead = MIN_READAHEAD
        self._stream: requests.Response | None = None
        self._stream_pos = 0
        self._ahead: ReadAhead | None = None
        # where the first redirect led (the CDN): later ranges go there directly
        self._located: tuple[str, dict[str, str], str | None] | None = None
        self._count_lock = threading.Lock()
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"RemoteFile({self.what!r}, size={self.size})"

    def __reduce_ex__(self, protocol):
        # an open reader holds request headers (maybe a token): it never travels in a pickle
        raise TypeError(f"cannot pickle an open remote file ({self.what}); pass its path instead")

    # io plumbing -----------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._check_open()
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self._pos + offset
        elif whence == os.SEEK_END:
            if self.size is None:
                raise OSError(f"{self.what}: cannot seek from the end, the size is unknown")
            target = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise OSError(f"{self.what}: negative seek position {target}")
        self._pos = target
        return target

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
        self._buf = b""
        super().close()

    def advise(self, start: int, stop: int | None, *, ramp: bool = True) -> None:
        """Bytes ``[start, stop)`` (None: to the end) will be read front to back: fetch their
        blocks ahead of the reader (:mod:`.read_ahead`; ``ramp``: start small, for a reader that
        may stop early). A server without ranges streams the body instead."""
        self._check_open()
        stop = self.size if stop is None or (self.size is not None and stop > self.size) else stop
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
        if stop is None or start >= stop:
            return
        first = None
        if self._ranges is None:  # learn whether ranges work, on this thread, with the first block
            size = min(FIRST_BLOCK if ramp else self._block_size, self._block_size, stop - start)
            self._buf, self._buf_start = self._fetch(start, size), start
            first = self._buf
        if self._ranges:
            self._ahead = ReadAhead(
                self._fetch, start, stop, block_size=self._block_size, ramp=ramp, first=first
            )

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    # reads -------------------------------------------------------------------------------------
    def read(self, size: int | None = -1) -> bytes:
        self._check_open()
        if size is None or size < 0:
            size = (self.size - self._pos) if self.size is not None else -1
        view = self._available(self._pos, size if size >= 0 else self._block_size)
        if 0 <= size <= len(view):  # within the block held: one copy
            self._pos += size
            return bytes(view[:size])
        out = bytearray()
        while size < 0 or len(out) < size:
            view = self._available(self._pos, (size - len(out)) if size >= 0 else self._block_size)
            if not view:
                break
            take = len(view) if size < 0 else min(len(view), size - len(out))
            out += view[:take]
            self._pos += take
        return bytes(out)

    def read1(self, size: int = -1) -> bytes:
        self._check_open()
        view = self._available(self._pos, size if size and size > 0 else self._block_size)
        if size is not None and size >= 0:
            view = view[:size]
        self._pos += len(view)
        return bytes(view)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        """Bytes copied straight from the blocks held into ``buffer`` (no bytes in between)."""
        self._check_open()
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target):
            view = self._available(self._pos, len(target) - done)
            if not view:
                break
            take = min(len(view), len(target) - done)
            target[done : done + take] = view[:take]
            done += take
            self._pos += take
        return done

    def readinto1(self, buffer) -> int:
        data = self.read1(len(memoryview(buffer).cast("B")))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        self._check_open()
        limit = -1 if size is None else size
        out = bytearray()
        while limit < 0 or len(out) < limit:
            if not self._available(self._pos, self._readahead):
                break
            offset = self._pos - self._buf_start
            stop = len(self._buf) if limit < 0 else min(len(self._buf), offset + limit - len(out))
            newline = self._buf.find(b"\n", offset, stop)
            end = newline + 1 if newline >= 0 else stop
            out += self._buf[offset:end]
            self._pos += end - offset
            if newline >= 0:
                break
        return bytes(out)

    # buffering ---------------------------------------------------------------------------------
    def _available(self, pos: int, want: int) -> memoryview:
        """Bytes from ``pos`` on held in the buffer, fetching a block first if needed."""
        if self.size is not None and pos >= self.size:
            return memoryview(b"")
        end = self._buf_start + len(self._buf)
        if not (self._buf_start <= pos < end) and self._ahead is not None and self._ahead.covers(pos):
            self._buf_start, self._buf = self._ahead.block_at(pos)
        elif not (self._buf_start <= pos < end):
            sequential = bool(self._buf) and pos == end
            self._readahead = min(self._block_size, self._readahead * 2) if sequential else MIN_READAHEAD
            length = min(self._block_size, max(want, self._readahead))
            if self.size is not None:
                length = min(length, self.size - pos)
            self._buf = b""
            self._buf = self._fetch(pos, length)
            self._buf_start = pos
            if not self._buf:
                return memoryview(b"")
        return memoryview(self._buf)[pos - self._buf_start :]

    def _fetch(self, start: int, length: int) -> bytes:
        return call_with_retry(
            lambda: self._fetch_once(start, length),
            what=self.what,
            policy=self._policy,
            secrets=self._secrets,
        )

    def _check(self, response: requests.Response) -> None:
        seen = self._identity_of(response)
        if self._identity is None:
            self._identity = seen
        elif seen is not None and seen != self._identity:
            raise RemoteChangedError(
                f"{self.what}: the file changed while it was being read (version {self._identity} "
                f"when opened, {seen} now); read it again to get one consistent version"
            )

    def _count_request(self) -> None:
        with self._count_lock:  # ranges are fetched on several threads
            self.requests_made += 1

    def _send_range(self, start: int, length: int) -> requests.Response:
        """The answer to a range request: to the redirect's target once there was one (a stale
        target, say an expired signed URL, is forgotten and the file's own URL asked again)."""
        span = {"Range": f"bytes={start}-{start + length - 1}"}
        common = dict(
            what=self.what,
            ok=(200, 206, 416),
            secrets=self._secrets,
            timeout=self._policy.timeout if self._policy else None,
            stream=True,
        )
        located = self._located
        if located is not None:
            url, headers, version = located
            self._count_request()
            try:
                return send(
                    "GET", url, headers={**headers, **span}, check=self._located_check(version), **common
                )
            except (RemoteAccessError, RemoteNotFoundError):
                self._located = None
        self._count_request()
        response = send("GET", self.url, headers={**self._headers, **span}, check=self._check, **common)
        if response.history and response.status_code == 206:
            target = response.url
            # what requests sends on a redirect: no Authorization to another host
            strip = session().should_strip_auth(self.url, target)
            headers = {k: v for k, v in self._headers.items() if not (strip and k.lower() == "authorization")}
            self._located = (target, headers, version_of(response.headers))
        return response

    def _located_check(self, version: str | None) -> Callable[[requests.Response], None]:
        """The check of an answer from a redirect's target: the version it named the first time
        (the file's own version was checked on the answer that redirected there)."""

        def check(response: requests.Response) -> None:
            seen = version_of(response.headers)
            if version is not None and seen is not None and seen != version:
                raise RemoteChangedError(
                    f"{self.what}: the file changed while it was being read (version {version} at "
                    f"{response.url.split('?', 1)[0]} before, {seen} now); read it again"
                )

        return check

    def _fetch_once(self, start: int, length: int) -> bytes:
        if self._ranges is False:
            return self._read_stream(start, length)
        response = self._send_range(start, length)
        if response.status_code == 416:
            response.close()
            raise RemoteChangedError(
                f"{self.what}: the server has no bytes {start}-{start + length - 1} of a file "
                f"opened with {self.size} bytes; it changed while it was being read"
            )
        if response.status_code == 200:  # the server ignores Range: stream the body instead
            self._ranges = False
            self._close_stream()
            self._stream, self._stream_pos = response, 0
            return self._read_stream(start, length)
        self._ranges = True
        first, total = _parse_content_range(response.headers.get("Content-Range"))
        if total is not None and self.size is not None and total != self.size:
            response.close()
            raise RemoteChangedError(
                f"{self.what}: the file changed while it was being read ({self.size} bytes when "
                f"opened, {total} now); read it again to get one consistent version"
            )
        if first is not None and first != start:
            response.close()
            raise RemoteError(f"{self.what}: asked for bytes from {start}, the server sent from {first}")
        data = read_body(response, length)
        if len(data) != length:
            raise TransientError(f"short answer: {len(data)} of {length} bytes at offset {start}")
        return data

    # servers without range support --------------------------------------------------------------
    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _read_stream(self, start: int, length: int) -> bytes:
        try:
            if self._stream is None or start < self._stream_pos:
                self._close_stream()
                self._count_request()
                self._stream = send(
                    "GET",
                    self.url,
                    what=self.what,
                    headers=self._headers,
                    ok=(200,),
                    secrets=self._secrets,
                    timeout=self._policy.timeout if self._policy else None,
                    stream=True,
                    check=self._check,
                )
                self._stream_pos = 0
            while self._stream_pos < start:
                skipped = read_body(self._stream, min(_SKIP_CHUNK, start - self._stream_pos))
                if not skipped:
                    return b""
                self._stream_pos += len(skipped)
            out = bytearray()
            while len(out) < length:
                chunk = read_body(self._stream, length - len(out))
                if not chunk:
                    break
                out += chunk
            self._stream_pos += len(out)
        except TransientError:
            self._close_stream()
            raise
        expected = length if self.size is None else min(length, self.size - start)
        if self.size is not None and len(out) < expected:
            self._close_stream()
            raise TransientError(f"the answer ended after {self._stream_pos} of {self.size} bytes")
        return bytes(out)


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    # "bytes 100-199/1234" or "bytes 100-199/*"
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.split("-", 1)[0].strip()
    return (
        int(first) if first.isdigit() else None,
        int(total) if total.strip().isdigit() else None,
    )


def read_whole(
    url: str, *, what: str, headers: Mapping[str, str] | None = None, policy: RetryPolicy | None = None
) -> io.BufferedIOBase:
    """The whole file in one answer, as a seekable local copy: one version, whatever the server.

    For servers that name no version (no ``ETag``, no ``Last-Modified``): range requests could
    not tell two versions apart. A retry fetches the whole file again; a body shorter than its
    ``Content-Length`` is retried. The copy spills to a temporary file past 64 MiB.
    """

    def attempt() -> io.BufferedIOBase:
        response = send(
            "GET",
            url,
            what=what,
            headers={**(headers or {}), "Accept-Encoding": "identity"},
            ok=(200,),
            timeout=policy.timeout if policy else None,
            stream=True,
        )
        copy = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned
        expected = response.headers.get("Content-Length")
        try:
            while chunk := read_body(response, _SKIP_CHUNK):
                copy.write(chunk)
        except BaseException:
            copy.close()
            raise
        finally:
            response.close()
        if expected is not None and expected.isdigit() and copy.tell() != int(expected):
            got = copy.tell()
            copy.close()
            raise TransientError(f"the answer ended after {got} of {expected} bytes")
        copy.seek(0)
        return copy

    return call_with_retry(attempt, what=what, policy=policy)
