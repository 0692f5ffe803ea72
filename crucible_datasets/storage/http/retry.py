"""When to retry a remote request, how long to wait, and the errors remote reads raise.

One policy for every remote call (``hf://``, ``https://``, and ``gs://`` through
:mod:`crucible_datasets.storage.gcs_retry`): 429, 408 and 5xx answers and dropped or reset
connections are *transient* and retried with exponential backoff plus jitter, honouring
``Retry-After`` and the ``RateLimit`` header, within a bounded number of attempts and a bounded
total time. This is the only retry layer: the libraries underneath are called with theirs off.
401, 403 and 404 are *permanent* and fail at once. Error messages name the host, bucket or repo
and the path, and never a token (see :func:`redact`). Each attempt waits its turn in
:mod:`.pacing` (a 429 holds the whole process; ``CRUCIBLE_REQUESTS_PER_SECOND`` caps it).

The bounds come from :func:`default_policy`: ``CRUCIBLE_RETRY_ATTEMPTS`` (default 6),
``CRUCIBLE_RETRY_SECONDS`` (total budget, default 120), ``CRUCIBLE_RETRY_BASE_DELAY`` (default 0.5)
and ``CRUCIBLE_HTTP_TIMEOUT`` (seconds per socket read, default 60). Environment variables reach
Beam worker processes; :func:`set_default_policy` overrides them in this process.

>>> policy = RetryPolicy(max_attempts=3, base_delay=0.0)
>>> calls = []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise TransientError("HTTP 503")
...     return "ok"
>>> call_with_retry(flaky, what="example.org/a.txt", policy=policy), len(calls)
('ok', 3)
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from crucible_datasets.errors import CrucibleError, DataFileError
from crucible_datasets.storage.http import pacing

logger = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDACTED = "<redacted>"


class RemoteError(DataFileError):
    """A remote file or listing cannot be read. The message names the repo/host and the path.

    ``status`` is the HTTP status when the server answered with an error, else None; ``code``
    the server's own error code when it sent one (the Hub's ``X-Error-Code``, e.g. ``EntryNotFound``).
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RemoteNotFoundError(RemoteError, FileNotFoundError):
    """404/410: the repo, revision or file does not exist (or is hidden from this token)."""


class RemoteAccessError(RemoteError, PermissionError):
    """401/403: a token is missing, wrong, or lacks access."""


class RemoteChangedError(RemoteError):
    """The remote file changed while it was being read (ETag or commit mismatch)."""


class RemoteUnavailableError(RemoteError):
    """Transient failures went on past the retry bounds (attempts or seconds)."""


class UnsafePathError(CrucibleError, ValueError):
    """A remote file name would escape a local folder (``..``, absolute or drive paths)."""


class TransientError(Exception):
    """Raised inside a retried call for a failure worth another attempt.

    ``throttled``: the server said to slow down (429): the wait holds the whole process.
    """

    def __init__(self, reason: str, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds and pacing of retries. ``max_attempts`` counts the first try."""

    max_attempts: int = 6
    max_seconds: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 60.0  # per socket connect/read, seconds

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry ``retry_number`` (1-based): exponential, with jitter in [d/2, d]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def with_(self, **changes) -> RetryPolicy:
        return replace(self, **changes)


_override: RetryPolicy | None = None
_override_lock = threading.Lock()


def _env_number(name: str, default: float, cast=float):
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return cast(value)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} is not a number") from exc


def default_policy() -> RetryPolicy:
    """The policy in force: :func:`set_default_policy` if called, else the environment."""
    if _override is not None:
        return _override
    base = RetryPolicy()
    return RetryPolicy(
        max_attempts=max(1, _env_number("CRUCIBLE_RETRY_ATTEMPTS", base.max_attempts, int)),
        max_seconds=_env_number("CRUCIBLE_RETRY_SECONDS", base.max_seconds),
        base_delay=_env_number("CRUCIBLE_RETRY_BASE_DELAY", base.base_delay),
        max_delay=base.max_delay,
        timeout=_env_number("CRUCIBLE_HTTP_TIMEOUT", base.timeout),
    )


def set_default_policy(policy: RetryPolicy | None) -> None:
    """Use ``policy`` for every remote request in this process; None goes back to the environment."""
    global _override
    with _override_lock:
        _override = policy


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def transient_status(status: int, headers: Mapping[str, str] | None, detail: str = "") -> TransientError:
    """The :class:`TransientError` of a transient HTTP answer: its ``Retry-After`` or ``RateLimit`` wait.

    >>> error = transient_status(429, {"RateLimit": '"api";r=0;t=7', "Retry-After": "2"})
    >>> error.retry_after, error.throttled
    (7.0, True)
    """
    waits = [w for w in (retry_after_seconds(headers), pacing.rate_limit_reset(headers)) if w is not None]
    return TransientError(f"HTTP {status}{detail}", max(waits) if waits else None, throttled=status == 429)


def status_error(
    status: int,
    what: str,
    *,
    headers: Mapping[str, str] | None = None,
    detail: str = "",
    hint: str = "",
) -> Exception:
    """The exception for an HTTP answer ``status`` about ``what`` (a repo/host plus path).

    Transient statuses give :class:`TransientError` (to be retried); the rest give the
    matching :class:`RemoteError`.
    """
    detail = f" ({detail.strip()[:300]})" if detail and detail.strip() else ""
    if status in TRANSIENT_STATUSES:
        return transient_status(status, headers, detail)
    message = f"{what}: HTTP {status}{detail}"
    hint = f"; {hint}" if hint else ""
    code = (headers or {}).get("X-Error-Code")
    if status in (404, 410):
        return RemoteNotFoundError(f"{message}: not found{hint}", status=status, code=code)
    if status in (401, 403):
        return RemoteAccessError(f"{message}: access denied{hint}", status=status, code=code)
    return RemoteError(f"{message}{hint}", status=status, code=code)


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    secrets: Iterable[str | None] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it returns, retrying :class:`TransientError` within ``policy``'s bounds.

    Other exceptions propagate at once. Running out of attempts or seconds raises
    :class:`RemoteUnavailableError` naming ``what``, the attempts, the time spent and the last
    reason. ``secrets`` are scrubbed from every message. Each attempt first waits its turn in
    :mod:`.pacing`; a throttled failure holds the whole process for its wait.
    """
    policy = policy or default_policy()
    secrets = tuple(secrets)
    started = time.monotonic()
    attempt = 0
    reason = ""
    while True:
        attempt += 1
        lacking = pacing.wait_turn(policy.max_seconds - (time.monotonic() - started), sleep)
        if lacking is not None:
            last = f"; last error: {reason}" if reason else ""
            raise RemoteUnavailableError(
                f"{what}: gave up after {attempt - 1} attempt(s) in {time.monotonic() - started:.1f} s; "
                f"the server's rate limit holds requests for {lacking:.1f} s more, past the "
                f"{policy.max_seconds:g} s retry budget{last}"
            )
        try:
            return fn()
        except TransientError as exc:
            reason = redact(exc.reason, secrets)
            elapsed = time.monotonic() - started
            remaining = policy.max_seconds - elapsed
            delay = policy.backoff(attempt)
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            if attempt >= policy.max_attempts or delay > remaining:
                why = (
                    f"{attempt} attempt(s)"
                    if attempt >= policy.max_attempts
                    else f"{attempt} attempt(s); the next wait ({delay:.1f} s) would pass the "
                    f"{policy.max_seconds:g} s retry budget"
                )
                raise RemoteUnavailableError(
                    f"{what}: gave up after {why} in {elapsed:.1f} s; last error: {reason}"
                ) from None
            logger.info(
                "%s: %s; retry %d of %d in %.2f s", what, reason, attempt, policy.max_attempts - 1, delay
            )
            if exc.throttled:  # the whole process waits with us (a wait past the budget holds no one)
                pacing.hold(delay)
            sleep(delay)
