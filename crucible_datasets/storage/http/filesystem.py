"""Beam ``FileSystem`` for ``http://`` and ``https://`` URLs: read-only, seekable, retried.

Importing this module registers the schemes with Beam (``FileSystems`` finds every subclass of
``FileSystem`` by its ``scheme()``); :mod:`crucible_datasets.storage.filesystem` imports it, so
Beam workers have it too. A URL is one file: there is no listing, and ``*`` or ``?`` in a URL are
taken literally (query strings work). Reads use range requests pinned to the version seen at
open (see :mod:`.range_file`).

>>> HttpsFileSystem.scheme(), HttpsFileSystem(None).join("https://h/a", "b.txt")
('https', 'https://h/a/b.txt')
"""

from __future__ import annotations

import email.utils

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
    MatchResult,
)

from crucible_datasets.storage.http import files
from crucible_datasets.storage.http.client import RemoteStat, describe_url
from crucible_datasets.storage.http.retry import RemoteError, RemoteNotFoundError


class ReadOnlyFileSystem:
    """Mixin: the write half of Beam's ``FileSystem`` for stores this package only reads."""

    def _read_only(self, path: str):
        scheme = path.split("://", 1)[0] if "://" in path else "this"
        return RemoteError(f"{path}: {scheme}:// is read-only here; write outputs to local disk or gs://")

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        raise self._read_only(path)

    def mkdirs(self, path):
        raise self._read_only(path)

    def copy(self, source_file_names, destination_file_names):
        raise self._read_only(destination_file_names[0] if destination_file_names else "")

    def rename(self, source_file_names, destination_file_names):
        raise self._read_only(source_file_names[0] if source_file_names else "")

    def delete(self, paths):
        raise self._read_only(paths[0] if paths else "")


def wrap_compression(raw, path: str, mime_type: str, compression_type: str):
    """``raw`` as-is when uncompressed, else in Beam's decompressing ``CompressedFile``."""
    compression_type = FileSystem._get_compression_type(path, compression_type)
    if compression_type == CompressionTypes.UNCOMPRESSED:
        return raw
    return CompressedFile(raw, compression_type=compression_type)


class HttpFileSystem(ReadOnlyFileSystem, FileSystem):
    """``http://`` URLs (see the module docstring)."""

    def __init__(self, pipeline_options=None) -> None:
        super().__init__(pipeline_options)

    @classmethod
    def scheme(cls) -> str:
        return "http"

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rstrip("/").rpartition("/")
        return head, tail

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix):
        raise RemoteError(
            f"{describe_url(dir_or_prefix)}: http(s) servers cannot be listed; name each file's URL"
        )

    def match(self, patterns, limits=None):
        """Each pattern is one literal URL: its metadata, or no match when it is missing."""
        results, errors = [], {}
        for pattern in patterns:
            try:
                results.append(MatchResult(pattern, [self.metadata(pattern)]))
            except RemoteNotFoundError:
                results.append(MatchResult(pattern, []))
            except Exception as exc:  # noqa: BLE001 - reported per pattern, as Beam does
                errors[pattern] = exc
        if errors:
            raise BeamIOError("Match operation failed", errors)
        return results

    def exists(self, path: str) -> bool:
        return files.exists(path)

    def metadata(self, path: str) -> FileMetadata:
        info = files.stat_of(path)
        return FileMetadata(path, files.size_in(info, path), _last_modified(info))

    def size(self, path: str) -> int:
        return files.size(path)

    def last_updated(self, path: str) -> float:
        return _last_modified(files.stat_of(path))

    def checksum(self, path: str) -> str:
        info = files.stat_of(path)
        return info.etag or str(info.size)

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        """A reader pinned to the version seen now (:func:`.files.open_url`)."""
        return wrap_compression(files.open_url(path), path, mime_type, compression_type)


class HttpsFileSystem(HttpFileSystem):
    """``https://`` URLs."""

    @classmethod
    def scheme(cls) -> str:
        return "https"


def _last_modified(info: RemoteStat) -> float:
    value = info.headers.get("Last-Modified")
    if not value:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0
