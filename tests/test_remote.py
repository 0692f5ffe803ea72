"""The public API and the CLI on remote data: the test Hub and the GCS emulator on 127.0.0.1."""

import hashlib
import io
import os
import subprocess
import sys

import orjson
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from tests.servers.latency_proxy import LatencyProxy
from tests.servers.repos import LARGE_PATH, PRIVATE_TOKEN, large_parquet


def test_load_hub_configs_and_splits(hub_server):
    main = cd.load("openai/gsm8k", config="main")
    assert {split: len(ds) for split, ds in main.items()} == {"train": 7473, "test": 1319}
    with pytest.raises(ValueError, match="main.*socratic"):
        cd.load("openai/gsm8k")


def test_streaming_take_reads_a_small_fraction(hub_server):
    rows = list(cd.load("test/large", split="train", streaming=True).take(5))
    assert len(rows) == 5
    served = hub_server.bytes_served("test/large", LARGE_PATH)
    assert served < 0.1 * len(large_parquet()), served


def test_eager_load_uses_the_cache(hub_server, hf_env):
    shard = "main/test-00000-of-00001.parquet"
    first = cd.load("openai/gsm8k", config="main", split="test")
    served = hub_server.bytes_served("openai/gsm8k", shard)
    again = cd.load("openai/gsm8k", config="main", split="test")
    served_again = hub_server.bytes_served("openai/gsm8k", shard)
    assert len(first) == len(again) == 1319
    assert served > 0 and served_again == served


def test_revision_is_respected(hub_server):
    v1 = list(cd.load("test/revs", split="train", streaming=True, revision="v1"))
    latest = list(cd.load("test/revs", split="train", streaming=True))
    assert v1 != latest


def test_private_repo_token_never_leaks(hub_server, tmp_path):
    with pytest.raises(Exception) as info:
        cd.load("test/private", split="train", token="wrong-token-123")
    assert "wrong-token-123" not in str(info.value)
    ds = cd.load("test/private", split="train", streaming=True, token=PRIVATE_TOKEN)
    summary = ds.write_jsonl(str(tmp_path / "out"))
    assert summary.counts.rows_written == 1
    for root, _, files in os.walk(tmp_path / "out"):
        for name in files:
            assert PRIVATE_TOKEN.encode() not in open(os.path.join(root, name), "rb").read()


def _crucible(*args, env=None):
    proc = subprocess.run(
        [sys.executable, "-m", "crucible_datasets.cli", *args], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_hub_to_gcs(hub_server, gcs_emulator):
    env = dict(os.environ)
    info = _crucible("info", "openai/gsm8k", env=env)
    assert "config: main" in info and "config: socratic" in info and "7,473" in info
    head = _crucible("head", "openai/gsm8k", "--config", "main", "--split", "test", "-n", "3", env=env)
    assert len(head.splitlines()) == 3
    out = gcs_emulator.path("gsm8k-out")
    _crucible(
        "run", "gsm8k", "--input", "hf://datasets/openai/gsm8k", "--config", "main", "--split", "test",
        "--output", out, env=env,
    )  # fmt: skip
    back = cd.load(out, split="test")
    assert len(back) == 1319 and "final_answer" in back.column_names


@pytest.mark.parametrize("workers", [1, 2])
def test_beam_reads_the_hub_and_writes_gcs(hub_server, gcs_emulator, workers):
    """The Beam runner on remote data: hf:// in, gs:// out, in-process and in worker processes."""
    options = ["--direct_num_workers=1"] if workers == 1 else [
        "--direct_num_workers=2", "--direct_running_mode=multi_processing",
    ]  # fmt: skip
    ds = cd.load("openai/gsm8k", config="main", split="test", streaming=True)
    out = gcs_emulator.path(f"beam-{workers}")
    summary = ds.where("len(question) > 100").write_parquet(out, split="test", num_shards=2, runner="direct",
                                                            options=options)  # fmt: skip
    local = ds.where("len(question) > 100").write_parquet(
        gcs_emulator.path("local"), split="test", num_shards=2
    )
    assert summary.counts.rows_written == local.counts.rows_written > 0
    assert summary.counts.rows_read == 1319
    back = cd.load(out, split="test")
    assert sorted(back["question"]) == sorted(cd.load(gcs_emulator.path("local"), split="test")["question"])


def test_dead_letters_go_to_a_gcs_output(gcs_emulator, tmp_path):
    """Bad records of a write into gs:// land in the output's _errors/ folder there, not on local disk."""
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(b'{"x": 1}\nnot json\n{"x": 2}\n')
    out = gcs_emulator.path("dirty-out")
    ds = cd.load(str(path), split="train", streaming=True, on_error="dead_letter")
    summary = ds.write_jsonl(out)
    assert (summary.counts.rows_written, summary.counts.rows_bad) == (2, 1)
    from crucible_datasets.storage import filesystem

    (letters,) = [p for p in filesystem.list_files(out) if "/_errors/" in p]
    with filesystem.open_input(letters) as f:
        assert b'"line":2' in f.read()
    assert not os.path.exists("gs:")


def _stream_file(index: int) -> bytes:
    rows = ({"id": index * 100_000 + i, "text": f"{i:07d} " + "x" * (200 + i % 200)} for i in range(30_000))
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def test_streaming_over_latency_reads_ahead_and_follows_each_redirect_once(hub_server, monkeypatch):
    files = {f"data/train-{i}.jsonl": _stream_file(i) for i in range(3)}  # ~10 MB each, LFS
    hub_server.add_repo("test/stream", files, lfs_everything=True)
    api = LatencyProxy(hub_server.url, delay=0.05).start()
    cdn = LatencyProxy(hub_server.cdn_url, delay=0.05).start()
    try:
        hub_server.cdn_via = cdn.url
        monkeypatch.setenv("HF_ENDPOINT", api.url)
        hub_server.reset_counters()
        rows = list(cd.load("test/stream", split="train", streaming=True))
    finally:
        api.stop()
        cdn.stop()
    assert rows == [orjson.loads(line) for data in files.values() for line in data.splitlines()]
    log = hub_server.requests
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        gets = [r for r in log if r["role"] == "api" and r["method"] == "GET"]
        resolves = [r for r in gets if r["path"].endswith(name)]
        blobs = [r for r in log if r["role"] == "cdn" and r["path"].endswith(digest)]
        assert len(resolves) == 1, resolves  # one part: its first range is redirected, the rest go to the CDN
        assert len(blobs) >= 2 and not any(r["authorized"] for r in blobs)
    # the next file is opened while the one before is read
    first_of_next = min(i for i, r in enumerate(log) if r["path"].endswith("train-1.jsonl"))
    digest = hashlib.sha256(files["data/train-0.jsonl"]).hexdigest()
    last_of_first = max(i for i, r in enumerate(log) if r["path"].endswith(digest))
    assert first_of_next < last_of_first
    assert cdn.max_waiting >= 2  # ranges in flight side by side


def test_streaming_parquet_fetches_row_groups_ahead_not_column_by_column(hub_server):
    table = pq.read_table(io.BytesIO(large_parquet()))
    hub_server.reset_counters()
    rows = list(cd.load("test/large", split="train", streaming=True))
    assert rows == table.to_pylist()
    blobs = [r for r in hub_server.requests if r["role"] == "cdn"]
    chunks = pq.ParquetFile(io.BytesIO(large_parquet())).metadata
    # without reading ahead, every column chunk of every row group is a request of its own
    assert len(blobs) < chunks.num_row_groups < chunks.num_row_groups * chunks.num_columns
    assert hub_server.bytes_served("test/large", LARGE_PATH) < 1.1 * len(large_parquet())
