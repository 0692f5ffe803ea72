"""The http(s):// Beam filesystem (storage/http/filesystem.py) through storage.filesystem."""

from __future__ import annotations

import random
import time

import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.filesystem import HttpFileSystem
from crucible_datasets.storage.http.retry import RemoteNotFoundError

BIG = random.Random(7).randbytes(6 * 1024 * 1024)
LINES = b"".join(b'{"i": %d, "text": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(40_000))


@pytest.fixture
def server(static_server_factory):
    return static_server_factory({"/big.bin": BIG, "/lines.jsonl": LINES, "/dir/a.txt": b"hello"})


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


def test_read_only_and_no_listing(server):
    with pytest.raises(DataFileError, match="read-only"):
        fs.open_output(f"{server.url}/new.txt")
    with pytest.raises(DataFileError, match="cannot be listed"):
        HttpFileSystem()._list(server.url)
