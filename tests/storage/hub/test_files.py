"""Reads of Hub files (storage/hub/files.py) against the test Hub (tests/servers/hub_server.py)."""

from __future__ import annotations

import hashlib
import io
import time

import pyarrow.parquet as pq
import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.retry import (
    RemoteChangedError,
    RemoteUnavailableError,
)
from crucible_datasets.storage.hub import paths
from tests.servers.fault_proxy import Fault
from tests.servers.repos import LARGE_PATH, PRIVATE_TOKEN, gsm8k_files, gsm8k_train_jsonl, large_parquet


def test_parquet_take_reads_a_small_fraction(hub_server):
    url = paths.hf_url("test/large", LARGE_PATH)
    with fs.open_input(url) as raw:
        pf = pq.ParquetFile(raw, pre_buffer=False)
        assert pf.metadata.num_row_groups == 100
        batch = next(pf.iter_batches(batch_size=5, columns=["id", "text"]))
    assert batch.column("id").to_pylist() == [0, 1, 2, 3, 4]
    served = hub_server.bytes_served("test/large", LARGE_PATH)
    size = len(large_parquet())
    assert 0 < served < size * 0.03, f"read {served} of {size} bytes"
    # LFS files come from the CDN, as on the real Hub: no Authorization header leaves the Hub
    assert any(r["role"] == "cdn" for r in hub_server.requests)


def test_row_group_reads_fetch_only_that_group(hub_server):
    url = paths.hf_url("test/large", LARGE_PATH)
    with fs.open_input(url) as raw:
        table = pq.ParquetFile(raw, pre_buffer=False).read_row_group(57)
    assert table.column("id")[0].as_py() == 57 * 1280
    assert hub_server.bytes_served("test/large", LARGE_PATH) < len(large_parquet()) * 0.03


def test_jsonl_byte_range_and_lines(hub_server):
    data = gsm8k_train_jsonl()
    url = paths.hf_url("test/jsonl", "data/train.jsonl")
    start = data.index(b"\n", len(data) // 2) + 1
    with fs.open_input(url) as f:
        f.seek(start)
        lines = [f.readline() for _ in range(20)]
        assert f.tell() == start + sum(map(len, lines))
    expected = data[start:].split(b"\n")[:20]
    assert [line.rstrip(b"\n") for line in lines] == expected
    assert hub_server.bytes_served("test/jsonl", "data/train.jsonl") < len(data) * 0.1


def test_sequential_read_equals_file(hub_server):
    with fs.open_input(paths.hf_url("test/jsonl", "data/train.jsonl")) as f:
        assert f.read() == gsm8k_train_jsonl()
        assert f.read(10) == b""


def test_a_file_changing_under_a_reader_fails_clearly(hub_server):
    # a git file: every range answer comes from the Hub and names its version
    data = gsm8k_train_jsonl()
    url = paths.hf_url("test/jsonl", "data/train.jsonl", hub_server.shas["jsonl"])
    f = fs.open_input(url)
    assert f.read(100) == data[:100]
    hub_server.replace_in_place("test/jsonl", hub_server.shas["jsonl"], "data/train.jsonl", b"x" * len(data))
    f.seek(len(data) // 2)
    with pytest.raises(RemoteChangedError, match=r"test/jsonl.*changed while it was being read"):
        f.read(100)


def test_an_lfs_file_is_read_from_the_blob_it_was_sent_to(hub_server):
    # the Hub sends LFS files to a content-addressed CDN URL, which later ranges ask directly:
    # a file changed in place (same commit) is read on from the blob opened, one version, until
    # that location is gone; then the Hub is asked again, and the change is an error
    url = paths.hf_url("test/large", LARGE_PATH, hub_server.shas["large"])
    f = fs.open_input(url)
    f.seek(1000)
    assert f.read(100) == large_parquet()[1000:1100]
    changed = b"x" * 100 + large_parquet()[100:]
    hub_server.replace_in_place("test/large", hub_server.shas["large"], LARGE_PATH, changed)
    f.seek(20_000_000)
    assert f.read(100) == large_parquet()[20_000_000:20_000_100]
    del hub_server.blobs[hashlib.sha256(large_parquet()).hexdigest()]
    f.seek(30_000_000)
    with pytest.raises(RemoteChangedError, match=r"test/large.*changed while it was being read"):
        f.read(100)


def test_remote_file_is_a_normal_binary_stream(hub_server):
    data = gsm8k_files()["README.md"]
    with fs.open_input(paths.hf_url("openai/gsm8k", "README.md")) as f:
        text = io.TextIOWrapper(f, encoding="utf-8")
        assert text.readline() == "---\n"
        assert f.seekable() and f.readable()
    with fs.open_input(paths.hf_url("openai/gsm8k", "README.md")) as f:
        assert list(f) == data.splitlines(keepends=True)
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]


def test_retries_503_429_and_resets_then_succeed(hub_server, hub_proxy):
    data = gsm8k_train_jsonl()
    url = paths.hf_url("test/jsonl", "data/train.jsonl")
    hub_proxy.script(
        Fault("status", status=503, times=2, method="GET", path_contains="/resolve/"),
        Fault("status", status=429, retry_after="1", method="GET", path_contains="/resolve/"),
        Fault("reset", after_bytes=5000, method="GET", path_contains="/resolve/"),
    )
    started = time.monotonic()
    with fs.open_input(url) as f:
        f.seek(1_000_000)
        chunk = f.read(300_000)
    elapsed = time.monotonic() - started
    assert chunk == data[1_000_000:1_300_000]
    assert hub_proxy.pending() == 0
    assert hub_proxy.attempts("/resolve/", method="GET") == 5  # 2 x 503, 429, reset, success
    assert 1.0 <= elapsed < 5.0  # Retry-After: 1 honoured, nothing else slow


def test_exhausted_retries_fail_clearly_in_bounded_time(hub_server, hub_proxy, fast_retries, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", PRIVATE_TOKEN)
    hub_proxy.script(Fault("status", status=503, times=100, path_contains="/resolve/"))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError) as gave_up:
        fs.open_input(paths.hf_url("test/private", "data/train.jsonl"))
    elapsed = time.monotonic() - started
    message = str(gave_up.value)
    assert f"gave up after {fast_retries.max_attempts} attempt(s)" in message
    assert "test/private" in message and "data/train.jsonl" in message and "HTTP 503" in message
    assert PRIVATE_TOKEN not in message
    assert hub_proxy.attempts("/resolve/") == fast_retries.max_attempts
    assert elapsed < 5.0


def test_a_retry_after_beyond_the_budget_gives_up_at_once(hub_server, hub_proxy):
    hub_proxy.script(Fault("status", status=429, retry_after="600", times=5, path_contains="/resolve/"))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError, match="retry budget"):
        fs.open_input(paths.hf_url("test/jsonl", "data/train.jsonl"))
    assert time.monotonic() - started < 2.0
