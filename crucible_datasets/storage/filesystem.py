"""Paths on local disk and remote stores behind one small set of functions.

Local paths go straight to the OS. Every other scheme (``gs://``, ``hf://``, ``https://``)
goes through Apache Beam's ``FileSystems`` registry, so the same code runs in this process and
on Beam workers. The first remote operation registers ``hf://`` and ``http(s)://`` with Beam and
applies the ``gs://`` emulator setup (see :mod:`crucible_datasets.storage.schemes`), so local
work never pays for importing Beam.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> with open_output(join(d, "a", "x.txt")) as f:
...     _ = f.write(b"hi")
>>> size(join(d, "a", "x.txt")), [os.path.basename(p) for p in list_files(d)]
(2, ['x.txt'])
"""

from __future__ import annotations

import glob as globlib
import os
import shutil
from collections.abc import Callable
from typing import BinaryIO, NamedTuple

from crucible_datasets.errors import CrucibleError, DataFileError

REMOTE_PREFIXES = ("gs://", "hf://", "http://", "https://")


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def _beam():
    from apache_beam.io.filesystems import FileSystems

    from crucible_datasets.storage import schemes

    schemes.ensure()
    return FileSystems


class DirectReader(NamedTuple):
    """How this process reads a read-only scheme without Beam: ``open``, ``size``, ``exists``."""

    open: Callable[[str], BinaryIO]
    size: Callable[[str], int]
    exists: Callable[[str], bool]


def _read_without_beam(path: str) -> DirectReader | None:
    """The reader of a read-only scheme this process reads without Beam (``hf://``,
    ``http(s)://``: importing Beam takes seconds), or None. Beam's registry has the same schemes,
    over the same functions, for its workers and for listings (:mod:`.schemes`)."""
    if path.startswith("hf://"):
        from crucible_datasets.storage.hub import files as hub_files

        return DirectReader(hub_files.open_file, hub_files.size, hub_files.exists)
    if path.startswith(("http://", "https://")):
        from crucible_datasets.storage.http import files as http_files

        return DirectReader(http_files.open_url, http_files.size, http_files.exists)
    return None


def _match(pattern: str, what: str | None = None) -> list:
    """Beam's match of one pattern; this package's own errors come out unwrapped.

    A ``gs://`` listing that gets a 404 means the bucket is missing: a short
    :class:`~crucible_datasets.storage.gcs.GcsNotFoundError` naming ``what`` (default ``pattern``).
    """
    from apache_beam.io.filesystem import BeamIOError

    try:
        return _beam().match([pattern])[0].metadata_list
    except BeamIOError as exc:
        details = list((exc.exception_details or {}).values())
        if len(details) == 1 and isinstance(details[0], CrucibleError):
            raise details[0] from None
        if pattern.startswith("gs://"):
            from crucible_datasets.storage import gcs

            if gcs.is_not_found(exc):
                raise gcs.not_found(what or pattern, bucket_missing=True) from None
        raise


def _uncompressed():
    from apache_beam.io.filesystem import CompressionTypes

    return CompressionTypes.UNCOMPRESSED


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


def exists(path: str) -> bool:
    if (direct := _read_without_beam(path)) is not None:
        return direct.exists(path)
    return _beam().exists(path) if is_remote(path) else os.path.exists(path)


def is_dir(path: str) -> bool:
    if is_remote(path):
        return not _beam().exists(path) and bool(list_files(path))
    return os.path.isdir(path)


def size(path: str) -> int:
    if (direct := _read_without_beam(path)) is not None:
        try:
            return direct.size(path)
        except FileNotFoundError:
            raise DataFileError(f"cannot open {path}: no such file") from None
    if is_remote(path):
        found = _match(path)
        if not found:
            if path.startswith("gs://"):
                from crucible_datasets.storage import gcs

                raise gcs.not_found(path)
            raise DataFileError(f"cannot open {path}: no such file")
        return found[0].size_in_bytes
    return os.path.getsize(path)


ReadRange = tuple[int, "int | None"]  # bytes [start, stop) read front to back (None: to the end)


def open_input(path: str, read_range: ReadRange | None = None) -> BinaryIO:
    """A seekable binary stream over the raw bytes of ``path`` (no decompression).

    ``read_range``: the bytes the caller will read front to back, if it knows. A remote file
    then fetches them ahead of the reader (:meth:`RemoteFile.advise
    <crucible_datasets.storage.http.range_file.RemoteFile.advise>`), and one that
    :func:`open_ahead` opened with the same range is taken instead of opened again.
    """
    if is_remote(path):
        if read_range is not None and (ahead := _opened_ahead().take((path, read_range))) is not None:
            return ahead
        return _open_remote(path, read_range, ramp=True)
    try:
        return open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataFileError(f"cannot open {path}: {exc.strerror or exc}") from exc


def open_ahead(path: str, read_range: ReadRange) -> None:
    """Start opening remote ``path`` in the background, its ``read_range`` requested ahead, for
    an :func:`open_input` of the same path and range soon (the next part of a read); local
    files need nothing. See :mod:`crucible_datasets.storage.opened_ahead`."""
    if is_remote(path) and not path.startswith("gs://"):
        _opened_ahead().submit((path, read_range), lambda: _open_remote(path, read_range, ramp=False))


def close_opened_ahead() -> None:
    """Close the files this thread's :func:`open_ahead` opened and no reader took: call it when
    a read ends (it may have stopped early)."""
    if _ahead is not None and _ahead[0] == os.getpid():
        _ahead[1].clear()


_ahead: tuple[int, object] | None = None


def _opened_ahead():
    global _ahead
    if _ahead is None or _ahead[0] != os.getpid():  # a fork starts with none
        from crucible_datasets.storage.opened_ahead import OpenedAhead

        _ahead = (os.getpid(), OpenedAhead())
    return _ahead[1]


def _open_remote(path: str, read_range: ReadRange | None, *, ramp: bool) -> BinaryIO:
    """``path`` opened, ``read_range`` fetched ahead (``ramp``: starting small; a file opened
    ahead for the next part of a read starts at full speed)."""
    direct = _read_without_beam(path)
    try:
        f = direct.open(path) if direct is not None else _beam().open(path, compression_type=_uncompressed())
    except Exception as exc:
        if path.startswith("gs://"):
            from crucible_datasets.storage import gcs

            if gcs.is_not_found(exc):
                raise gcs.not_found(path) from None
        raise
    advise = getattr(f, "advise", None)  # http(s):// and hf:// files fetch ranges ahead
    if read_range is not None and advise is not None:
        advise(*read_range, ramp=ramp)
    return f


def open_output(path: str) -> BinaryIO:
    """A binary stream that creates ``path`` (and its parent folders on local disk).

    A ``gs://`` path in a missing bucket fails here, naming the bucket, not when the upload ends.
    """
    if is_remote(path):
        if path.startswith("gs://"):
            from crucible_datasets.storage import gcs

            gcs.check_bucket(path)
        return _beam().create(path, compression_type=_uncompressed())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return open(path, "wb")  # noqa: SIM115


def list_files(folder: str) -> list[str]:
    """Every file below ``folder``, recursively, sorted."""
    if is_remote(folder):
        pattern = folder.rstrip("/") + "/**"
        return sorted(m.path for m in _match(pattern, what=folder))
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in files)
    return sorted(found)


def glob(pattern: str) -> list[str]:
    if is_remote(pattern):
        return sorted(m.path for m in _match(pattern))
    return sorted(p for p in globlib.glob(pattern, recursive=True) if os.path.isfile(p))


def rename(src: str, dst: str) -> None:
    if is_remote(src):
        _beam().rename([src], [dst])
    else:
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        os.replace(src, dst)


def delete(path: str) -> None:
    """Delete a file or a whole folder; missing paths are fine."""
    if is_remote(path):
        fs = _beam()
        matched = [m.path for m in _match(path.rstrip("/") + "/**")]
        if fs.exists(path):
            matched.append(path)
        if matched:
            fs.delete(matched)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)
