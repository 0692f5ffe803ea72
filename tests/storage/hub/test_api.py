"""The Hub API (storage/hub/api.py) against the test Hub: listings, not-found, retries."""

from __future__ import annotations

import time

import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.retry import (
    RemoteNotFoundError,
)
from crucible_datasets.storage.hub import dataset, paths
from tests.servers.fault_proxy import Fault
from tests.servers.repos import gsm8k_files

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_listing_pages_through_the_tree_api(hub_server):
    files = fs.list_files("hf://datasets/openai/gsm8k")
    assert [f.rsplit("gsm8k/", 1)[1] for f in files] == sorted(gsm8k_files())
    tree_calls = [r for r in hub_server.requests if "/tree/" in r["path"]]
    assert len(tree_calls) >= 3  # 8 entries, 3 per page
    assert fs.glob("hf://datasets/openai/gsm8k/*/test-*.parquet") == [
        "hf://datasets/openai/gsm8k/main/test-00000-of-00001.parquet",
        "hf://datasets/openai/gsm8k/socratic/test-00000-of-00001.parquet",
    ]
    assert fs.glob("hf://datasets/openai/gsm8k/**.md") == ["hf://datasets/openai/gsm8k/README.md"]
    assert fs.size(paths.hf_url("openai/gsm8k", GSM8K_TRAIN)) == len(gsm8k_files()[GSM8K_TRAIN])
    assert fs.exists(paths.hf_url("openai/gsm8k", "README.md"))
    assert not fs.exists(paths.hf_url("openai/gsm8k", "nope.md"))
    assert fs.is_dir("hf://datasets/openai/gsm8k/main")
    assert fs.list_files("hf://datasets/openai/gsm8k/no-such-folder") == []


def test_not_found_fails_at_once_naming_repo_and_path(hub_server):
    url = paths.hf_url("openai/gsm8k", "main/missing.parquet")
    started = time.monotonic()
    with pytest.raises(RemoteNotFoundError) as missing:
        fs.open_input(url)
    assert time.monotonic() - started < 1.0
    assert "openai/gsm8k" in str(missing.value) and "main/missing.parquet" in str(missing.value)
    assert sum("missing.parquet" in r["path"] for r in hub_server.requests) == 1
    with pytest.raises(DataFileError, match="missing.parquet"):
        fs.size(url)
    with pytest.raises(RemoteNotFoundError, match="nobody/nothing"):
        dataset.resolve_hub("nobody/nothing")
    with pytest.raises(RemoteNotFoundError, match="no-such-branch"):
        dataset.resolve_hub("openai/gsm8k", revision="no-such-branch")


def test_listing_and_metadata_retry_dropped_connections(hub_server, hub_proxy):
    hub_proxy.script(
        Fault("drop", path_contains="/tree/"),
        Fault("status", status=502, path_contains="/tree/"),
        Fault("status", status=500, path_contains="/api/datasets/openai/gsm8k"),
    )
    layout = dataset.resolve_hub("openai/gsm8k")
    assert set(layout.configs) == {"main", "socratic"}
    assert hub_proxy.pending() == 0
