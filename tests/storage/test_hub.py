"""hf:// and Hub datasets against the test Hub (tests/servers/hub_server.py) on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import os
import pickle
import time

import pyarrow.parquet as pq
import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage import hub
from crucible_datasets.storage.discovery import LayoutError
from crucible_datasets.storage.retry import (
    RemoteAccessError,
    RemoteChangedError,
    RemoteNotFoundError,
    RemoteUnavailableError,
    UnsafePathError,
)
from tests.servers.fault_proxy import Fault
from tests.servers.repos import LARGE_PATH, PRIVATE_TOKEN, gsm8k_files, gsm8k_train_jsonl, large_parquet

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_parquet_take_reads_a_small_fraction(hub_server):
    url = hub.hf_url("test/large", LARGE_PATH)
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
    url = hub.hf_url("test/large", LARGE_PATH)
    with fs.open_input(url) as raw:
        table = pq.ParquetFile(raw, pre_buffer=False).read_row_group(57)
    assert table.column("id")[0].as_py() == 57 * 1280
    assert hub_server.bytes_served("test/large", LARGE_PATH) < len(large_parquet()) * 0.03


def test_jsonl_byte_range_and_lines(hub_server):
    data = gsm8k_train_jsonl()
    url = hub.hf_url("test/jsonl", "data/train.jsonl")
    start = data.index(b"\n", len(data) // 2) + 1
    with fs.open_input(url) as f:
        f.seek(start)
        lines = [f.readline() for _ in range(20)]
        assert f.tell() == start + sum(map(len, lines))
    expected = data[start:].split(b"\n")[:20]
    assert [line.rstrip(b"\n") for line in lines] == expected
    assert hub_server.bytes_served("test/jsonl", "data/train.jsonl") < len(data) * 0.1


def test_sequential_read_equals_file(hub_server):
    with fs.open_input(hub.hf_url("test/jsonl", "data/train.jsonl")) as f:
        assert f.read() == gsm8k_train_jsonl()
        assert f.read(10) == b""


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
    assert fs.size(hub.hf_url("openai/gsm8k", GSM8K_TRAIN)) == len(gsm8k_files()[GSM8K_TRAIN])
    assert fs.exists(hub.hf_url("openai/gsm8k", "README.md"))
    assert not fs.exists(hub.hf_url("openai/gsm8k", "nope.md"))
    assert fs.is_dir("hf://datasets/openai/gsm8k/main")
    assert fs.list_files("hf://datasets/openai/gsm8k/no-such-folder") == []


def test_huggingface_hub_client_speaks_to_the_test_hub(hub_server):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=False)
    assert api.dataset_info("openai/gsm8k").sha == hub_server.shas["gsm8k"]
    tree = {e.path for e in api.list_repo_tree("openai/gsm8k", repo_type="dataset", recursive=True)}
    assert set(gsm8k_files()) <= tree
    info = api.get_paths_info("openai/gsm8k", [GSM8K_TRAIN], repo_type="dataset")
    assert info[0].lfs is not None and info[0].size == len(gsm8k_files()[GSM8K_TRAIN])


def test_resolve_hub_gives_the_gsm8k_configs_pinned_to_a_commit(hub_server):
    sha = hub_server.shas["gsm8k"]
    layout = hub.resolve_hub("openai/gsm8k")
    assert layout.root == f"hf://datasets/openai/gsm8k@{sha}"
    assert set(layout.configs) == {"main", "socratic"}
    assert layout.files("main", "train") == [f"hf://datasets/openai/gsm8k@{sha}/{GSM8K_TRAIN}"]
    assert list(layout.config("socratic").splits) == ["test"]
    with fs.open_input(layout.files("socratic", "test")[0]) as raw:
        assert pq.ParquetFile(raw).metadata.num_rows == 1319
    # hf:// URLs and owner/name@revision work too
    assert hub.resolve_hub(f"hf://datasets/openai/gsm8k@{sha}").root == layout.root
    assert hub.resolve_hub("openai/gsm8k@main").root == layout.root
    sub = hub.resolve_hub("hf://datasets/openai/gsm8k/main")
    assert all(
        f.startswith(f"hf://datasets/openai/gsm8k@{sha}/main/")
        for c in sub.configs.values()
        for files in c.splits.values()
        for f in files
    )


def test_revisions_are_pinned(hub_server):
    v1, v2 = hub_server.shas["revs_v1"], hub_server.shas["revs_v2"]
    read = lambda rev: fs.open_input(hub.hf_url("test/revs", "data.jsonl", rev)).read()  # noqa: E731
    assert read("v1") == read(v1) == b'{"version": 1, "text": "first"}\n'
    assert read("main") == read(v2) != read(v1)
    assert hub.resolve_hub("test/revs", revision="v1").root.endswith(f"@{v1}")
    assert hub.resolve_revision("test/revs") == v2

    # a file opened on a branch keeps reading the commit it was opened at
    f = fs.open_input(hub.hf_url("test/revs", "data.jsonl", "main"))
    hub_server.repos[("dataset", "test/revs")].commit({"data.jsonl": b'{"version": 3}\n'})
    assert f.read() == read(v2)
    assert read("main") == b'{"version": 3}\n'


def test_a_file_changing_under_a_reader_fails_clearly(hub_server):
    url = hub.hf_url("test/large", LARGE_PATH, hub_server.shas["large"])
    f = fs.open_input(url)
    f.seek(1000)
    first = f.read(100)
    assert first == large_parquet()[1000:1100]
    changed = b"x" * 100 + large_parquet()[100:]
    hub_server.replace_in_place("test/large", hub_server.shas["large"], LARGE_PATH, changed)
    f.seek(20_000_000)
    with pytest.raises(RemoteChangedError, match=r"test/large.*changed while it was being read"):
        f.read(100)


def test_private_repo_needs_the_token_and_never_shows_it(hub_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    url = hub.hf_url("test/private", "data/train.jsonl")
    with pytest.raises(RemoteAccessError) as denied:
        fs.open_input(url)
    assert "test/private" in str(denied.value) and "data/train.jsonl" in str(denied.value)
    assert "HF_TOKEN" in str(denied.value)

    wrong = "hf_wrongTokenValue987654321"
    with pytest.raises(RemoteAccessError) as denied_wrong:
        hub.open_file(url, token=wrong)
    assert wrong not in str(denied_wrong.value)

    layout = hub.resolve_hub("test/private", token=PRIVATE_TOKEN)  # kept for this repo's reads
    with fs.open_input(layout.files(None, "train")[0]) as f:
        assert f.read() == b'{"secret": true}\n'
        assert PRIVATE_TOKEN not in repr(f)
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(f)
    assert PRIVATE_TOKEN not in repr(layout)
    api_calls = [r for r in hub_server.requests if r["path"].startswith("/api/datasets/test/private")]
    assert api_calls and all(r["authorized"] for r in api_calls)

    # a failing request with the right token: the error names repo and path, not the token
    with pytest.raises(RemoteNotFoundError) as missing:
        fs.open_input(hub.hf_url("test/private", "data/missing.jsonl"))
    assert "test/private" in str(missing.value) and PRIVATE_TOKEN not in str(missing.value)

    hub.forget_tokens()
    monkeypatch.setenv("HF_TOKEN", PRIVATE_TOKEN)
    assert fs.open_input(url).read() == b'{"secret": true}\n'
    assert PRIVATE_TOKEN not in caplog.text


def test_token_never_sent_to_the_cdn(hub_server):
    hub_server.repos[("dataset", "test/private")].commit({"data/more.parquet": gsm8k_files()[GSM8K_TRAIN]})
    with hub.open_file(hub.hf_url("test/private", "data/more.parquet"), token=PRIVATE_TOKEN) as raw:
        assert pq.ParquetFile(raw).metadata.num_rows == 7473
    cdn = [r for r in hub_server.requests if r["role"] == "cdn"]
    assert cdn and not any(r["authorized"] for r in cdn)


@pytest.mark.parametrize(
    "bad",
    [
        "hf://datasets/openai/gsm8k/../x.jsonl",
        "hf://datasets/openai/gsm8k/a/../../b",
        "hf://datasets/o/n/C:/x",
    ],
)
def test_escaping_paths_are_refused(bad):
    with pytest.raises(UnsafePathError, match="refusing the repo file name"):
        hub.parse_hf_url(bad)


def test_escaping_names_from_the_server_or_the_caller_are_refused(hub_server, hf_cache):
    hub_server.add_repo("evil/repo", {"data/ok.jsonl": b"{}\n", "../outside.jsonl": b"{}\n"})
    refused = r"refusing the repo file name '\.\.(/outside\.jsonl)?' in evil/repo"
    with pytest.raises(UnsafePathError, match=refused):
        hub.resolve_hub("evil/repo")
    hub_server.add_repo("evil/abs", {"/etc/cron.d/x": b"{}\n"})
    with pytest.raises(UnsafePathError):
        fs.list_files("hf://datasets/evil/abs")
    for name in ("../../etc/passwd", "/etc/passwd", "a\\..\\b"):
        with pytest.raises(UnsafePathError):
            hub.download_files([name], repo_id="openai/gsm8k", cache_dir=hf_cache)
    assert not os.listdir(hf_cache)


def test_not_found_fails_at_once_naming_repo_and_path(hub_server):
    url = hub.hf_url("openai/gsm8k", "main/missing.parquet")
    started = time.monotonic()
    with pytest.raises(RemoteNotFoundError) as missing:
        fs.open_input(url)
    assert time.monotonic() - started < 1.0
    assert "openai/gsm8k" in str(missing.value) and "main/missing.parquet" in str(missing.value)
    assert sum("missing.parquet" in r["path"] for r in hub_server.requests) == 1
    with pytest.raises(DataFileError, match="missing.parquet"):
        fs.size(url)
    with pytest.raises(RemoteNotFoundError, match="nobody/nothing"):
        hub.resolve_hub("nobody/nothing")
    with pytest.raises(RemoteNotFoundError, match="no-such-branch"):
        hub.resolve_hub("openai/gsm8k", revision="no-such-branch")


@pytest.fixture
def hub_proxy(hub_server, make_fault_proxy, monkeypatch):
    proxy = make_fault_proxy(hub_server.url)
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    return proxy


def test_retries_503_429_and_resets_then_succeed(hub_server, hub_proxy):
    data = gsm8k_train_jsonl()
    url = hub.hf_url("test/jsonl", "data/train.jsonl")
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


def test_listing_and_metadata_retry_dropped_connections(hub_server, hub_proxy):
    hub_proxy.script(
        Fault("drop", path_contains="/tree/"),
        Fault("status", status=502, path_contains="/tree/"),
        Fault("status", status=500, path_contains="/api/datasets/openai/gsm8k"),
    )
    layout = hub.resolve_hub("openai/gsm8k")
    assert set(layout.configs) == {"main", "socratic"}
    assert hub_proxy.pending() == 0


def test_exhausted_retries_fail_clearly_in_bounded_time(hub_server, hub_proxy, fast_retries, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", PRIVATE_TOKEN)
    hub_proxy.script(Fault("status", status=503, times=100, path_contains="/resolve/"))
    started = time.monotonic()
    with pytest.raises(RemoteUnavailableError) as gave_up:
        fs.open_input(hub.hf_url("test/private", "data/train.jsonl"))
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
        fs.open_input(hub.hf_url("test/jsonl", "data/train.jsonl"))
    assert time.monotonic() - started < 2.0


def test_download_files_fills_the_hf_cache_once(hub_server, hf_cache):
    layout = hub.resolve_hub("openai/gsm8k")
    files = layout.files("main", "train") + layout.files("main", "test")
    paths = hub.download_files(files, cache_dir=hf_cache)
    assert [os.path.basename(p) for p in paths] == [os.path.basename(f) for f in files]
    with open(paths[0], "rb") as f:
        assert f.read() == gsm8k_files()[GSM8K_TRAIN]
    assert hub_server.bytes_served("openai/gsm8k", GSM8K_TRAIN) == len(gsm8k_files()[GSM8K_TRAIN])

    hub_server.reset_counters()
    assert hub.download_files(files, cache_dir=hf_cache) == paths
    assert hub_server.requests == []  # pinned commit, in the cache: not one request
    again = hub.download_files([GSM8K_TRAIN], repo_id="openai/gsm8k", revision="main", cache_dir=hf_cache)
    assert again == paths[:1]
    assert hub_server.bytes_served("openai/gsm8k", GSM8K_TRAIN) == 0
    assert all("/resolve/" not in r["path"] and r["role"] != "cdn" for r in hub_server.requests)


def test_download_retries_transient_failures(hub_server, hub_proxy, hf_cache):
    hub_proxy.script(
        Fault("status", status=503, method="HEAD", path_contains="/resolve/"),
        Fault("reset", after_bytes=100_000, method="GET", path_contains="/resolve/"),
    )
    (path,) = hub.download_files([hub.hf_url("test/jsonl", "data/train.jsonl")], cache_dir=hf_cache)
    with open(path, "rb") as f:
        assert f.read() == gsm8k_train_jsonl()
    assert hub_proxy.pending() == 0


def test_download_private_and_missing(hub_server, hf_cache):
    url = hub.hf_url("test/private", "data/train.jsonl")
    with pytest.raises(RemoteAccessError) as denied:
        hub.download_files([url], cache_dir=hf_cache)
    assert "test/private" in str(denied.value)
    (path,) = hub.download_files([url], token=PRIVATE_TOKEN, cache_dir=hf_cache)
    with open(path, "rb") as f:
        assert f.read() == b'{"secret": true}\n'
    for folder, _, names in os.walk(hf_cache):  # nothing written to disk holds the token
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                assert PRIVATE_TOKEN.encode() not in f.read()
    with pytest.raises(RemoteNotFoundError) as missing:
        missing_url = hub.hf_url("test/private", "nope.jsonl")
        hub.download_files([missing_url], token=PRIVATE_TOKEN, cache_dir=hf_cache)
    assert "nope.jsonl" in str(missing.value) and PRIVATE_TOKEN not in str(missing.value)


def test_is_hub_id(tmp_path, monkeypatch):
    assert hub.is_hub_id("openai/gsm8k") and hub.is_hub_id("open-thoughts/OpenThoughts3-1.2M")
    assert hub.is_hub_id("openai/gsm8k@main")
    for not_hub in ("gsm8k", "a/b/c", "hf://datasets/a/b", "./a", "/a/b", "gs://a/b", "data/train.jsonl"):
        assert not hub.is_hub_id(not_hub), not_hub
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not hub.is_hub_id("owner/name")


def test_parse_and_build_urls():
    where = hub.parse_hf_url("hf://datasets/o/n@refs%2Fconvert%2Fparquet/default/train/0.parquet")
    assert (where.repo_id, where.revision) == ("o/n", "refs/convert/parquet")
    assert where.path == "default/train/0.parquet"
    assert where.url() == "hf://datasets/o/n@refs%2Fconvert%2Fparquet/default/train/0.parquet"
    assert hub.parse_hf_url("hf://datasets/o/n@refs/pr/3/a.jsonl").revision == "refs/pr/3"
    assert hub.parse_hf_url("hf://datasets/o/n").path == ""
    assert hub.hf_url("o/n", "a/b.parquet", "v1") == "hf://datasets/o/n@v1/a/b.parquet"


def test_hf_is_read_only(hub_server):
    with pytest.raises(DataFileError, match="read-only"):
        fs.open_output("hf://datasets/openai/gsm8k/new.jsonl")


def test_remote_file_is_a_normal_binary_stream(hub_server):
    data = gsm8k_files()["README.md"]
    with fs.open_input(hub.hf_url("openai/gsm8k", "README.md")) as f:
        text = io.TextIOWrapper(f, encoding="utf-8")
        assert text.readline() == "---\n"
        assert f.seekable() and f.readable()
    with fs.open_input(hub.hf_url("openai/gsm8k", "README.md")) as f:
        assert list(f) == data.splitlines(keepends=True)
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]


def test_is_hub_id_agrees_with_discovery_on_data_files():
    from crucible_datasets.storage.discovery import looks_like_data

    # a missing "data/x.<data extension>" is a missing local file, never a Hub repo to ask about
    for name in ("data/train.jsonl.bz2", "data/part.csv.xz", "out/x.feather", "d/data-00000-of-00001.arrow"):
        assert looks_like_data(name) and not hub.is_hub_id(name), name
    assert hub.is_hub_id("someone/data.v2")  # dots are fine in repo names


def test_hub_repo_of_two_formats_is_an_error_unless_format_picks_one(hub_server):
    hub_server.add_repo("test/mixed", {"data/train.jsonl": b'{"a": 1}\n', "data/extra.csv": b"a\n2\n"})
    with pytest.raises(LayoutError, match=r"test/mixed@[0-9a-f]{40} has data files of 2 formats"):
        hub.resolve_hub("test/mixed").config(None)
    layout = hub.resolve_hub("test/mixed", format="csv")
    assert [url.rsplit("/", 1)[1] for url in layout.files(None, "train")] == ["extra.csv"]
    sub = hub.resolve_hub("hf://datasets/test/mixed/data", format="jsonl")  # a folder inside the repo
    assert [url.rsplit("/", 1)[1] for url in sub.files(None, "train")] == ["train.jsonl"]
