"""Hugging Face Hub datasets: ``hf://`` paths, listing, pinned reads, the local download cache.

- :func:`is_hub_id` tells ``"owner/name"`` (a Hub dataset) from a local path.
- :func:`resolve_hub` pins a revision to its commit sha, lists the repo at that commit, reads
  ``README.md`` and hands both to :func:`crucible_datasets.storage.discovery.infer_layout`; every
  file of the returned :class:`Layout` is an ``hf://datasets/owner/name@<sha>/...`` URL, so all
  reads come from one commit.
- :func:`open_file` is a seekable reader over range requests (used by the ``hf://`` Beam
  filesystem in :mod:`.hf_filesystem`); :func:`download_files` fills the standard HF cache
  (``hf_hub_download``) for ``streaming=False`` and returns local paths; a second call with the
  same commit is served from the cache without a request.

The endpoint is ``HF_ENDPOINT`` (read at call time). The token is ``token=``, else the one given
to :func:`set_token` / :func:`resolve_hub` for that repo in this process, else ``HF_TOKEN`` (or
the saved login). It only travels in the ``Authorization`` header: messages, reprs, paths and
pickles never hold it. Requests follow :mod:`.retry`.

>>> parse_hf_url("hf://datasets/openai/gsm8k@main/main/test-00000-of-00001.parquet").path
'main/test-00000-of-00001.parquet'
>>> parse_hf_url("hf://datasets/openai/gsm8k@v1/README.md").revision
'v1'
>>> is_hub_id("openai/gsm8k"), is_hub_id("./data"), is_hub_id("gs://b/x")
(True, False, False)
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import requests

from crucible_datasets.storage.http_client import normalize_etag, request, stat, unreachable
from crucible_datasets.storage.range_file import RemoteFile
from crucible_datasets.storage.retry import (
    RemoteChangedError,
    RemoteError,
    RemoteNotFoundError,
    TransientError,
    UnsafePathError,
    call_with_retry,
    redact,
    status_error,
)

if TYPE_CHECKING:
    from crucible_datasets.storage.discovery import Layout

logger = logging.getLogger(__name__)

SCHEME = "hf://"
DEFAULT_REVISION = "main"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_SPECIAL_REF_RE = re.compile(r"^refs/(?:convert/[\w-]+|pr/\d+)")
_TYPE_PREFIXES = {"datasets/": "dataset", "spaces/": "space", "models/": "model"}
_URL_PREFIXES = {"dataset": "datasets/", "space": "spaces/", "model": ""}
ACCESS_HINT = "the repo may be private or gated: pass token= or set HF_TOKEN (tokens are never shown)"


# paths -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HubPath:
    """One place in a Hub repo: ``hf://datasets/owner/name@revision/path``."""

    repo_type: str
    repo_id: str
    revision: str | None
    path: str

    @property
    def rev(self) -> str:
        return self.revision or DEFAULT_REVISION

    @property
    def root(self) -> str:
        rev = f"@{quote(self.revision, safe='')}" if self.revision else ""
        return f"{SCHEME}{_URL_PREFIXES[self.repo_type]}{self.repo_id}{rev}"

    def url(self) -> str:
        return f"{self.root}/{self.path}" if self.path else self.root

    def child(self, path: str) -> HubPath:
        return HubPath(self.repo_type, self.repo_id, self.revision, path)

    def describe(self) -> str:
        """Names the repo and the path, for messages."""
        where = f"{self.repo_type} {self.repo_id}@{self.rev}"
        return f"{where}, file {self.path}" if self.path else where


def hf_url(repo_id: str, path: str = "", revision: str | None = None, repo_type: str = "dataset") -> str:
    """``hf://datasets/owner/name@revision/path``."""
    return HubPath(repo_type, repo_id, revision, check_repo_path(path, repo_id) if path else "").url()


def check_repo_path(path: str, repo: str = "") -> str:
    """``path`` if it stays inside a folder when joined to it, else :class:`UnsafePathError`."""
    where = f" in {repo}" if repo else ""
    bad = (
        not path
        or path.startswith(("/", "\\"))
        or "\\" in path
        or "\x00" in path
        or re.match(r"^[A-Za-z]:", path) is not None
        or any(part in ("..", ".") for part in path.split("/"))
        or "//" in path
    )
    if bad:
        raise UnsafePathError(
            f"refusing the repo file name {path!r}{where}: it is empty, absolute or would escape "
            "the local folder (.., drive letters, backslashes)"
        )
    return path


def parse_hf_url(url: str) -> HubPath:
    """Split ``hf://[datasets/]owner/name[@revision][/path]``; a ``/`` in a revision is ``%2F``."""
    if not url.startswith(SCHEME):
        raise ValueError(f"{url!r} is not an hf:// URL")
    rest = url[len(SCHEME) :]
    repo_type = "model"
    for prefix, kind in _TYPE_PREFIXES.items():
        if rest.startswith(prefix):
            repo_type, rest = kind, rest[len(prefix) :]
            break
    owner, _, rest = rest.partition("/")
    name_rev, _, path = rest.partition("/")
    name, _, revision = name_rev.partition("@")
    if revision and _SPECIAL_REF_RE.match(f"{revision}/{path}"):
        special = _SPECIAL_REF_RE.match(f"{revision}/{path}").group(0)
        revision, path = special, f"{revision}/{path}"[len(special) :].lstrip("/")
    repo_id = f"{owner}/{name}"
    if not _REPO_ID_RE.match(repo_id):
        raise ValueError(f"{url!r}: expected hf://datasets/owner/name[@revision]/path")
    path = path.strip("/")
    if path:
        check_repo_path(path, repo_id)
    return HubPath(repo_type, repo_id, unquote(revision) if revision else None, path)


def is_hub_id(path: str) -> bool:
    """True for ``"owner/name"`` (optionally ``@revision``) that is not an existing local path."""
    if "://" in path or os.path.exists(path):
        return False
    from crucible_datasets.storage.discovery import looks_like_data

    repo_id = path.split("@", 1)[0]
    if looks_like_data(repo_id) or repo_id.lower().endswith(".txt"):  # "data/train.jsonl": a local file
        return False
    return bool(_REPO_ID_RE.match(repo_id)) and path.count("/") == 1


def split_hub_id(hub_id: str) -> tuple[str, str | None]:
    """``"owner/name@rev"`` -> ``("owner/name", "rev")``."""
    repo_id, _, revision = hub_id.partition("@")
    return repo_id, revision or None


# endpoint and token ------------------------------------------------------------------------------
def endpoint() -> str:
    """``HF_ENDPOINT`` now, else huggingface_hub's default (https://huggingface.co)."""
    value = os.environ.get("HF_ENDPOINT")
    if not value:
        from huggingface_hub import constants

        value = constants.ENDPOINT
    return value.rstrip("/")


_tokens: dict[tuple[str, str], str] = {}
_tokens_lock = threading.Lock()


def set_token(repo_id: str, token: str | None, repo_type: str = "dataset") -> None:
    """Use ``token`` for ``repo_id`` in this process (hf:// reads included); None forgets it."""
    with _tokens_lock:
        if token:
            _tokens[(repo_type, repo_id)] = token
        else:
            _tokens.pop((repo_type, repo_id), None)


def forget_tokens() -> None:
    """Forget every token given to :func:`set_token` in this process."""
    with _tokens_lock:
        _tokens.clear()


def get_token(repo_id: str | None = None, token: str | bool | None = None, repo_type: str = "dataset"):
    """The token to send: ``token``, else one set for the repo, else ``HF_TOKEN``/saved login.

    ``token=False`` sends none.
    """
    if token is False:
        return None
    if isinstance(token, str) and token:
        return token
    if repo_id is not None:
        with _tokens_lock:
            found = _tokens.get((repo_type, repo_id))
        if found:
            return found
    from huggingface_hub import get_token as hf_get_token

    return hf_get_token()


def _headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "crucible-datasets; huggingface_hub-compatible"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


# API calls ---------------------------------------------------------------------------------------
def _api(where: HubPath, suffix: str = "") -> str:
    return f"{endpoint()}/api/{where.repo_type}s/{where.repo_id}{suffix}"


def _hub_request(method: str, url: str, where: HubPath, token: str | None, **kwargs) -> requests.Response:
    return request(
        method,
        url,
        what=where.describe(),
        headers=_headers(token),
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
    return _hub_request("GET", _api(where, suffix), where, tok, ok=(200,)).json()


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
    url: str | None = _api(where, f"/tree/{quote(where.rev, safe='')}{sub}")
    params: dict | None = {"recursive": str(recursive).lower(), "expand": "false"}
    entries: list[dict] = []
    while url:
        try:
            response = _hub_request("GET", url, where, tok, ok=(200,), params=params)
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
    url = _api(where, f"/paths-info/{quote(where.rev, safe='')}")
    entries = _hub_request(
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


# reads -------------------------------------------------------------------------------------------
def resolve_url(where: HubPath, revision: str | None = None) -> str:
    """``{endpoint}/datasets/owner/name/resolve/{revision}/{path}`` (as ``hf_hub_url`` builds it)."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(
        where.repo_id,
        check_repo_path(where.path, where.repo_id),
        repo_type=where.repo_type,
        revision=revision or where.rev,
        endpoint=endpoint(),
    )


def _version(headers) -> tuple[str | None, str | None]:
    etag = normalize_etag(headers.get("X-Linked-Etag") or headers.get("ETag"))
    return etag, headers.get("X-Repo-Commit")


def _identity_of(response: requests.Response) -> str | None:
    first = response.history[0] if response.history else response
    etag, commit = _version(first.headers)
    if etag is None:
        return None
    return f"{etag}@{commit}" if commit else etag


def _head(where: HubPath, token: str | None) -> tuple[int | None, bool | None, Mapping[str, str]]:
    """Size, range support and the Hub's own headers (commit, ETag) of a repo file.

    Like ``huggingface_hub``, the HEAD does not follow a redirect to the CDN (LFS and Xet
    files): the Hub's answer carries ``X-Linked-Size`` and ``X-Linked-Etag`` itself, and signed
    CDN URLs need not answer HEAD. Other redirects (a renamed repo) are followed.
    """
    url = resolve_url(where)
    response = request(
        "HEAD",
        url,
        what=where.describe(),
        headers={**_headers(token), "Accept-Encoding": "identity"},
        ok=(200, 301, 302, 303, 307, 308),
        secrets=(token,),
        hint=ACCESS_HINT,
        allow_redirects=False,
    )
    linked = response.headers.get("X-Linked-Size")
    if response.status_code != 200 and linked and linked.isdigit():
        return int(linked), None, response.headers
    if response.status_code == 200:
        length = response.headers.get("Content-Length")
        accepts = response.headers.get("Accept-Ranges")
        return (
            int(length) if length and length.isdigit() else None,
            None if accepts is None else accepts.strip().lower() == "bytes",
            response.headers,
        )
    info = stat(url, what=where.describe(), headers=_headers(token), secrets=(token,), hint=ACCESS_HINT)
    size = info.first_headers.get("X-Linked-Size")
    return (int(size) if size and size.isdigit() else info.size), info.accepts_ranges, info.first_headers


def open_file(
    where: HubPath | str, token: str | bool | None = None, block_size: int | None = None
) -> RemoteFile:
    """A seekable reader of one repo file, pinned to the commit its revision points to now."""
    if isinstance(where, str):
        where = parse_hf_url(where)
    tok = get_token(where.repo_id, token, where.repo_type)
    what = where.describe()
    size, ranges, headers = _head(where, tok)
    etag, commit = _version(headers)
    if where.revision and COMMIT_RE.match(where.revision) and commit and commit != where.revision:
        raise RemoteChangedError(f"{what}: asked for commit {where.revision}, the Hub answered {commit}")
    identity = None if etag is None else (f"{etag}@{commit}" if commit else etag)
    extra = {"block_size": block_size} if block_size else {}
    return RemoteFile(
        resolve_url(where, commit or where.rev),
        what=what,
        size=size,
        identity=identity,
        identity_of=_identity_of,
        headers=_headers(tok),
        secrets=(tok,),
        ranges=ranges,
        name=where.url(),
        **extra,
    )


def read_bytes(where: HubPath | str, token: str | bool | None = None) -> bytes:
    """The whole content of one (small) repo file."""
    with open_file(where, token=token) as f:
        return f.read()


# datasets ----------------------------------------------------------------------------------------
def resolve_hub(
    repo_id: str,
    revision: str | None = None,
    token: str | bool | None = None,
    repo_type: str = "dataset",
    format: str | None = None,
) -> Layout:
    """The :class:`Layout` of a Hub dataset at the commit ``revision`` points to now.

    ``repo_id`` is ``"owner/name"``, ``"owner/name@revision"`` or an ``hf://`` URL; a URL with a
    path inside the repo (a folder, a file or a glob) gives the layout of just that part. Every
    file URL of the layout carries the commit sha. A string token is kept for this repo in this
    process so later ``hf://`` reads of the layout's files use it; Beam workers in other
    processes need ``HF_TOKEN`` in their environment. ``format`` picks that format's files in a
    config that mixes formats (see :func:`crucible_datasets.storage.discovery.one_format`).
    """
    from crucible_datasets.storage import discovery

    if repo_id.startswith(SCHEME):
        where = parse_hf_url(repo_id)
        repo_type = where.repo_type
    else:
        name, rev = split_hub_id(repo_id)
        where = HubPath(repo_type, name, rev, "")
    if revision is not None:
        where = HubPath(where.repo_type, where.repo_id, revision, where.path)
    if isinstance(token, str) and token:
        set_token(where.repo_id, token, where.repo_type)
    sha = resolve_revision(where.repo_id, where.revision, token, where.repo_type)
    pinned = HubPath(where.repo_type, where.repo_id, sha, where.path)
    if where.path:
        return discovery.resolve(pinned.url(), format)
    files = [entry["path"] for entry in list_files(pinned, token=token)]
    readme = None
    if "README.md" in files:
        readme = read_bytes(pinned.child("README.md"), token=token).decode("utf-8", errors="replace")
    logger.info("%s: %d files at commit %s", pinned.describe(), len(files), sha)
    return discovery.infer_layout(pinned.url(), files, readme, format)


def _hf_error(exc: Exception, where: HubPath, token: str | None) -> Exception:
    """An error from huggingface_hub, as this package's error (transient ones get retried)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if isinstance(exc, LocalEntryNotFoundError) and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__  # "not reachable and not cached": what went wrong is the cause
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        response = exc.response
        return status_error(
            response.status_code,
            where.describe(),
            headers=response.headers,
            detail=redact(response.headers.get("X-Error-Message", ""), (token,)),
            hint=ACCESS_HINT,
        )
    text = redact(str(exc).splitlines()[0] if str(exc) else "", (token,))
    if isinstance(exc, (httpx2.TransportError, ConnectionError, TimeoutError)):
        if (why := unreachable(exc)) is not None:
            return RemoteError(f"{where.describe()}: {why}")
        return TransientError(f"{type(exc).__name__}: {text}")
    return RemoteError(f"{where.describe()}: {type(exc).__name__}: {text}")


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
    """Download ``files`` into the HF cache (``hf_hub_download``); their local paths, in order.

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
        pinned = HubPath(
            where.repo_type, where.repo_id, shas[(where.repo_type, where.repo_id, where.revision)], where.path
        )
        tok = get_token(pinned.repo_id, token, pinned.repo_type)

        def attempt() -> str:
            from huggingface_hub import hf_hub_download

            try:
                return hf_hub_download(
                    pinned.repo_id,
                    pinned.path,
                    repo_type=pinned.repo_type,
                    revision=pinned.revision,
                    cache_dir=cache_dir,
                    token=tok or False,
                    endpoint=endpoint(),
                )
            except Exception as exc:  # noqa: BLE001 - every failure becomes one of this package's
                raise _hf_error(exc, pinned, tok) from None

        return call_with_retry(attempt, what=pinned.describe(), secrets=(tok,))

    if len(wanted) <= 1 or max_workers <= 1:
        return [fetch(where) for where in wanted]
    with ThreadPoolExecutor(max_workers=min(max_workers, len(wanted))) as pool:
        return list(pool.map(fetch, wanted))
