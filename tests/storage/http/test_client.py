"""HTTP requests (storage/http/client.py): stat, retries through faults, unreachable hosts."""

from __future__ import annotations

import random
import time

import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.retry import RemoteUnavailableError
from tests.servers.fault_proxy import Fault

BIG = random.Random(7).randbytes(6 * 1024 * 1024)
LINES = b"".join(b'{"i": %d, "text": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(40_000))


@pytest.fixture
def server(static_server_factory):
    return static_server_factory({"/big.bin": BIG, "/lines.jsonl": LINES, "/dir/a.txt": b"hello"})


def test_head_refused_falls_back_to_a_one_byte_range(static_server_factory):
    server = static_server_factory({"/a.bin": BIG[:5000]}, head=False)
    url = f"{server.url}/a.bin"
    assert fs.size(url) == 5000
    assert fs.open_input(url).read() == BIG[:5000]


def test_retries_through_faults(server, make_fault_proxy):
    proxy = make_fault_proxy(server.url)
    proxy.script(
        Fault("status", status=503, method="GET"),
        Fault("status", status=429, retry_after="0", method="GET"),
        Fault("reset", after_bytes=10_000, method="GET"),
        Fault("drop", method="GET"),
    )
    with fs.open_input(f"{proxy.url}/big.bin") as f:
        f.seek(1_000_000)
        assert f.read(2_000_000) == BIG[1_000_000:3_000_000]
    assert proxy.pending() == 0


def test_exhausted_retries_name_the_url(server, make_fault_proxy, fast_retries):
    proxy = make_fault_proxy(server.url)
    proxy.script(Fault("status", status=502, times=50))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError, match=r"/big\.bin: gave up after 5 attempt\(s\)"):
        fs.open_input(f"{proxy.url}/big.bin")
    assert time.monotonic() - started < 5.0
    assert proxy.attempts() == fast_retries.max_attempts


def test_unknown_hosts_fail_without_retries(fast_retries):
    started = time.monotonic()
    with pytest.raises(DataFileError) as failed:
        fs.open_input("https://no-such-host.invalid/data.jsonl")
    if "cannot resolve" in str(failed.value):  # a resolver that says "no such name" (most)
        assert time.monotonic() - started < 2.0
    assert "no-such-host.invalid/data.jsonl" in str(failed.value)


def test_refused_connections_are_retried_within_bounds(fast_retries):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError, match="gave up after 5 attempt"):
        fs.open_input(f"http://127.0.0.1:{port}/x.jsonl")
    assert time.monotonic() - started < 6.0
