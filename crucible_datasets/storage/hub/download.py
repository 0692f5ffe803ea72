"""Downloads of Hub files into the standard Hugging Face cache, under this package's one retry layer.

For ``streaming=False`` reads: :func:`download_files` returns local paths; a second call with
the same commit is served from the cache without a request. The bytes come through
:func:`~.files.open_file` (range requests pinned to the commit and the file's ETag, each one
retried within ``CRUCIBLE_RETRY_*``), not ``hf_hub_download``: that one retries inside itself
(its metadata call, its download stream, its resumes), so a storm would wait its retries inside
each of ours. The files land where ``hf_hub_download`` puts them (``blobs/<etag>`` and a
``snapshots/<commit>/<path>`` link), so huggingface_hub and ``datasets`` find them too.

>>> download_files([])
[]
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from crucible_datasets.storage.http.range_file import DEFAULT_BLOCK_SIZE
from crucible_datasets.storage.http.retry import RemoteError
from crucible_datasets.storage.hub.api import resolve_revision
from crucible_datasets.storage.hub.files import open_file
from crucible_datasets.storage.hub.paths import SCHEME, HubPath, check_repo_path, parse_hf_url
from crucible_datasets.storage.hub.tokens import get_token


def _cached(where: HubPath, cache_dir: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        where.repo_id, where.path, cache_dir=cache_dir, revision=where.revision, repo_type=where.repo_type
    )
    return found if isinstance(found, str) else None


def _link(blob: str, pointer: str) -> None:
    """``pointer`` -> ``blob`` as a relative symlink (a copy where links are refused), atomically."""
    os.makedirs(os.path.dirname(pointer), exist_ok=True)
    staged = f"{pointer}.{uuid.uuid4().hex}.incomplete"
    try:
        os.symlink(os.path.relpath(blob, os.path.dirname(pointer)), staged)
    except OSError:
        shutil.copyfile(blob, staged)
    os.replace(staged, pointer)


def download_one(where: HubPath, token: str | None, cache_dir: str) -> str:
    """One file of a commit (``where.revision`` is a sha) into the cache; its snapshot path."""
    from huggingface_hub.file_download import repo_folder_name

    cached = _cached(where, cache_dir)
    if cached is not None:
        return cached
    storage = os.path.join(cache_dir, repo_folder_name(repo_id=where.repo_id, repo_type=where.repo_type))
    pointer = os.path.join(storage, "snapshots", where.revision or "", *where.path.split("/"))
    with open_file(where, token=token or False) as remote:
        if remote.etag is None:
            raise RemoteError(f"{where.describe()}: the Hub sent no ETag, so the file cannot be cached")
        blob = os.path.join(storage, "blobs", remote.etag)
        if not os.path.exists(blob):
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            staged = f"{blob}.{uuid.uuid4().hex}.incomplete"
            try:
                with open(staged, "wb") as out:
                    shutil.copyfileobj(remote, out, DEFAULT_BLOCK_SIZE)
                if remote.size is not None and os.path.getsize(staged) != remote.size:
                    raise RemoteError(
                        f"{where.describe()}: got {os.path.getsize(staged)} of {remote.size} bytes"
                    )
                os.replace(staged, blob)
            finally:
                if os.path.exists(staged):
                    os.remove(staged)
    _link(blob, pointer)
    return pointer


def default_cache_dir() -> str:
    """The standard HF cache, read from the environment now (not when huggingface_hub was imported)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return os.path.join(home, "hub")


def download_files(
    files: Sequence[str],
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | None = None,
    repo_type: str = "dataset",
    max_workers: int = 8,
) -> list[str]:
    """Download ``files`` into the HF cache (as ``hf_hub_download`` lays it out); their local paths.

    ``files`` are ``hf://`` URLs (a :class:`Layout`'s files; each URL's ``@revision`` is used)
    or, with ``repo_id=``, names in that repo at ``revision``. A branch or tag is first pinned to
    its commit so every file of a repo comes from one commit; files of a commit already in the
    cache need no request at all. ``cache_dir`` defaults to the standard HF cache (``HF_HUB_CACHE``).

    >>> download_files([])
    []
    """
    cache_dir = cache_dir or default_cache_dir()
    wanted: list[HubPath] = []
    for item in files:
        if item.startswith(SCHEME):
            wanted.append(parse_hf_url(item))
        elif repo_id is None:
            raise ValueError(f"{item!r}: pass hf:// URLs, or repo_id= for names inside one repo")
        else:
            wanted.append(HubPath(repo_type, repo_id, revision, check_repo_path(item, repo_id)))
    shas: dict[tuple[str, str, str | None], str] = {}
    for where in wanted:
        key = (where.repo_type, where.repo_id, where.revision)
        if key not in shas:
            shas[key] = resolve_revision(where.repo_id, where.revision, token, where.repo_type)

    def fetch(where: HubPath) -> str:
        sha = shas[(where.repo_type, where.repo_id, where.revision)]
        pinned = HubPath(where.repo_type, where.repo_id, sha, where.path)
        return download_one(pinned, get_token(pinned.repo_id, token, pinned.repo_type), cache_dir)

    if len(wanted) <= 1 or max_workers <= 1:
        return [fetch(where) for where in wanted]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(wanted))) as pool:
        return list(pool.map(fetch, wanted))
