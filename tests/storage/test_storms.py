"""Remote storms: the test Hub and the GCS emulator behind a fault-injecting proxy.

Every job (streaming, an eager download into the HF cache, writes on the local and the direct
runner) must end with exactly the rows of a direct read; a permanent storm must fail within the
retry budget naming the repo or bucket and the path; a file that changes while it is read must
fail clearly, never give rows of two versions. Each test is bounded in time (``BOUND``).
"""

from __future__ import annotations

import io
import threading
import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

import crucible_datasets as cd
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http import pacing
from crucible_datasets.storage.http.retry import (
    RemoteChangedError,
    RemoteUnavailableError,
    RetryPolicy,
    set_default_policy,
)
from tests.servers.fault_proxy import Fault
from tests.servers.repos import gsm8k_train_jsonl

BOUND = 45.0  # seconds, any one test
ROWS = 2000
TIGHT_BUDGET = RetryPolicy(max_attempts=100, max_seconds=2.0, base_delay=0.05, max_delay=0.5, timeout=5)


@pytest.fixture(autouse=True)
def bounded():
    started = time.monotonic()
    yield
    assert time.monotonic() - started < BOUND


def _storm(path_contains: str | None = None, reset_on: str | None = None) -> list[Fault]:
    """Every third request a 500, one reset mid-body, one 429 with Retry-After: 1 and RateLimit."""
    faults = [
        Fault(
            "status",
            status=429,
            retry_after="1",
            headers={"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=100;w=1'},
            method="GET",
            path_contains=path_contains,
        ),
        Fault("status", status=500, every=3, times=200),
    ]
    if reset_on is not None:
        faults.insert(0, Fault("reset", after_bytes=3000, method="GET", path_contains=reset_on))
    return faults


def _source_rows() -> list[dict]:
    return [{"id": i, "text": f"row {i} " + "x" * (i % 50)} for i in range(ROWS)]


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def _upload(emulator_url: str, bucket: str, name: str, data: bytes) -> None:
    """One object written straight to the emulator (not through the proxy): a second writer."""
    response = requests.post(
        f"{emulator_url}/upload/storage/v1/b/{bucket}/o",
        params={"uploadType": "media", "name": name},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    response.raise_for_status()


# --- the Hub ----------------------------------------------------------------------------------------


def test_hub_streaming_storm_ends_with_every_row(hub_server, hub_proxy, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    direct = list(cd.load("test/jsonl", split="train", streaming=True))
    monkeypatch.setenv("HF_ENDPOINT", hub_proxy.url)
    hub_proxy.script(*_storm("/resolve/", reset_on="/resolve/"))
    started = time.monotonic()
    stormed = list(cd.load("test/jsonl", split="train", streaming=True))
    assert stormed == direct and len(direct) == 7473
    assert time.monotonic() - started >= 1.0  # the 429's Retry-After was waited for
    faults = [e["fault"] for e in hub_proxy.log]
    assert faults.count("status") >= 3 and "reset" in faults


def test_hub_eager_download_storm_fills_the_cache_with_every_row(hub_server, hub_proxy, hf_env):
    hub_proxy.script(*_storm("/resolve/", reset_on="/resolve/"))
    stormed = cd.load("test/jsonl", split="train")
    assert stormed.to_list() == [orjson.loads(line) for line in gsm8k_train_jsonl().splitlines()]
    assert "reset" in [e["fault"] for e in hub_proxy.log]


def test_hub_permanent_download_storm_fails_within_the_budget(hub_server, hub_proxy, hf_env):
    set_default_policy(TIGHT_BUDGET)
    hub_proxy.script(Fault("status", status=503, times=10_000, path_contains="/data/train.jsonl"))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError) as info:
        cd.load("test/jsonl", split="train")
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.0, elapsed  # one layer of retries: ours, within CRUCIBLE_RETRY_SECONDS
    assert "test/jsonl" in str(info.value) and "data/train.jsonl" in str(info.value)
    assert "HTTP 503" in str(info.value)


def test_hub_rate_limit_holds_every_thread_of_the_process(hub_server, hub_proxy):
    """A 429 with RateLimit r=0;t=1 seen by one request holds the others too (one process)."""
    hub_proxy.script(
        Fault("status", status=429, headers={"RateLimit": '"api";r=0;t=1'}, path_contains="/resolve/")
    )
    url = "hf://datasets/test/jsonl/data/train.jsonl"
    started = time.monotonic()
    done: list[float] = []

    def read() -> None:
        with fs.open_input(url) as f:
            f.read(100)
        done.append(time.monotonic() - started)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=20)
    assert len(done) == 3 and min(done) >= 0.9, done  # none went ahead of the server's reset


# --- gs:// ------------------------------------------------------------------------------------------


@pytest.fixture
def gcs_proxy(gcs_emulator, make_fault_proxy, monkeypatch, fast_retries):
    """A proxy in front of the emulator; ``gcs_proxy.through()`` points the storage layer at it."""
    proxy = make_fault_proxy(gcs_emulator.url)
    proxy.through = lambda: monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
    proxy.direct = lambda: monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    return proxy


def _read_back(path: str, split: str = "train") -> list[dict]:
    return sorted(cd.load(path, split=split).to_list(), key=lambda r: r["id"])


def test_gcs_read_storm_ends_with_every_row(gcs_emulator, gcs_proxy):
    source = gcs_emulator.path("storm/in/data.jsonl")
    with fs.open_output(source) as f:
        f.write(_jsonl(_source_rows()))
    gcs_proxy.through()
    gcs_proxy.script(*_storm(reset_on="alt=media"))
    stormed = list(cd.load(source, split="train", streaming=True))
    assert stormed == _source_rows()
    assert "reset" in [e["fault"] for e in gcs_proxy.log]


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_gcs_write_storm_ends_with_every_row(gcs_emulator, gcs_proxy, tmp_path, runner):
    source = tmp_path / "in.jsonl"
    source.write_bytes(_jsonl(_source_rows()))
    out = gcs_emulator.path(f"storm/out-{runner}")
    gcs_proxy.through()
    gcs_proxy.script(
        Fault("status", status=503, times=2, path_contains="upload"),
        Fault("status", status=429, retry_after="1", times=1, path_contains="upload"),
        Fault("status", status=503, times=2, path_contains="batch"),
        Fault("status", status=500, every=3, times=200),
    )
    dataset = cd.load(str(source), split="train", streaming=True)
    options = {"runner": "direct", "options": ["--direct_num_workers=1"]} if runner == "direct" else {}
    summary = dataset.write_parquet(out, num_shards=2, **options)
    assert summary.counts.rows_written == ROWS
    faults = [e["fault"] for e in gcs_proxy.log if "upload" in e["path"]]
    assert faults.count("status") >= 3, gcs_proxy.log[:20]
    gcs_proxy.direct()
    assert _read_back(out) == _source_rows()


def test_gcs_permanent_storm_fails_within_the_budget_naming_the_object(gcs_emulator, gcs_proxy):
    source = gcs_emulator.path("storm/perm/data.jsonl")
    with fs.open_output(source) as f:
        f.write(_jsonl(_source_rows()))
    set_default_policy(TIGHT_BUDGET)
    gcs_proxy.through()
    gcs_proxy.script(Fault("status", status=503, times=10_000))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError) as info:
        with fs.open_input(source) as f:
            f.read()
    assert time.monotonic() - started < 2.0 + 1.0
    assert source in str(info.value) and "503" in str(info.value)


def test_gcs_object_replaced_mid_read_fails_clearly(gcs_emulator, gcs_proxy):
    """A Parquet read downloads the footer, then the row groups: the object is replaced in between."""
    name = "storm/versions/data.parquet"
    url = gcs_emulator.path(name)

    def parquet(version: int, rows: int) -> bytes:
        sink = io.BytesIO()
        table = pa.table({"id": list(range(rows)), "version": [version] * rows})
        pq.write_table(table, sink, row_group_size=100)
        return sink.getvalue()

    _upload(gcs_emulator.url, gcs_emulator.bucket, name, parquet(1, 1000))
    gcs_proxy.through()
    replace = Fault(
        "call",
        every=2,
        path_contains="alt=media",
        action=lambda: _upload(gcs_emulator.url, gcs_emulator.bucket, name, parquet(2, 1500)),
    )
    gcs_proxy.script(replace)
    with fs.open_input(url) as f:
        f.seek(-8, 2)
        f.read(8)  # the first download: the footer's end
        f.seek(0)
        with pytest.raises(RemoteChangedError) as info:
            f.read(4)  # the second: the object was replaced just before it
    assert replace.times == 0
    assert str(info.value).startswith(f"{url}: the object changed while it was being read (generation ")


# --- https:// ---------------------------------------------------------------------------------------


def test_https_without_etag_is_pinned_by_last_modified(static_server_factory, make_fault_proxy):
    data = _jsonl(_source_rows()) * 8  # more than the first read-ahead: two range requests
    server = static_server_factory({"/d.jsonl": data})
    proxy = make_fault_proxy(server.url)

    def last_modified_instead_of_etag(headers):  # a version the server names by date only
        etag = dict((k.lower(), v) for k, v in headers).get("etag", "")
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(etag.strip('"')[:6], 16)))
        return [(k, v) for k, v in headers if k.lower() != "etag"] + [("Last-Modified", stamp)]

    proxy.rewrite_headers = last_modified_instead_of_etag
    changed = {"/d.jsonl": data[::-1]}
    replace = Fault("call", every=2, method="GET", action=lambda: server.files.update(changed))
    proxy.script(replace)
    with fs.open_input(f"{proxy.url}/d.jsonl") as f:
        f.read(1000)
        f.seek(0)
        f.seek(len(data) - 10)  # leave the buffer: the next read is another range request
        with pytest.raises(RemoteChangedError, match=r"d\.jsonl: the file changed while it was being read"):
            f.read(10)


def test_https_without_any_version_is_read_whole_in_one_answer(static_server_factory, make_fault_proxy):
    data = _jsonl(_source_rows())
    server = static_server_factory({"/d.jsonl": data})
    proxy = make_fault_proxy(server.url)
    proxy.rewrite_headers = lambda headers: [(k, v) for k, v in headers if k.lower() != "etag"]
    proxy.script(Fault("reset", after_bytes=5000, method="GET"))
    rows = list(cd.load(f"{proxy.url}/d.jsonl", split="train", streaming=True))
    assert rows == _source_rows()
    gets = [r for r in server.requests if r["method"] == "GET"]
    assert all(r["range"] is None for r in gets)  # whole answers only (one reset, one retry)


# --- pacing -----------------------------------------------------------------------------------------


def test_the_request_cap_spaces_attempts(monkeypatch):
    from crucible_datasets.storage.http.retry import call_with_retry

    pacing.reset()
    monkeypatch.setenv(pacing.RATE_ENV, "20")
    started = time.monotonic()
    for _ in range(11):
        call_with_retry(lambda: None, what="x")
    assert time.monotonic() - started >= 0.45  # 10 intervals of 1/20 s
    pacing.reset()


# --- a publish between the listing and the card's read --------------------------------------------


def test_a_publish_between_listing_and_card_is_resolved_again(gcs_emulator, gcs_proxy, tmp_path):
    """A real second writer publishes generation 2 just before the reader reads the card."""
    out = gcs_emulator.path("storm/race")
    first, second = tmp_path / "v1.jsonl", tmp_path / "v2.jsonl"
    first.write_bytes(_jsonl(_source_rows()[:10]))
    second.write_bytes(_jsonl(_source_rows()[10:25]))
    cd.load(str(first), split="train", streaming=True).write_parquet(out)
    gcs_proxy.through()
    publish = Fault(
        "call",
        path_contains="race%2FREADME.md",
        action=lambda: cd.load(str(second), split="train", streaming=True).write_parquet(out),
    )
    gcs_proxy.script(publish)
    rows = cd.load(out, split="train").to_list()
    assert publish.times == 0  # the second writer did publish in between
    assert rows == _source_rows()[10:25]
