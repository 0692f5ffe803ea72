"""What version of an input file a run read: a fingerprint per file, and a name that outlives commits.

An incremental write (docs/INCREMENTAL.md) compares the fingerprints of its inputs with those the
published manifest recorded, and a resumable write keys its temp folder by them, so a fingerprint
must change whenever the file's content may have changed, and be cheap (no read of the data):

- local: ``size:mtime_ns`` (``os.stat``);
- ``gs://``: ``size:generation`` (the object's generation changes with every write), one listing
  per folder;
- ``hf://``: the file's blob id at the pinned commit (``lfs.oid`` for LFS/Xet files, else the git
  ``oid``), one tree listing per repo and commit;
- any other scheme (``https://``): Beam's ``FileSystems.checksum`` (the ETag, else the size).

:func:`input_key` is the name under which a file is remembered: its path, but for ``hf://`` without
the commit (``hf://datasets/o/n/data/a.jsonl``), so a new commit that leaves a file alone keeps it.

>>> import os, tempfile
>>> p = os.path.join(tempfile.mkdtemp(), "a.jsonl")
>>> _ = open(p, "w").write("{}\\n")
>>> fingerprints([p])[p].startswith("3:")
True
>>> input_key("hf://datasets/o/n@0123456789abcdef0123456789abcdef01234567/data/a.jsonl")
'hf://datasets/o/n/data/a.jsonl'
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs


def input_key(path: str, root: str = "") -> str:
    """``path`` as an incremental write remembers it: ``hf://`` without its revision; a local file
    relative to the dataset's local ``root`` (a folder, or a file's folder), so that neither the
    manifest nor the card shows a local absolute path and the input folder may move.

    >>> input_key("/data/in/day1.jsonl", root="/data/in")
    'day1.jsonl'
    """
    if path.startswith("hf://"):
        from crucible_datasets.storage.hub.paths import parse_hf_url

        where = parse_hf_url(path)
        return type(where)(where.repo_type, where.repo_id, None, where.path).url()
    if root and not fs.is_remote(path) and not fs.is_remote(root):
        folder = root if os.path.isdir(root) or not os.path.exists(root) else os.path.dirname(root)
        relative = os.path.relpath(path, folder)
        if not relative.startswith(".."):
            return relative.replace(os.sep, "/")
    return path


def fingerprints(paths: Sequence[str]) -> dict[str, str]:
    """The fingerprint of each of ``paths`` (see the module docstring); a missing file is a
    :class:`~crucible_datasets.errors.DataFileError` naming it."""
    found: dict[str, str] = {}
    gs = [p for p in paths if p.startswith("gs://")]
    hf = [p for p in paths if p.startswith("hf://")]
    found.update(_gcs(gs))
    found.update(_hub(hf))
    for path in paths:
        if path in found:
            continue
        if not fs.is_remote(path):
            try:
                stat = os.stat(path)
            except OSError as exc:
                raise DataFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
            found[path] = f"{stat.st_size}:{stat.st_mtime_ns}"
        else:
            from apache_beam.io.filesystems import FileSystems

            from crucible_datasets.storage import schemes

            schemes.ensure()  # hf:// and http(s):// registered with Beam

            found[path] = str(FileSystems.checksum(path))
    return {p: found[p] for p in paths}


def _gcs(paths: Sequence[str]) -> dict[str, str]:
    """``size:generation`` of each ``gs://`` object, one listing per folder."""
    if not paths:
        return {}
    from crucible_datasets.storage import gcs

    client = gcs.storage_client()
    folders: dict[tuple[str, str], list[str]] = {}
    for path in paths:
        bucket, name = gcs.split_gs_url(path)
        folders.setdefault((bucket, name.rpartition("/")[0]), []).append(path)
    found: dict[str, str] = {}
    for (bucket, folder), wanted in folders.items():
        prefix = f"{folder}/" if folder else ""
        listed = {
            f"gs://{bucket}/{blob.name}": f"{blob.size}:{blob.generation}"
            for blob in client.list_blobs(bucket, prefix=prefix, delimiter="/")
        }
        for path in wanted:
            if path not in listed:
                raise gcs.not_found(path)
            found[path] = listed[path]
    return found


def _hub(paths: Sequence[str]) -> dict[str, str]:
    """The blob id of each ``hf://`` file at its commit, one (cached) tree listing per repo and commit."""
    if not paths:
        return {}
    from crucible_datasets.storage.http.retry import RemoteNotFoundError
    from crucible_datasets.storage.hub.api import list_files
    from crucible_datasets.storage.hub.paths import parse_hf_url

    found: dict[str, str] = {}
    listings: dict = {}
    for path in paths:
        where = parse_hf_url(path)
        root = where.child("")
        if root not in listings:
            listings[root] = {e["path"]: e for e in list_files(root)}
        entry = listings[root].get(where.path)
        if entry is None:
            raise RemoteNotFoundError(f"{where.describe()}: not found")
        lfs = entry.get("lfs") or {}
        found[path] = str(lfs.get("oid") or lfs.get("sha256") or entry.get("oid") or entry.get("size"))
    return found
