"""Beam ``FileSystem`` for ``hf://`` (Hugging Face Hub repos): read-only, seekable, listed.

``hf://datasets/owner/name@revision/path/in/repo``: reads are HTTP range requests (a Parquet
footer and one row group, or a JSONL byte range, not the whole file), pinned to the commit the
revision points to when the file is opened; ``match`` lists through the Hub tree API (all pages)
and supports ``*`` and ``**``. Importing this module registers the scheme with Beam;
:mod:`crucible_datasets.storage.filesystem` imports it, so Beam workers have it as well.

Tokens: see :func:`crucible_datasets.storage.hub.tokens.get_token` (``HF_TOKEN`` in workers).

>>> HfFileSystem.scheme(), HfFileSystem(None).split("hf://datasets/o/n@main/a/b.parquet")
('hf', ('hf://datasets/o/n@main/a', 'b.parquet'))
"""

from __future__ import annotations

from apache_beam.io.filesystem import CompressionTypes, FileMetadata, FileSystem

from crucible_datasets.storage.http.filesystem import ReadOnlyFileSystem, wrap_compression
from crucible_datasets.storage.hub import files
from crucible_datasets.storage.hub.api import list_files
from crucible_datasets.storage.hub.paths import parse_hf_url


class HfFileSystem(ReadOnlyFileSystem, FileSystem):
    """``hf://`` paths (see the module docstring)."""

    def __init__(self, pipeline_options=None) -> None:
        super().__init__(pipeline_options)

    @classmethod
    def scheme(cls) -> str:
        return "hf"

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        where = parse_hf_url(path)
        if not where.path:
            return where.root, ""
        head, _, tail = where.path.rpartition("/")
        return (where.child(head).url() if head else where.root), tail

    def has_dirs(self) -> bool:
        return True

    def _list(self, dir_or_prefix: str):
        """Every file below the folder, recursively (Beam's pattern filter does the rest)."""
        base = dir_or_prefix.rstrip("/")
        where = parse_hf_url(base)
        skip = len(where.path) + 1 if where.path else 0
        for entry in list_files(where):
            # keep the caller's spelling of the root, so Beam's pattern filter matches it
            yield FileMetadata(f"{base}/{entry['path'][skip:]}", int(entry.get("size") or 0))

    def exists(self, path: str) -> bool:
        return files.exists(path)

    def metadata(self, path: str) -> FileMetadata:
        return FileMetadata(path, files.size(path))

    def size(self, path: str) -> int:
        return files.size(path)

    def last_updated(self, path: str) -> float:
        files.entry(path)
        return 0.0

    def checksum(self, path: str) -> str:
        entry = files.entry(path)
        lfs = entry.get("lfs") or {}
        return lfs.get("oid") or lfs.get("sha256") or entry.get("oid") or str(entry.get("size"))

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        return wrap_compression(files.open_file(path), path, mime_type, compression_type)
