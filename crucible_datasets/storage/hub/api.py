"""The Hub's HTTP API: the endpoint, repo info, commit pinning, tree listings, paths-info.

The endpoint is ``HF_ENDPOINT`` (read at call time). Listings of a commit sha (immutable) are
kept in a small in-process cache. Requests follow :mod:`crucible_datasets.storage.http.retry`.

>>> import os; os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9/"
>>> endpoint()
'http://127.0.0.1:9'
>>> del os.environ["HF_ENDPOINT"]
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from urllib.parse import quote

import requests

from crucible_datasets.storage.http.client import request
from crucible_datasets.storage.http.retry import RemoteError, RemoteNotFoundError
from crucible_datasets.storage.hub.paths import COMMIT_RE, HubPath, check_repo_path
from crucible_datasets.storage.hub.tokens import auth_headers, get_token

ACCESS_HINT = "the repo may be private or gated: pass token= or set HF_TOKEN (tokens are never shown)"


def endpoint() -> str:
    """``HF_ENDPOINT`` now, else huggingface_hub's default (https://huggingface.co)."""
    value = os.environ.get("HF_ENDPOINT")
    if not value:
        from huggingface_hub import constants

        value = constants.ENDPOINT
    return value.rstrip("/")


def api_url(where: HubPath, suffix: str = "") -> str:
    """``{endpoint}/api/{type}s/{repo}{suffix}``."""
    return f"{endpoint()}/api/{where.repo_type}s/{where.repo_id}{suffix}"


def hub_request(method: str, url: str, where: HubPath, token: str | None, **kwargs) -> requests.Response:
    """One API request with retries; errors name ``where`` and never the token."""
    return request(
        method,
        url,
        what=where.describe(),
        headers=auth_headers(token),
        secrets=(token,),
        hint=ACCESS_HINT,
        **kwargs,
    )


def repo_info(
    repo_id: str, revision: str | None = None, token: str | bool | None = None, repo_type: str = "dataset"
) -> dict:
    """The Hub's ``/api/datasets/{repo}[/revision/{rev}]`` answer (``sha``, ``siblings``, ...)."""
    tok = get_token(repo_id, token, repo_type)
    where = HubPath(repo_type, repo_id, revision, "")
    suffix = f"/revision/{quote(revision, safe='')}" if revision else ""
    return hub_request("GET", api_url(where, suffix), where, tok, ok=(200,)).json()


def resolve_revision(
    repo_id: str, revision: str | None = None, token: str | bool | None = None, repo_type: str = "dataset"
) -> str:
    """The commit sha that ``revision`` (branch, tag, sha; None: main) points to now."""
    if revision and COMMIT_RE.match(revision):
        return revision
    sha = repo_info(repo_id, revision, token, repo_type).get("sha")
    if not sha or not COMMIT_RE.match(sha):
        where = HubPath(repo_type, repo_id, revision, "")
        raise RemoteError(f"{where.describe()}: the Hub answer has no commit sha")
    return sha


class _Cache:
    """A small LRU of listings, only for immutable (commit sha) revisions."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_listings = _Cache()


def list_tree(where: HubPath, *, recursive: bool = True, token: str | bool | None = None) -> list[dict]:
    """Entries (``type``, ``path``, ``size``, ``oid``, ``lfs``) below ``where.path``, all pages.

    A missing folder lists as empty; a missing repo or revision raises. Every file name is
    checked with :func:`check_repo_path`.
    """
    tok = get_token(where.repo_id, token, where.repo_type)
    key = (endpoint(), where, recursive, bool(tok))
    pinned = bool(where.revision and COMMIT_RE.match(where.revision))
    if pinned and (cached := _listings.get(key)) is not None:
        return cached
    sub = f"/{quote(where.path, safe='')}" if where.path else ""
    url: str | None = api_url(where, f"/tree/{quote(where.rev, safe='')}{sub}")
    params: dict | None = {"recursive": str(recursive).lower(), "expand": "false"}
    entries: list[dict] = []
    while url:
        try:
            response = hub_request("GET", url, where, tok, ok=(200,), params=params)
        except RemoteNotFoundError as exc:
            if where.path and exc.code == "EntryNotFound":
                return []
            raise
        page = response.json()
        for entry in page:
            check_repo_path(entry.get("path", ""), where.repo_id)
        entries.extend(page)
        url = response.links.get("next", {}).get("url")
        params = None  # the next link carries them
    if pinned:
        _listings.put(key, entries)
    return entries


def list_files(where: HubPath, token: str | bool | None = None) -> list[dict]:
    """File entries (no folders) below ``where.path``, recursively, sorted by path."""
    return sorted(
        (e for e in list_tree(where, recursive=True, token=token) if e.get("type") == "file"),
        key=lambda e: e["path"],
    )


def paths_info(where: HubPath, paths: Sequence[str], token: str | bool | None = None) -> list[dict]:
    """The Hub's ``paths-info`` entries for ``paths`` (missing paths are left out)."""
    for path in paths:
        check_repo_path(path, where.repo_id)
    tok = get_token(where.repo_id, token, where.repo_type)
    key = (endpoint(), where, tuple(paths), bool(tok), "paths-info")
    pinned = bool(where.revision and COMMIT_RE.match(where.revision))
    if pinned and (cached := _listings.get(key)) is not None:
        return cached
    url = api_url(where, f"/paths-info/{quote(where.rev, safe='')}")
    entries = hub_request(
        "POST", url, where, tok, ok=(200,), data={"paths": list(paths), "expand": "false"}
    ).json()
    if pinned:
        _listings.put(key, entries)
    return entries


def file_entry(where: HubPath, token: str | bool | None = None) -> dict | None:
    """The ``paths-info`` entry of the file at ``where`` (None when missing or a folder)."""
    if not where.path:
        return None
    for entry in paths_info(where, [where.path], token=token):
        if entry.get("path") == where.path and entry.get("type") == "file":
            return entry
    return None
