"""How fast one process sends remote requests: a shared hold after throttling, and an optional cap.

Every attempt of :func:`~.retry.call_with_retry` (so every remote request of this package:
``hf://``, ``https://`` and ``gs://``) first waits its turn here:

- the *hold*: a throttled answer (429, with its ``Retry-After`` or our backoff), or any answer
  whose ``RateLimit`` header says nothing remains in the window (the Hub sends
  ``RateLimit: "api";r=0;t=55``; the older draft form ``limit=100, remaining=0, reset=55`` is
  read too), holds *every* thread of the process until then, not only the request that saw it;
- the *cap*: ``CRUCIBLE_REQUESTS_PER_SECOND`` (unset or 0: no cap) spaces the process's attempts
  evenly, shared by all its threads.

Both are per process: a job on N worker processes sends at most N times the cap (set the cap to
the job's budget divided by its workers), and each process honours the server's throttling as
soon as one of its requests is told. A wait longer than a call's remaining retry budget is not
slept: the call fails at once naming what it was reading (see :func:`~.retry.call_with_retry`).

>>> rate_limit_reset({"RateLimit": '"api";r=0;t=55'})
55.0
>>> rate_limit_reset({"ratelimit": "limit=9, remaining=0, reset=3"})
3.0
>>> rate_limit_reset({"RateLimit": '"api";r=12;t=55'}) is None
True
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping

RATE_ENV = "CRUCIBLE_REQUESTS_PER_SECOND"
_STRUCTURED = re.compile(r"(?:^|[;,\s])r\s*=\s*(?P<remaining>\d+)\s*;\s*t\s*=\s*(?P<reset>\d+)")
_DRAFT_REMAINING = re.compile(r"remaining\s*=\s*(?P<value>\d+)")
_DRAFT_RESET = re.compile(r"reset\s*=\s*(?P<value>\d+)")


class _Pace:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hold_until = 0.0  # time.monotonic() before which no attempt starts
        self.next_slot = 0.0  # the cap's next free start time


_pace = _Pace()
if hasattr(os, "register_at_fork"):  # a forked worker starts with its own, unlocked state

    def _reset_after_fork() -> None:
        global _pace
        _pace = _Pace()

    os.register_at_fork(after_in_child=_reset_after_fork)


def reset() -> None:
    """Forget every hold and the cap's schedule (a test, or a new job in a long-lived process)."""
    with _pace.lock:
        _pace.hold_until = 0.0
        _pace.next_slot = 0.0


def rate_limit_reset(headers: Mapping[str, str] | None) -> float | None:
    """Seconds until the window resets when a ``RateLimit`` header says none remain, else None."""
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "ratelimit"), None)
    if not value:
        return None
    if match := _STRUCTURED.search(value):
        remaining, reset = int(match.group("remaining")), float(match.group("reset"))
    else:
        remaining_match, reset_match = _DRAFT_REMAINING.search(value), _DRAFT_RESET.search(value)
        if remaining_match is None or reset_match is None:
            return None
        remaining, reset = int(remaining_match.group("value")), float(reset_match.group("value"))
    return reset if remaining == 0 else None


def requests_per_second() -> float:
    """The cap from ``CRUCIBLE_REQUESTS_PER_SECOND`` (0: none)."""
    value = os.environ.get(RATE_ENV)
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError as exc:
        raise ValueError(f"{RATE_ENV}={value!r} is not a number") from exc


def hold(seconds: float) -> None:
    """Start no attempt in this process for ``seconds`` from now (a longer hold already set stays)."""
    if seconds <= 0:
        return
    until = time.monotonic() + seconds
    with _pace.lock:
        _pace.hold_until = max(_pace.hold_until, until)


def observe(headers: Mapping[str, str] | None) -> None:
    """Hold the process when an answer's ``RateLimit`` header says the window is used up."""
    reset = rate_limit_reset(headers)
    if reset is not None:
        hold(reset)


def wait_turn(budget: float, sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Wait for this process's next attempt slot; None if done, else the wait that ``budget`` lacks.

    The slot is the later of the hold's end and the cap's next free time; a wait longer than
    ``budget`` seconds is not taken (and reserves nothing).
    """
    rate = requests_per_second()
    with _pace.lock:
        now = time.monotonic()
        start = max(now, _pace.hold_until, _pace.next_slot if rate else now)
        if start - now > budget:
            return start - now
        if rate:
            _pace.next_slot = start + 1.0 / rate
    if start > now:
        sleep(start - now)
    return None
