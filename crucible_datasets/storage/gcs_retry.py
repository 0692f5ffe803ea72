"""google-cloud-storage calls under this package's one retry policy (:mod:`.http.retry`).

Left alone, google-cloud-storage (and Beam's ``gcsio`` on top of it) retries by itself: any number
of attempts for 120 s, whatever ``CRUCIBLE_RETRY_*`` say, and its final error names no bucket.
:class:`GcsRetry` is a ``google.api_core`` ``Retry`` that the library calls exactly as it calls
its own (``retry(func)()``: JSON API calls, media downloads, resumable upload chunks, Beam's
batches), but whose loop is :func:`~.http.retry.call_with_retry`: google's own predicate says what
is transient, our policy bounds the attempts and the seconds, ``Retry-After`` and the process's
pacing are honoured, and giving up raises :class:`~.http.retry.RemoteUnavailableError` naming
``gs://bucket/path``. So there is one retry layer, not two nested.

>>> describe_path("/b/my-bucket/o/runs%2F1%2FREADME.md")
'gs://my-bucket/runs/1/README.md'
>>> describe_path("/b/my-bucket")
'gs://my-bucket'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from google.api_core.retry import Retry
from google.cloud.storage.retry import _should_retry

from crucible_datasets.storage.http.client import unreachable
from crucible_datasets.storage.http.retry import (
    RemoteError,
    RetryPolicy,
    TransientError,
    call_with_retry,
    default_policy,
    transient_status,
)

_PATH_RE = re.compile(r"/b/(?P<bucket>[^/?#]+)(?:/o/(?P<name>[^?#]+))?")


def describe_path(path: str) -> str | None:
    """``gs://bucket/name`` from a JSON API path or URL (``/b/{bucket}/o/{name}``), else None."""
    match = _PATH_RE.search(path or "")
    if match is None:
        return None
    bucket, name = unquote(match.group("bucket")), match.group("name")
    return f"gs://{bucket}/{unquote(name)}" if name else f"gs://{bucket}"


def _describe_call(func: Callable, exc: BaseException | None = None) -> str:
    keywords = getattr(func, "keywords", None) or {}
    for candidate in (keywords.get("path"), keywords.get("url")):
        if isinstance(candidate, str) and (found := describe_path(candidate)):
            return found
    request = getattr(getattr(exc, "response", None), "request", None)
    if (found := describe_path(str(getattr(request, "url", "") or ""))) is not None:
        return found
    return "gs:// (a batch of Google Cloud Storage calls)"


def as_transient(exc: BaseException) -> TransientError:
    """The :class:`TransientError` for an exception google's predicate calls retryable."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "code", None) or getattr(response, "status_code", None)
    headers = getattr(response, "headers", None)
    if isinstance(status, int):
        return transient_status(status, headers, f" ({type(exc).__name__}: {str(exc)[:200]})")
    return TransientError(f"{type(exc).__name__}: {str(exc)[:200]}")


class GcsRetry(Retry):
    """A ``Retry`` for google-cloud-storage that runs :func:`call_with_retry` (see the module docstring).

    ``what`` names the object in messages (else it is read from the call: its JSON API path);
    ``policy`` defaults to the one in force at call time (``CRUCIBLE_RETRY_*``). google's own
    fields (``initial``, ``maximum``, ``timeout``) mirror the policy for code that reads them.
    """

    def __init__(self, what: str | None = None, policy: RetryPolicy | None = None, **_: Any) -> None:
        shown = policy or default_policy()
        super().__init__(
            predicate=_should_retry,
            initial=shown.base_delay,
            maximum=shown.max_delay,
            multiplier=2.0,
            timeout=shown.max_seconds,
        )
        self.what = what
        self.policy = policy

    def __call__(self, func: Callable, on_error: Callable | None = None) -> Callable:
        @functools.wraps(func)
        def retried(*args, **kwargs):
            def attempt():
                try:
                    return func(*args, **kwargs)
                except Exception as exc:
                    if not self._predicate(exc):
                        raise
                    if (why := unreachable(exc)) is not None:
                        raise RemoteError(f"{self.what or _describe_call(func, exc)}: {why}") from None
                    raise as_transient(exc) from None

            what = self.what or _describe_call(func)
            return call_with_retry(attempt, what=what, policy=self.policy)

        return retried
