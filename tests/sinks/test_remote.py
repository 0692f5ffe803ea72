"""Sinks writing to gs:// through storage.filesystem, against a real GCS emulator on 127.0.0.1."""

from __future__ import annotations

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.storage import filesystem as fs
from tests.sinks.helpers import filled, plain, write


@pytest.fixture
def gcs(gcs_emulator):
    """A gs:// folder on the shared GCS emulator (tests/servers/fixtures.py)."""
    return gcs_emulator.path().rstrip("/")


def read_parquet(path: str) -> list[dict]:
    with fs.open_input(path) as f:
        return schemas.to_pylist(pq.read_table(f))


def read_text(path: str) -> str:
    with fs.open_input(path) as f:
        return f.read().decode()


def test_parquet_to_gcs_with_drift_and_rerun(gcs):
    root = f"{gcs}/parquet"
    tasks = [[[{"a": None, "b": 1}], [{"a": "x", "b": 2.5}]], [[{"a": "y", "b": [1]}]], [[{"c": True}]]]
    summary = write(ParquetSink(root, max_rows_per_shard=1), tasks)
    assert [plain(f) for f in summary.files] == [
        f"{root}/data/train-{i:05d}-of-00004.parquet" for i in range(4)
    ]
    rows = [r for f in summary.files for r in read_parquet(f)]
    assert rows == filled([r for t in tasks for b in t for r in b])
    shard_schemas = []
    for path in summary.files:
        with fs.open_input(path) as f:
            shard_schemas.append(pq.read_schema(f))
    assert all(s.equals(shard_schemas[0], check_metadata=True) for s in shard_schemas)

    again = write(ParquetSink(root), [[[{"a": "z"}]]])
    assert [plain(p) for p in fs.list_files(root)] == [
        f"{root}/README.md",
        f"{root}/data/train-00000-of-00001.parquet",
        f"{root}/manifest.json",
    ]
    assert fs.list_files(f"{root}/data") == again.files  # the previous generation is gone
    manifest = orjson.loads(read_text(f"{root}/manifest.json"))
    assert manifest["configs"]["default"]["splits"]["train"]["rows"] == 1
    meta = yaml.safe_load(plain(read_text(f"{root}/README.md").split("\n---\n", 1)[0][4:]))
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]


def test_jsonl_zstd_to_gcs(gcs):
    root = f"{gcs}/jsonl"
    summary = write(JsonlSink(root, compression="zstd", split="test"), [[[{"q": "a"}, {"q": "b"}]]])
    assert [plain(f) for f in summary.files] == [f"{root}/data/test-00000-of-00001.jsonl.zst"]
    with fs.open_input(summary.files[0]) as f:
        data = zstandard.ZstdDecompressor().stream_reader(f.read()).read()
    assert data == b'{"q":"a"}\n{"q":"b"}\n'


def test_failed_run_on_gcs_leaves_only_temp_files(gcs):
    root = f"{gcs}/failed"
    sink = ParquetSink(root)
    writer = sink.open_task(0)
    writer.write(Batch.from_rows([{"a": 1}]))
    writer.close()
    assert all("/.crucible-tmp/" in p for p in fs.list_files(root))
    sink.abort()
    assert fs.list_files(root) == []
