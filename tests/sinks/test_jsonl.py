"""JsonlSink on real files: plain, gzip and zstd; drift needs no rewrite; card and manifest."""

from __future__ import annotations

import datetime
import decimal
import gzip
import os

import pyarrow as pa
import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import JsonlSink, ParquetSink
from tests.sinks.helpers import card_front_matter, files_under, manifest, plain, read_jsonl_rows, write

ROWS = [{"q": "1+1", "a": 2, "tags": ["math"]}, {"q": "2+2", "a": 4, "tags": []}, {"q": "x", "a": None}]


@pytest.mark.parametrize(
    ("compression", "ending"), [(None, ".jsonl"), ("gzip", ".jsonl.gz"), ("zstd", ".jsonl.zst")]
)
def test_shards_per_compression(tmp_path, compression, ending):
    sink = JsonlSink(tmp_path, compression=compression, max_rows_per_shard=2)
    summary = write(sink, [[ROWS[:2]], [ROWS[2:]]])
    names = [plain(os.path.relpath(f, tmp_path)) for f in summary.files]
    assert names == [f"data/train-0000{i}-of-00002{ending}" for i in range(2)]
    assert read_jsonl_rows(summary.files) == ROWS  # rows as given: a missing key stays missing
    assert summary.file_bytes == [os.path.getsize(f) for f in summary.files]
    assert manifest(tmp_path)["configs"]["default"]["splits"]["train"]["format"] == "json"
    assert files_under(tmp_path) == ["README.md", *names, "manifest.json"]


def test_gzip_output_is_one_valid_stream(tmp_path):
    summary = write(JsonlSink(tmp_path, compression="gzip"), [[ROWS, ROWS]])
    assert gzip.decompress(open(summary.files[0], "rb").read()).count(b"\n") == 6


def test_drift_keeps_original_values_and_the_card_describes_the_unified_schema(tmp_path):
    batches = [[{"a": None, "b": 1}], [{"a": "x", "b": 2.5}], [{"a": "y", "b": 3, "c": {"k": 1}}]]
    summary = write(JsonlSink(tmp_path), [batches])
    assert read_jsonl_rows(summary.files) == [r for b in batches for r in b]
    assert summary.schema == pa.schema(
        [("a", pa.string()), ("b", pa.float64()), ("c", pa.struct([("k", pa.int64())]))]
    )
    assert card_front_matter(tmp_path)["dataset_info"]["features"] == [
        {"name": "a", "dtype": "string"},
        {"name": "b", "dtype": "float64"},
        {"name": "c", "struct": [{"name": "k", "dtype": "int64"}]},
    ]


def test_arrow_batches_are_written_with_json_text_decoded(tmp_path):
    from crucible_datasets import schema as schemas

    arrow = schemas.from_pylist([{"v": [1]}, {"v": "s"}])
    sink = JsonlSink(tmp_path, max_rows_per_shard=1)
    with sink.open_task(0) as writer:
        writer.write(Batch.from_arrow(arrow))
    summary = sink.finalize([writer.result], counts=RunCounts(rows_written=2))
    assert read_jsonl_rows(summary.files) == [{"v": [1]}, {"v": "s"}]


def test_values_without_a_json_form(tmp_path):
    row = {
        "blob": b"\x00\x01",
        "price": decimal.Decimal("1.50"),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "day": datetime.date(2024, 1, 2),
    }
    summary = write(JsonlSink(tmp_path), [[[row]]])
    assert read_jsonl_rows(summary.files) == [
        {"blob": "AAE=", "price": "1.50", "when": "2024-01-02T03:04:05", "day": "2024-01-02"}
    ]
    features = {f["name"]: f["dtype"] for f in card_front_matter(tmp_path)["dataset_info"]["features"]}
    assert features == {"blob": "string", "price": "string", "when": "timestamp[us]", "day": "date32"}


def test_empty_split_gets_one_empty_file(tmp_path):
    sink = JsonlSink(tmp_path, compression="zstd")
    writer = sink.open_task(0)
    writer.write(Batch.from_arrow(pa.table({"a": pa.array([], pa.string())})))
    summary = sink.finalize([writer.close()], counts=RunCounts())
    assert summary.file_rows == [0] and read_jsonl_rows(summary.files) == []


def test_switching_format_replaces_the_split(tmp_path):
    write(ParquetSink(tmp_path, max_rows_per_shard=1), [[ROWS]])
    summary = write(JsonlSink(tmp_path, compression="gzip"), [[ROWS]])
    assert os.listdir(tmp_path / "data") == [os.path.basename(summary.files[0])]
    assert plain(os.path.basename(summary.files[0])) == "train-00000-of-00001.jsonl.gz"


def test_unknown_compression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="compression"):
        JsonlSink(tmp_path, compression="bz2")


def test_rows_without_columns_are_written_as_empty_objects(tmp_path):
    summary = write(JsonlSink(tmp_path), [[[{}], [{"a": 1}, {}]]])
    assert read_jsonl_rows(summary.files) == [{}, {"a": 1}, {}] and summary.rows == 3


def test_mixed_type_columns_are_warned_about(tmp_path):
    summary = write(JsonlSink(tmp_path), [[[{"v": [1]}, {"v": "s"}]]])
    assert read_jsonl_rows(summary.files) == [{"v": [1]}, {"v": "s"}]
    assert any("mixed types" in w for w in summary.warnings)


@pytest.mark.parametrize("compression", [None, "gzip", "zstd"])
def test_num_shards_recuts_the_lines_as_written(tmp_path, compression):
    many = [dict(row, n=i) for i in range(5) for row in ROWS]  # 15 rows, a missing key included
    sink = JsonlSink(tmp_path, compression=compression)
    results = []
    for i, batch in enumerate([many[:1], many[1:13], [], many[13:]]):
        with sink.open_task(i) as writer:
            writer.write(Batch.from_rows(batch))
        results.append(writer.result)
    summary = sink.finalize(results, num_shards=4)
    assert summary.file_rows == [4, 4, 4, 3]
    assert read_jsonl_rows(summary.files) == many
    assert summary.file_bytes == [os.path.getsize(f) for f in summary.files]
