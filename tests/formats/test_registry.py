"""The format registry: lookup by name and by file extension."""

from __future__ import annotations

import re

import pytest

from crucible_datasets.formats import (
    EXTENSION_PATTERN,
    FORMATS,
    FilePart,
    Format,
    ReadOptions,
    data_kind,
    format_for_path,
    get_format,
    is_data_file,
    looks_like_data,
)


def test_registry_holds_the_six_formats():
    assert sorted(FORMATS) == ["arrow", "csv", "json", "jsonl", "parquet", "text"]
    assert all(isinstance(f, Format) and f.name == name for name, f in FORMATS.items())
    assert FilePart("a").end is None and ReadOptions().batch_rows > 0


def test_unknown_name_lists_the_supported_formats():
    assert get_format("jsonl") is FORMATS["jsonl"]
    listed = "supported formats: arrow, csv, json, jsonl, parquet, text"
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
        ("a.jsonl.bz2", "jsonl"),
        ("a.csv.xz", "csv"),
        ("poems.txt", "text"),
        ("LICENSE.txt", "text"),  # named explicitly, a licence reads as text; discovery skips it
        ("data-00000-of-00001.arrow", "arrow"),
    ],
)
def test_format_for_path_by_extension(path, name):
    assert format_for_path(path).name == name


@pytest.mark.parametrize("path", ["a.md", "a.gz", "README", "a.parquet.bak", "a.feather"])
def test_unknown_extension_lists_the_supported_ones(path):
    listed = r"supported extensions: \.arrow, \.csv, \.json, \.jsonl, \.ndjson, \.parquet, \.tsv, \.txt"
    with pytest.raises(ValueError, match=listed):
        format_for_path(path)


def test_every_format_declares_how_it_splits():
    units = {name: fmt.split_unit for name, fmt in FORMATS.items()}
    assert units == {
        "jsonl": "bytes",
        "parquet": "rows",
        "csv": "whole",
        "json": "whole",
        "text": "bytes",
        "arrow": "row_groups",
    }
    assert get_format("jsonl").split_unit_of("a.jsonl") == "bytes"
    assert get_format("jsonl").split_unit_of("a.jsonl.zst") == "whole"
    assert get_format("parquet").split_unit_of("a.parquet") == "rows"
    assert get_format("jsonl").split_unit_of("a.jsonl.bz2") == "whole"
    assert get_format("jsonl").split_unit_of("a.jsonl.xz") == "whole"


def test_a_format_that_does_not_say_how_it_splits_is_refused():
    with pytest.raises(TypeError, match="split_unit must be one of bytes, rows, row_groups, whole"):

        class Undeclared(Format):
            name = "xml"
            extensions = (".xml",)

    with pytest.raises(TypeError, match="got 'lines'"):

        class Misdeclared(Format):
            name = "xml"
            extensions = (".xml",)
            split_unit = "lines"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a/train.ndjson.gz", "jsonl"),
        ("b.TSV", "csv"),
        ("c.arrow", "arrow"),
        ("d.csv.bz2", "csv"),
        ("d.jsonl.xz", "jsonl"),
        ("d.csv.lz4", ".csv.lz4"),
        ("e.feather.zip", ".feather.zip"),
        ("f.feather", ".feather"),
        ("corpus/part-1.txt", "text"),
        ("corpus/part-1.txt.xz", "text"),
        ("notes.txt", None),
        ("docs/LICENSE.txt", None),
        ("README.txt.gz", None),
        ("x.bz2", None),
    ],
)
def test_data_kind(name, kind):
    assert data_kind(name) == kind
    assert looks_like_data(name) is (kind is not None)
    assert is_data_file(name) is (kind is not None and not kind.startswith("."))


@pytest.mark.parametrize(
    ("ending", "matches"),
    [
        ("parquet", True),
        ("jsonl.zst", True),
        ("ndjson", True),
        ("arrow", True),
        ("csv.bz2", True),
        ("txt", True),
        ("jsonl.xz", True),
        ("jsonl.rar", False),
        ("gz", False),
        ("md", False),
    ],
)
def test_extension_pattern_recognises_every_data_file(ending, matches):
    assert bool(re.fullmatch(EXTENSION_PATTERN, ending)) is matches
