"""Downloads of Hub files into the standard Hugging Face cache (``hf_hub_download``).

For ``streaming=False`` reads: :func:`download_files` returns local paths; a second call with
the same commit is served from the cache without a request.

>>> download_files([])
[]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from crucible_datasets.storage.http.client import unreachable
from crucible_datasets.storage.http.retry import (
    RemoteError,
    TransientError,
    call_with_retry,
    redact,
    status_error,
)
from crucible_datasets.storage.hub.api import ACCESS_HINT, endpoint, resolve_revision
from crucible_datasets.storage.hub.paths import SCHEME, HubPath, check_repo_path, parse_hf_url
from crucible_datasets.storage.hub.tokens import get_token


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
