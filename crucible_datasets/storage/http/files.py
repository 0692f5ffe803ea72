"""Reading one ``http(s)://`` URL without Beam: its size, whether it exists, a seekable reader.

The ``http(s)://`` Beam filesystem (:mod:`.filesystem`) is a thin adapter over these, and
:mod:`crucible_datasets.storage.filesystem` calls them directly in this process, so a read of a
URL never waits for Beam's import (seconds).

Example (any server)::

    size("https://example.org/data.jsonl"); open_url("https://example.org/data.jsonl").read(10)
"""

from __future__ import annotations

import io
import posixpath

from crucible_datasets.storage.http.client import RemoteStat, describe_url, stat
from crucible_datasets.storage.http.range_file import RemoteFile, read_whole, version_of
from crucible_datasets.storage.http.retry import RemoteError, RemoteNotFoundError


def stat_of(url: str) -> RemoteStat:
    return stat(url, what=describe_url(url))


def size_in(info: RemoteStat, url: str) -> int:
    """The size ``info`` names; a server that does not say is an error (parts need sizes)."""
    if info.size is None:
        raise RemoteError(f"{describe_url(url)}: the server does not tell the file size")
    return info.size


def size(url: str) -> int:
    return size_in(stat_of(url), url)


def exists(url: str) -> bool:
    try:
        stat_of(url)
    except RemoteNotFoundError:
        return False
    return True


def open_url(url: str) -> io.BufferedIOBase:
    """A reader of the raw bytes, pinned to the version seen now (ETag, else Last-Modified;
    a server naming neither is read whole, :func:`~.range_file.read_whole`)."""
    info = stat_of(url)
    identity = version_of(info.headers)
    if identity is None:
        return read_whole(url, what=describe_url(url))
    return RemoteFile(
        url,
        what=describe_url(url),
        size=info.size,
        identity=identity,
        etag=info.etag,
        ranges=info.accepts_ranges,
        name=posixpath.basename(describe_url(url)),
    )
