"""Compression suffixes (crucible_datasets/formats/compression.py)."""

from __future__ import annotations

import pytest

from crucible_datasets.formats.compression import NO_READER_COMPRESSIONS, compression_of, strip_compression


@pytest.mark.parametrize(
    ("path", "codec", "stripped"),
    [
        ("a.jsonl.gz", "gzip", "a.jsonl"),
        ("a.JSONL.ZST", "zstd", "a.JSONL"),
        ("a.csv.zstd", "zstd", "a.csv"),
        ("a.parquet", None, "a.parquet"),
        ("a.csv.bz2", None, "a.csv.bz2"),
    ],
)
def test_compression_of_and_strip(path, codec, stripped):
    assert compression_of(path) == codec
    assert strip_compression(path) == stripped


def test_no_reader_compressions_are_never_decompressed():
    assert all(compression_of("a.jsonl" + suffix) is None for suffix in NO_READER_COMPRESSIONS)
