"""Ranges fetched ahead of a reader (storage/http/read_ahead.py, RemoteFile.advise) over a real
local server behind a proxy that adds 50 ms to every round trip."""

from __future__ import annotations

import random
import time

import pytest

from crucible_datasets.storage.http.range_file import MIN_READAHEAD, RemoteFile
from crucible_datasets.storage.http.read_ahead import DEFAULT_DEPTH, ReadAhead
from tests.servers.latency_proxy import LatencyProxy

DATA = random.Random(11).randbytes(24 * MIN_READAHEAD)


@pytest.fixture
def slow_server(static_server_factory):
    server = static_server_factory({"/data.bin": DATA})
    proxy = LatencyProxy(server.url, delay=0.05).start()
    yield server, proxy
    proxy.stop()


def _open(proxy: LatencyProxy) -> RemoteFile:
    return RemoteFile(f"{proxy.url}/data.bin", what="data.bin", size=len(DATA), block_size=MIN_READAHEAD)


@pytest.mark.parametrize("start, stop", [(0, None), (12345, 5 * MIN_READAHEAD + 7), (len(DATA) - 10, None)])
def test_an_advised_range_reads_the_same_bytes(slow_server, start, stop):
    _, proxy = slow_server
    with _open(proxy) as f:
        f.advise(start, stop)
        f.seek(start)
        got = f.read(-1 if stop is None else stop - start)
        assert got == DATA[start:stop]
        f.seek(100)  # outside the range: read as before
        assert f.read(10) == DATA[100:110]


def test_blocks_are_fetched_in_parallel(slow_server):
    server, proxy = slow_server
    with _open(proxy) as f:
        f.advise(0, None)
        assert f.read() == DATA
    # requests waited out their latency side by side, and each block was fetched once
    assert proxy.max_waiting >= 2
    assert server.bytes_served["/data.bin"] == len(DATA)


@pytest.mark.parametrize("ramp, at_most", [(False, 1 + DEFAULT_DEPTH), (True, 2)])
def test_no_more_than_depth_blocks_are_fetched_ahead(slow_server, ramp, at_most):
    # a ramp (a reader that may stop early, take(5)) fetches ahead at most what it has read
    server, proxy = slow_server
    with _open(proxy) as f:
        f.advise(0, None, ramp=ramp)
        assert f.read(10) == DATA[:10]
        time.sleep(1.0)  # every fetch scheduled has had time to finish
        assert server.bytes_served["/data.bin"] <= at_most * MIN_READAHEAD
        assert f.read() == DATA[10:]


def test_a_ramp_starts_small_and_grows():
    fetched = []

    def fetch(start: int, length: int) -> bytes:
        fetched.append((start, length))
        return bytes(length)

    ahead = ReadAhead(fetch, 0, 200 << 20, block_size=8 << 20)
    pos = 0
    while ahead.covers(pos):
        start, data = ahead.block_at(pos)
        pos = start + len(data)
    ahead.close()
    sizes = [length for _, length in sorted(fetched)]
    assert sizes[:4] == [256 << 10, 1 << 20, 4 << 20, 8 << 20] and max(sizes) == 8 << 20
    assert sizes[-1] == 256 << 10  # the range's end, fetched at once
    assert sum(sizes) == 200 << 20  # each byte once


def test_a_line_scan_past_the_range_end_then_a_read_from_its_start(slow_server):
    # what a JSON Lines part does: the byte before it, the line ending it, then its lines
    server, proxy = slow_server
    start, stop = 3 * MIN_READAHEAD, 9 * MIN_READAHEAD
    with _open(proxy) as f:
        f.advise(start - 1, stop + 1000)
        f.seek(start - 1)
        assert f.read(1) == DATA[start - 1 : start]
        f.seek(stop - 1)
        assert f.read(500) == DATA[stop - 1 : stop + 499]
        f.seek(start)
        assert f.read(stop - start) == DATA[start:stop]
    assert server.bytes_served["/data.bin"] <= stop + 1000 - start + 2 * MIN_READAHEAD
