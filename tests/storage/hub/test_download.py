"""Downloads into the HF cache (storage/hub/download.py) from the test Hub."""

from __future__ import annotations

import os

import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.retry import (
    RemoteAccessError,
    RemoteNotFoundError,
    UnsafePathError,
)
from crucible_datasets.storage.hub import dataset, download, paths
from tests.servers.fault_proxy import Fault
from tests.servers.repos import PRIVATE_TOKEN, gsm8k_files, gsm8k_train_jsonl

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_download_files_fills_the_hf_cache_once(hub_server, hf_cache):
    layout = dataset.resolve_hub("openai/gsm8k")
    files = layout.files("main", "train") + layout.files("main", "test")
    paths = download.download_files(files, cache_dir=hf_cache)
    assert [os.path.basename(p) for p in paths] == [os.path.basename(f) for f in files]
    with open(paths[0], "rb") as f:
        assert f.read() == gsm8k_files()[GSM8K_TRAIN]
    assert hub_server.bytes_served("openai/gsm8k", GSM8K_TRAIN) == len(gsm8k_files()[GSM8K_TRAIN])

    hub_server.reset_counters()
    assert download.download_files(files, cache_dir=hf_cache) == paths
    assert hub_server.requests == []  # pinned commit, in the cache: not one request
    again = download.download_files(
        [GSM8K_TRAIN], repo_id="openai/gsm8k", revision="main", cache_dir=hf_cache
    )
    assert again == paths[:1]
    assert hub_server.bytes_served("openai/gsm8k", GSM8K_TRAIN) == 0
    assert all("/resolve/" not in r["path"] and r["role"] != "cdn" for r in hub_server.requests)


def test_download_retries_transient_failures(hub_server, hub_proxy, hf_cache):
    hub_proxy.script(
        Fault("status", status=503, method="HEAD", path_contains="/resolve/"),
        Fault("reset", after_bytes=100_000, method="GET", path_contains="/resolve/"),
    )
    (path,) = download.download_files([paths.hf_url("test/jsonl", "data/train.jsonl")], cache_dir=hf_cache)
    with open(path, "rb") as f:
        assert f.read() == gsm8k_train_jsonl()
    assert hub_proxy.pending() == 0


def test_download_private_and_missing(hub_server, hf_cache):
    url = paths.hf_url("test/private", "data/train.jsonl")
    with pytest.raises(RemoteAccessError) as denied:
        download.download_files([url], cache_dir=hf_cache)
    assert "test/private" in str(denied.value)
    (path,) = download.download_files([url], token=PRIVATE_TOKEN, cache_dir=hf_cache)
    with open(path, "rb") as f:
        assert f.read() == b'{"secret": true}\n'
    for folder, _, names in os.walk(hf_cache):  # nothing written to disk holds the token
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                assert PRIVATE_TOKEN.encode() not in f.read()
    with pytest.raises(RemoteNotFoundError) as missing:
        missing_url = paths.hf_url("test/private", "nope.jsonl")
        download.download_files([missing_url], token=PRIVATE_TOKEN, cache_dir=hf_cache)
    assert "nope.jsonl" in str(missing.value) and PRIVATE_TOKEN not in str(missing.value)


def test_escaping_names_from_the_server_or_the_caller_are_refused(hub_server, hf_cache):
    hub_server.add_repo("evil/repo", {"data/ok.jsonl": b"{}\n", "../outside.jsonl": b"{}\n"})
    refused = r"refusing the repo file name '\.\.(/outside\.jsonl)?' in evil/repo"
    with pytest.raises(UnsafePathError, match=refused):
        dataset.resolve_hub("evil/repo")
    hub_server.add_repo("evil/abs", {"/etc/cron.d/x": b"{}\n"})
    with pytest.raises(UnsafePathError):
        fs.list_files("hf://datasets/evil/abs")
    for name in ("../../etc/passwd", "/etc/passwd", "a\\..\\b"):
        with pytest.raises(UnsafePathError):
            download.download_files([name], repo_id="openai/gsm8k", cache_dir=hf_cache)
    assert not os.listdir(hf_cache)
