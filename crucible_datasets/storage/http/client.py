"""HTTP requests for the remote readers: one pooled session per thread, errors classified.

:func:`send` makes one attempt and turns failures into :class:`~.retry.TransientError` (429, 5xx,
dropped or reset connections, truncated bodies) or a :class:`~.retry.RemoteError` (401, 403,
404, ...); every answer's ``RateLimit`` header is shown to :mod:`.pacing`. :func:`request`
wraps :func:`send` in :func:`~.retry.call_with_retry`. :func:`stat` finds a file's size, ETag
and range support (HEAD, or a one-byte range GET when HEAD is refused).

Messages name the URL without its query string or user info (they may hold credentials) and
never a header: tokens only travel in ``Authorization`` headers.
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from crucible_datasets.storage.http import pacing
from crucible_datasets.storage.http.retry import (
    RemoteError,
    RetryPolicy,
    TransientError,
    call_with_retry,
    default_policy,
    redact,
    status_error,
)

CONNECT_TIMEOUT = 10.0
_PERMANENT_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.TooManyRedirects,
)
_TRANSIENT_IO_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)

_local = threading.local()
_PERMANENT_DNS_ERRORS = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME), socket.EAI_FAIL}
_PERMANENT_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH}


def unreachable(exc: BaseException) -> str | None:
    """Why a connection can never succeed (unknown host name, no route), or None if it may.

    Retrying those only delays the error (a machine without internet would wait the whole retry
    budget); a temporary DNS failure (``EAI_AGAIN``), a refused or reset connection is retried.
    """
    stack: list = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, socket.gaierror) and current.errno in _PERMANENT_DNS_ERRORS:
            return f"cannot resolve the host name ({current.strerror})"
        if isinstance(current, OSError) and current.errno in _PERMANENT_ERRNOS:
            return f"no route to the host ({current.strerror})"
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(current.args)
    return None


def session() -> requests.Session:
    """This thread's pooled session (a new one after a fork)."""
    pid = os.getpid()
    current = getattr(_local, "session", None)
    if current is None or getattr(_local, "pid", None) != pid:
        current = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=8, max_retries=0)
        current.mount("http://", adapter)
        current.mount("https://", adapter)
        current.trust_env = True
        _local.session = current
        _local.pid = pid
    return current


def describe_url(url: str) -> str:
    """``url`` without user info and query string, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def normalize_etag(etag: str | None) -> str | None:
    if not etag:
        return None
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"') or None


def _detail(response: requests.Response) -> str:
    """A short reason from an error answer (Hub ``X-Error-Message`` or the body's first line)."""
    message = response.headers.get("X-Error-Message")
    if message:
        return message
    try:
        text = response.text if response.content is not None else ""
    except _TRANSIENT_IO_ERRORS:
        return ""
    if response.headers.get("Content-Type", "").startswith("application/json"):
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            return payload["error"]
    return text.strip().splitlines()[0] if text.strip() else ""


def send(
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping | None = None,
    data: Mapping | None = None,
    ok: Iterable[int] = (200, 206),
    secrets: Iterable[str | None] = (),
    timeout: float | None = None,
    stream: bool = False,
    allow_redirects: bool = True,
    hint: str = "",
    check: Callable[[requests.Response], None] | None = None,
) -> requests.Response:
    """One request. Returns the response (body read unless ``stream``) or raises, classified.

    ``check(response)`` runs on a successful answer before the body is read; it may raise
    :class:`TransientError` or a :class:`RemoteError`.
    """
    secrets = tuple(secrets)
    timeout = timeout or default_policy().timeout
    try:
        response = session().request(
            method,
            url,
            headers=dict(headers or {}),
            params=params,
            data=data,
            timeout=(min(CONNECT_TIMEOUT, timeout), timeout),
            stream=True,
            allow_redirects=allow_redirects,
        )
    except _PERMANENT_REQUEST_ERRORS as exc:
        raise RemoteError(f"{what}: {redact(str(exc), secrets)}") from None
    except _TRANSIENT_IO_ERRORS as exc:
        if (why := unreachable(exc)) is not None:
            raise RemoteError(f"{what}: {why}") from None
        raise TransientError(f"{type(exc).__name__}: {redact(str(exc), secrets)}") from None
    pacing.observe(response.headers)
    try:
        if response.status_code not in set(ok):
            detail = redact(_detail(response), secrets)
            raise status_error(
                response.status_code, what, headers=response.headers, detail=detail, hint=hint
            ) from None
        if check is not None:
            check(response)
        if not stream:
            _ = response.content  # read it all now, inside the attempt
    except _TRANSIENT_IO_ERRORS as exc:
        response.close()
        raise TransientError(
            f"connection lost while reading the answer: {type(exc).__name__}: {redact(str(exc), secrets)}"
        ) from None
    except BaseException:
        response.close()
        raise
    if not stream:
        response.close()
    return response


def read_body(response: requests.Response, limit: int | None = None) -> bytes:
    """The body of a streamed response (``limit`` bytes at most), failures made transient."""
    try:
        if limit is None:
            return response.content
        return response.raw.read(limit, decode_content=True)
    except _TRANSIENT_IO_ERRORS as exc:
        response.close()
        raise TransientError(f"connection lost while reading the answer: {type(exc).__name__}") from None


def request(
    method: str, url: str, *, what: str, policy: RetryPolicy | None = None, **kwargs
) -> requests.Response:
    """:func:`send` with retries of transient failures (see :mod:`.retry`)."""
    return call_with_retry(
        lambda: send(method, url, what=what, **kwargs),
        what=what,
        policy=policy,
        secrets=kwargs.get("secrets", ()),
    )


@dataclass(frozen=True)
class RemoteStat:
    """What a HEAD (or a one-byte range GET) tells about a remote file."""

    size: int | None
    etag: str | None
    accepts_ranges: bool | None  # None: the server did not say
    headers: Mapping[str, str]
    first_headers: Mapping[str, str]  # headers of the first answer, before redirects


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes 0-0/1234"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def stat(
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    secrets: Iterable[str | None] = (),
    policy: RetryPolicy | None = None,
    hint: str = "",
) -> RemoteStat:
    """Size, ETag and range support of ``url``: HEAD, falling back to ``Range: bytes=0-0`` GET."""
    headers = {**(headers or {}), "Accept-Encoding": "identity"}
    try:
        response = request(
            "HEAD", url, what=what, headers=headers, ok=(200,), secrets=secrets, policy=policy, hint=hint
        )
    except RemoteError as exc:
        if exc.status not in (405, 501):
            raise
        response = request(
            "GET",
            url,
            what=what,
            headers={**headers, "Range": "bytes=0-0"},
            ok=(200, 206),
            secrets=secrets,
            policy=policy,
            stream=True,
            hint=hint,
        )
        response.close()
        if response.status_code == 206:
            size = _total_from_content_range(response.headers.get("Content-Range"))
            return _stat_of(response, size, accepts=True)
        return _stat_of(response, _int(response.headers.get("Content-Length")), accepts=False)
    accepts = response.headers.get("Accept-Ranges")
    return _stat_of(
        response,
        _int(response.headers.get("Content-Length")),
        accepts=None if accepts is None else accepts.strip().lower() == "bytes",
    )


def _stat_of(response: requests.Response, size: int | None, accepts: bool | None) -> RemoteStat:
    first = response.history[0] if response.history else response
    return RemoteStat(
        size=size,
        etag=normalize_etag(response.headers.get("ETag")),
        accepts_ranges=accepts,
        headers=response.headers,
        first_headers=first.headers,
    )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
