"""Reading one file of a Hub repo: a seekable reader over range requests, pinned to a commit.

:func:`open_file` backs the ``hf://`` Beam filesystem (:mod:`.filesystem`): the revision is
pinned to the commit it points to when the file is opened, and every later range request must
come from that commit (else :class:`~crucible_datasets.storage.http.retry.RemoteChangedError`).

Example (any Hub)::

    with open_file("hf://datasets/openai/gsm8k@main/README.md") as f:
        text = f.read()
"""

from __future__ import annotations

from collections.abc import Mapping

import requests

from crucible_datasets.storage.http.client import normalize_etag, request, stat
from crucible_datasets.storage.http.range_file import RemoteFile
from crucible_datasets.storage.http.retry import RemoteChangedError, RemoteNotFoundError
from crucible_datasets.storage.hub.api import ACCESS_HINT, endpoint, file_entry
from crucible_datasets.storage.hub.paths import COMMIT_RE, HubPath, check_repo_path, parse_hf_url
from crucible_datasets.storage.hub.tokens import auth_headers, get_token


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
        headers={**auth_headers(token), "Accept-Encoding": "identity"},
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
    info = stat(url, what=where.describe(), headers=auth_headers(token), secrets=(token,), hint=ACCESS_HINT)
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
        headers=auth_headers(tok),
        secrets=(tok,),
        ranges=ranges,
        name=where.url(),
        etag=etag,
        **extra,
    )


def entry(path: str) -> dict:
    """The Hub's entry (size, oid, lfs) of repo file ``path``; RemoteNotFoundError if none."""
    where = parse_hf_url(path)
    found = file_entry(where)
    if found is None:
        raise RemoteNotFoundError(f"{where.describe()}: not found")
    return found


def size(path: str) -> int:
    return int(entry(path).get("size") or 0)


def exists(path: str) -> bool:
    return file_entry(parse_hf_url(path)) is not None


def read_bytes(where: HubPath | str, token: str | bool | None = None) -> bytes:
    """The whole content of one (small) repo file."""
    with open_file(where, token=token) as f:
        return f.read()
