"""http(s):// reads: range requests, servers without ranges, ETag changes, retries."""

from __future__ import annotations

import random
import time

import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http_filesystem import HttpFileSystem
from crucible_datasets.storage.range_file import RemoteFile
from crucible_datasets.storage.retry import RemoteChangedError, RemoteNotFoundError, RemoteUnavailableError
from tests.servers.fault_proxy import Fault

BIG = random.Random(7).randbytes(6 * 1024 * 1024)
LINES = b"".join(b'{"i": %d, "text": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(40_000))


@pytest.fixture
def server(static_server_factory):
    return static_server_factory({"/big.bin": BIG, "/lines.jsonl": LINES, "/dir/a.txt": b"hello"})


def test_range_reads_fetch_what_is_asked(server):
    url = f"{server.url}/big.bin"
    assert fs.size(url) == len(BIG) and fs.exists(url) and not fs.exists(f"{server.url}/nope.bin")
    with fs.open_input(url) as f:
        f.seek(4_000_000)
        assert f.read(100) == BIG[4_000_000:4_000_100]
        f.seek(-8, 2)
        assert f.read() == BIG[-8:]
        f.seek(10)
        assert f.read(5) == BIG[10:15]
    assert server.bytes_served["/big.bin"] < 1_000_000
    assert all(r["range"] for r in server.requests if r["method"] == "GET")


def test_sequential_reads_ramp_up_to_big_blocks(server):
    with fs.open_input(f"{server.url}/lines.jsonl") as f:
        lines = list(f)
        assert f.requests_made < 12
    assert b"".join(lines) == LINES and len(lines) == 40_000
    assert server.bytes_served["/lines.jsonl"] == len(LINES)


def test_server_without_range_support_still_reads_sequentially(static_server_factory):
    server = static_server_factory({"/lines.jsonl": LINES}, ranges=False)
    url = f"{server.url}/lines.jsonl"
    with fs.open_input(url) as f:
        head = f.readline()
        f.seek(100_000)
        middle = f.read(1000)
        rest = f.read()
        assert f.requests_made == 1  # one streamed body, read front to back
        f.seek(0)  # backward: the body starts again
        assert f.readline() == head
        assert f.requests_made == 2
    assert head == LINES.split(b"\n")[0] + b"\n"
    assert middle == LINES[100_000:101_000] and rest == LINES[101_000:]


def test_head_refused_falls_back_to_a_one_byte_range(static_server_factory):
    server = static_server_factory({"/a.bin": BIG[:5000]}, head=False)
    url = f"{server.url}/a.bin"
    assert fs.size(url) == 5000
    assert fs.open_input(url).read() == BIG[:5000]


def test_etag_change_mid_read_fails_clearly(server):
    url = f"{server.url}/big.bin"
    f = fs.open_input(url)
    assert f.read(1000) == BIG[:1000]
    server.files["/big.bin"] = bytes(reversed(BIG))
    f.seek(5_000_000)
    with pytest.raises(RemoteChangedError, match=r"127\.0\.0\.1:\d+/big\.bin: the file changed"):
        f.read(10)


def test_etag_change_without_ranges_fails_clearly(static_server_factory):
    server = static_server_factory({"/lines.jsonl": LINES}, ranges=False)
    f = fs.open_input(f"{server.url}/lines.jsonl")
    f.seek(1_500_000)
    assert f.read(10) == LINES[1_500_000:1_500_010]  # the buffer moved on: going back needs a new request
    server.files["/lines.jsonl"] = LINES.replace(b"text", b"TEXT")
    f.seek(0)
    with pytest.raises(RemoteChangedError):
        f.readline()


def test_missing_url_fails_at_once(server):
    url = f"{server.url}/dir/missing.txt?sig=secret-signature"
    started = time.monotonic()
    with pytest.raises(RemoteNotFoundError) as missing:
        fs.open_input(url)
    assert time.monotonic() - started < 1.0
    message = str(missing.value)
    assert "127.0.0.1" in message and "/dir/missing.txt" in message and "secret-signature" not in message
    assert len(server.requests) == 1
    with pytest.raises(DataFileError, match="missing.txt"):
        fs.size(url)


def test_query_strings_are_literal_not_globs(server):
    url = f"{server.url}/dir/a.txt?x=1&y=*"
    assert fs.glob(url) == [url]
    assert fs.open_input(url).read() == b"hello"


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


def test_retries_without_range_support_restart_the_body(static_server_factory, make_fault_proxy):
    server = static_server_factory({"/lines.jsonl": LINES}, ranges=False)
    proxy = make_fault_proxy(server.url)
    proxy.script(Fault("reset", after_bytes=300_000, method="GET"))
    with fs.open_input(f"{proxy.url}/lines.jsonl") as f:
        assert f.read() == LINES
    assert proxy.attempts(method="GET") == 2


def test_exhausted_retries_name_the_url(server, make_fault_proxy, fast_retries):
    proxy = make_fault_proxy(server.url)
    proxy.script(Fault("status", status=502, times=50))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError, match=r"/big\.bin: gave up after 5 attempt\(s\)"):
        fs.open_input(f"{proxy.url}/big.bin")
    assert time.monotonic() - started < 5.0
    assert proxy.attempts() == fast_retries.max_attempts


def test_read_only_and_no_listing(server):
    with pytest.raises(DataFileError, match="read-only"):
        fs.open_output(f"{server.url}/new.txt")
    with pytest.raises(DataFileError, match="cannot be listed"):
        HttpFileSystem()._list(server.url)


def test_remote_file_api(server):
    f = RemoteFile(f"{server.url}/lines.jsonl", what="lines", size=len(LINES), block_size=64 * 1024)
    assert f.readline(5) == LINES[:5]
    buffer = bytearray(10)
    assert f.readinto(buffer) == 10 and bytes(buffer) == LINES[5:15]
    assert f.read1(3) == LINES[15:18]
    f.close()
    with pytest.raises(ValueError):
        f.read(1)


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
