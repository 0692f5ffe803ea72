"""manifest.json: entries per config and split, merged across runs."""

from __future__ import annotations

import os

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.sinks import manifest as manifests
from tests.sinks.helpers import manifest, plain, write


def test_schema_round_trips_with_field_metadata():
    schema = pa.schema([("a", pa.list_(pa.int64())), schemas.json_text_field("b")])
    back = manifests.decode_schema(manifests.encode_schema(schema))
    assert back.equals(schema, check_metadata=True) and schemas.is_json_text(back.field("b"))
    assert manifests.schema_text(schema) == "a: list<item: int64>\nb: string (json)"


def test_merge_keeps_other_splits_and_configs():
    m = manifests.merge({}, "default", "train", {"rows": 1, "data_dir": "data"})
    m = manifests.merge(m, "default", "test", {"rows": 2})
    m = manifests.merge(m, "fr", "train", {"rows": 3, "data_dir": "fr"})
    m2 = manifests.merge(m, "default", "train", {"rows": 10})
    assert m["configs"]["default"]["splits"]["train"] == {"rows": 1}  # not changed in place
    assert m2["configs"]["default"] == {
        "data_dir": "data",
        "splits": {"train": {"rows": 10}, "test": {"rows": 2}},
    }
    assert m2["configs"]["fr"]["splits"]["train"]["rows"] == 3


def test_merged_on_disk_across_runs_and_formats(tmp_path):
    write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    write(JsonlSink(tmp_path, split="test", config="raw"), [[[{"a": 1}, {"a": 2}]]])
    write(ParquetSink(tmp_path), [[[{"a": 1}, {"a": 2}, {"a": 3}]]])
    m = manifest(tmp_path)
    assert m["format"] == manifests.FORMAT and m["version"] == manifests.VERSION
    assert m["configs"]["default"]["splits"]["train"]["rows"] == 3
    assert m["configs"]["raw"]["data_dir"] == "raw"
    shard = m["configs"]["raw"]["splits"]["test"]["shards"][0]["file"]
    assert plain(shard) == "raw/test-00000-of-00001.jsonl"
    assert os.path.exists(tmp_path / shard)


def test_a_broken_manifest_is_replaced(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    assert manifest(tmp_path)["configs"]["default"]["splits"]["train"]["rows"] == 1
