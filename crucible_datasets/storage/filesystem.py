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
from typing import BinaryIO

from crucible_datasets.errors import CrucibleError, DataFileError

REMOTE_PREFIXES = ("gs://", "hf://", "http://", "https://")


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def _beam():
    from apache_beam.io.filesystems import FileSystems

    from crucible_datasets.storage import schemes

    schemes.ensure()
    return FileSystems


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
    return _beam().exists(path) if is_remote(path) else os.path.exists(path)


def is_dir(path: str) -> bool:
    if is_remote(path):
        return not _beam().exists(path) and bool(list_files(path))
    return os.path.isdir(path)


def size(path: str) -> int:
    if is_remote(path):
        found = _match(path)
        if not found:
            if path.startswith("gs://"):
                from crucible_datasets.storage import gcs

                raise gcs.not_found(path)
            raise DataFileError(f"cannot open {path}: no such file")
        return found[0].size_in_bytes
    return os.path.getsize(path)


def open_input(path: str) -> BinaryIO:
    """A seekable binary stream over the raw bytes of ``path`` (no decompression)."""
    if is_remote(path):
        try:
            return _beam().open(path, compression_type=_uncompressed())
        except Exception as exc:
            if path.startswith("gs://"):
                from crucible_datasets.storage import gcs

                if gcs.is_not_found(exc):
                    raise gcs.not_found(path) from None
            raise
    try:
        return open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise DataFileError(f"cannot open {path}: {exc.strerror or exc}") from exc


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
