"""Seekable reads over HTTP range requests (storage/http/range_file.py) against real local servers."""

from __future__ import annotations

import random

import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.range_file import RemoteFile
from crucible_datasets.storage.http.retry import (
    RemoteChangedError,
)
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


def test_retries_without_range_support_restart_the_body(static_server_factory, make_fault_proxy):
    server = static_server_factory({"/lines.jsonl": LINES}, ranges=False)
    proxy = make_fault_proxy(server.url)
    proxy.script(Fault("reset", after_bytes=300_000, method="GET"))
    with fs.open_input(f"{proxy.url}/lines.jsonl") as f:
        assert f.read() == LINES
    assert proxy.attempts(method="GET") == 2


def test_remote_file_api(server):
    f = RemoteFile(f"{server.url}/lines.jsonl", what="lines", size=len(LINES), block_size=64 * 1024)
    assert f.readline(5) == LINES[:5]
    buffer = bytearray(10)
    assert f.readinto(buffer) == 10 and bytes(buffer) == LINES[5:15]
    assert f.read1(3) == LINES[15:18]
    f.close()
    with pytest.raises(ValueError):
        f.read(1)
