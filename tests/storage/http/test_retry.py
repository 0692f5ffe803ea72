"""The retry policy: pacing, bounds, classification, redaction."""

from __future__ import annotations

import email.utils
import time

import pytest

from crucible_datasets.storage.http.retry import (
    RemoteAccessError,
    RemoteNotFoundError,
    RemoteUnavailableError,
    RetryPolicy,
    TransientError,
    call_with_retry,
    default_policy,
    redact,
    retry_after_seconds,
    set_default_policy,
    status_error,
)


def test_retry_after_forms():
    assert retry_after_seconds({"Retry-After": "3"}) == 3.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds({"Retry-After": later}) <= 31
    assert retry_after_seconds({"Retry-After": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_backoff_grows_with_jitter_and_a_ceiling():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.backoff(retry) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(delays) > 1


def test_policy_from_environment(monkeypatch):
    monkeypatch.setenv("CRUCIBLE_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("CRUCIBLE_RETRY_SECONDS", "7.5")
    assert (default_policy().max_attempts, default_policy().max_seconds) == (3, 7.5)
    set_default_policy(RetryPolicy(max_attempts=9))
    try:
        assert default_policy().max_attempts == 9
    finally:
        set_default_policy(None)
    monkeypatch.setenv("CRUCIBLE_RETRY_ATTEMPTS", "many")
    with pytest.raises(ValueError, match="CRUCIBLE_RETRY_ATTEMPTS"):
        default_policy()


def test_classification():
    assert isinstance(status_error(503, "h/p"), TransientError)
    assert status_error(429, "h/p", headers={"Retry-After": "2"}).retry_after == 2.0
    assert isinstance(status_error(404, "h/p"), RemoteNotFoundError)
    assert isinstance(status_error(403, "h/p"), RemoteAccessError)
    assert isinstance(status_error(401, "h/p"), PermissionError)
    assert "h/p: HTTP 404" in str(status_error(404, "h/p"))


def test_permanent_errors_are_not_retried():
    calls = []

    def missing():
        calls.append(1)
        raise status_error(404, "host/a.txt")

    with pytest.raises(RemoteNotFoundError):
        call_with_retry(missing, what="host/a.txt", policy=RetryPolicy(base_delay=0))
    assert len(calls) == 1


def test_exhaustion_names_the_target_and_hides_secrets():
    def failing():
        raise TransientError("HTTP 503 for token hf_secret_value_1")

    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    with pytest.raises(RemoteUnavailableError) as gave_up:
        call_with_retry(failing, what="host/a.txt", policy=policy, secrets=["hf_secret_value_1"])
    assert "host/a.txt: gave up after 3 attempt(s)" in str(gave_up.value)
    assert "hf_secret_value_1" not in str(gave_up.value)
    assert redact("a hf_x123 b", ["hf_x123", None]) == "a <redacted> b"
