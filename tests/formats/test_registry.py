"""The format registry: lookup by name and by file extension."""

from __future__ import annotations

import pytest

from crucible_datasets.formats import FORMATS, FilePart, Format, ReadOptions, format_for_path, get_format


def test_registry_holds_the_four_formats():
    assert sorted(FORMATS) == ["csv", "json", "jsonl", "parquet"]
    assert all(isinstance(f, Format) and f.name == name for name, f in FORMATS.items())
    assert FilePart("a").end is None and ReadOptions().batch_rows > 0


def test_unknown_name_lists_the_supported_formats():
    assert get_format("jsonl") is FORMATS["jsonl"]
    listed = "supported formats: csv, json, jsonl, parquet"
    with pytest.raises(ValueError, match=f"unknown format 'xml'; {listed}"):
        get_format("xml")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("a.jsonl", "jsonl"),
        ("dir.v2/a.ndjson", "jsonl"),
        ("a.JSONL.GZ", "jsonl"),
        ("a.jsonl.zst", "jsonl"),
        ("a.jsonl.zstd", "jsonl"),
        ("a.json", "json"),
        ("a.json.gz", "json"),
        ("a.csv", "csv"),
        ("a.tsv.gz", "csv"),
        ("gs://bucket/x/train-00000-of-00002.parquet", "parquet"),
    ],
)
def test_format_for_path_by_extension(path, name):
    assert format_for_path(path).name == name


@pytest.mark.parametrize("path", ["a.txt", "a.gz", "README", "a.parquet.bak"])
def test_unknown_extension_lists_the_supported_ones(path):
    listed = r"supported extensions: \.csv, \.json, \.jsonl, \.ndjson, \.parquet, \.tsv"
    with pytest.raises(ValueError, match=listed):
        format_for_path(path)
